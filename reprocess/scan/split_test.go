package scan_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// The hot partition's shape: a split after splitAfter ids, splitPage a
// page, cuts the time from its bucket's start to the cursor, four hours,
// into splitWays ranges an hour each.
const (
	splitAfter, splitPage, splitWays = 100, 25, 4
	splitConcurrency                 = 2
)

var (
	hotBucket   = time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	hotCursorAt = hotBucket.Add(4 * time.Hour)
	// One shard: every id of a (type, bucket) is in one partition.
	splitLayout = assets.Layout{BucketWidth: 24 * time.Hour, Shards: 1}
)

// splitEnv is a store holding one hot partition and small ones.
type splitEnv struct {
	store assets.Store
	hot   string
	types []string
	ids   map[assets.ID]bool
	// boundaries are MinID of each range's start: ids a range must keep.
	boundaries []assets.ID
}

// maxIDAt is the largest id of instant t.
func maxIDAt(t time.Time) assets.ID {
	k := assets.MinID(t).SortKey()
	for i := 8; i < 16; i++ {
		k[i] = 0xff
	}
	id, _ := assets.IDFromSortKey(k[:])
	return id
}

// seedSplit seeds the hot partition so that its split cursor is the
// newest of several ids of one instant, with ids on and around every
// range boundary, and small partitions of two other types.
func seedSplit(t *testing.T, s assets.Store) *splitEnv {
	t.Helper()
	suffix := fmt.Sprintf("_%08x", rand.Uint32())
	e := &splitEnv{store: s, hot: "hot" + suffix, ids: map[assets.ID]bool{}}
	e.types = []string{e.hot, "cold_a" + suffix, "cold_b" + suffix}
	var seed []assets.Asset
	put := func(typ string, id assets.ID) {
		seed = append(seed, assets.Asset{ID: id, Type: typ, CreatedAt: id.Time()})
		e.ids[id] = true
	}
	// Above the cursor: one id short of the pages read before the split.
	for i := range splitAfter/splitPage*splitPage - 1 {
		put(e.hot, assets.NewID(hotCursorAt.Add(time.Duration(i+1)*time.Minute)))
	}
	// The cursor and ids of its instant that sort below it.
	for range 4 {
		put(e.hot, assets.NewID(hotCursorAt))
	}
	put(e.hot, assets.MinID(hotCursorAt))
	for h := 1; h < splitWays; h++ {
		b := hotBucket.Add(time.Duration(h) * time.Hour)
		e.boundaries = append(e.boundaries, assets.MinID(b))
		for _, id := range []assets.ID{assets.MinID(b), maxIDAt(b), assets.NewID(b), assets.NewID(b), maxIDAt(b.Add(-100 * time.Nanosecond))} {
			put(e.hot, id)
		}
	}
	put(e.hot, assets.MinID(hotBucket))
	for range 600 {
		put(e.hot, assets.NewID(hotBucket.Add(rand.N(4*time.Hour))))
	}
	for _, typ := range e.types[1:] {
		for range 150 {
			put(typ, assets.NewID(hotBucket.Add(-3*24*time.Hour+rand.N(6*24*time.Hour))))
		}
	}
	if _, err := synth.SeedFrom(context.Background(), s, len(seed), 16, func() assets.Asset { a := seed[0]; seed = seed[1:]; return a }, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *splitEnv) scanner(job string, em scan.Emitter) *scan.Scanner {
	src := &scan.Partitions{Pager: e.store, Layout: splitLayout, Types: e.types, From: hotBucket.Add(-5 * 24 * time.Hour), To: hotBucket.Add(5 * 24 * time.Hour),
		PageSize: splitPage, SplitAfter: splitAfter, SplitWays: splitWays}
	return scan.New(scan.Config{Job: job, Transform: "t", Version: 1, Concurrency: splitConcurrency, Store: e.store, Log: quiet}, src, em)
}

var splitStores = map[string]func(*testing.T) assets.Store{
	"embedded":  func(t *testing.T) assets.Store { return assetstest.Embedded(t, splitLayout) },
	"cassandra": func(t *testing.T) assets.Store { return assetstest.Cassandra(t, "reprocess_split_test", splitLayout) },
}

func TestSplitEmitsEveryIDOnce(t *testing.T) {
	for name, open := range splitStores {
		t.Run(name, func(t *testing.T) {
			e := seedSplit(t, open(t))
			got := &idSet{ids: map[assets.ID]int{}}
			job := fmt.Sprintf("split-%x", rand.Uint32())
			sc := e.scanner(job, got)
			if err := sc.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := sc.Stats.Splits.Load(); n != 1 {
				t.Fatalf("%d partitions split, want the hot one", n)
			}
			for id := range e.ids {
				if got.ids[id] != 1 {
					t.Errorf("id %s (%s) emitted %d times, want 1", id, id.Time().Format(time.RFC3339Nano), got.ids[id])
				}
			}
			if len(got.ids) != len(e.ids) {
				t.Errorf("emitted %d distinct ids, seeded %d", len(got.ids), len(e.ids))
			}
			e.checkParts(t, job)
		})
	}
}

// checkParts checks the hot partition's checkpoint names its parts, split
// at the expected boundaries, and that it and every part are done.
func (e *splitEnv) checkParts(t *testing.T, job string) {
	t.Helper()
	cps, err := e.store.Checkpoints(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	hot := assets.Partition{Type: e.hot, Bucket: hotBucket}.String()
	var parts []assets.Checkpoint
	for _, c := range cps {
		if !c.Done {
			t.Errorf("task %s is not done", c.Task)
		}
		if c.Task == hot && !strings.HasPrefix(c.Position, "split:") {
			t.Errorf("the hot partition's checkpoint %q names no parts", c.Position)
		}
		if strings.HasPrefix(c.Task, hot+assets.SubtaskMark) {
			parts = append(parts, c)
		}
	}
	if len(parts) != splitWays {
		t.Fatalf("the hot partition has %d part checkpoints, want %d", len(parts), splitWays)
	}
	for _, b := range e.boundaries {
		if !slices.ContainsFunc(parts, func(c assets.Checkpoint) bool { return strings.HasSuffix(c.Task, "~"+b.String()) }) {
			t.Errorf("no part starts at the boundary %s", b)
		}
	}
}

// crashingEmitter records every event handed to it, and kills the scan
// once every part of the hot partition is under way: it holds each part's
// second batch until all parts reached theirs, then cancels the scan, so
// that batch, emitted but not acknowledged, fails like a process killed.
type crashingEmitter struct {
	hot    string
	cancel context.CancelFunc
	all    chan struct{} // closed when every part reached its second batch

	mu      sync.Mutex
	ids     map[assets.ID]int
	batches [splitWays]int // batches of each part, by its hour
}

func (c *crashingEmitter) Emit(ctx context.Context, evs []events.Reprocess) (int, error) {
	c.mu.Lock()
	for _, ev := range evs {
		c.ids[ev.AssetID]++
	}
	at := evs[0].AssetID.Time()
	part := evs[0].AssetType == c.hot && at.Before(hotCursorAt)
	second := false
	if part {
		i := int(at.Sub(hotBucket) / time.Hour)
		c.batches[i]++
		second = c.batches[i] == 2
		if second && !slices.ContainsFunc(c.batches[:], func(n int) bool { return n < 2 }) {
			close(c.all)
			c.cancel()
		}
	}
	c.mu.Unlock()
	if second {
		select {
		case <-c.all:
		case <-ctx.Done():
		}
	}
	return 0, ctx.Err()
}

func TestSplitResumesEachPartAfterAKill(t *testing.T) {
	for name, open := range splitStores {
		t.Run(name, func(t *testing.T) {
			e := seedSplit(t, open(t))
			job := fmt.Sprintf("split-kill-%x", rand.Uint32())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			em := &crashingEmitter{hot: e.hot, cancel: cancel, all: make(chan struct{}), ids: map[assets.ID]int{}}
			if err := e.scanner(job, em).Run(ctx); err == nil {
				t.Fatal("the scan ran to its end through the kill")
			}
			progressed := e.partsProgressed(t, job)
			if progressed != splitWays {
				t.Fatalf("%d parts had progressed at the kill, want all %d: the test would prove little", progressed, splitWays)
			}
			got := &idSet{ids: em.ids}
			second := e.scanner(job, got)
			if err := second.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := second.Stats.Splits.Load(); n != 0 {
				t.Errorf("the resumed scan split %d partitions again, want it to resume the recorded parts", n)
			}
			dups := 0
			for id := range e.ids {
				switch n := got.ids[id]; {
				case n == 0:
					t.Errorf("id %s (%s) was never emitted", id, id.Time().Format(time.RFC3339Nano))
				case n > 1:
					dups += n - 1
				}
			}
			// In flight at the kill: a batch per part and per other task.
			if bound := (splitWays + splitConcurrency) * splitPage; dups > bound {
				t.Errorf("%d ids re-emitted, more than the in-flight bound %d", dups, bound)
			}
			e.checkParts(t, job)
			t.Logf("%s: killed with %d parts under way; resumed, every one of %d ids emitted, %d twice", name, progressed, len(e.ids), dups)
		})
	}
}

// partsProgressed counts the hot partition's parts that checkpointed a
// position and are not done.
func (e *splitEnv) partsProgressed(t *testing.T, job string) int {
	t.Helper()
	cps, err := e.store.Checkpoints(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cps {
		if c.Subtask() && c.Position != "" && !c.Done {
			n++
		}
	}
	return n
}
