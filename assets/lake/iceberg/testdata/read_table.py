"""Reads an Iceberg table through a SQLite SQL catalog with pyiceberg and
prints its schema and rows as JSON, every non-JSON value tagged with its type.

usage: read_table.py CATALOG.db WAREHOUSE_URL NAMESPACE.TABLE
"""
import datetime
import decimal
import json
import sys
import uuid

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.types import ListType, MapType, StructType

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def type_name(t):
    if isinstance(t, ListType):
        return f"list<{type_name(t.element_type)}>"
    if isinstance(t, MapType):
        return f"map<{type_name(t.key_type)}, {type_name(t.value_type)}>"
    if isinstance(t, StructType):
        return "struct<" + ", ".join(f"{f.name}: {type_name(f.field_type)}" for f in t.fields) + ">"
    return str(t)


def canon(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            raise ValueError(f"timestamp {v} has no time zone")
        return {"timestamptz_us": (v - EPOCH) // datetime.timedelta(microseconds=1)}
    if isinstance(v, datetime.date):
        return {"date": v.isoformat()}
    if isinstance(v, datetime.time):
        return {"time_us": ((v.hour * 60 + v.minute) * 60 + v.second) * 1000000 + v.microsecond}
    if isinstance(v, uuid.UUID):
        return {"uuid": str(v)}
    if isinstance(v, bytes):
        return {"binary": "0x" + v.hex()}
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, dict):
        return {k: canon(x) for k, x in v.items()}
    if isinstance(v, list):
        if v and all(isinstance(e, tuple) and len(e) == 2 for e in v):
            return {"map": {k if isinstance(k, str) else json.dumps(canon(k)): canon(x) for k, x in v}}
        return [canon(e) for e in v]
    return v


def main():
    path, warehouse, name = sys.argv[1:4]
    cat = SqlCatalog("default", uri="sqlite:///" + path, warehouse=warehouse)
    table = cat.load_table(name)
    schema = [[f.name, type_name(f.field_type)] for f in table.schema().fields]
    rows = [{k: canon(v) for k, v in r.items()} for r in table.scan().to_arrow().to_pylist()]
    json.dump({"schema": schema, "rows": rows}, sys.stdout)


main()
