package sstabletest

import (
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
)

// BenchSnapshot opens the benchmark set (REPROCESS_TEST_BENCH_SSTABLES,
// written by `services sstablegen`) as a snapshot and returns it with its
// uncompressed size.
func BenchSnapshot(b *testing.B) (*sstable.Snapshot, int64) {
	b.Helper()
	dir := need.Service(b, "REPROCESS_TEST_BENCH_SSTABLES", "the benchmark SSTable set")[0]
	if _, err := os.Stat(filepath.Join(dir, "DONE")); err != nil {
		need.Missing(b, "no benchmark set in "+dir+": run deployments/local/services sstablegen "+dir)
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

// ProcessCPU is the CPU time (user and system) this process has used.
func ProcessCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
