package iceberg_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
)

const fixture = "../../sstable/testdata/uncompressed-snapshot"

// TestKilledExportThenRerun stops an export after its data files are
// written, before the commit: the table holds no rows; the rerun commits
// every row once, and a third run of the same snapshot is refused.
func TestKilledExportThenRerun(t *testing.T) {
	ctx := context.Background()
	snap, err := sstable.OpenSnapshot(fixture)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	opt := iceberg.Options{Catalog: iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}, Table: "lake.t", PartitionBy: "bucket(2, k)"}
	killed := errors.New("killed")
	kill := opt
	kill.BeforeCommit = func() error { return killed }
	if _, err := iceberg.ExportSnapshot(ctx, snap, sstable.ReadOptions{}, kill); !errors.Is(err, killed) {
		t.Fatalf("killed export: %v, want %v", err, killed)
	}
	if n := len(dataFiles(t, filepath.Join(tmp, "warehouse"))); n == 0 {
		t.Fatal("the killed export wrote no data file: it was not stopped between writing and committing")
	}
	if keys := icebergtest.Count(t, opt.Catalog, opt.Table, "k"); len(keys) != 0 {
		t.Fatalf("after the killed export the table holds %d rows, want none", len(keys))
	}

	res, err := iceberg.ExportSnapshot(ctx, snap, sstable.ReadOptions{}, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := res.Rows
	if want == 0 {
		t.Fatal("the fixture has no rows")
	}
	checkOnce(t, icebergtest.Count(t, opt.Catalog, opt.Table, "k"), want)

	_, err = iceberg.ExportSnapshot(ctx, snap, sstable.ReadOptions{}, opt)
	if !errors.Is(err, iceberg.ErrAlreadyExported) || !strings.Contains(err.Error(), res.Source) {
		t.Errorf("second export of the snapshot: %v, want ErrAlreadyExported naming %s", err, res.Source)
	}
	checkOnce(t, icebergtest.Count(t, opt.Catalog, opt.Table, "k"), want)
}

func checkOnce(t *testing.T, keys map[string]int, rows int64) {
	t.Helper()
	if int64(len(keys)) != rows {
		t.Errorf("%d keys, want %d", len(keys), rows)
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("key %s: %d rows, want 1", k, n)
		}
	}
}

func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestParsePartitionSpec(t *testing.T) {
	snap, err := sstable.OpenSnapshot(fixture)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := iceberg.Schema(snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ spec, want string }{
		{"", "[]"},
		{"identity(a)", "1000: a_identity: identity(2)"},
		{"bucket(16, k), truncate(4, a)", "1000: k_bucket: bucket[16](1)\n\t1001: a_truncate: truncate[4](2)"},
		{" day(k) ", "error: day(k): column k is int, which day cannot partition"},
		{"bucket(k)", "error: bucket(k): want a positive bucket count"},
		{"bucket(0, k)", "error: bucket(k): want a positive bucket count"},
		{"week(k)", "error: unknown transform week"},
		{"identity(nope)", "error: identity(nope): the table has no column nope"},
		{"identity(a", "error: want transform(column)"},
		{"identity(2, a)", "error: identity takes only a column"},
	} {
		ps, err := iceberg.ParsePartitionSpec(tc.spec, sc)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = ps.String()
		}
		if !strings.Contains(got, strings.TrimPrefix(tc.want, "error: ")) || strings.HasPrefix(tc.want, "error: ") != (err != nil) {
			t.Errorf("%q: %s, want %s", tc.spec, got, tc.want)
		}
	}
}

// TestFingerprintIsStable pins the fingerprint of a fixture: tables
// record it to refuse a second export of a snapshot, so a change to how
// it is computed would let every snapshot exported before in again.
func TestFingerprintIsStable(t *testing.T) {
	snap, err := sstable.OpenSnapshot(fixture)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iceberg.Fingerprint(snap)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ff139b79224e4afe0326a394f0fee5e6"; got != want {
		t.Errorf("fingerprint of %s: %s, want %s", fixture, got, want)
	}
}
