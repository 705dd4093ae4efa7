package sstable_test

import (
	"context"
	"io"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// benchRows reads every row of the benchmark set with one range at a time
// through fn and reports MB (uncompressed) and rows per CPU-second of the
// process.
func benchRows(b *testing.B, fn func(sstable.CQLRow) error) {
	s, total := sstabletest.BenchSnapshot(b)
	b.SetBytes(total)
	cpu0 := sstabletest.ProcessCPU(b)
	var rows int64
	for b.Loop() {
		err := s.Rows(context.Background(), sstable.ReadOptions{Parallel: 1}, func(r sstable.CQLRow) error {
			rows++
			return fn(r)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu := (sstabletest.ProcessCPU(b) - cpu0).Seconds()
	b.ReportMetric(float64(total)*float64(b.N)/cpu/1e6, "MB/cpu-s")
	b.ReportMetric(float64(rows)/cpu, "rows/cpu-s")
}

// BenchmarkSnapshotRows is the merged-row path every snapshot read takes
// (merge by token range, values decoded into CQL rows), rows discarded.
func BenchmarkSnapshotRows(b *testing.B) {
	benchRows(b, func(sstable.CQLRow) error { return nil })
}

// BenchmarkSnapshotDump is `reprocess sstable dump`'s path: merged rows
// written as JSON lines (to io.Discard).
func BenchmarkSnapshotDump(b *testing.B) {
	w := sstable.NewJSONLineWriter(io.Discard)
	benchRows(b, w.Write)
}
