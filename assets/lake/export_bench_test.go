package lake_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/sstable"
)

// BenchmarkSnapshotParquet is `reprocess sstable export --format parquet
// --parallel 1` on the benchmark set (REPROCESS_TEST_BENCH_SSTABLES,
// written by `services sstablegen`), the file discarded: uncompressed MB
// and rows per CPU-second of the process.
func BenchmarkSnapshotParquet(b *testing.B) {
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
	b.SetBytes(total)
	cpu0 := processCPU(b)
	var rows int64
	for b.Loop() {
		w, err := lake.NewSnapshotWriter(io.Discard, lake.Parquet, s, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		err = s.Rows(context.Background(), sstable.ReadOptions{Parallel: 1}, func(r sstable.CQLRow) error {
			rows++
			return w.Write(r)
		})
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu := (processCPU(b) - cpu0).Seconds()
	b.ReportMetric(float64(total)*float64(b.N)/cpu/1e6, "MB/cpu-s")
	b.ReportMetric(float64(rows)/cpu, "rows/cpu-s")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
