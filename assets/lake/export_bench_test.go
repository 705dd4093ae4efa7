package lake_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// BenchmarkSnapshotParquet is `reprocess sstable export --format parquet
// --parallel 1` on the benchmark set (REPROCESS_TEST_BENCH_SSTABLES,
// written by `services sstablegen`), the file discarded: uncompressed MB
// and rows per CPU-second of the process.
func BenchmarkSnapshotParquet(b *testing.B) {
	s, total := sstabletest.BenchSnapshot(b)
	b.SetBytes(total)
	cpu0 := sstabletest.ProcessCPU(b)
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
	cpu := (sstabletest.ProcessCPU(b) - cpu0).Seconds()
	b.ReportMetric(float64(total)*float64(b.N)/cpu/1e6, "MB/cpu-s")
	b.ReportMetric(float64(rows)/cpu, "rows/cpu-s")
}
