package iceberg

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// TestEvolve checks what evolve makes of a table of columns k (the
// partition source), a, b and c, exported once with recorded drop times,
// for each snapshot schema and its dropped columns: the columns the
// commit leaves, which keep their field ids, and each refusal.
func TestEvolve(t *testing.T) {
	str, num := ice.PrimitiveTypes.String, ice.PrimitiveTypes.Int32
	field := func(id int, name string, typ ice.Type) ice.NestedField {
		return ice.NestedField{ID: id, Name: name, Type: typ}
	}
	columns := func(names string, types ...ice.Type) *ice.Schema {
		var fs []ice.NestedField
		for i, n := range strings.Fields(names) {
			var typ ice.Type = num
			if i < len(types) {
				typ = types[i]
			}
			fs = append(fs, field(i+1, n, typ))
		}
		return ice.NewSchema(0, fs...)
	}
	for _, tc := range []struct {
		name     string
		recorded map[string]int64 // nil: the export recorded none
		snapshot *ice.Schema
		dropped  map[string]int64
		want     string // the columns left, each new one starred; or the refusal
	}{
		{"unchanged", map[string]int64{}, columns("k a b c", num, str), nil, "k a b c"},
		{"a column added", map[string]int64{}, columns("k a b c d", num, str), nil, "k a b c d*"},
		{"a column dropped", map[string]int64{}, columns("k a c", num, str), map[string]int64{"b": 5}, "k a c"},
		{"dropped and added again since", map[string]int64{}, columns("k a b c", num, str), map[string]int64{"c": 5}, "k a b c*"},
		{"dropped and added again before the export", map[string]int64{"c": 5}, columns("k a b c", num, str), map[string]int64{"c": 5}, "k a b c"},
		{"dropped and added again twice", map[string]int64{"c": 5}, columns("k a b c", num, str), map[string]int64{"c": 9}, "k a b c*"},
		{"dropped, added again and another added", map[string]int64{}, columns("k a b c d", num, str), map[string]int64{"b": 5}, "k a c b* d*"},
		{"added again, no drop times recorded", nil, columns("k a b c", num, str), map[string]int64{"c": 5}, "recorded no drop times"},
		{"a column lacking, not dropped", map[string]int64{}, columns("k a c", num, str), nil, "has no column b, which Cassandra did not drop"},
		{"the partition column dropped", map[string]int64{}, columns("a b c", str), map[string]int64{"k": 5}, "partitioned by"},
		{"a type changed", map[string]int64{}, columns("k a b c", num, num), nil, "a: the table has string, the rows int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cat, err := Catalog{URI: filepath.Join(t.TempDir(), "c.db")}.Open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer Close(cat)
			tbl, err := openTable(ctx, cat, "lake.t", columns("k a b c", num, str), "bucket(2, k)")
			if err != nil {
				t.Fatal(err)
			}
			props := ice.Properties{SourceProperty: "older"}
			if tc.recorded != nil {
				b, _ := json.Marshal(tc.recorded)
				props[DroppedProperty] = string(b)
			}
			sc, _ := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
			rdr, _ := array.NewRecordReader(sc, nil)
			txn := tbl.NewTransaction()
			if err := txn.Append(ctx, rdr, props); err != nil {
				t.Fatal(err)
			}
			if tbl, err = txn.Commit(ctx); err != nil {
				t.Fatal(err)
			}

			txn = tbl.NewTransaction()
			got, order, err := evolve(txn, tbl, tc.snapshot, tc.dropped)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("refused: %v; want %q", err, tc.want)
				}
				return
			}
			var left []string
			for i, f := range got.Schema().Fields() {
				name := f.Name
				if old, ok := tbl.Schema().FindFieldByName(f.Name); !ok || old.ID != f.ID {
					name += "*"
				}
				left = append(left, name)
				if order[i] < 0 || tc.snapshot.Fields()[order[i]].Name != f.Name {
					t.Errorf("column %d, %s, takes column %d of the snapshot", i, f.Name, order[i])
				}
			}
			if strings.Join(left, " ") != tc.want {
				t.Errorf("columns %v; want %s", left, tc.want)
			}
			if _, err := txn.Commit(ctx); err != nil {
				t.Errorf("the evolved schema does not commit: %v", err)
			}
		})
	}
}
