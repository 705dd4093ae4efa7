package iceberg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/big"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// typesWorkloadColumns are the Iceberg types the columns of
// sstabletest.TypesWorkload must have, as pyiceberg names them.
var typesWorkloadColumns = [][2]string{
	{"pk1", "string"}, {"pk2", "int"}, {"ck1", "int"}, {"ck2", "string"},
	{"s_text", "string"}, {"s_int", "int"},
	{"c_ascii", "string"}, {"c_text", "string"}, {"c_int", "int"}, {"c_bigint", "long"},
	{"c_smallint", "int"}, {"c_tinyint", "int"}, {"c_boolean", "boolean"},
	{"c_double", "double"}, {"c_float", "float"}, {"c_timestamp", "timestamptz"},
	{"c_date", "date"}, {"c_time", "time"}, {"c_uuid", "uuid"}, {"c_timeuuid", "uuid"},
	{"c_blob", "binary"}, {"c_decimal", "string"}, {"c_varint", "decimal(38, 0)"},
	{"c_inet", "string"}, {"c_duration", "string"},
	{"l", "list<int>"}, {"s", "list<string>"}, {"m", "map<string, int>"},
	{"fl", "list<int>"}, {"fs", "list<string>"}, {"fm", "map<string, int>"},
	{"tup", "struct<_1: int, _2: string, _3: double>"},
	{"u", "struct<street: string, zip: int, tags: list<string>>"},
	{"fu", "struct<street: string, zip: int, tags: list<string>>"},
}

// TestExportEqualsTheLiveTable writes every CQL type the reader supports
// to the real Cassandra, exports a snapshot of the table to Iceberg in a
// SQLite catalog, reads the table back with pyiceberg and checks its
// column types and that its rows are exactly what SELECT JSON * returns.
func TestExportEqualsTheLiveTable(t *testing.T) {
	py := oraclePython(t)
	ks := sstabletest.Keyspace(t, "iceberg_live")
	create, batches := sstabletest.TypesWorkload(ks, "t")
	sstabletest.Exec(t, create...)
	dir := sstabletest.Snapshot(t, ks, "t", batches)
	want := sstabletest.SelectJSON(t, ks, "t")
	snap, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cat := iceberg.Catalog{URI: filepath.Join(tmp, "catalog.db")}
	res, err := iceberg.ExportSnapshot(context.Background(), snap, sstable.ReadOptions{AsOf: time.Now()},
		iceberg.Options{Catalog: cat, Table: "lake.types", PartitionBy: "identity(pk1), bucket(4, c_uuid)"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != int64(len(want)) {
		t.Errorf("exported %d rows, SELECT returns %d", res.Rows, len(want))
	}
	out := readWithPyiceberg(t, py, filepath.Join(tmp, "catalog.db"), "file://"+filepath.Join(tmp, "warehouse"), "lake.types")
	byName := func(a, b [2]string) int { return strings.Compare(a[0], b[0]) }
	wantSchema := slices.SortedFunc(slices.Values(typesWorkloadColumns), byName)
	if got := slices.SortedFunc(slices.Values(out.Schema), byName); !slices.Equal(got, wantSchema) {
		t.Errorf("pyiceberg reads the schema (by name)\n %v\nwant\n %v", got, wantSchema)
	}
	types := map[string]string{}
	for _, c := range typesWorkloadColumns {
		types[c[0]] = c[1]
	}
	var wantRows []string
	var truncated int64
	for _, row := range want {
		var cols map[string]any
		if err := decoder(row).Decode(&cols); err != nil {
			t.Fatal(err)
		}
		if s, ok := cols["c_time"].(string); ok && !strings.HasSuffix(s, "000") {
			truncated++
		}
		wantRows = append(wantRows, canonicalRow(t, expectedValues(t, cols, types)))
	}
	var gotRows []string
	for _, r := range out.Rows {
		gotRows = append(gotRows, canonicalRow(t, r))
	}
	slices.Sort(wantRows)
	slices.Sort(gotRows)
	if len(gotRows) != len(wantRows) {
		t.Errorf("pyiceberg reads %d rows, SELECT returns %d", len(gotRows), len(wantRows))
	}
	for i := range min(len(gotRows), len(wantRows)) {
		if gotRows[i] != wantRows[i] {
			t.Errorf("row %d:\n pyiceberg %s\n want      %s", i, gotRows[i], wantRows[i])
		}
	}
	if res.TimesTruncated != truncated {
		t.Errorf("reported %d times truncated, want %d", res.TimesTruncated, truncated)
	}
	t.Logf("%d rows of %d columns read back by pyiceberg equal SELECT JSON * (%d time values cut to µs)", len(gotRows), len(types), truncated)
}

// oraclePython returns the Python with pyiceberg (need.Python).
func oraclePython(t *testing.T) string {
	return need.Python(t, "pyiceberg.catalog.sql", "pyarrow")
}

// pyTable is what testdata/read_table.py prints.
type pyTable struct {
	Schema [][2]string
	Rows   []map[string]any
}

func readWithPyiceberg(t *testing.T, py, catalog, warehouse, table string) pyTable {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(py, "testdata/read_table.py", catalog, warehouse, table)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyiceberg: %v\n%s", err, stderr.String())
	}
	var tbl pyTable
	if err := decoder(string(out)).Decode(&tbl); err != nil {
		t.Fatalf("pyiceberg output: %v\n%s", err, out)
	}
	return tbl
}

func decoder(s string) *json.Decoder {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	return d
}

// expectedValues converts a row of SELECT JSON * to what read_table.py
// prints for the Iceberg types the columns must have.
func expectedValues(t *testing.T, cols map[string]any, types map[string]string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for c, v := range cols {
		typ, ok := types[c]
		if !ok {
			t.Fatalf("column %s: no expected type", c)
		}
		e, err := expected(v, typ)
		if err != nil {
			t.Fatalf("column %s (%s): %v", c, typ, err)
		}
		out[c] = e
	}
	return out
}

// expected converts one Cassandra JSON value to the tagged value
// read_table.py prints for an Iceberg column of type typ.
func expected(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch {
	case strings.HasPrefix(typ, "list<"):
		elem := typ[5 : len(typ)-1]
		out := []any{}
		for _, e := range v.([]any) {
			x, err := expected(e, elem)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case strings.HasPrefix(typ, "map<"):
		val := strings.SplitN(typ[4:len(typ)-1], ", ", 2)[1]
		out := map[string]any{}
		for k, e := range v.(map[string]any) {
			x, err := expected(e, val)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return map[string]any{"map": out}, nil
	case strings.HasPrefix(typ, "struct<"):
		return expectedStruct(v, typ)
	}
	return expectedPrimitive(v, typ)
}

// expectedStruct converts a user type (an object) or a tuple (an array).
func expectedStruct(v any, typ string) (any, error) {
	out := map[string]any{}
	var names, types []string
	for _, f := range splitFields(typ[7 : len(typ)-1]) {
		name, ft, _ := strings.Cut(f, ": ")
		names, types = append(names, name), append(types, ft)
	}
	for i, name := range names {
		var fv any
		switch x := v.(type) {
		case map[string]any:
			fv = x[name]
		case []any:
			if i < len(x) {
				fv = x[i]
			}
		}
		e, err := expected(fv, types[i])
		if err != nil {
			return nil, err
		}
		out[name] = e
	}
	return out, nil
}

// splitFields splits "a: int, b: list<string>" at its top-level commas.
func splitFields(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func expectedPrimitive(v any, typ string) (any, error) {
	s := fmt.Sprint(v) // a string, or a json.Number's exact text
	switch typ {
	case "string": // decimals are their exact text
		return s, nil
	case "int", "long", "float", "double", "boolean":
		return v, nil
	case "timestamptz":
		ts, err := time.Parse("2006-01-02 15:04:05.000Z", s)
		return map[string]any{"timestamptz_us": json.Number(fmt.Sprint(ts.UnixMicro()))}, err
	case "date":
		return map[string]any{"date": s}, nil
	case "time":
		// Iceberg's time holds microseconds: the export cuts the nanoseconds.
		tt, err := time.Parse("15:04:05.999999999", s)
		us := int64(tt.Hour()*3600+tt.Minute()*60+tt.Second())*1e6 + int64(tt.Nanosecond()/1000)
		return map[string]any{"time_us": json.Number(fmt.Sprint(us))}, err
	case "uuid":
		return map[string]any{"uuid": s}, nil
	case "binary":
		return map[string]any{"binary": s}, nil
	case "decimal(38, 0)":
		return map[string]any{"decimal": s}, nil
	}
	return nil, fmt.Errorf("no expectation for type %s", typ)
}

// canonicalRow marshals a row with numbers as exact rationals, so 1.0E10
// and 1e+10 compare equal, and keys sorted.
func canonicalRow(t *testing.T, row map[string]any) string {
	t.Helper()
	b, err := json.Marshal(rational(row))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rational(v any) any {
	switch x := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			return string(x)
		}
		return "n:" + r.RatString()
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = rational(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rational(e)
		}
		return out
	}
	return v
}
