package lake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
	"github.com/reprocess/reprocess/assets/synth"
)

// TestIncrementalExport exports a snapshot of the assets table on the
// real Cassandra (A), updates, deletes and adds assets, snapshots it again
// (B), and updates A's export to B from A's manifest and from A itself:
// the result equals a full export of B row for row, in order (but for
// exported_at), and holds exactly the assets live in the table.
func TestIncrementalExport(t *testing.T) {
	ks := sstabletest.Keyspace(t, "lake_incr")
	layout := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}
	s := assetstest.Cassandra(t, ks, layout)
	ctx := context.Background()
	gen := synth.NewGenerator(synth.Config{Span: 10 * 24 * time.Hour, End: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Seed: rand.Uint64()})
	live := map[string]bool{}
	var ids []assets.ID
	put := func(n int) {
		for range n {
			a := gen.Next()
			if err := s.Put(ctx, a); err != nil {
				t.Fatal(err)
			}
			live[a.ID.String()] = true
			ids = append(ids, a.ID)
		}
	}
	put(300)
	sstabletest.Flush(t, ks, "assets")
	put(200)
	dirA := sstabletest.Snapshot(t, ks, "assets", nil)
	for i, id := range ids[:60] {
		if i%4 == 0 {
			if err := s.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			delete(live, id.String())
			continue
		}
		if err := s.Update(ctx, id, assets.Update{Metadata: map[string]string{"phase": "updated"}}); err != nil {
			t.Fatal(err)
		}
	}
	put(20)
	dirB := sstabletest.Snapshot(t, ks, "assets", nil)
	asOf := time.Now()

	for _, f := range []lake.Format{lake.JSONL, lake.Parquet} {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			export(t, lake.Export{Out: filepath.Join(dir, "a"), Format: f}, dirA, asOf)
			full := readRows(t, export(t, lake.Export{Out: filepath.Join(dir, "b"), Format: f}, dirB, asOf), f)
			for _, since := range []string{"", dirA} {
				out := export(t, lake.Export{Out: filepath.Join(dir, "b-incr"), Format: f, Base: filepath.Join(dir, "a"), Since: since}, dirB, asOf)
				got := readRows(t, out, f)
				if !reflect.DeepEqual(got, full) {
					t.Errorf("since %q: the incremental export (%d rows) differs from the full one (%d rows)", since, len(got), len(full))
				}
				ids := map[string]bool{}
				for _, r := range got {
					ids[r.AssetID] = true
				}
				if !reflect.DeepEqual(ids, live) {
					t.Errorf("since %q: %d assets exported, want the %d live ones", since, len(ids), len(live))
				}
			}
		})
	}
}

// export runs e on the snapshot in dir and returns the file written.
func export(t *testing.T, e lake.Export, dir string, asOf time.Time) string {
	t.Helper()
	snap, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	done, err := e.Run(context.Background(), snap, sstable.ReadOptions{AsOf: asOf}, backup.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(done)
	return e.Out
}

// readRows reads an export back, exported_at zeroed.
func readRows(t *testing.T, path string, f lake.Format) []lake.Row {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []lake.Row
	if f == lake.Parquet {
		if rows, err = parquet.Read[lake.Row](bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	for line := range strings.Lines(string(b)) {
		if f != lake.JSONL {
			break
		}
		var r lake.Row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	for i := range rows {
		rows[i].ExportedAt = time.Time{}
	}
	return rows
}

// Export settings are checked before anything is read, each error naming
// the flag.
func TestExportCheck(t *testing.T) {
	for _, tc := range []struct {
		e         lake.Export
		want      string // part of the error; "": valid
		wantSince string
	}{
		{lake.Export{Out: "b", Format: lake.JSONL}, "", ""},
		{lake.Export{Out: "b", Format: lake.Parquet, Base: "a"}, "", "a.sstables.json"},
		{lake.Export{Out: "b", Format: lake.Parquet, Base: "a", Since: "/snap/a"}, "", "/snap/a"},
		{lake.Export{Out: "b", Format: "csv"}, "--format: want parquet or jsonl", ""},
		{lake.Export{Format: lake.JSONL}, "--out: name the file", ""},
		{lake.Export{Out: "b", Format: lake.JSONL, Since: "/snap/a"}, "--since: give --base too", ""},
		{lake.Export{Out: "b", Format: lake.JSONL, Base: "b"}, "--base: name a file other than --out", ""},
	} {
		err := tc.e.Check()
		switch {
		case tc.want == "" && (err != nil || tc.e.Since != tc.wantSince):
			t.Errorf("%+v: %v, since %q; want it valid, since %q", tc.e, err, tc.e.Since, tc.wantSince)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v; want an error saying %q", tc.e, err, tc.want)
		}
	}
}

// TestIncrementalExportOfAGoneSSTable updates an export of a snapshot of
// two SSTables to one where an SSTable is gone, as after a compaction:
// from the older export's manifest it is refused, naming the ways out and
// writing nothing; from the older snapshot itself it equals a full export.
func TestIncrementalExportOfAGoneSSTable(t *testing.T) {
	const both = "../../cmd/reprocess/testdata/assets-snapshot"
	one := t.TempDir()
	copyFile(t, filepath.Join(both, "schema.cql"), filepath.Join(one, "schema.cql"))
	files, _ := filepath.Glob(filepath.Join(both, "nb-1-*"))
	for _, f := range files {
		copyFile(t, f, filepath.Join(one, filepath.Base(f)))
	}
	asOf := time.Now()
	dir := t.TempDir()
	export(t, lake.Export{Out: filepath.Join(dir, "a"), Format: lake.JSONL}, both, asOf)
	full := readRows(t, export(t, lake.Export{Out: filepath.Join(dir, "b"), Format: lake.JSONL}, one, asOf), lake.JSONL)

	e := lake.Export{Out: filepath.Join(dir, "b-incr"), Format: lake.JSONL, Base: filepath.Join(dir, "a")}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	snap, err := sstable.OpenSnapshot(one)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Run(context.Background(), snap, sstable.ReadOptions{AsOf: asOf}, backup.Config{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "1 SSTables of the older snapshot are gone") || !strings.Contains(err.Error(), "without --base") {
		t.Errorf("from the manifest: %v; want a refusal naming the gone SSTable and the full export", err)
	}
	if _, err := os.Stat(e.Out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused export left %s: %v", e.Out, err)
	}

	got := readRows(t, export(t, lake.Export{Out: e.Out, Format: lake.JSONL, Base: e.Base, Since: both}, one, asOf), lake.JSONL)
	if len(full) == 0 || !reflect.DeepEqual(got, full) {
		t.Errorf("from the older snapshot: %d rows, the full export %d", len(got), len(full))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
