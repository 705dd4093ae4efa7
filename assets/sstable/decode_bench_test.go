package sstable

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDecodeRows decodes every row and cell of the benchmark SSTable
// set (REPROCESS_TEST_BENCH_SSTABLES, written by the sstable_test
// benchmarks) one row at a time, as a merge reads each table, on one
// goroutine, reporting uncompressed MB per CPU-second: the decoding rate
// per core of every read of a snapshot.
func BenchmarkDecodeRows(b *testing.B) {
	dir := os.Getenv("REPROCESS_TEST_BENCH_SSTABLES")
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*-Data.db"))
	if dir == "" || len(paths) == 0 {
		b.Skip("no benchmark SSTable set: run BenchmarkReadSSTables with the services env first")
	}
	var tables []*Table
	var total int64
	for _, p := range paths {
		t, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		tables, total = append(tables, t), total+t.DataLength()
	}
	b.SetBytes(total)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	n := 0
	for b.Loop() {
		for _, t := range tables {
			if err := decodeRows(t); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(total)*float64(n)/cpu.Seconds()/1e6, "MB/cpu-s")
}

// decodeRows reads every row and marker of t through a merge's cursor.
func decodeRows(t *Table) error {
	p, err := ParsePartitioner(t.Partitioner)
	if err != nil {
		return err
	}
	c, err := openCursor(t, p, TokenRange{})
	if err != nil {
		return err
	}
	defer c.close()
	for {
		ok, err := c.nextPartition()
		if !ok || err != nil {
			return err
		}
		if err := c.skip(); err != nil {
			return err
		}
	}
}
