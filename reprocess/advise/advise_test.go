package advise_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/advise"
)

var day0 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

// buckets makes counts of one type: perBucket ids in each of n buckets of
// layout l, spread evenly over its shards.
func buckets(l assets.Layout, n, perBucket int) []assets.PartitionCount {
	var cs []assets.PartitionCount
	for b := range n {
		for s := range l.Shards {
			p := assets.Partition{Type: "image", Bucket: day0.Add(time.Duration(b) * l.BucketWidth), Shard: s}
			cs = append(cs, assets.PartitionCount{Partition: p, Count: perBucket / l.Shards})
		}
	}
	return cs
}

func TestRecommend(t *testing.T) {
	daily := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 8}
	for _, tc := range []struct {
		name      string
		counts    []assets.PartitionCount
		targetIDs int
		want      assets.Layout
		perPart   int
	}{
		{"fits with more shards", buckets(daily, 30, 800_000), 100_000, assets.Layout{BucketWidth: 24 * time.Hour, Shards: 8}, 100_000},
		{"needs more shards", buckets(daily, 30, 1_600_000), 100_000, assets.Layout{BucketWidth: 24 * time.Hour, Shards: 16}, 100_000},
		{"rounds shards up", buckets(daily, 30, 1_000_000), 300_000, assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}, 250_000},
		{"sparse data widens buckets", buckets(daily, 30, 8_000), 300_000, assets.Layout{BucketWidth: 7 * 24 * time.Hour, Shards: 1}, 56_000},
		{"a quarter of the target keeps the width", buckets(daily, 30, 80_000), 300_000, assets.Layout{BucketWidth: 24 * time.Hour, Shards: 1}, 80_000},
		{"over 1024 shards narrows buckets", buckets(daily, 30, 1_000_000_000), 300_000, assets.Layout{BucketWidth: 6 * time.Hour, Shards: 834}, 299_760},
		{"beyond any width caps shards", buckets(daily, 3, 100_000_000_000), 300_000, assets.Layout{BucketWidth: time.Hour, Shards: 1024}, 4_069_010},
		{"no ids keeps the layout", nil, 300_000, daily, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := advise.Recommend(tc.counts, daily, tc.targetIDs)
			if a.Layout != tc.want || a.PerPartition != tc.perPart {
				t.Errorf("Recommend = %s with %d ids a partition (%s), want %s with %d", a.Layout, a.PerPartition, a.Note, tc.want, tc.perPart)
			}
			if err := a.Layout.Validate(); err != nil {
				t.Errorf("recommended an invalid layout: %v", err)
			}
		})
	}
}

// The busiest bucket is the p99 over (type, bucket), not the mean: one
// hot day in a hundred quiet ones still sizes the layout.
func TestRecommendSizesByTheBusyBuckets(t *testing.T) {
	daily := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 8}
	cs := append(buckets(daily, 98, 8_000), buckets(assets.Layout{BucketWidth: 24 * time.Hour, Shards: 8}, 100, 800_000)[98*8:]...)
	a := advise.Recommend(cs, daily, 100_000)
	if a.Busiest != 800_000 || a.Layout.Shards != 8 {
		t.Errorf("Recommend = %+v, want it sized for the two 800,000-id days", a)
	}
}

// On the embedded store: partitions holding 1 to 101 ids give the
// nearest-rank percentiles of 1..101 (p50 is the 51st value).
func TestBuildDistribution(t *testing.T) {
	l := assets.Layout{BucketWidth: time.Hour, Shards: 1}
	s := assetstest.Embedded(t, l)
	ctx := context.Background()
	for n := 1; n <= 101; n++ {
		b := day0.Add(time.Duration(n) * time.Hour)
		for i := range n {
			id := assets.NewID(b.Add(time.Duration(i) * time.Second))
			if err := s.Put(ctx, assets.Asset{ID: id, Type: "image", CreatedAt: id.Time()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ps := l.Partitions([]string{"image"}, day0, day0.Add(130*time.Hour))
	r, err := advise.Build(ctx, s, ps, l, 8<<20, 7, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := advise.Distribution{Partitions: 101, Walked: 130, IDs: 5151, Min: 1, P50: 51, P90: 91, P99: 100, Max: 101}
	if r.IDs != want {
		t.Errorf("distribution %+v, want %+v", r.IDs, want)
	}
	if r.Store != nil {
		t.Errorf("the embedded store reported sizes %+v; it cannot", r.Store)
	}
	var out strings.Builder
	r.Table(&out)
	for _, w := range []string{"min 1  p50 51  p90 91  p99 100  max 101", "estimated as ids x 28 B", "p99 2.7 KiB", "new time buckets only"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report does not say %q:\n%s", w, out.String())
		}
	}
	if _, err := advise.Build(ctx, s, ps, l, 10, 7, 4, nil); err == nil || !strings.Contains(err.Error(), "target partition size") {
		t.Errorf("a 10-byte target: %v, want an error naming the target", err)
	}
}

// The real Cassandra reports its own estimates beside the counts.
func TestBuildOnCassandraReportsTableSize(t *testing.T) {
	l := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 2}
	s := assetstest.Cassandra(t, "reprocess_advise_test", l)
	ctx := context.Background()
	typ := fmt.Sprintf("image_%08x", rand.Uint32())
	for i := range 50 {
		id := assets.NewID(day0.Add(time.Duration(i) * time.Minute))
		if err := s.Put(ctx, assets.Asset{ID: id, Type: typ, CreatedAt: id.Time()}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := advise.Build(ctx, s, l.Partitions([]string{typ}, day0, day0.Add(24*time.Hour)), l, 8<<20, 20, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.IDs.IDs != 50 || r.Store == nil {
		t.Fatalf("report %+v: want 50 ids and Cassandra's own estimates", r)
	}
	t.Logf("Cassandra reports %+v", *r.Store)
}
