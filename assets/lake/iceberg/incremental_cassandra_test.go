package iceberg_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// TestExportChangesOnTheLiveTable writes a table with a composite
// partition key to the real Cassandra, snapshots it (A) and exports A to
// an Iceberg table T; then inserts, updates, deletes a row, a clustering
// range and a whole partition, flushes and snapshots again (B), and
// exports B into T with --since the table's last export, read two hours
// later so that a cell with a TTL in A has expired, its progress counted
// in partitions. T then holds exactly the rows of a full export of B to
// a table U, read back by iceberg-go and by pyiceberg, through one
// overwrite commit.
func TestExportChangesOnTheLiveTable(t *testing.T) {
	dirA, asOfA, dirB := writeAndChange(t)
	asOfB := time.Now().Add(2 * time.Hour)
	a, b := open(t, dirA), open(t, dirB)

	tmp := t.TempDir()
	cat := iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}
	T := iceberg.Options{Catalog: cat, Table: "lake.t", PartitionBy: "bucket(4, k)"}
	U := iceberg.Options{Catalog: cat, Table: "lake.u", PartitionBy: "bucket(4, k)"}
	if _, err := iceberg.ExportSnapshot(context.Background(), a, sstable.ReadOptions{AsOf: asOfA}, T); err != nil {
		t.Fatal(err)
	}
	before := icebergtest.Lines(t, T.Catalog, T.Table)
	start := time.Now()
	var progress []int // done, total, of each call
	o := sstable.ReadOptions{AsOf: asOfB, Progress: func(done, total int) { progress = append(progress, done, total) }}
	res := exportChanges(t, b, o, T, iceberg.SinceLast)
	took := time.Since(start)
	if n := len(progress); n != 2*res.Partitions || progress[n-2] != res.Partitions || progress[n-1] != res.Partitions {
		t.Errorf("progress reported %v (done, total), want once per partition up to %d of %d", progress, res.Partitions, res.Partitions)
	}
	if _, err := iceberg.ExportSnapshot(context.Background(), b, sstable.ReadOptions{AsOf: asOfB}, U); err != nil {
		t.Fatal(err)
	}
	got, want := icebergtest.Lines(t, T.Catalog, T.Table), icebergtest.Lines(t, U.Catalog, U.Table)
	sameRows(t, got, want)
	checkOverwrite(t, T, res)
	// (1, a), (2, b), (100, new), (3, a), (4, b), (25, a), (20, b) and
	// the expired (7, a) changed; the filter k in (1, 2, 3, 4, 7, 20, 25,
	// 100) and g in (a, b, new) selects the other g of each k too.
	if res.Partitions != 15 {
		t.Errorf("replaced %d partitions, want 15", res.Partitions)
	}
	if slices.Equal(before, got) {
		t.Error("the incremental export changed no row")
	}
	t.Logf("%d partitions replaced, %d rows written, %d removed, in %s; %d rows before, %d after",
		res.Partitions, res.Rows, res.Deleted, took.Round(time.Millisecond), len(before), len(got))

	pyT, pyU := pyicebergRows(t, cat, T.Table), pyicebergRows(t, cat, U.Table)
	if !slices.Equal(pyT, pyU) || len(pyT) != len(want) {
		t.Errorf("pyiceberg reads %d rows of T and %d of U (iceberg-go %d); want them equal", len(pyT), len(pyU), len(want))
	}
}

// pyicebergRows reads the table of a catalog with its warehouse beside it
// with pyiceberg, the rows canonical and sorted.
func pyicebergRows(t *testing.T, cat iceberg.Catalog, table string) []string {
	t.Helper()
	tbl := readWithPyiceberg(t, oraclePython(t), cat.URI, "file://"+filepath.Join(filepath.Dir(cat.URI), "warehouse"), table)
	var rows []string
	for _, r := range tbl.Rows {
		rows = append(rows, canonicalRow(t, r))
	}
	slices.Sort(rows)
	return rows
}

// writeAndChange writes a table with a composite partition key and
// snapshots it (A, with a cell for an hour in an SSTable of its own),
// then inserts, updates, deletes a row, a clustering range and a
// partition, and snapshots it again (B).
func writeAndChange(t *testing.T) (dirA string, asOfA time.Time, dirB string) {
	t.Helper()
	ks := sstabletest.Keyspace(t, "iceberg_incr")
	tbl := ks + ".t"
	sstabletest.Exec(t, "CREATE TABLE "+tbl+" (k int, g text, c int, v text, s int static, PRIMARY KEY ((k, g), c)) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	var first, second []string
	for k := range 30 {
		for _, g := range []string{"a", "b"} {
			for c := range 3 {
				stmt := fmt.Sprintf("INSERT INTO %s (k, g, c, v, s) VALUES (%d, '%s', %d, 'v%d%s%d', %d)", tbl, k, g, c, k, g, c, k)
				if k < 15 {
					first = append(first, stmt)
				} else {
					second = append(second, stmt)
				}
			}
		}
	}
	ttl := []string{"INSERT INTO " + tbl + " (k, g, c, v) VALUES (7, 'a', 5, 'for an hour') USING TTL 3600"}
	dirA = sstabletest.Snapshot(t, ks, "t", [][]string{first, second, ttl})
	asOfA = time.Now()
	dirB = sstabletest.Snapshot(t, ks, "t", [][]string{{
		"UPDATE " + tbl + " SET v = 'updated' WHERE k = 1 AND g = 'a' AND c = 0",
		"INSERT INTO " + tbl + " (k, g, c, v) VALUES (100, 'new', 0, 'inserted')",
		"DELETE FROM " + tbl + " WHERE k = 2 AND g = 'b' AND c = 1",
	}, {
		"DELETE FROM " + tbl + " WHERE k = 3 AND g = 'a'",
		"DELETE FROM " + tbl + " WHERE k = 4 AND g = 'b' AND c >= 1",
		"INSERT INTO " + tbl + " (k, g, c, v) VALUES (25, 'a', 9, 'added')",
		"UPDATE " + tbl + " SET s = 555 WHERE k = 20 AND g = 'b'",
	}})
	return dirA, asOfA, dirB
}

// TestExportChangesKeepsUntouchedFiles exports a snapshot A of a table
// of 400 partitions to an Iceberg table T in 16 buckets of its key (a
// data file each), then updates a partition, deletes one and adds one
// (B), and exports B into T since its last export: the commit rewrites
// at most the 3 data files of those partitions' buckets and keeps every
// other file, at the same path; T then holds the rows of a full export
// of B to a table U.
func TestExportChangesKeepsUntouchedFiles(t *testing.T) {
	ks := sstabletest.Keyspace(t, "iceberg_keep")
	tbl := ks + ".t"
	sstabletest.Exec(t, "CREATE TABLE "+tbl+" (k int PRIMARY KEY, v text) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	var inserts []string
	for k := range 400 {
		inserts = append(inserts, fmt.Sprintf("INSERT INTO %s (k, v) VALUES (%d, 'v%d')", tbl, k, k))
	}
	a := open(t, sstabletest.Snapshot(t, ks, "t", [][]string{inserts}))
	b := open(t, sstabletest.Snapshot(t, ks, "t", [][]string{{
		"UPDATE " + tbl + " SET v = 'updated' WHERE k = 10",
		"DELETE FROM " + tbl + " WHERE k = 20",
		"INSERT INTO " + tbl + " (k, v) VALUES (1000, 'new')",
	}}))
	o := sstable.ReadOptions{AsOf: time.Now()}
	cat := iceberg.Catalog{URI: filepath.Join(t.TempDir(), "c.db")}
	T := iceberg.Options{Catalog: cat, Table: "lake.t", PartitionBy: "bucket(16, k)"}
	U := iceberg.Options{Catalog: cat, Table: "lake.u", PartitionBy: "bucket(16, k)"}
	if _, err := iceberg.ExportSnapshot(context.Background(), a, o, T); err != nil {
		t.Fatal(err)
	}
	before := tableFiles(t, T)
	if len(before) != 16 {
		t.Fatalf("the export of A wrote %d data files, want 16, one per bucket", len(before))
	}
	res := exportChanges(t, b, o, T, iceberg.SinceLast)
	after := tableFiles(t, T)
	kept := 0
	for _, f := range before {
		if slices.Contains(after, f) {
			kept++
		}
	}
	if kept < len(before)-3 || res.FilesKept != int64(kept) || res.FilesGone != int64(len(before)-kept) {
		t.Errorf("kept %d of %d data files (result: %d kept, %d rewritten); want at least %d kept: 3 partitions changed",
			kept, len(before), res.FilesKept, res.FilesGone, len(before)-3)
	}
	if res.Partitions != 3 || res.Deleted != 2 {
		t.Errorf("replaced %d partitions, removing %d rows; want 3, removing 2", res.Partitions, res.Deleted)
	}
	if _, err := iceberg.ExportSnapshot(context.Background(), b, o, U); err != nil {
		t.Fatal(err)
	}
	sameRows(t, icebergtest.Lines(t, T.Catalog, T.Table), icebergtest.Lines(t, U.Catalog, U.Table))
	checkOverwrite(t, T, res)
}

// tableFiles is the paths of the data files of the table's current
// snapshot.
func tableFiles(t *testing.T, opt iceberg.Options) []string {
	t.Helper()
	tbl, err := iceberg.Load(context.Background(), opt.Catalog, opt.Table)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, task := range tasks {
		files = append(files, task.File.FilePath())
	}
	return files
}

// TestExportChangesAfterCompaction exports a snapshot A of a TWCS table
// (gc_grace_seconds = 0) to an Iceberg table T, where one SSTable holds
// only rows with a short TTL and a partition has a short-lived row beside
// rows that live on; the TTLs pass, a partition is deleted, and a major
// compaction drops the expired SSTable whole and purges the rest into
// one (B). Since the last export, only a manifest at hand, the export of
// B is refused and commits nothing; since A itself, T then holds exactly
// the rows of a full export of B to a table U, read back by pyiceberg.
func TestExportChangesAfterCompaction(t *testing.T) {
	ks := sstabletest.Keyspace(t, "iceberg_compacted")
	tbl := ks + ".t"
	sstabletest.Exec(t, "CREATE TABLE "+tbl+" (k int, c int, v text, PRIMARY KEY (k, c)) WITH gc_grace_seconds = 0"+
		" AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'MINUTES', 'compaction_window_size': 1, 'enabled': 'false'}")
	var lasting, short []string
	for k := range 20 {
		for c := range 3 {
			lasting = append(lasting, fmt.Sprintf("INSERT INTO %s (k, c, v) VALUES (%d, %d, 'v%d-%d')", tbl, k, c, k, c))
		}
	}
	for k := 100; k < 105; k++ {
		short = append(short, fmt.Sprintf("INSERT INTO %s (k, c, v) VALUES (%d, 0, 'brief') USING TTL 4", tbl, k))
	}
	short = append(short, "INSERT INTO "+tbl+" (k, c, v) VALUES (5, 99, 'brief') USING TTL 4")
	asOfA := time.Now() // before the short rows are written: A reads them live
	dirA := sstabletest.Snapshot(t, ks, "t", [][]string{lasting, short})
	time.Sleep(5 * time.Second) // the TTLs pass
	sstabletest.Exec(t, "DELETE FROM "+tbl+" WHERE k = 1")
	sstabletest.Flush(t, ks, "t")
	sstabletest.Nodetool(t, "compact", ks, "t")
	dirB := sstabletest.Snapshot(t, ks, "t", nil)
	a, b := open(t, dirA), open(t, dirB)
	mA, _ := a.Manifest()
	mB, _ := b.Manifest()
	for _, f := range mB.SSTables {
		if slices.Contains(mA.SSTables, f) {
			t.Fatalf("%s of A is still in B: the compaction did not rewrite A's SSTables", f.Name)
		}
	}

	tmp := t.TempDir()
	cat := iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}
	T := iceberg.Options{Catalog: cat, Table: "lake.t", PartitionBy: "bucket(4, k)"}
	U := iceberg.Options{Catalog: cat, Table: "lake.u", PartitionBy: "bucket(4, k)"}
	if _, err := iceberg.ExportSnapshot(context.Background(), a, sstable.ReadOptions{AsOf: asOfA}, T); err != nil {
		t.Fatal(err)
	}
	before := icebergtest.Lines(t, T.Catalog, T.Table)
	if len(before) != 60+6 {
		t.Fatalf("A exported %d rows, want 66", len(before))
	}
	o := sstable.ReadOptions{AsOf: time.Now()}
	_, err := iceberg.ExportChanges(context.Background(), b, o, T, iceberg.SinceLast, backup.Config{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, iceberg.ErrNotIncremental) || !strings.Contains(err.Error(), "are gone") {
		t.Fatalf("since the last export after a compaction: %v; want a refusal", err)
	}
	if got := icebergtest.Lines(t, T.Catalog, T.Table); !slices.Equal(got, before) {
		t.Fatal("a refused export changed the table")
	}
	res := exportChanges(t, b, o, T, dirA)
	if _, err := iceberg.ExportSnapshot(context.Background(), b, o, U); err != nil {
		t.Fatal(err)
	}
	got, want := icebergtest.Lines(t, T.Catalog, T.Table), icebergtest.Lines(t, U.Catalog, U.Table)
	sameRows(t, got, want)
	checkOverwrite(t, T, res)
	if len(want) != 60-3 {
		t.Errorf("a full export of B holds %d rows, want the 57 that live on", len(want))
	}
	pyT, pyU := pyicebergRows(t, cat, T.Table), pyicebergRows(t, cat, U.Table)
	if !slices.Equal(pyT, pyU) || len(pyT) != len(want) {
		t.Errorf("pyiceberg reads %d rows of T and %d of U (iceberg-go %d); want them equal", len(pyT), len(pyU), len(want))
	}
}
