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
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// BenchmarkScan reports how fast a scan pages ids out of each store
// (ids/s): b.N assets are seeded (untimed) under fresh types, then one scan
// walks them all, 8 partitions at a time, 500 ids a page, into a counting
// emitter (Kafka is measured by events/kafka's benchmarks). Beside it, the
// cost of a job's completeness pass over the same scope, which reads every
// asset to check its marker (checked/s).
func BenchmarkScan(b *testing.B) {
	b.Run("embedded", func(b *testing.B) { benchScan(b, assetstest.Embedded(b, layout)) })
	b.Run("cassandra", func(b *testing.B) { benchScan(b, assetstest.Cassandra(b, "reprocess_bench_scan", layout)) })
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
	start = time.Now()
	lacking := 0
	tally, err := sc.Lacking(context.Background(), func(a assets.Asset) bool { return a.Transforms["t"] >= 1 }, func(items []scan.Item) error {
		lacking += len(items)
		return nil
	})
	if err != nil || tally.Checked != int64(b.N) || lacking != b.N {
		b.Fatalf("completeness pass: %+v, %d lacking, %v; want all %d checked and lacking", tally, lacking, err, b.N)
	}
	b.ReportMetric(float64(tally.Checked)/time.Since(start).Seconds(), "checked/s")
}

// BenchmarkWidePartition measures what splitting a wide partition buys on
// the real Cassandra: one partition of 200,000 ids beside 20,000 ids in
// small ones, scanned 8 partitions at a time, 500 ids a page, with
// splitting off and then on (the job defaults: after 50,000 ids, 8 ways).
// Each is run twice, alternately, and the faster run counts.
func BenchmarkWidePartition(b *testing.B) {
	const hotIDs, smallIDs = 200_000, 20_000
	s := assetstest.Cassandra(b, "reprocess_bench_wide", layout)
	suffix := fmt.Sprintf("_%08x", rand.Uint32())
	hot := assets.Partition{Type: "hot" + suffix, Bucket: end.Add(-2 * 24 * time.Hour)}
	gen := synth.NewGenerator(synth.Config{Span: 10 * 24 * time.Hour, End: end, Seed: 11})
	n := 0
	start := time.Now()
	if _, err := synth.SeedFrom(context.Background(), s, hotIDs+smallIDs, 64, func() assets.Asset {
		if n++; n > hotIDs {
			a := gen.Next()
			a.Type += suffix
			return a
		}
		return hotAsset(hot)
	}, nil); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("wide partition: seeded %d ids in one partition and %d in small ones in %s\n", hotIDs, smallIDs, time.Since(start).Round(time.Millisecond))
	types := []string{hot.Type}
	for _, t := range synth.TypeNames() {
		types = append(types, t+suffix)
	}
	for b.Loop() {
		var off, on time.Duration
		for i := range 4 {
			src := &scan.Partitions{Pager: s, Layout: layout, Types: types, From: end.Add(-10 * 24 * time.Hour), To: end, PageSize: 500}
			if i%2 == 1 {
				src.SplitAfter, src.SplitWays = job.DefaultSplitAfter, job.DefaultSplitWays
			}
			el := scanOnce(b, s, src, fmt.Sprintf("wide%s-%d", suffix, i), hotIDs+smallIDs)
			if i%2 == 0 && (off == 0 || el < off) {
				off = el
			} else if i%2 == 1 && (on == 0 || el < on) {
				on = el
			}
		}
		fmt.Printf("wide partition: scan wall time, splitting off %s, on %s: %.2fx faster\n", off.Round(time.Millisecond), on.Round(time.Millisecond), off.Seconds()/on.Seconds())
		b.ReportMetric(off.Seconds(), "s-off")
		b.ReportMetric(on.Seconds(), "s-on")
		b.ReportMetric(off.Seconds()/on.Seconds(), "speedup")
	}
}

// hotAsset is a new asset of partition p: created in its bucket, with an
// id of its shard.
func hotAsset(p assets.Partition) assets.Asset {
	for {
		id := assets.NewID(p.Bucket.Add(rand.N(layout.BucketWidth)))
		if layout.Shard(id) == p.Shard {
			return assets.Asset{ID: id, Type: p.Type, CreatedAt: id.Time()}
		}
	}
}

// scanOnce runs one scan of src as job and returns its wall time.
func scanOnce(b *testing.B, s assets.Store, src *scan.Partitions, jobID string, want int) time.Duration {
	em := &countingEmitter{}
	sc := scan.New(scan.Config{Job: jobID, Transform: "t", Version: 1, Concurrency: 8, Store: s, Log: quiet}, src, em)
	start := time.Now()
	if err := sc.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	if em.n.Load() != int64(want) {
		b.Fatalf("scanned %d ids, seeded %d", em.n.Load(), want)
	}
	if split := sc.Stats.Splits.Load(); (src.SplitAfter > 0) != (split > 0) {
		b.Fatalf("split after %d ids: %d partitions split", src.SplitAfter, split)
	}
	return el
}
