package sstable_test

import (
	"bytes"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
)

// peerRun is one reader doing one task over some of the benchmark set's
// SSTables, in child processes: what it read, what it reported, and what
// it cost.
type peerRun struct {
	reader, task string
	kind         string   // "read" or "parquet": the CQLite task it is compared with
	files        []string // the Data.db files read
	rows, bytes  int64    // rows the reader reported; uncompressed bytes of files
	wall, cpu    time.Duration
	rssMiB       float64 // the largest peak RSS of its processes
	err          error
}

// measure runs cmd with its standard output into out and adds its wall
// and CPU time (user and system, its waited-for children included) and
// peak RSS (see peakRSS) to r. The first failure is kept, with stderr's
// last line.
func (r *peerRun) measure(cmd *exec.Cmd, out io.Writer) {
	var stderr tailBuffer
	run, rss := peakRSS(cmd)
	run.Stdout, run.Stderr = out, &stderr
	start := time.Now()
	err := run.Run()
	r.wall += time.Since(start)
	if ps := run.ProcessState; ps != nil {
		r.cpu += ps.UserTime() + ps.SystemTime()
	}
	mib, rerr := rss()
	r.rssMiB = max(r.rssMiB, mib)
	if err == nil {
		err = rerr
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %v: %s", filepath.Base(cmd.Path), err, stderr.lastLine())
	}
}

// peakRSS wraps cmd in GNU time (/usr/bin/time, Debian's time package) and
// returns the command to run and, once it ran, cmd's peak RSS in MiB. A
// child that Go starts shares the parent's memory until it executes
// (vfork), and Linux counts the parent's peak RSS into the child's maxrss;
// time forks, so the child's figure is its own.
func peakRSS(cmd *exec.Cmd) (*exec.Cmd, func() (float64, error)) {
	f, err := os.CreateTemp("", "peak-rss-")
	if err != nil {
		return cmd, func() (float64, error) { return 0, err }
	}
	f.Close()
	run := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", f.Name(), cmd.Path}, cmd.Args[1:]...)...)
	run.Env = cmd.Env
	return run, func() (float64, error) {
		defer os.Remove(f.Name())
		b, err := os.ReadFile(f.Name())
		s := strings.TrimSpace(string(b))
		kib, perr := strconv.ParseFloat(s[strings.LastIndexByte(s, '\n')+1:], 64) // after "Command exited with ..."
		if err == nil && perr != nil {
			err = fmt.Errorf("/usr/bin/time wrote %q, not a peak RSS", s)
		}
		return kib / 1024, err
	}
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append(t.b[:0], t.b[len(t.b)-4096:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	s := strings.TrimSpace(string(t.b))
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// counter counts the occurrences of pat in what is written to it, across
// writes.
type counter struct {
	pat  []byte
	tail []byte // the last len(pat)-1 bytes written
	n    int64
}

func (c *counter) Write(p []byte) (int, error) {
	buf := append(c.tail, p...)
	c.n += int64(bytes.Count(buf, c.pat))
	keep := min(len(buf), len(c.pat)-1)
	c.tail = append(c.tail[:0], buf[len(buf)-keep:]...)
	return len(p), nil
}

// peerScript is the CQLite (PyPI cqlite-py) reader: "scan" streams every
// row of the table and prints how many; "parquet" exports them to a file
// and prints the count export_parquet returns.
const peerScript = `import sys, cqlite
mode, data, schema, out = sys.argv[1:5]
db = cqlite.open(data, schema=schema)
q = "SELECT * FROM bench.assets"
n = sum(1 for _ in db.execute_streaming(q)) if mode == "scan" else db.export_parquet(q, out)
print(n)
`

// peerSchema is the table deployments/local/cassandra/SSTableGen.java
// writes for the benchmark set, for CQLite, which needs it apart.
const peerSchema = "CREATE TABLE bench.assets (owner text, asset_id timeuuid, asset_type text, name text," +
	" size int, version bigint, created_at timestamp, metadata frozen<map<text, text>>, PRIMARY KEY (owner, asset_id));\n"

// TestMain runs BenchmarkPeers's decode-all-cells reader when the
// benchmark starts this binary as its child, so that the reader's CPU time
// and peak RSS are its own: REPROCESS_BENCH_DECODE lists the Data.db files.
func TestMain(m *testing.M) {
	if list := os.Getenv("REPROCESS_BENCH_DECODE"); list != "" {
		if err := decodeAll(filepath.SplitList(list)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// decodeAll decodes every partition, row and cell of the Data.db files at
// paths on one goroutine (32 MiB splits) and prints each file's rows.
func decodeAll(paths []string) error {
	for _, path := range paths {
		tab, err := sstable.Open(path)
		if err != nil {
			return err
		}
		splits, err := tab.Splits(32 << 20)
		if err != nil {
			return err
		}
		var n int64
		for _, s := range splits {
			if err := tab.Scan(s, func(p sstable.Partition) error { n += rowsOf(p); return nil }); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		fmt.Printf("decoded %s %d\n", path, n)
	}
	return nil
}

// rowsOf counts a partition's rows, its static row included.
func rowsOf(p sstable.Partition) int64 {
	var n int64
	if p.Static != nil {
		n++
	}
	for _, u := range p.Unfiltereds {
		if u.Row != nil {
			n++
		}
	}
	return n
}

// peerBench is what BenchmarkPeers's readers share: the set, the
// reprocess binary, the venv's python and Cassandra's sstabledump.
type peerBench struct {
	dir         string           // <set>/bench/assets
	paths       []string         // its Data.db files
	size        map[string]int64 // uncompressed Data.db bytes per file
	tmp         string
	bin, python string
	sstabledump string
	cqlite      string           // "CQLite <version>"
	decoded     map[string]int64 // rows per file, from decode-all-cells
}

// newPeerBench finds the readers and builds reprocess; it warms the page
// cache with the set's files, so that no reader pays for the first read.
func newPeerBench(b *testing.B) *peerBench {
	paths := benchSet(b)
	pb := &peerBench{dir: filepath.Dir(paths[0]), paths: paths, size: map[string]int64{}, tmp: b.TempDir(), decoded: map[string]int64{}}
	pb.python = need.Service(b, "REPROCESS_TEST_PYTHON", "the test venv's python")[0]
	pb.sstabledump = need.Service(b, "REPROCESS_TEST_SSTABLEDUMP", "Cassandra's sstabledump")[0]
	out, err := exec.Command(pb.python, "-c", "import cqlite, pyarrow; print(cqlite.__version__)").CombinedOutput()
	if err != nil {
		b.Fatalf("%s cannot import cqlite and pyarrow (run deployments/local/install-deps): %v\n%s", pb.python, err, out)
	}
	pb.cqlite = "CQLite " + strings.TrimSpace(string(out))
	pb.bin = filepath.Join(pb.tmp, "reprocess")
	if out, err := exec.Command("go", "build", "-o", pb.bin, "../../cmd/reprocess").CombinedOutput(); err != nil {
		b.Fatalf("go build ../../cmd/reprocess: %v\n%s", err, out)
	}
	for _, p := range paths {
		t, err := sstable.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		pb.size[p] = t.DataLength()
	}
	files, _ := filepath.Glob(filepath.Join(pb.dir, "*"))
	if err := exec.Command("cat", files...).Run(); err != nil {
		b.Fatalf("reading %s: %v", pb.dir, err)
	}
	return pb
}

// run starts a peerRun over files.
func (pb *peerBench) run(reader, task, kind string, files []string) *peerRun {
	r := &peerRun{reader: reader, task: task, kind: kind, files: files}
	for _, f := range files {
		r.bytes += pb.size[f]
	}
	return r
}

// decode is reprocess decoding every cell of the set (TestMain).
func (pb *peerBench) decode() *peerRun {
	r := pb.run("reprocess", "decode all cells", "read", pb.paths)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "REPROCESS_BENCH_DECODE="+strings.Join(pb.paths, string(os.PathListSeparator)))
	var out bytes.Buffer
	r.measure(cmd, &out)
	for _, line := range strings.Split(out.String(), "\n") {
		var path string
		var n int64
		if _, err := fmt.Sscanf(line, "decoded %s %d", &path, &n); err == nil {
			pb.decoded[path] = n
			r.rows += n
		}
	}
	if r.err == nil && len(pb.decoded) != len(pb.paths) {
		r.err = fmt.Errorf("decoded %d of %d SSTables:\n%s", len(pb.decoded), len(pb.paths), out.String())
	}
	return r
}

// dump is `reprocess sstable dump`: merged rows as JSON lines to a counter.
func (pb *peerBench) dump() *peerRun {
	r := pb.run("reprocess", "merged rows (sstable dump)", "read", pb.paths)
	lines := &counter{pat: []byte("\n")}
	r.measure(exec.Command(pb.bin, "sstable", "dump", "--parallel", "1", pb.dir), lines)
	r.rows = lines.n
	return r
}

// export is `reprocess sstable export --format parquet`; its rows are the
// Parquet file's.
func (pb *peerBench) export() *peerRun {
	r := pb.run("reprocess", "Parquet (sstable export)", "parquet", pb.paths)
	out := filepath.Join(pb.tmp, "reprocess.parquet")
	r.measure(exec.Command(pb.bin, "sstable", "export", "--format", "parquet", "--parallel", "1", "--out", out, pb.dir), io.Discard)
	pb.parquetRows(r, out, -1)
	return r
}

// icebergExport is `reprocess sstable export --format iceberg` into a new
// table of a new catalog, partitioned by partitionBy; its rows are the
// table's, as pyiceberg reads them from its snapshot's summary.
func (pb *peerBench) icebergExport(partitionBy string) *peerRun {
	task := "Iceberg (sstable export)"
	if partitionBy != "" {
		task = "Iceberg by " + partitionBy
	}
	r := pb.run("reprocess", task, "parquet", pb.paths)
	dir, err := os.MkdirTemp(pb.tmp, "lake-")
	if err != nil {
		r.err = err
		return r
	}
	catalog := filepath.Join(dir, "lake.db")
	r.measure(exec.Command(pb.bin, "sstable", "export", "--format", "iceberg", "--parallel", "1", "--catalog", catalog,
		"--table", "lake.bench", "--partition-by", partitionBy, pb.dir), io.Discard)
	if r.err != nil {
		return r
	}
	got, err := exec.Command(pb.python, "-c", icebergRowsScript, catalog, "file://"+filepath.Join(dir, "warehouse")).Output()
	if err != nil {
		r.err = fmt.Errorf("reading the table with pyiceberg: %v", err)
		return r
	}
	if r.rows, err = strconv.ParseInt(strings.TrimSpace(string(got)), 10, 64); err != nil {
		r.err = fmt.Errorf("pyiceberg printed %q, not a row count", got)
	}
	return r
}

// icebergRowsScript prints the rows of table lake.bench of the SQLite
// catalog argv[1] (warehouse argv[2]), from its current snapshot.
const icebergRowsScript = `import sys
from pyiceberg.catalog.sql import SqlCatalog
cat = SqlCatalog("default", uri="sqlite:///" + sys.argv[1], warehouse=sys.argv[2])
print(cat.load_table("lake.bench").current_snapshot().summary["total-records"])
`

// parquetRows sets r's rows to the row count of the Parquet file out, as
// pyarrow reads it from the file's footer; reported, unless negative, is
// the count the reader itself returned and must agree.
func (pb *peerBench) parquetRows(r *peerRun, out string, reported int64) {
	if r.err != nil {
		return
	}
	script := "import sys, pyarrow.parquet as pq; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)"
	got, err := exec.Command(pb.python, "-c", script, out).Output()
	if err != nil {
		r.err = fmt.Errorf("reading %s's footer: %v", out, err)
		return
	}
	if r.rows, err = strconv.ParseInt(strings.TrimSpace(string(got)), 10, 64); err != nil {
		r.err = fmt.Errorf("pyarrow printed %q for %s", got, out)
	} else if reported >= 0 && reported != r.rows {
		r.err = fmt.Errorf("returned %d rows, its file holds %d", reported, r.rows)
	}
}

// cqliteRun is CQLite's streaming scan ("scan") or export_parquet ("parquet")
// of the set, in the venv's python.
func (pb *peerBench) cqliteRun(b *testing.B, mode string) *peerRun {
	r := pb.run(pb.cqlite, "streaming scan", "read", pb.paths)
	if mode == "parquet" {
		r = pb.run(pb.cqlite, "export_parquet", "parquet", pb.paths)
	}
	// CQLite wants <data>/<keyspace>/<table>-<id>/ and the schema apart.
	data, schema := filepath.Join(pb.tmp, "cqlite-data"), filepath.Join(pb.tmp, "schema.cql")
	table := filepath.Join(data, "bench", "assets-00000000000000000000000000000001")
	if _, err := os.Lstat(table); err != nil {
		if err := os.MkdirAll(filepath.Dir(table), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.Symlink(pb.dir, table); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(schema, []byte(peerSchema), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	out := filepath.Join(pb.tmp, "cqlite.parquet")
	var stdout bytes.Buffer
	r.measure(exec.Command(pb.python, "-c", peerScript, mode, data, schema, out), &stdout)
	n, err := strconv.ParseInt(strings.TrimSpace(stdout.String()), 10, 64)
	if r.err == nil && err != nil {
		r.err = fmt.Errorf("printed %q, not a row count", stdout.String())
	}
	r.rows = n
	if mode == "parquet" {
		pb.parquetRows(r, out, n)
	}
	return r
}

// dumpJSON is Cassandra's sstabledump over files, one JVM per SSTable as
// it runs, its JSON to a counter of the rows it prints.
func (pb *peerBench) dumpJSON(files []string) *peerRun {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	task := "JSON dump"
	if len(files) < len(pb.paths) {
		task += " (" + strings.Join(names, ", ") + ")"
	}
	r := pb.run("sstabledump", task, "read", files)
	rows := &counter{pat: []byte(`"type" : "row"`)}
	for _, f := range files {
		r.measure(exec.Command(pb.sstabledump, f), rows)
	}
	r.rows = rows.n
	return r
}

// BenchmarkPeers reads the benchmark set (see benchSet) with reprocess
// (decode, dump, and export to Parquet and to Iceberg, unpartitioned and
// by day), CQLite and Cassandra's sstabledump, each reader and task in child
// processes, and prints one table: rows, uncompressed MB, wall and CPU
// time, rows/s and MB/s per core (per CPU-second, which other load on the
// machine does not skew), peak RSS, and the ratios to CQLite (its scan for
// reading, its export_parquet for Parquet) and to sstabledump, by MB/s per
// core. sstabledump, about 6 MB/s, reads the set's first SSTable only.
// Every reader's rows are checked against the decoder's, loudly.
func BenchmarkPeers(b *testing.B) {
	pb := newPeerBench(b)
	fmt.Printf("peers: set %s: %d SSTables, %.0f MB uncompressed; load average %s\n", pb.dir, len(pb.paths), float64(sum(pb.size, pb.paths))/1e6, loadAverage())
	var runs []*peerRun
	for b.Loop() {
		runs = []*peerRun{
			pb.decode(), pb.dump(), pb.export(), pb.icebergExport(""), pb.icebergExport("day(created_at)"),
			pb.cqliteRun(b, "scan"), pb.cqliteRun(b, "parquet"),
			pb.dumpJSON(pb.paths[:1]),
		}
	}
	printPeers(runs, pb.cqlite)
	fmt.Printf("peers: load average after %s\n", loadAverage())
	for _, r := range runs {
		if want := sum(pb.decoded, r.files); r.err == nil && (len(pb.decoded) != len(pb.paths) || r.rows != want) {
			fmt.Printf("peers: ROW COUNT MISMATCH: %s %s read %d rows; decoding every cell of the same files gives %d\n", r.reader, r.task, r.rows, want)
			b.Errorf("%s %s: %d rows, want %d", r.reader, r.task, r.rows, want)
		}
	}
}

// sum adds up m's values for keys.
func sum(m map[string]int64, keys []string) int64 {
	var n int64
	for _, k := range keys {
		n += m[k]
	}
	return n
}

// loadAverage is the machine's 1, 5 and 15 minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// printPeers prints the runs as a table, each rate also as a ratio to
// CQLite's run of the same kind and to sstabledump's.
func printPeers(runs []*peerRun, cqlite string) {
	perCore := func(r *peerRun) float64 { return float64(r.bytes) / 1e6 / r.cpu.Seconds() }
	ref := map[string]*peerRun{}
	for _, r := range runs {
		if r.err == nil && (r.reader == "sstabledump" || r.reader == cqlite) {
			ref[r.reader+"/"+r.kind] = r
		}
	}
	ratio := func(r *peerRun, key string) string {
		if x, ok := ref[key]; ok {
			return fmt.Sprintf("%.1fx", perCore(r)/perCore(x))
		}
		return "-"
	}
	fmt.Printf("peers: %-13s %-29s %9s %6s %7s %7s %11s %9s %8s %7s %11s\n",
		"reader", "task", "rows", "MB", "wall s", "CPU s", "rows/s/core", "MB/s/core", "peak RSS", "/CQLite", "/sstabledump")
	for _, r := range runs {
		if r.err != nil {
			fmt.Printf("peers: %-13s %-29s FAILED after %.1fs: %v\n", r.reader, r.task, r.wall.Seconds(), r.err)
			continue
		}
		fmt.Printf("peers: %-13s %-29s %9d %6.0f %7.1f %7.1f %11.0f %9.1f %4.0f MiB %7s %11s\n",
			r.reader, r.task, r.rows, float64(r.bytes)/1e6, r.wall.Seconds(), r.cpu.Seconds(),
			float64(r.rows)/r.cpu.Seconds(), perCore(r), r.rssMiB,
			ratio(r, cqlite+"/"+r.kind), ratio(r, "sstabledump/read"))
	}
}
