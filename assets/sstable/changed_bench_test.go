package sstable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// BenchmarkChangedPartitions writes 20,000 partitions to the real
// Cassandra over four flushes (A), rewrites 1% of them (B), and times
// reading B in full against finding and re-merging only the partitions
// changed since A. It prints both times and the ratio.
func BenchmarkChangedPartitions(b *testing.B) {
	const parts, changed = 20000, 200
	ks := sstabletest.Keyspace(b, "sstable_changed_bench")
	tbl := ks + ".t"
	sstabletest.Exec(b, "CREATE TABLE "+tbl+" (k int, c int, v text, PRIMARY KEY (k, c)) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	batch := func(from, to, step int, value string) []string {
		var out []string
		for k := from; k < to; k += 100 * step {
			var sb strings.Builder
			sb.WriteString("BEGIN UNLOGGED BATCH ")
			for j := k; j < min(to, k+100*step); j += step {
				fmt.Fprintf(&sb, "INSERT INTO %s (k, c, v) VALUES (%d, 0, '%s-%d'); ", tbl, j, value, j)
			}
			out = append(out, sb.String()+"APPLY BATCH")
		}
		return out
	}
	var flushes [][]string
	for i := range 4 {
		flushes = append(flushes, batch(i*parts/4, (i+1)*parts/4, 1, "a"))
	}
	dirA := sstabletest.Snapshot(b, ks, "t", flushes)
	dirB := sstabletest.Snapshot(b, ks, "t", [][]string{batch(0, parts, parts/changed, "b")})
	a, err := sstable.OpenSnapshot(dirA)
	if err != nil {
		b.Fatal(err)
	}
	m, err := a.Manifest()
	if err != nil {
		b.Fatal(err)
	}
	o := sstable.ReadOptions{AsOf: time.Now(), Parallel: 1}
	var full, incr time.Duration
	var rows, remerged int
	for b.Loop() {
		s, err := sstable.OpenSnapshot(dirB) // a fresh one: indexes are read again
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		rows = 0
		if err := s.Rows(context.Background(), o, func(sstable.CQLRow) error { rows++; return nil }); err != nil {
			b.Fatal(err)
		}
		full += time.Since(start)
		if s, err = sstable.OpenSnapshot(dirB); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		c, err := s.ChangedSince(m, nil, o.AsOf)
		if err != nil {
			b.Fatal(err)
		}
		remerged = 0
		if err := s.ReadPartitions(c.Keys, o, func(sstable.PartitionKey, *sstable.CQLRow) error { remerged++; return nil }); err != nil {
			b.Fatal(err)
		}
		incr += time.Since(start)
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64(full/n)/1e6, "full-ms")
	b.ReportMetric(float64(incr/n)/1e6, "changed-ms")
	b.ReportMetric(float64(full)/float64(incr), "speedup")
	b.Logf("full read: %d rows in %s; changed since A: %d partitions re-merged in %s (%.1fx faster)",
		rows, full/n, remerged, incr/n, float64(full)/float64(incr))
}
