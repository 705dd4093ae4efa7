package iceberg

import (
	"fmt"
	"strconv"

	ice "github.com/apache/iceberg-go"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/sstable"
)

// Schema is the Iceberg schema a snapshot's rows are written in: for the
// assets table (backup.HoldsAssets) AssetSchema, for any other table one
// optional field per column in SELECT * order, typed as the package
// documentation lists. A column no SSTable holds (never written) is a
// string.
func Schema(s *sstable.Snapshot) (*ice.Schema, error) {
	if backup.HoldsAssets(s) {
		return AssetSchema(), nil
	}
	cols, types := s.ColumnTypes()
	m := &typeMapper{next: len(cols)}
	fields := make([]ice.NestedField, len(cols))
	for i, c := range cols {
		var t ice.Type = ice.PrimitiveTypes.String
		if types[i] != nil {
			var err error
			if t, err = m.iceType(types[i]); err != nil {
				return nil, fmt.Errorf("iceberg: column %s: %w", c, err)
			}
		}
		fields[i] = ice.NestedField{ID: i + 1, Name: c, Type: t}
	}
	return ice.NewSchema(0, fields...), nil
}

// typeMapper converts Cassandra types, numbering nested fields after the
// top-level ones.
type typeMapper struct{ next int }

func (m *typeMapper) id() int { m.next++; return m.next }

// iceType returns the Iceberg type of values of t.
func (m *typeMapper) iceType(t *sstable.Type) (ice.Type, error) {
	for (t.Name == "FrozenType" || t.Name == "ReversedType") && len(t.Params) == 1 {
		t = t.Params[0]
	}
	if p, ok := primitives[t.Name]; ok {
		return p, nil
	}
	switch t.Name {
	case "ListType", "SetType", "VectorType":
		if len(t.Params) != 1 {
			break
		}
		id := m.id()
		elem, err := m.iceType(t.Params[0])
		return &ice.ListType{ElementID: id, Element: elem}, err
	case "MapType":
		if len(t.Params) != 2 {
			break
		}
		kid, vid := m.id(), m.id()
		k, err := m.iceType(t.Params[0])
		if err != nil {
			return nil, err
		}
		v, err := m.iceType(t.Params[1])
		return &ice.MapType{KeyID: kid, KeyType: k, ValueID: vid, ValueType: v}, err
	case "TupleType", "UserType":
		return m.structType(t)
	}
	return nil, fmt.Errorf("type %s has no Iceberg counterpart", t.Raw)
}

// structType maps a user type to a struct of its fields and a tuple to a
// struct of fields _1, _2, ...
func (m *typeMapper) structType(t *sstable.Type) (ice.Type, error) {
	fields := make([]ice.NestedField, len(t.Params))
	for i := range fields {
		name := "_" + strconv.Itoa(i+1)
		if t.Name == "UserType" {
			name = t.Fields[i]
		}
		fields[i] = ice.NestedField{ID: m.id(), Name: name}
	}
	for i, p := range t.Params {
		ft, err := m.iceType(p)
		if err != nil {
			return nil, err
		}
		fields[i].Type = ft
	}
	return &ice.StructType{FieldList: fields}, nil
}

// primitives maps Cassandra's simple types. Iceberg has no unsigned, inet
// or duration type, and a CQL decimal's scale varies per value: those are
// strings in Cassandra's text form. A varint is a decimal(38, 0); a larger
// one fails the export.
var primitives = map[string]ice.Type{
	"UTF8Type":          ice.PrimitiveTypes.String,
	"AsciiType":         ice.PrimitiveTypes.String,
	"InetAddressType":   ice.PrimitiveTypes.String,
	"DurationType":      ice.PrimitiveTypes.String,
	"DecimalType":       ice.PrimitiveTypes.String,
	"ByteType":          ice.PrimitiveTypes.Int32,
	"ShortType":         ice.PrimitiveTypes.Int32,
	"Int32Type":         ice.PrimitiveTypes.Int32,
	"LongType":          ice.PrimitiveTypes.Int64,
	"CounterColumnType": ice.PrimitiveTypes.Int64,
	"IntegerType":       ice.DecimalTypeOf(38, 0),
	"FloatType":         ice.PrimitiveTypes.Float32,
	"DoubleType":        ice.PrimitiveTypes.Float64,
	"BooleanType":       ice.PrimitiveTypes.Bool,
	"TimestampType":     ice.PrimitiveTypes.TimestampTz,
	"DateType":          ice.PrimitiveTypes.TimestampTz,
	"SimpleDateType":    ice.PrimitiveTypes.Date,
	"TimeType":          ice.PrimitiveTypes.Time,
	"UUIDType":          ice.PrimitiveTypes.UUID,
	"TimeUUIDType":      ice.PrimitiveTypes.UUID,
	"LexicalUUIDType":   ice.PrimitiveTypes.UUID,
	"BytesType":         ice.PrimitiveTypes.Binary,
}
