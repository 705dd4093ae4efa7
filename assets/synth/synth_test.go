package synth_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/synth"
)

var end = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func TestGeneratorIsDeterministicAndShaped(t *testing.T) {
	cfg := synth.Config{Count: 5000, Span: 30 * 24 * time.Hour, End: end, Seed: 7, Concurrency: 1}
	a, b := synth.NewGenerator(cfg), synth.NewGenerator(cfg)
	counts := map[string]int{}
	for i := range cfg.Count {
		x, y := a.Next(), b.Next()
		if x.Type != y.Type || !x.CreatedAt.Equal(y.CreatedAt) || !maps.Equal(x.Metadata, y.Metadata) {
			t.Fatalf("asset %d differs between two generators with one seed", i)
		}
		if x.CreatedAt.Before(end.Add(-cfg.Span)) || !x.CreatedAt.Before(end) {
			t.Fatalf("created_at %s outside [%s, %s)", x.CreatedAt, end.Add(-cfg.Span), end)
		}
		if d := x.ID.Time().Sub(x.CreatedAt); d < 0 || d > time.Millisecond {
			t.Fatalf("id time %s does not match created_at %s", x.ID.Time(), x.CreatedAt)
		}
		if x.Metadata["owner"] == "" || x.Metadata["title"] == "" {
			t.Fatalf("metadata lacks owner or title: %v", x.Metadata)
		}
		counts[x.Type]++
	}
	for _, typ := range synth.Types {
		share := float64(counts[typ.Name]) / float64(cfg.Count) * 100
		if share < float64(typ.Weight)-3 || share > float64(typ.Weight)+3 {
			t.Errorf("type %s is %.1f%% of assets, want about %d%%", typ.Name, share, typ.Weight)
		}
	}
}

func TestSeedWritesEveryAssetFindably(t *testing.T) {
	layout := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}
	s, err := embedded.Open(embedded.Config{Dir: t.TempDir()}, layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := synth.Config{Count: 3000, Span: 10 * 24 * time.Hour, End: end, Seed: 1, Concurrency: 8}
	var last int64
	n, err := synth.Seed(context.Background(), s, cfg, func(done int64) {
		if done > last {
			last = done
		}
	})
	if err != nil || n != int64(cfg.Count) {
		t.Fatalf("Seed = %d, %v; want %d, nil", n, err, cfg.Count)
	}
	if last != n {
		t.Errorf("progress reached %d, want %d", last, n)
	}
	found := 0
	for _, p := range layout.Partitions(synth.TypeNames(), end.Add(-cfg.Span), end) {
		var after assets.ID
		for {
			ids, err := s.Page(context.Background(), p, after, 500)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) == 0 {
				break
			}
			found += len(ids)
			after = ids[len(ids)-1]
		}
	}
	if found != cfg.Count {
		t.Errorf("paging every partition finds %d assets, want %d", found, cfg.Count)
	}
}

func TestSeedStopsOnStoreError(t *testing.T) {
	s, err := embedded.Open(embedded.Config{Dir: t.TempDir()}, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	n, err := synth.Seed(context.Background(), s, synth.Config{Count: 100, Span: time.Hour, Concurrency: 2}, nil)
	if err == nil {
		t.Fatalf("Seed into a closed store wrote %d and returned no error", n)
	}
}

// BenchmarkSeed reports seeding throughput (assets/s) into each store.
func BenchmarkSeed(b *testing.B) {
	layout := assets.DefaultLayout
	b.Run("embedded", func(b *testing.B) { benchSeed(b, assetstest.Embedded(b, layout), 8) })
	b.Run("cassandra", func(b *testing.B) { benchSeed(b, assetstest.Cassandra(b, "reprocess_bench_seed", layout), 64) })
}

func benchSeed(b *testing.B, s assets.Store, concurrency int) {
	b.ReportAllocs()
	start := time.Now()
	n, err := synth.Seed(context.Background(), s, synth.Config{Count: b.N, Span: 90 * 24 * time.Hour, Seed: 3, Concurrency: concurrency}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "assets/s")
}
