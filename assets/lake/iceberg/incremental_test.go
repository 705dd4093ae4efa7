package iceberg_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
)

// TestExportChangesOfFixtures exports a snapshot A of the fixture to a
// table T, then a snapshot B incrementally into T, and B in full to a
// table U: T then holds U's rows, through one overwrite commit, and a
// second incremental export of B is refused. A and B are the fixture's
// SSTables, one of them left out: B has a new SSTable (its partitions are
// replaced), or lost one (with the older snapshot given, its partitions
// are replaced by none: they disappear).
func TestExportChangesOfFixtures(t *testing.T) {
	first := onlySSTable(t, fixture, "nb-1-")
	for _, tc := range []struct {
		name, a, b string
		since      func(tmp string) string
		wantKeys   int
	}{
		{"new SSTable, since the last export", first, fixture, func(string) string { return iceberg.SinceLast }, 95},
		{"new SSTable, since a manifest", first, fixture, func(tmp string) string { return writeManifest(t, first, tmp) }, 95},
		{"new SSTable, since the older snapshot", first, fixture, func(string) string { return first }, 95},
		{"SSTable gone, since the older snapshot", fixture, first, func(string) string { return fixture }, 95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			cat := iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}
			a, b := open(t, tc.a), open(t, tc.b)
			o := sstable.ReadOptions{AsOf: time.Now()}
			T := iceberg.Options{Catalog: cat, Table: "lake.t", PartitionBy: "bucket(2, k)"}
			U := iceberg.Options{Catalog: cat, Table: "lake.u", PartitionBy: "bucket(2, k)"}
			if _, err := iceberg.ExportSnapshot(context.Background(), a, o, T); err != nil {
				t.Fatal(err)
			}
			res := exportChanges(t, b, o, T, tc.since(tmp))
			if res.Partitions != tc.wantKeys {
				t.Errorf("replaced %d partitions, want %d", res.Partitions, tc.wantKeys)
			}
			if _, err := iceberg.ExportSnapshot(context.Background(), b, o, U); err != nil {
				t.Fatal(err)
			}
			sameRows(t, icebergtest.Lines(t, T.Catalog, T.Table), icebergtest.Lines(t, U.Catalog, U.Table))
			checkOverwrite(t, T, res)
			_, err := iceberg.ExportChanges(context.Background(), b, o, T, tc.since(tmp), backup.Config{}, slog.New(slog.DiscardHandler))
			if !errors.Is(err, iceberg.ErrAlreadyExported) {
				t.Errorf("a second incremental export of B: %v, want ErrAlreadyExported", err)
			}
		})
	}
}

func exportChanges(t *testing.T, s *sstable.Snapshot, o sstable.ReadOptions, opt iceberg.Options, since string) iceberg.Result {
	t.Helper()
	res, err := iceberg.ExportChanges(context.Background(), s, o, opt, since, backup.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	return res
}

// checkOverwrite checks that the table's current snapshot is res's, an
// overwrite whose parent is the table's only other snapshot.
func checkOverwrite(t *testing.T, opt iceberg.Options, res iceberg.Result) {
	t.Helper()
	tbl, err := iceberg.Load(context.Background(), opt.Catalog, opt.Table)
	if err != nil {
		t.Fatal(err)
	}
	cur := tbl.CurrentSnapshot()
	if cur.SnapshotID != res.SnapshotID || cur.Summary.Operation != table.OpOverwrite {
		t.Errorf("the current snapshot is %d, %s; want %d, an overwrite", cur.SnapshotID, cur.Summary.Operation, res.SnapshotID)
	}
	if n := len(tbl.Metadata().Snapshots()); n != 2 {
		t.Errorf("the table has %d snapshots, want 2: the full export and one commit of the changes", n)
	}
}

func open(t *testing.T, dir string) *sstable.Snapshot {
	t.Helper()
	s, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// onlySSTable copies the SSTable of dir whose files start with prefix, and
// its schema.cql, to a new directory.
func onlySSTable(t *testing.T, dir, prefix string) string {
	t.Helper()
	out := t.TempDir()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasPrefix(f.Name(), prefix) || f.Name() == "schema.cql" {
			b, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err == nil {
				err = os.WriteFile(filepath.Join(out, f.Name()), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func writeManifest(t *testing.T, dir, tmp string) string {
	t.Helper()
	m, err := open(t, dir).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmp, "a.sstables.json")
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// sameRows checks that two sorted lists of rows are equal, naming the
// rows of one only.
func sameRows(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%d rows, want %d", len(got), len(want))
	i, j, shown := 0, 0, 0
	for (i < len(got) || j < len(want)) && shown < 10 {
		switch {
		case j == len(want) || i < len(got) && got[i] < want[j]:
			t.Errorf("extra row %s", got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			t.Errorf("missing row %s", want[j])
			j++
		default:
			i, j, shown = i+1, j+1, shown-1
		}
		shown++
	}
}

// TestExportChangesRefusesWhatCannotBeExact: an incremental export that
// could not equal a full export is refused, saying why and naming
// --replace, and commits nothing: since a snapshot other than the one the
// table was built from (the target itself, a newer one, a manifest of
// either), since the last export when SSTables it read are gone, and
// since a recorded manifest changed after its commit. --replace then
// makes the table what a full export into a new table holds.
func TestExportChangesRefusesWhatCannotBeExact(t *testing.T) {
	first, second := onlySSTable(t, fixture, "nb-1-"), onlySSTable(t, fixture, "nb-2-")
	for _, tc := range []struct {
		name, built, target string
		since               func(tmp, table string) string
		want                string
	}{
		{"since the target itself", first, fixture, func(string, string) string { return fixture }, "is not the snapshot the table's rows were built from"},
		{"since a manifest of the target", first, fixture, func(tmp, _ string) string { return writeManifest(t, fixture, tmp) }, "is not the snapshot"},
		{"since another snapshot of the table", first, fixture, func(string, string) string { return second }, "is not the snapshot"},
		{"since the last export, an SSTable gone", fixture, first, func(string, string) string { return iceberg.SinceLast }, "1 SSTables the table's last export read are gone"},
		{"since a manifest, an SSTable gone", fixture, first, func(tmp, _ string) string { return writeManifest(t, fixture, tmp) }, "are gone"},
		{"since a recorded manifest changed after its commit", first, fixture, func(tmp, table string) string {
			tamper(t, iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}, table)
			return iceberg.SinceLast
		}, "does not match the checksum its commit recorded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			cat := iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}
			o := sstable.ReadOptions{AsOf: time.Now()}
			T := iceberg.Options{Catalog: cat, Table: "lake.t", PartitionBy: "bucket(2, k)"}
			U := iceberg.Options{Catalog: cat, Table: "lake.u", PartitionBy: "bucket(2, k)"}
			if _, err := iceberg.ExportSnapshot(context.Background(), open(t, tc.built), o, T); err != nil {
				t.Fatal(err)
			}
			before := icebergtest.Table(t, cat, T.Table).CurrentSnapshot().SnapshotID
			target := open(t, tc.target)
			_, err := iceberg.ExportChanges(context.Background(), target, o, T, tc.since(tmp, T.Table), backup.Config{}, slog.New(slog.DiscardHandler))
			if !errors.Is(err, iceberg.ErrNotIncremental) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--replace") {
				t.Fatalf("got %v; want ErrNotIncremental saying %q and naming --replace", err, tc.want)
			}
			if now := icebergtest.Table(t, cat, T.Table).CurrentSnapshot().SnapshotID; now != before {
				t.Errorf("a refused export committed snapshot %d", now)
			}

			res, err := iceberg.ReplaceAll(context.Background(), target, o, T)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := iceberg.ExportSnapshot(context.Background(), target, o, U); err != nil {
				t.Fatal(err)
			}
			sameRows(t, icebergtest.Lines(t, T.Catalog, T.Table), icebergtest.Lines(t, U.Catalog, U.Table))
			checkOverwrite(t, T, res)
			if _, err := iceberg.ReplaceAll(context.Background(), target, o, T); !errors.Is(err, iceberg.ErrAlreadyExported) {
				t.Errorf("replacing with the snapshot the table holds: %v, want ErrAlreadyExported", err)
			}
		})
	}
}

// tamper rewrites the manifest the table's last export recorded to list
// one SSTable fewer, as a hand edit or a foreign file would.
func tamper(t *testing.T, cat iceberg.Catalog, name string) {
	t.Helper()
	loc := icebergtest.Table(t, cat, name).CurrentSnapshot().Summary.Properties[iceberg.ManifestProperty]
	path := strings.TrimPrefix(loc, "file://")
	m, err := sstable.ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	m.SSTables = m.SSTables[1:]
	b, err := json.Marshal(m)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
