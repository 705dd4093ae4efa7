package scan_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/expr"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// countingStore counts live-store reads, which the backup source must not
// need.
type countingStore struct {
	assets.Store
	gets atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, id assets.ID) (assets.Asset, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, id)
}

// collector records emitted ids and fails once after failAfter batches.
type collector struct {
	mu        sync.Mutex
	ids       map[assets.ID]int
	batches   int
	failAfter int
}

func (c *collector) Emit(_ context.Context, evs []events.Reprocess) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failAfter > 0 && c.batches == c.failAfter {
		c.failAfter = 0
		return 0, errors.New("injected crash")
	}
	c.batches++
	for _, e := range evs {
		c.ids[e.AssetID]++
	}
	return len(evs), nil
}

// TestBackupSourceOnARealSnapshot writes assets to the real Cassandra in
// two flushes, updates and deletes some, snapshots the assets table, and
// scans the snapshot: every live asset is emitted, no deleted one, the
// filter sees the snapshot's rows without one live read, and a crash
// midway resumes from the per-range checkpoints.
func TestBackupSourceOnARealSnapshot(t *testing.T) {
	ks := sstabletest.Keyspace(t, "reprocess_backup")
	s := assetstest.Cassandra(t, ks, layout)
	ctx := context.Background()
	gen := synth.NewGenerator(synth.Config{Span: 10 * 24 * time.Hour, End: end, Seed: rand.Uint64()})
	var all []assets.Asset
	for i := range 1500 {
		a := gen.Next()
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		all = append(all, a)
		if i == 700 {
			sstabletest.Flush(t, ks, "assets")
		}
	}
	sstabletest.Flush(t, ks, "assets")
	live := map[assets.ID]bool{}
	for _, a := range all {
		live[a.ID] = true
	}
	updated := map[assets.ID]bool{}
	for i, a := range all[:300] {
		switch {
		case i%3 == 0:
			if err := s.Delete(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			delete(live, a.ID)
		default:
			if err := s.Update(ctx, a.ID, assets.Update{Metadata: map[string]string{"phase": "updated"}}); err != nil {
				t.Fatal(err)
			}
			updated[a.ID] = true
		}
	}
	dir := sstabletest.Snapshot(t, ks, "assets", nil)
	snap, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Tables) < 2 {
		t.Errorf("snapshot has %d SSTables, want the data spread over several", len(snap.Tables))
	}

	checkpoints := &countingStore{Store: assetstest.Embedded(t, layout)}
	run := func(job string, filter *expr.Filter, c *collector) error {
		src := &scan.Backup{Snapshot: snap, Splits: 8, BatchSize: 50}
		return scan.New(scan.Config{Job: job, Transform: "t", Version: 1, Concurrency: 3, Filter: filter, Store: checkpoints, Log: quiet}, src, c).Run(ctx)
	}

	// A crash after a few batches, then a resume.
	c := &collector{ids: map[assets.ID]int{}, failAfter: 7}
	if err := run("all", nil, c); err == nil {
		t.Fatal("the injected crash did not stop the scan")
	}
	first := len(c.ids)
	if err := run("all", nil, c); err != nil {
		t.Fatal(err)
	}
	dupes := 0
	for id, n := range c.ids {
		if !live[id] {
			t.Errorf("emitted %s, which was deleted before the snapshot", id)
		}
		dupes += n - 1
	}
	for id := range live {
		if c.ids[id] == 0 {
			t.Errorf("live asset %s was not emitted", id)
		}
	}
	if first == 0 || first >= len(live) {
		t.Errorf("%d emitted before the crash, want some but not all of %d", first, len(live))
	}
	if dupes > 3*50 {
		t.Errorf("%d re-emitted after the resume, want at most the batches in flight (150)", dupes)
	}

	// The filter reads the snapshot's rows, not the live store.
	f, err := expr.CompileFilter(`"phase" in asset.metadata && asset.metadata["phase"] == "updated"`, expr.DefaultCostLimit)
	if err != nil {
		t.Fatal(err)
	}
	c = &collector{ids: map[assets.ID]int{}}
	if err := run("filtered", f, c); err != nil {
		t.Fatal(err)
	}
	if len(c.ids) != len(updated) {
		t.Errorf("filter kept %d, want the %d updated assets", len(c.ids), len(updated))
	}
	for id := range c.ids {
		if !updated[id] {
			t.Errorf("filter kept %s, which was not updated", id)
		}
	}
	if n := checkpoints.gets.Load(); n != 0 {
		t.Errorf("%d live-store reads, want 0", n)
	}
	t.Logf("%d live assets in %d SSTables: %d emitted before the crash, %d re-emitted; filter kept %d",
		len(live), len(snap.Tables), first, dupes, len(c.ids))
}
