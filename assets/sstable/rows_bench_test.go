package sstable_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/sstable"
)

// rowsBenchSnapshot opens the benchmark set (REPROCESS_TEST_BENCH_SSTABLES,
// written by `services sstablegen`) as a snapshot and returns it with its
// uncompressed size.
func rowsBenchSnapshot(b *testing.B) (*sstable.Snapshot, int64) {
	b.Helper()
	dir := assetstest.RealService(b, "REPROCESS_TEST_BENCH_SSTABLES", "the benchmark SSTable set")[0]
	if _, err := os.Stat(filepath.Join(dir, "DONE")); err != nil {
		b.Skipf("no benchmark set in %s: run deployments/local/services sstablegen %s", dir, dir)
	}
	s, err := sstable.OpenSnapshot(filepath.Join(dir, "bench", "assets"))
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, t := range s.Tables {
		total += t.DataLength()
	}
	return s, total
}

// benchRows reads every row of the benchmark set with one range at a time
// through fn and reports MB (uncompressed) and rows per CPU-second of the
// process.
func benchRows(b *testing.B, fn func(sstable.CQLRow) error) {
	s, total := rowsBenchSnapshot(b)
	b.SetBytes(total)
	cpu0 := processCPU(b)
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
	cpu := (processCPU(b) - cpu0).Seconds()
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

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
