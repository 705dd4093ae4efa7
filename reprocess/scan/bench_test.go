package scan_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// BenchmarkScan reports how fast a scan pages ids out of each store
// (ids/s): b.N assets are seeded (untimed) under fresh types, then one scan
// walks them all, 8 partitions at a time, 500 ids a page, into a counting
// emitter (Kafka is measured by events/kafka's benchmarks).
func BenchmarkScan(b *testing.B) {
	b.Run("embedded", func(b *testing.B) { benchScan(b, assetstest.Embedded(b, layout)) })
	b.Run("cassandra", func(b *testing.B) { benchScan(b, assetstest.Cassandra(b, "reprocess_bench", layout)) })
}

func benchScan(b *testing.B, s assets.Store) {
	suffix := fmt.Sprintf("_%08x", rand.Uint32())
	gen := synth.NewGenerator(synth.Config{Span: 10 * 24 * time.Hour, End: end, Seed: 9})
	var types []string
	for _, t := range synth.TypeNames() {
		types = append(types, t+suffix)
	}
	if _, err := synth.SeedFrom(context.Background(), s, b.N, 64, func() assets.Asset {
		a := gen.Next()
		a.Type += suffix
		return a
	}, nil); err != nil {
		b.Fatal(err)
	}
	src := &scan.Partitions{Pager: s, Layout: layout, Types: types, From: end.Add(-10 * 24 * time.Hour), To: end, PageSize: 500}
	em := &countingEmitter{}
	sc := scan.New(scan.Config{Job: "bench" + suffix, Transform: "t", Version: 1, Concurrency: 8, Store: s, Log: quiet}, src, em)
	b.ResetTimer()
	start := time.Now()
	if err := sc.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	if em.n.Load() != int64(b.N) {
		b.Fatalf("scanned %d ids, seeded %d", em.n.Load(), b.N)
	}
	b.ReportMetric(float64(em.n.Load())/el.Seconds(), "ids/s")
}
