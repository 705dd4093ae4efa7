// Package advise sizes a store's paging partitions and recommends a layout
// (bucket width, shard count) that keeps them near a target size.
//
// A layout change applies to new time buckets only: every process on a
// store must use the layout the store recorded, so new buckets get the new
// layout only once the store records which layout each bucket range was
// written with, which it does not yet (see the README's "Changing the
// layout").
package advise

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// RowBytes is the estimated size of one paging index row (a 16-byte
// timeuuid and Cassandra's per-row overhead): 200,000 ids in one
// partition measured 5 to 6 MiB in system_views.max_partition_size on
// Cassandra 5.0. Ids times RowBytes is the size estimate where the store
// cannot tell.
const RowBytes = 28

// Distribution is the spread of ids over the non-empty partitions walked.
type Distribution struct {
	Partitions int   `json:"partitions"` // non-empty
	Walked     int   `json:"walked"`     // empty ones included
	IDs        int64 `json:"ids"`
	Min        int   `json:"min"`
	P50        int   `json:"p50"`
	P90        int   `json:"p90"`
	P99        int   `json:"p99"`
	Max        int   `json:"max"`
}

// Distribute summarises the counts of the non-empty partitions among
// walked ones; percentiles are nearest-rank.
func Distribute(counts []assets.PartitionCount, walked int) Distribution {
	d := Distribution{Partitions: len(counts), Walked: walked}
	if len(counts) == 0 {
		return d
	}
	ns := make([]int, len(counts))
	for i, c := range counts {
		ns[i] = c.Count
		d.IDs += int64(c.Count)
	}
	slices.Sort(ns)
	rank := func(p float64) int { return ns[max(int(math.Ceil(p*float64(len(ns))))-1, 0)] }
	d.Min, d.P50, d.P90, d.P99, d.Max = ns[0], rank(0.50), rank(0.90), rank(0.99), ns[len(ns)-1]
	return d
}

// Advice is a recommended layout and why.
type Advice struct {
	Layout assets.Layout `json:"layout"`
	// Busiest is the p99, over (type, bucket), of the ids one type put in
	// one bucket of the current layout: the load the layout must spread.
	Busiest int `json:"busiest_ids_per_bucket"`
	// PerPartition is how many ids the busiest bucket's partitions would
	// hold under Layout.
	PerPartition int    `json:"ids_per_partition"`
	Note         string `json:"note"`
}

// widths are the bucket widths Recommend picks from.
var widths = []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour,
	12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}

// maxShards is the most shards a layout may have (assets.Layout.Validate).
const maxShards = 1024

// Recommend picks a layout whose partitions hold about targetIDs ids at
// the busiest (p99) (type, bucket) of counts, which were walked under
// layout now. It keeps the current bucket width when shards alone can do
// it, narrows the buckets when more than maxShards would be needed, and
// widens them (one shard) when even one shard a bucket stays under a
// quarter of the target.
func Recommend(counts []assets.PartitionCount, now assets.Layout, targetIDs int) Advice {
	busiest := busiestBucket(counts)
	if busiest == 0 || targetIDs < 1 {
		return Advice{Layout: now, Note: "no ids to size by: keep the current layout"}
	}
	perNs := float64(busiest) / float64(now.BucketWidth)
	shards := func(w time.Duration) int { return max(int(math.Ceil(perNs*float64(w)/float64(targetIDs))), 1) }
	advice := func(w time.Duration, note string) Advice {
		l := assets.Layout{BucketWidth: w, Shards: min(shards(w), maxShards)}
		return Advice{Layout: l, Busiest: busiest, PerPartition: int(math.Round(perNs * float64(w) / float64(l.Shards))), Note: note}
	}
	w := now.BucketWidth
	switch n := shards(w); {
	case n > maxShards:
		for _, c := range slices.Backward(widths) {
			if c < w && shards(c) <= maxShards {
				return advice(c, "narrower buckets: the current width would need more than 1024 shards")
			}
		}
		return advice(widths[0], "the narrowest width at 1024 shards still exceeds the target")
	case n == 1 && perNs*float64(w) < float64(targetIDs)/4:
		best := w
		for _, c := range widths {
			if c > best && perNs*float64(c) <= float64(targetIDs) {
				best = c
			}
		}
		if best > w {
			return advice(best, "wider buckets: one shard of the current width stays under a quarter of the target")
		}
	}
	return advice(w, "the current bucket width, with the shards the target needs")
}

// busiestBucket is the p99 over (type, bucket) of the ids in all shards.
func busiestBucket(counts []assets.PartitionCount) int {
	type key struct {
		typ    string
		bucket time.Time
	}
	sums := map[key]int{}
	for _, c := range counts {
		sums[key{c.Type, c.Bucket}] += c.Count
	}
	var per []assets.PartitionCount
	for k, n := range sums {
		per = append(per, assets.PartitionCount{Partition: assets.Partition{Type: k.typ, Bucket: k.bucket}, Count: n})
	}
	return Distribute(per, len(per)).P99
}

// Report is what `reprocess partitions --advise` prints.
type Report struct {
	IDs         Distribution      `json:"ids_per_partition"`
	RowBytes    int               `json:"estimated_bytes_per_id"`
	Store       *assets.TableSize `json:"store_reported,omitempty"` // nil: the store cannot tell
	TargetBytes int64             `json:"target_bytes"`
	Current     assets.Layout     `json:"current_layout"`
	Advice      Advice            `json:"advice"`
}

// Sizer is a store that reports its paging index's partition sizes.
type Sizer interface {
	TableSize(ctx context.Context) (assets.TableSize, error)
}

// Build walks the partitions ps of s, size ids a page, concurrency at a
// time, and builds the report for targetBytes partitions under layout now.
func Build(ctx context.Context, s assets.Pager, ps []assets.Partition, now assets.Layout, targetBytes int64, size, concurrency int, done func(int64)) (Report, error) {
	if targetBytes < RowBytes {
		return Report{}, fmt.Errorf("target partition size: want at least %d bytes, got %d", RowBytes, targetBytes)
	}
	counts, err := assets.Count(ctx, s, ps, size, concurrency, done)
	if err != nil {
		return Report{}, err
	}
	r := Report{IDs: Distribute(counts, len(ps)), RowBytes: RowBytes, TargetBytes: targetBytes, Current: now,
		Advice: Recommend(counts, now, int(targetBytes/RowBytes))}
	if sz, ok := s.(Sizer); ok && r.IDs.IDs > 0 {
		ts, err := sz.TableSize(ctx)
		if err != nil {
			return Report{}, fmt.Errorf("partition sizes the store reports: %w", err)
		}
		r.Store = &ts
	}
	return r, nil
}

// Table writes the report for people.
func (r Report) Table(w io.Writer) {
	d := r.IDs
	fmt.Fprintf(w, "ids per partition, over %d non-empty of %d partitions walked (%d ids):\n", d.Partitions, d.Walked, d.IDs)
	fmt.Fprintf(w, "  min %d  p50 %d  p90 %d  p99 %d  max %d\n", d.Min, d.P50, d.P90, d.P99, d.Max)
	b := func(ids int) string { return Bytes(int64(ids) * int64(r.RowBytes)) }
	fmt.Fprintf(w, "bytes per partition, estimated as ids x %d B:\n", r.RowBytes)
	fmt.Fprintf(w, "  min %s  p50 %s  p90 %s  p99 %s  max %s\n", b(d.Min), b(d.P50), b(d.P90), b(d.P99), b(d.Max))
	if s := r.Store; s != nil && s.Partitions == 0 {
		fmt.Fprintln(w, "Cassandra has no size estimates for the paging index yet: they cover flushed data only and are refreshed every few minutes")
	} else if s != nil {
		fmt.Fprintf(w, "Cassandra's estimate for the whole paging index table (flushed data): mean partition %s over ~%d partitions (system.size_estimates)\n",
			Bytes(s.MeanBytes), s.Partitions)
		if s.MaxBytes > 0 {
			fmt.Fprintf(w, "  largest partition about %s (system_views.max_partition_size, rounded to whole MiB)\n", Bytes(s.MaxBytes))
		}
	}
	a := r.Advice
	fmt.Fprintf(w, "target partition size %s (~%d ids)\n", Bytes(r.TargetBytes), r.TargetBytes/int64(r.RowBytes))
	fmt.Fprintf(w, "current layout:  %s\n", r.Current)
	fmt.Fprintf(w, "recommended:     %s\n", a.Layout)
	if a.Busiest > 0 {
		fmt.Fprintf(w, "  the busiest (p99) type put %d ids in one %s bucket: %d ids (~%s) a partition under the recommended layout\n",
			a.Busiest, r.Current.BucketWidth, a.PerPartition, b(a.PerPartition))
	}
	fmt.Fprintf(w, "  %s\n", a.Note)
	fmt.Fprintln(w, "a layout change applies to new time buckets only: see the README (Changing the layout) for how to roll it out")
}

// Bytes formats n in B, KiB, MiB or GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for ; f >= unit && i < 2; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %s", f, []string{"KiB", "MiB", "GiB"}[i])
}

// CountsTable writes counts as `reprocess partitions` prints them, one
// partition a line, then the total.
func CountsTable(w io.Writer, counts []assets.PartitionCount) {
	fmt.Fprintln(w, "TYPE\tBUCKET\tSHARD\tIDS")
	total := 0
	for _, c := range counts {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", c.Type, c.Bucket.Format(time.RFC3339), c.Shard, c.Count)
		total += c.Count
	}
	fmt.Fprintf(w, "total\t%d partitions\t\t%d\n", len(counts), total)
}
