package sstable_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/sstable"
)

// benchSet returns the Data.db files of the benchmark SSTable set
// (REPROCESS_TEST_BENCH_SSTABLES, from `services env`), writing the set with
// `services sstablegen` when it is not there yet.
func benchSet(b *testing.B) []string {
	b.Helper()
	dir := assetstest.RealService(b, "REPROCESS_TEST_BENCH_SSTABLES", "the benchmark SSTable set")[0]
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
					if p.Static != nil {
						n++
					}
					for _, u := range p.Unfiltereds {
						if u.Row != nil {
							n++
						}
					}
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

// BenchmarkReadSSTables decodes every partition, row and cell of a
// >= 1 GiB SSTable set (see benchSet) with 1 and 2 goroutines, the tables
// cut into 32 MiB splits, reporting uncompressed MB/s and rows/s; then
// times Cassandra's sstabledump (REPROCESS_TEST_SSTABLEDUMP, output to
// /dev/null) on the same files and prints its rates and the Go/sstabledump
// ratios.
func BenchmarkReadSSTables(b *testing.B) {
	paths := benchSet(b)
	splits, total := benchSplits(b, paths)
	rows := scanAll(b, splits, 2) // warms the page cache, counts the rows
	if rows == 0 {
		b.Fatal("no rows in the benchmark set")
	}
	fmt.Printf("sstable set: %d SSTables, %d splits, %.0f MB uncompressed, %d rows\n", len(paths), len(splits), float64(total)/1e6, rows)

	goRate := map[int][2]float64{} // workers -> MB/s, rows/s
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			b.SetBytes(total)
			n := 0
			for b.Loop() {
				if got := scanAll(b, splits, workers); got != rows {
					b.Fatalf("read %d rows, want %d", got, rows)
				}
				n++
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(rows)*float64(n)/secs, "rows/s")
			goRate[workers] = [2]float64{float64(total) * float64(n) / secs / 1e6, float64(rows) * float64(n) / secs}
		})
	}

	// The whole path of `reprocess sstable dump`: merge by token range,
	// decode every value, write each row as JSON, as sstabledump does.
	dirs := map[string]bool{}
	for _, p := range paths {
		dirs[filepath.Dir(p)] = true
	}
	jsonRate := map[int][2]float64{}
	for dir := range dirs {
		snap, err := sstable.OpenSnapshot(dir)
		if err != nil {
			b.Fatal(err)
		}
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("json-rows/goroutines=%d", workers), func(b *testing.B) {
				b.SetBytes(total)
				var n, got int64
				for b.Loop() {
					err := snap.Rows(context.Background(), sstable.ReadOptions{Parallel: workers}, func(r sstable.CQLRow) error {
						got++
						_, err := r.MarshalJSON()
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				secs := b.Elapsed().Seconds()
				b.ReportMetric(float64(got)/secs, "rows/s")
				jsonRate[workers] = [2]float64{float64(total) * float64(n) / secs / 1e6, float64(got) / secs}
			})
		}
	}

	dump := assetstest.RealService(b, "REPROCESS_TEST_SSTABLEDUMP", "Cassandra's sstabledump")[0]
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	start := time.Now()
	for _, p := range paths {
		cmd := exec.Command(dump, p)
		cmd.Stdout, cmd.Stderr = devnull, os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("sstabledump %s: %v", p, err)
		}
	}
	secs := time.Since(start).Seconds()
	dumpMB, dumpRows := float64(total)/secs/1e6, float64(rows)/secs
	fmt.Printf("sstabledump: %d SSTables in %.1fs, %.1f MB/s, %.0f rows/s (one JVM per SSTable, JSON to /dev/null)\n", len(paths), secs, dumpMB, dumpRows)
	for _, w := range []int{1, 2} {
		if r, ok := goRate[w]; ok {
			fmt.Printf("sstabledump: Go reader with %d goroutine(s) / sstabledump = %.1fx MB/s, %.1fx rows/s\n", w, r[0]/dumpMB, r[1]/dumpRows)
		}
		if r, ok := jsonRate[w]; ok {
			fmt.Printf("sstabledump: Go merged JSON rows with %d goroutine(s) / sstabledump = %.1fx MB/s, %.1fx rows/s\n", w, r[0]/dumpMB, r[1]/dumpRows)
		}
	}
}

// wideSet returns the directories of a single partition of rows rows cut
// into 10 SSTables, written once by `services sstablegen-wide` next to the
// benchmark set.
func wideSet(b *testing.B, rows int) []string {
	b.Helper()
	set := assetstest.RealService(b, "REPROCESS_TEST_BENCH_SSTABLES", "the benchmark SSTable set")[0]
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

// lineCounter counts the lines written to it.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// dumpRSS runs `reprocess sstable dump args...` and returns the rows it
// printed, its peak RSS in MiB and how long it took.
func dumpRSS(b *testing.B, bin string, args ...string) (int, float64, time.Duration) {
	b.Helper()
	var out lineCounter
	var stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"sstable", "dump"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("reprocess sstable dump %v: %v\n%s", args, err, stderr.String())
	}
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB on Linux
	return out.n, rss, time.Since(start)
}

// BenchmarkWidePartitionMemory dumps a single partition of 500,000 rows
// and one ten times narrower, each in 10 SSTables (see wideSet), with
// `reprocess sstable dump` in a child process and prints the child's peak RSS (rusage maxrss) for each, side
// by side: a partition is merged row by row, so the two should be about
// the same. It also prints what --limit 10 on the wide one costs.
func BenchmarkWidePartitionMemory(b *testing.B) {
	narrow, wide := wideSet(b, 50_000), wideSet(b, 500_000)
	bin := filepath.Join(b.TempDir(), "reprocess")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/reprocess")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("go build ../../cmd/reprocess: %v", err)
	}
	type run struct {
		rows int
		rss  float64
		took time.Duration
	}
	var n, w, limited run
	for b.Loop() {
		n.rows, n.rss, n.took = dumpRSS(b, bin, narrow...)
		w.rows, w.rss, w.took = dumpRSS(b, bin, wide...)
		limited.rows, limited.rss, limited.took = dumpRSS(b, bin, append([]string{"--limit", "10"}, wide...)...)
	}
	if n.rows != 50_000 || w.rows != 500_000 || limited.rows != 10 {
		b.Fatalf("dumped %d, %d and %d rows; want 50000, 500000 and 10", n.rows, w.rows, limited.rows)
	}
	b.ReportMetric(n.rss, "MiB-rss-narrow")
	b.ReportMetric(w.rss, "MiB-rss-wide")
	fmt.Printf("wide partition: peak RSS of sstable dump: %d rows %.0f MiB (%.1fs), %d rows %.0f MiB (%.1fs): wide/narrow %.2fx\n",
		n.rows, n.rss, n.took.Seconds(), w.rows, w.rss, w.took.Seconds(), w.rss/n.rss)
	fmt.Printf("wide partition: --limit 10 of the %d rows: %.0f MiB peak RSS, %.2fs\n", w.rows, limited.rss, limited.took.Seconds())
}

// benchSchema is the table deployments/local/cassandra/SSTableGen.java
// writes, for readers that need the schema apart.
const benchSchema = "CREATE TABLE bench.assets (owner text, asset_id timeuuid, asset_type text, name text," +
	" size int, version bigint, created_at timestamp, metadata map<text, text>, PRIMARY KEY (owner, asset_id));\n"

// cqliteScript reads a data directory with CQLite (PyPI cqlite-py): "scan"
// streams every row, "parquet" exports them to a file; it prints the rows.
const cqliteScript = `import sys, cqlite
mode, data, schema, out = sys.argv[1:5]
db = cqlite.open(data, schema=schema)
q = "SELECT * FROM bench.assets"
n = sum(1 for _ in db.execute_streaming(q)) if mode == "scan" else db.export_parquet(q, out)
print(n)
`

// childCPU runs cmd and returns its standard output and the CPU time
// (user and system) it used.
func childCPU(cmd *exec.Cmd) (string, time.Duration, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		return "", 0, fmt.Errorf("%v: %s", err, msg[strings.LastIndexByte(msg, '\n')+1:])
	}
	return strings.TrimSpace(stdout.String()), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// BenchmarkCQLite reads the benchmark set with CQLite (a streaming scan,
// and export_parquet), with reprocess sstable dump (one range at a time)
// and export --format parquet, and with Cassandra's sstabledump, each in a
// child process, and prints rows/s and MB/s per core (CPU time, not the
// wall clock) and reprocess's ratios. CQLite comes from the test venv
// (REPROCESS_TEST_PYTHON, deployments/local/install-deps).
func BenchmarkCQLite(b *testing.B) {
	paths := benchSet(b)
	python := assetstest.RealService(b, "REPROCESS_TEST_PYTHON", "the test venv's python")[0]
	if out, err := exec.Command(python, "-c", "import cqlite").CombinedOutput(); err != nil {
		b.Fatalf("%s cannot import cqlite (run deployments/local/install-deps): %v\n%s", python, err, out)
	}
	set := filepath.Dir(filepath.Dir(filepath.Dir(paths[0]))) // <set>/bench/assets/*-Data.db
	var total int64
	for _, p := range paths {
		t, err := sstable.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		total += t.DataLength()
	}
	tmp := b.TempDir()
	// CQLite wants <keyspace>/<table>-<id>/ and the schema apart.
	data, schema := filepath.Join(tmp, "data"), filepath.Join(tmp, "schema.cql")
	if err := os.MkdirAll(filepath.Join(data, "bench"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(set, "bench", "assets"), filepath.Join(data, "bench", "assets-00000000000000000000000000000001")); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(schema, []byte(benchSchema), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(tmp, "reprocess")
	if _, _, err := childCPU(exec.Command("go", "build", "-o", bin, "../../cmd/reprocess")); err != nil {
		b.Fatalf("go build ../../cmd/reprocess: %v", err)
	}
	type result struct {
		name string
		rows int
		cpu  time.Duration
		err  error // the reader failed
	}
	var results []result
	run := func(name string, cmd *exec.Cmd) {
		out, cpu, err := childCPU(cmd)
		n, aerr := strconv.Atoi(out)
		if err == nil && aerr != nil {
			err = fmt.Errorf("printed %q, not a row count", out)
		}
		results = append(results, result{name, n, cpu, err})
	}
	assets := filepath.Join(set, "bench", "assets")
	for b.Loop() {
		results = results[:0]
		run("CQLite streaming scan", exec.Command(python, "-c", cqliteScript, "scan", data, schema, ""))
		run("reprocess sstable dump --parallel 1", exec.Command("sh", "-c", `"$0" sstable dump --parallel 1 "$1" | wc -l`, bin, assets))
		run("CQLite export_parquet", exec.Command(python, "-c", cqliteScript, "parquet", data, schema, filepath.Join(tmp, "cqlite.parquet")))
		run("reprocess sstable export --format parquet --parallel 1", exec.Command("sh", "-c",
			`"$0" sstable export --format parquet --parallel 1 --out "$2" "$1" | sed -E 's/^wrote ([0-9]+) rows.*/\1/'`,
			bin, assets, filepath.Join(tmp, "reprocess.parquet")))
	}
	for _, r := range results {
		if r.err != nil {
			fmt.Printf("cqlite: %-55s failed: %v\n", r.name, r.err)
			continue
		}
		secs := r.cpu.Seconds()
		fmt.Printf("cqlite: %-55s %8d rows, %6.1fs CPU: %8.0f rows/s, %6.1f MB/s per core\n", r.name, r.rows, secs, float64(r.rows)/secs, float64(total)/secs/1e6)
	}
	for i := 0; i+1 < len(results); i += 2 {
		if theirs, ours := results[i], results[i+1]; theirs.err == nil && ours.err == nil {
			fmt.Printf("cqlite: %s / %s = %.1fx per core\n", ours.name, theirs.name, theirs.cpu.Seconds()/ours.cpu.Seconds())
		}
	}
}
