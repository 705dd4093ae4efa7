package iceberg_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// TestExportEvolvesTheSchema exports a snapshot A of a table on the real
// Cassandra to an Iceberg table T, then changes the Cassandra table: a
// column added, one dropped, one dropped and added again, and rows
// written in the new columns (B). The export of B into T, since A (the
// incremental) and in full (--replace), evolves T's schema in its commit
// and leaves T holding exactly what a full export of B to a new table U
// holds, read back by iceberg-go and pyiceberg: no value of the dropped
// columns, from before the drop, shows.
func TestExportEvolvesTheSchema(t *testing.T) {
	ks := sstabletest.Keyspace(t, "iceberg_evolve")
	tbl := ks + ".t"
	sstabletest.Exec(t, "CREATE TABLE "+tbl+" (k int PRIMARY KEY, a text, b int, c int) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	var rows []string
	for k := range 40 {
		rows = append(rows, fmt.Sprintf("INSERT INTO %s (k, a, b, c) VALUES (%d, 'a%d', %d, %d)", tbl, k, k, 10*k, 100*k))
	}
	dirA := sstabletest.Snapshot(t, ks, "t", [][]string{rows})
	asOfA := time.Now()
	sstabletest.Exec(t,
		"ALTER TABLE "+tbl+" ADD d text",
		"ALTER TABLE "+tbl+" DROP b",
		"ALTER TABLE "+tbl+" DROP c")
	time.Sleep(10 * time.Millisecond) // Cassandra refuses to add a column back in the millisecond it was dropped
	sstabletest.Exec(t, "ALTER TABLE "+tbl+" ADD c int")
	dirB := sstabletest.Snapshot(t, ks, "t", [][]string{{
		"UPDATE " + tbl + " SET d = 'new d' WHERE k = 1",
		"UPDATE " + tbl + " SET c = 7 WHERE k = 2",
		"INSERT INTO " + tbl + " (k, a, c, d) VALUES (100, 'a100', 1, 'd100')",
		"DELETE FROM " + tbl + " WHERE k = 3",
	}})
	a, b := open(t, dirA), open(t, dirB)
	o := sstable.ReadOptions{AsOf: time.Now()}

	for _, how := range []string{"since A", "replace"} {
		t.Run(how, func(t *testing.T) {
			tmp := t.TempDir()
			cat := iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}
			T := iceberg.Options{Catalog: cat, Table: "lake.t", PartitionBy: "bucket(4, k)"}
			U := iceberg.Options{Catalog: cat, Table: "lake.u", PartitionBy: "bucket(4, k)"}
			if _, err := iceberg.ExportSnapshot(context.Background(), a, sstable.ReadOptions{AsOf: asOfA}, T); err != nil {
				t.Fatal(err)
			}
			var res iceberg.Result
			var err error
			if how == "replace" {
				res, err = iceberg.ReplaceAll(context.Background(), b, o, T)
			} else {
				res = exportChanges(t, b, o, T, dirA)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkOverwrite(t, T, res)
			if _, err := iceberg.ExportSnapshot(context.Background(), b, o, U); err != nil {
				t.Fatal(err)
			}
			got, want := icebergtest.Lines(t, T.Catalog, T.Table), icebergtest.Lines(t, U.Catalog, U.Table)
			sameRows(t, got, want)
			if len(want) != 40 || !strings.Contains(strings.Join(want, "\n"), `"d":"new d"`) || strings.Contains(strings.Join(want, "\n"), `"b"`) || strings.Contains(strings.Join(want, "\n"), `"c":100`) {
				t.Errorf("a full export of B: %d rows, want 40 with column d, no column b and no c from before its drop:\n%s", len(want), strings.Join(want[:3], "\n"))
			}
			pyT, pyU := pyicebergRows(t, cat, T.Table), pyicebergRows(t, cat, U.Table)
			if !slices.Equal(pyT, pyU) || len(pyT) != len(want) {
				t.Errorf("pyiceberg reads %d rows of T and %d of U (iceberg-go %d); want them equal", len(pyT), len(pyU), len(want))
			}
		})
	}
}

// TestExportRefusesATypeChange exports a table with an int column to an
// Iceberg table, then a table where that column is text: Iceberg cannot
// change int into text, and the export says so, naming the column, and
// commits nothing.
func TestExportRefusesATypeChange(t *testing.T) {
	ks := sstabletest.Keyspace(t, "iceberg_retype")
	sstabletest.Exec(t,
		"CREATE TABLE "+ks+".x (k int PRIMARY KEY, v int) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}",
		"CREATE TABLE "+ks+".y (k int PRIMARY KEY, v text) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	x := open(t, sstabletest.Snapshot(t, ks, "x", [][]string{{"INSERT INTO " + ks + ".x (k, v) VALUES (1, 1)"}}))
	y := open(t, sstabletest.Snapshot(t, ks, "y", [][]string{{"INSERT INTO " + ks + ".y (k, v) VALUES (1, 'one')"}}))
	cat := iceberg.Catalog{URI: filepath.Join(t.TempDir(), "c.db")}
	T := iceberg.Options{Catalog: cat, Table: "lake.t"}
	if _, err := iceberg.ExportSnapshot(context.Background(), x, sstable.ReadOptions{}, T); err != nil {
		t.Fatal(err)
	}
	before := icebergtest.Lines(t, cat, T.Table)
	_, err := iceberg.ExportSnapshot(context.Background(), y, sstable.ReadOptions{}, T)
	if err == nil || !strings.Contains(err.Error(), "v: the table has int, the rows string") || !strings.Contains(err.Error(), "export to a new table") {
		t.Errorf("int column v exported as text: %v; want a refusal naming v and what to do", err)
	}
	if got := icebergtest.Lines(t, cat, T.Table); !slices.Equal(got, before) {
		t.Errorf("a refused export changed the table: %v", got)
	}
}
