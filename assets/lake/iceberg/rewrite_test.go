package iceberg

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// TestReplaceNoRow commits, over a table of 10 rows, writes whose filter
// selects no row: with no row to add, and with 2. Each commit lands,
// recording its source (so that it is not repeated), keeps every data
// file and removes no row.
func TestReplaceNoRow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter ice.BooleanExpression
		add    int64
	}{
		{"nothing to add", ice.AlwaysFalse{}, 0},
		{"rows to add", ice.EqualTo(ice.Reference("k"), int64(100)), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			opt := Options{Catalog: Catalog{URI: filepath.Join(t.TempDir(), "c.db")}, Table: "lake.t", PartitionBy: "bucket(4, k)"}
			sc := ice.NewSchema(0, ice.NestedField{ID: 1, Name: "k", Type: ice.PrimitiveTypes.Int64})
			if _, err := commitRows(ctx, opt, write{sc: sc, rows: keys(0, 10), props: ice.Properties{SourceProperty: "a"}}); err != nil {
				t.Fatal(err)
			}
			w := write{sc: sc, rows: keys(100, 100+tc.add), props: ice.Properties{SourceProperty: "b"}, overwrite: tc.filter}
			res, err := commitRows(ctx, opt, w)
			if err != nil {
				t.Fatal(err)
			}
			if res.Deleted != 0 || res.FilesGone != 0 || res.FilesKept == 0 || res.Rows != tc.add {
				t.Errorf("removed %d rows, %d files (%d kept), wrote %d rows; want none removed, every file kept, %d written",
					res.Deleted, res.FilesGone, res.FilesKept, res.Rows, tc.add)
			}
			if _, err := commitRows(ctx, opt, w); !errors.Is(err, ErrAlreadyExported) {
				t.Errorf("the same write again: %v, want ErrAlreadyExported", err)
			}
			if n := countRows(t, opt); n != 10+tc.add {
				t.Errorf("the table has %d rows, want %d", n, 10+tc.add)
			}
		})
	}
}

// keys is the rows k from first to last, excluded.
func keys(first, last int64) rowSource {
	return func(_ context.Context, fn func([]string, []any) error) error {
		for k := first; k < last; k++ {
			if err := fn([]string{"k"}, []any{k}); err != nil {
				return fmt.Errorf("k %d: %w", k, err)
			}
		}
		return nil
	}
}

func countRows(t *testing.T, opt Options) int64 {
	t.Helper()
	tbl, err := Load(context.Background(), opt.Catalog, opt.Table)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan(table.WithSelectedFields("k")).ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	return at.NumRows()
}

// TestReplaceKeepsDeletes deletes a row of a table of 10 by a position
// delete file (merge-on-read), then replaces another row of the same
// data file: the rewritten file leaves the deleted row out.
func TestReplaceKeepsDeletes(t *testing.T) {
	ctx := context.Background()
	opt := Options{Catalog: Catalog{URI: filepath.Join(t.TempDir(), "c.db")}, Table: "lake.t"}
	sc := ice.NewSchema(0, ice.NestedField{ID: 1, Name: "k", Type: ice.PrimitiveTypes.Int64})
	if _, err := commitRows(ctx, opt, write{sc: sc, rows: keys(0, 10), props: ice.Properties{SourceProperty: "a"}}); err != nil {
		t.Fatal(err)
	}
	cat, err := opt.Catalog.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(cat)
	tbl, err := openTable(ctx, cat, opt.Table, sc, "")
	if err != nil {
		t.Fatal(err)
	}
	txn := tbl.NewTransaction()
	if err := txn.SetProperties(ice.Properties{table.WriteDeleteModeKey: table.WriteModeMergeOnRead}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Delete(ctx, ice.EqualTo(ice.Reference("k"), int64(3)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w := write{sc: sc, rows: keys(5, 6), props: ice.Properties{SourceProperty: "b"}, overwrite: ice.EqualTo(ice.Reference("k"), int64(5))}
	res, err := commitRows(ctx, opt, w)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, opt); n != 9 || res.FilesGone != 1 {
		t.Errorf("%d rows after rewriting %d files, want 9 after rewriting 1: the deleted row is back", n, res.FilesGone)
	}
}
