package traffic_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/assets/traffic"
)

var layout = assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}

// slow delays every read after reading, as a network would; it counts
// the unconditional updates.
type slow struct {
	assets.Store
	delay   time.Duration
	updates atomic.Int64
}

func (s *slow) Get(ctx context.Context, id assets.ID) (assets.Asset, error) {
	a, err := s.Store.Get(ctx, id)
	time.Sleep(s.delay)
	return a, err
}

func (s *slow) Update(ctx context.Context, id assets.ID, u assets.Update) error {
	err := s.Store.Update(ctx, id, u)
	if err == nil {
		s.updates.Add(1)
	}
	return err
}

// seed writes n assets into s and returns their ids.
func seed(t *testing.T, s assets.Store, n int) []assets.ID {
	t.Helper()
	g := synth.NewGenerator(synth.Config{Count: n, Span: 48 * time.Hour, Seed: 3})
	ids := make([]assets.ID, n)
	for i := range ids {
		a := g.Next()
		if err := s.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
	}
	return ids
}

// TestScheduleIsOpenLoop sends twice the reads a store held to two
// requests in flight of 20ms each can serve: every scheduled read is still
// issued, and the latency counts the time each waited past its due time.
func TestScheduleIsOpenLoop(t *testing.T) {
	s := &slow{Store: assetstest.Embedded(t, layout), delay: 20 * time.Millisecond}
	ids := seed(t, s, 10)
	cfg := traffic.Config{Reads: 200, Duration: time.Second, WriteStyle: traffic.Plain, Concurrency: 2}
	r, err := traffic.Run(context.Background(), s, ids, cfg, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Served at 100/s, the 200th read due at 1s completes near 2s.
	if r.Reads.Count != 200 || r.Reads.Errors != 0 {
		t.Errorf("issued %d reads (%d errors), want all 200 scheduled", r.Reads.Count, r.Reads.Errors)
	}
	if r.Reads.P99 < 600*time.Millisecond || r.Reads.P50 < 250*time.Millisecond {
		t.Errorf("p50 %s p99 %s: want the queueing delay (p50 ~0.5s, p99 ~1s), not the 20ms service time", r.Reads.P50, r.Reads.P99)
	}
}

// TestWritesKeepEveryWrite hammers three assets: a plain write is one
// unconditional update each, and an LWT write is never lost, so the
// assets' counter fields rose by exactly the writes that succeeded.
func TestWritesKeepEveryWrite(t *testing.T) {
	stores := []struct {
		name  string
		open  func(t *testing.T) assets.Store
		rate  float64
		delay time.Duration
	}{
		{"embedded", func(t *testing.T) assets.Store { return assetstest.Embedded(t, layout) }, 400, 10 * time.Millisecond},
		{"cassandra", func(t *testing.T) assets.Store { return assetstest.Cassandra(t, "reprocess_traffic_test", layout) }, 100, 0},
	}
	for _, st := range stores {
		for _, style := range []string{traffic.Plain, traffic.LWT} {
			t.Run(st.name+"/"+style, func(t *testing.T) {
				s := &slow{Store: st.open(t), delay: st.delay}
				ids := seed(t, s, 3)
				before := sum(t, s, ids)
				cfg := traffic.Config{Writes: st.rate, Duration: time.Second, WriteStyle: style, Concurrency: 64}
				r, err := traffic.Run(context.Background(), s, ids, cfg, 0, nil)
				// Cassandra may time out an LWT it could not settle under
				// contention: its outcome is unknown, so it bounds the rise.
				if err != nil || r.Writes.Count != int64(st.rate) || r.Writes.Errors > r.Writes.Count/10 {
					t.Fatalf("Run: %v; %s; want %v writes, few errors", err, r.Writes, st.rate)
				}
				ok := r.Writes.Count - r.Writes.Errors
				if style == traffic.Plain {
					if n := s.updates.Load(); n != ok {
						t.Errorf("%d unconditional updates for %d writes", n, ok)
					}
					return
				}
				if rose := sum(t, s, ids) - before; rose < ok || rose > r.Writes.Count {
					t.Errorf("counters rose by %d for %d LWT writes (%d failed, %d conflicts): updates lost", rose, ok, r.Writes.Errors, r.Writes.Conflicts)
				}
				t.Logf("%d writes, %d conflicts re-read", r.Writes.Count, r.Writes.Conflicts)
			})
		}
	}
}

// sum adds up the bytes field of ids.
func sum(t *testing.T, s assets.Store, ids []assets.ID) (n int64) {
	t.Helper()
	for _, id := range ids {
		a, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseInt(a.Metadata["bytes"], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		n += v
	}
	return n
}

func TestSampleSpreadsOverPartitions(t *testing.T) {
	s := assetstest.Embedded(t, layout)
	ids := seed(t, s, 200)
	parts := layout.Partitions(synth.TypeNames(), time.Now().Add(-72*time.Hour), time.Now())
	for _, n := range []int{1, 50, 200, 1000} {
		got, err := traffic.Sample(context.Background(), s, parts, n)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(n, len(ids)); len(got) > want || len(got) < want/2 {
			t.Errorf("Sample(%d) = %d ids of %d, want up to %d and most of them", n, len(got), len(ids), want)
		}
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	ok := traffic.Config{Reads: 10, Writes: 1, Duration: time.Second, WriteStyle: traffic.LWT, Concurrency: 1}
	for _, c := range []struct {
		name string
		edit func(*traffic.Config)
		want string
	}{
		{"ok", func(*traffic.Config) {}, ""},
		{"negative reads", func(c *traffic.Config) { c.Reads = -1 }, "reads: want >= 0 requests/s, got -1"},
		{"no traffic", func(c *traffic.Config) { c.Reads, c.Writes = 0, 0 }, "want at least one above 0"},
		{"no duration", func(c *traffic.Config) { c.Duration = 0 }, "duration: want a positive duration"},
		{"bad style", func(c *traffic.Config) { c.WriteStyle = "cas" }, `write-style: want plain or lwt, got "cas"`},
		{"no concurrency", func(c *traffic.Config) { c.Concurrency = 0 }, "concurrency: want >= 1"},
	} {
		cfg := ok
		c.edit(&cfg)
		err := cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}
