package scan_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/reprocess/expr"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// TestBackupSourceSince snapshots the assets table on the real Cassandra
// (A), then updates, deletes and adds assets and snapshots it again (B):
// the backup source since A, given as A's directory or as its manifest,
// hands out exactly the assets written in between, the updated ones as B
// has them and the deleted ones marked deleted, which a filter drops with
// no live-store read.
func TestBackupSourceSince(t *testing.T) {
	ks := sstabletest.Keyspace(t, "reprocess_since")
	s := assetstest.Cassandra(t, ks, layout)
	ctx := context.Background()
	gen := synth.NewGenerator(synth.Config{Span: 10 * 24 * time.Hour, End: end, Seed: rand.Uint64()})
	var all []assets.Asset
	for range 600 {
		a := gen.Next()
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		all = append(all, a)
	}
	dirA := sstabletest.Snapshot(t, ks, "assets", nil)
	updated, deleted, added := map[assets.ID]bool{}, map[assets.ID]bool{}, map[assets.ID]bool{}
	for i, a := range all[:60] {
		if i%3 == 0 {
			if err := s.Delete(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			deleted[a.ID] = true
			continue
		}
		if err := s.Update(ctx, a.ID, assets.Update{Metadata: map[string]string{"phase": "updated"}}); err != nil {
			t.Fatal(err)
		}
		updated[a.ID] = true
	}
	for range 25 {
		a := gen.Next()
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		added[a.ID] = true
	}
	dirB := sstabletest.Snapshot(t, ks, "assets", nil)
	snapA, err := sstable.OpenSnapshot(dirA)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(t.TempDir(), "a.sstables.json")
	m, err := snapA.Manifest()
	if err == nil {
		err = m.Write(manifest)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, since := range []string{dirA, manifest} {
		snap, err := sstable.OpenSnapshot(dirB)
		if err != nil {
			t.Fatal(err)
		}
		changes, err := backup.Changed(ctx, backup.Config{}, snap, since, time.Time{}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		src := &scan.Backup{Snapshot: snap, Splits: 4, BatchSize: 7, Changes: changes}
		items := walkAll(t, src)
		checkResume(t, src)
		if len(items) != len(updated)+len(deleted)+len(added) {
			t.Errorf("since %s: %d items, want the %d assets written since", filepath.Base(since), len(items), len(updated)+len(deleted)+len(added))
		}
		for id, it := range items {
			switch {
			case deleted[id]:
				if !it.Deleted || it.Asset != nil {
					t.Errorf("deleted asset %s: %+v, want it marked deleted with no asset", id, it)
				}
			case updated[id]:
				if it.Deleted || it.Asset == nil || it.Asset.Metadata["phase"] != "updated" {
					t.Errorf("updated asset %s: %+v, want it as B has it", id, it)
				}
			case !added[id] || it.Asset == nil:
				t.Errorf("asset %s was not written since A: %+v", id, it)
			}
		}
		// A filter drops the deleted ones, reading no live asset.
		f, err := expr.CompileFilter(`true`, expr.DefaultCostLimit)
		if err != nil {
			t.Fatal(err)
		}
		store := &countingStore{Store: assetstest.Embedded(t, layout)}
		c := &collector{ids: map[assets.ID]int{}}
		sc := scan.New(scan.Config{Job: "since", Transform: "t", Version: 1, Concurrency: 2, Filter: f, Store: store, Log: quiet}, src, c)
		if err := sc.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if len(c.ids) != len(updated)+len(added) || sc.Stats.Filtered.Load() != int64(len(deleted)) || store.gets.Load() != 0 {
			t.Errorf("filtered scan: %d emitted, %d filtered, %d live reads; want %d, %d, 0",
				len(c.ids), sc.Stats.Filtered.Load(), store.gets.Load(), len(updated)+len(added), len(deleted))
		}
	}
}

// walkAll walks every task of src from the start, by id.
func walkAll(t *testing.T, src *scan.Backup) map[assets.ID]scan.Item {
	t.Helper()
	ctx := context.Background()
	tasks, err := src.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[assets.ID]scan.Item{}
	for _, task := range tasks {
		err := src.Walk(ctx, task, "", func(b scan.Batch) error {
			for _, it := range b.Items {
				if _, dup := out[it.ID]; dup {
					t.Errorf("%s handed out twice", it.ID)
				}
				out[it.ID] = it
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// checkResume walks each task again from each of its positions: the rest
// of the task is handed out exactly, deleted items included.
func checkResume(t *testing.T, src *scan.Backup) {
	t.Helper()
	ctx := context.Background()
	tasks, err := src.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	walk := func(task, from string) (ids []assets.ID, positions []string) {
		err := src.Walk(ctx, task, from, func(b scan.Batch) error {
			for _, it := range b.Items {
				ids = append(ids, it.ID)
			}
			positions = append(positions, b.Position)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids, positions
	}
	for _, task := range tasks {
		all, positions := walk(task, "")
		for i, pos := range positions {
			rest, _ := walk(task, pos)
			if want := all[min(len(all), 7*(i+1)):]; !slices.Equal(rest, want) {
				t.Errorf("%s from %s: %d items, want the %d after it", task, pos, len(rest), len(want))
			}
		}
	}
}
