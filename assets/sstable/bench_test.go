package sstable_test

import (
	"bytes"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
)

// benchSet returns the Data.db files of the benchmark SSTable set
// (REPROCESS_TEST_BENCH_SSTABLES, from `services env`), writing the set with
// `services sstablegen` when it is not there yet.
func benchSet(b *testing.B) []string {
	b.Helper()
	dir := need.Service(b, "REPROCESS_TEST_BENCH_SSTABLES", "the benchmark SSTable set")[0]
	if _, err := os.Stat(filepath.Join(dir, "DONE")); err != nil {
		b.Logf("writing the benchmark SSTables into %s (once)", dir)
		cmd := exec.Command("../../deployments/local/services", "sstablegen", dir)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("services sstablegen %s: %v", dir, err)
		}
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*-Data.db"))
	if len(paths) == 0 {
		b.Fatalf("no *-Data.db under %s", dir)
	}
	return paths
}

// benchSplit is one split of one table.
type benchSplit struct {
	t *sstable.Table
	s sstable.Split
}

// scanAll decodes every split with the given number of goroutines and
// returns the rows (static rows included) seen.
func scanAll(b *testing.B, splits []benchSplit, workers int) int64 {
	var rows atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			n := int64(0)
			defer func() { rows.Add(n) }()
			for i := next.Add(1) - 1; i < int64(len(splits)); i = next.Add(1) - 1 {
				sp := splits[i]
				err := sp.t.Scan(sp.s, func(p sstable.Partition) error {
					n += rowsOf(p)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return rows.Load()
}

// benchSplits cuts the tables into 32 MiB splits; total is their
// uncompressed size.
func benchSplits(b *testing.B, paths []string) ([]benchSplit, int64) {
	var splits []benchSplit
	var total int64
	for _, p := range paths {
		t, err := sstable.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		ss, err := t.Splits(32 << 20)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range ss {
			splits = append(splits, benchSplit{t, s})
		}
		total += t.DataLength()
	}
	return splits, total
}

// BenchmarkDecodeSSTables decodes every partition, row and cell of the
// benchmark set on one goroutine: uncompressed MB/s per core, and the
// profile to look at when decoding slows down
// (-cpuprofile, -memprofile).
// On a shared machine the wall clock counts other processes' time too;
// MB/cpu-s, the bytes per second of this process's CPU time, is the rate
// per core.
func BenchmarkDecodeSSTables(b *testing.B) {
	splits, total := benchSplits(b, benchSet(b))
	b.SetBytes(total)
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		scanAll(b, splits, 1)
		n++
	}
	b.ReportMetric(float64(total)*float64(n)/(cpuTime(b)-cpu0).Seconds()/1e6, "MB/cpu-s")
}

// BenchmarkDecodeRows decodes every row and cell of the benchmark set one
// row at a time, as a merge reads each table (a row's memory reused for
// the next), on one goroutine: the decoding rate per core (MB/cpu-s) of
// every read of a snapshot.
func BenchmarkDecodeRows(b *testing.B) {
	var tables []*sstable.Table
	var total int64
	for _, p := range benchSet(b) {
		t, err := sstable.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		tables, total = append(tables, t), total+t.DataLength()
	}
	b.SetBytes(total)
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		for _, t := range tables {
			if err := sstable.DecodeRows(t); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
	b.ReportMetric(float64(total)*float64(n)/(cpuTime(b)-cpu0).Seconds()/1e6, "MB/cpu-s")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wideSet returns the directories of a single partition of rows rows cut
// into 10 SSTables, written once by `services sstablegen-wide` next to the
// benchmark set.
func wideSet(b *testing.B, rows int) []string {
	b.Helper()
	set := need.Service(b, "REPROCESS_TEST_BENCH_SSTABLES", "the benchmark SSTable set")[0]
	dir := filepath.Join(filepath.Dir(set), "bench-wide-sstables", strconv.Itoa(rows))
	cmd := exec.Command("../../deployments/local/services", "sstablegen-wide", dir, strconv.Itoa(rows), "10")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("services sstablegen-wide %s %d: %v", dir, rows, err)
	}
	dirs, _ := filepath.Glob(filepath.Join(dir, "piece-*", "bench", "assets"))
	if len(dirs) != 10 {
		b.Fatalf("%s: %d pieces, want 10", dir, len(dirs))
	}
	return dirs
}

// dumpRSS runs `reprocess sstable dump args...` and returns the rows it
// printed, its peak RSS in MiB (see peakRSS) and how long it took.
func dumpRSS(b *testing.B, bin string, args ...string) (int, float64, time.Duration) {
	b.Helper()
	out := counter{pat: []byte("\n")}
	var stderr bytes.Buffer
	cmd, rss := peakRSS(exec.Command(bin, append([]string{"sstable", "dump"}, args...)...))
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	mib, rerr := rss()
	if err != nil || rerr != nil {
		b.Fatalf("reprocess sstable dump %v: %v %v\n%s", args, err, rerr, stderr.String())
	}
	return int(out.n), mib, took
}

// BenchmarkWidePartitionMemory dumps a single partition of 1,000,000 rows
// (over 200 MB uncompressed) and one ten times narrower, each in 10
// SSTables (see wideSet), with `reprocess sstable dump` in a child process
// and prints the partition's bytes and the child's peak RSS (rusage maxrss)
// for each, side by side: a partition is merged row by row, so the two
// should be about the same. It also prints what --limit 10 on the wide one
// costs.
func BenchmarkWidePartitionMemory(b *testing.B) {
	const narrowRows, wideRows = 100_000, 1_000_000
	narrow, wide := wideSet(b, narrowRows), wideSet(b, wideRows)
	bin := filepath.Join(b.TempDir(), "reprocess")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/reprocess")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("go build ../../cmd/reprocess: %v", err)
	}
	type run struct {
		rows  int
		rss   float64
		took  time.Duration
		bytes int64
	}
	n, w, limited := run{bytes: dataBytes(b, narrow)}, run{bytes: dataBytes(b, wide)}, run{}
	for b.Loop() {
		n.rows, n.rss, n.took = dumpRSS(b, bin, narrow...)
		w.rows, w.rss, w.took = dumpRSS(b, bin, wide...)
		limited.rows, limited.rss, limited.took = dumpRSS(b, bin, append([]string{"--limit", "10"}, wide...)...)
	}
	if n.rows != narrowRows || w.rows != wideRows || limited.rows != 10 {
		b.Fatalf("dumped %d, %d and %d rows; want %d, %d and 10", n.rows, w.rows, limited.rows, narrowRows, wideRows)
	}
	b.ReportMetric(n.rss, "MiB-rss-narrow")
	b.ReportMetric(w.rss, "MiB-rss-wide")
	for _, r := range []run{n, w} {
		fmt.Printf("wide partition: sstable dump of one partition of %d rows, %.0f MB uncompressed in 10 SSTables: peak RSS %.0f MiB, %.1fs\n",
			r.rows, float64(r.bytes)/1e6, r.rss, r.took.Seconds())
	}
	fmt.Printf("wide partition: %.1fx the partition, %.2fx the peak RSS\n", float64(w.bytes)/float64(n.bytes), w.rss/n.rss)
	fmt.Printf("wide partition: --limit 10 of the %d rows: %.0f MiB peak RSS, %.2fs\n", w.rows, limited.rss, limited.took.Seconds())
}

// dataBytes is the uncompressed Data.db bytes of the SSTables in dirs.
func dataBytes(b *testing.B, dirs []string) int64 {
	var n int64
	for _, d := range dirs {
		paths, _ := filepath.Glob(filepath.Join(d, "*-Data.db"))
		for _, p := range paths {
			t, err := sstable.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			n += t.DataLength()
		}
	}
	return n
}
