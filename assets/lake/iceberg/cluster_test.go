package iceberg

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/file"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/reprocess/reprocess/assets/sstable"
)

// clusterSchema is k (long), day (timestamp) and v (string).
var clusterSchema = ice.NewSchema(0,
	ice.NestedField{ID: 1, Name: "k", Type: ice.PrimitiveTypes.Int64},
	ice.NestedField{ID: 2, Name: "day", Type: ice.PrimitiveTypes.TimestampTz},
	ice.NestedField{ID: 3, Name: "v", Type: ice.PrimitiveTypes.String})

// clusterRows is n rows whose day cycles through days days, a null every
// 97th row, so that neighbours are in other partitions.
func clusterRows(n, days int) rowSource {
	return func(_ context.Context, fn func([]string, []any) error) error {
		cols := []string{"k", "day", "v"}
		for i := range n {
			var day any = sstable.Timestamp(int64(i%days) * 86_400_000)
			if i%97 == 0 {
				day = nil
			}
			if err := fn(cols, []any{int64(i), day, fmt.Sprint("v", i)}); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestPartitionedRowsComeGrouped reads rows of many partitions, each
// next to rows of others, as batches of a table partitioned by day: every
// partition's batches come together (the clustered writer refuses a
// partition seen again), and every row comes once. The rows are more
// than the spill holds and a partition has more than a batch.
func TestPartitionedRowsComeGrouped(t *testing.T) {
	const n, days = spillRows + 20_000, 7
	for _, tc := range []struct {
		name string
		spec string
		part func(k int64, day any) string
	}{
		{"day", "day(day)", func(_ int64, day any) string {
			if day == nil {
				return "null"
			}
			return fmt.Sprint(day.(int64) / 86_400_000_000)
		}},
		{"day and bucket", "day(day), bucket(3, k)", func(k int64, day any) string {
			b := ice.BucketTransform{NumBuckets: 3}.Apply(ice.Optional[ice.Literal]{Valid: true, Val: ice.NewLiteral(k)})
			if day == nil {
				return fmt.Sprint("null ", b.Val)
			}
			return fmt.Sprint(day.(int64)/86_400_000_000, " ", b.Val)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := ParsePartitionSpec(tc.spec, clusterSchema)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := newRowBatches(clusterRows(n, days), clusterSchema, *spec, &counts{})
			if err != nil {
				t.Fatal(err)
			}
			if rb.part == nil {
				t.Fatal("no partitioner for a partitioned spec")
			}
			seen := map[int64]bool{}
			var order []string // partition keys in the order their batches came
			done := map[string]bool{}
			for rec, err := range rb.all(context.Background()) {
				if err != nil {
					t.Fatal(err)
				}
				ks, days := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Timestamp)
				key := ""
				for i := range int(rec.NumRows()) {
					var day any
					if days.IsValid(i) {
						day = int64(days.Value(i))
					}
					rowKey := tc.part(ks.Value(i), day)
					if i > 0 && rowKey != key {
						t.Fatalf("a batch holds rows of partitions %s and %s", key, rowKey)
					}
					key = rowKey
					if seen[ks.Value(i)] {
						t.Fatalf("row %d came twice", ks.Value(i))
					}
					seen[ks.Value(i)] = true
				}
				if len(order) == 0 || order[len(order)-1] != key {
					if done[key] {
						t.Fatalf("partition %s came again after partitions %v", key, order)
					}
					done[key] = true
					order = append(order, key)
				}
				rec.Release()
			}
			if len(seen) != n {
				t.Errorf("%d rows came, want %d", len(seen), n)
			}
			if len(order) < days+1 {
				t.Errorf("rows of %d partitions came, want at least %d", len(order), days+1)
			}
		})
	}
}

// TestExportsWriteBoundedFiles exports more rows than a row group holds
// into a new table, which compresses at zstd's level 1: the data file has
// row groups of at most rowGroupRows rows; with the
// table's write.target-file-size-bytes at 1 byte, the rows roll over
// several files; a partitioned table gets a file per partition.
func TestExportsWriteBoundedFiles(t *testing.T) {
	ctx := context.Background()
	const n = rowGroupRows + rowGroupRows/2
	opt := Options{Catalog: Catalog{URI: filepath.Join(t.TempDir(), "c.db")}, Table: "lake.t"}
	export := func(source string) {
		t.Helper()
		w := write{sc: clusterSchema, rows: clusterRows(n, 3), props: ice.Properties{SourceProperty: source}}
		if _, err := commitRows(ctx, opt, w); err != nil {
			t.Fatal(err)
		}
	}
	export("one")
	files := addedFiles(t, opt)
	if len(files) != 1 {
		t.Fatalf("%d data files, want 1", len(files))
	}
	groups := rowGroups(t, files[0])
	if len(groups) < 2 || slices.Max(groups) > rowGroupRows {
		t.Errorf("row groups of %v rows; want at least two of at most %d", groups, rowGroupRows)
	}

	cat, err := opt.Catalog.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(cat)
	ident, _ := ParseIdent(opt.Table)
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	if got := tbl.Properties()["write.parquet.compression-level"]; got != "1" {
		t.Errorf("a new table's write.parquet.compression-level is %q, want zstd's quickest, 1", got)
	}
	txn := tbl.NewTransaction()
	if err := txn.SetProperties(ice.Properties{table.WriteTargetFileSizeBytesKey: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	export("two")
	if files := addedFiles(t, opt); len(files) < 2 {
		t.Errorf("with a target file size of 1 byte: %d data file, want the rows rolled over several", len(files))
	}

	opt.Table, opt.PartitionBy = "lake.p", "day(day)"
	export("three")
	if files := addedFiles(t, opt); len(files) != 4 {
		t.Errorf("partitioned by day over 3 days and nulls: %d data files, want 4", len(files))
	}
}

// addedFiles is the paths of the data files the table's last commit added.
func addedFiles(t *testing.T, opt Options) []string {
	t.Helper()
	ctx := context.Background()
	tbl, err := Load(ctx, opt.Catalog, opt.Table)
	if err != nil {
		t.Fatal(err)
	}
	snap := tbl.CurrentSnapshot()
	fs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	manifests, err := snap.Manifests(fs)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, m := range manifests {
		if m.SnapshotID() != snap.SnapshotID {
			continue
		}
		for e, err := range m.Entries(fs, true) {
			if err != nil {
				t.Fatal(err)
			}
			if e.SnapshotID() == snap.SnapshotID {
				paths[e.DataFile().FilePath()] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(paths))
}

// rowGroups is the rows of each row group of the Parquet file at path.
func rowGroups(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := file.OpenParquetFile(strings.TrimPrefix(path, "file://"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []int64
	for i := range f.NumRowGroups() {
		rows = append(rows, f.RowGroup(i).NumRows())
	}
	return rows
}

// TestPartitionOfABadValueIsNamed reads, into a table partitioned by day,
// a row whose timestamp Iceberg cannot hold: the error names the row, the
// column and the partitioning.
func TestPartitionOfABadValueIsNamed(t *testing.T) {
	spec, err := ParsePartitionSpec("day(day)", clusterSchema)
	if err != nil {
		t.Fatal(err)
	}
	rows := func(_ context.Context, fn func([]string, []any) error) error {
		cols := []string{"k", "day", "v"}
		for i, day := range []sstable.Timestamp{0, 86_400_000, maxMillis + 1} {
			if err := fn(cols, []any{int64(i), day, "v"}); err != nil {
				return err
			}
		}
		return nil
	}
	rb, err := newRowBatches(rows, clusterSchema, *spec, &counts{})
	if err != nil {
		t.Fatal(err)
	}
	var got error
	for rec, err := range rb.all(context.Background()) {
		if err != nil {
			got = err
			break
		}
		rec.Release()
	}
	if want := "row 3: column day, partitioned by day: sstable.Timestamp"; got == nil || !strings.Contains(got.Error(), want) {
		t.Errorf("error %v; want one containing %q", got, want)
	}
}
