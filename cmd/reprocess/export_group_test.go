package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/reprocess/export"
)

// TestDistributedExportWithKill snapshots an assets table the real
// Cassandra wrote, exports it to Iceberg with --distribute through the real
// Kafka to two scanner-group members run as child processes, kills one
// with SIGKILL once it has written token ranges, and checks that the
// survivor finishes the export: the table holds exactly the rows of a
// single-process export of the same snapshot, none twice, in one Iceberg
// snapshot; a second distributed export of the snapshot is refused.
func TestDistributedExportWithKill(t *testing.T) {
	const n = 20000
	common, ks := seeded(t, "dexport", n)
	bin := buildBinary(t)
	sstabletest.Flush(t, ks, "assets")
	snapDir := sstabletest.Snapshot(t, ks, "assets", nil)
	tmp := t.TempDir()
	cat := iceberg.Catalog{URI: filepath.Join(tmp, "catalog.db")}

	logs := map[*exec.Cmd]string{}
	start := func(out *bytes.Buffer, args ...string) *exec.Cmd {
		c := exec.Command(bin, append(append([]string{}, common...), args...)...)
		c.Env = childEnv()
		logs[c] = filepath.Join(tmp, fmt.Sprintf("child-%d.log", len(logs)))
		log, _ := os.Create(logs[c])
		c.Stdout, c.Stderr = log, log
		if out != nil {
			c.Stdout = out
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	began := time.Now()
	var printed bytes.Buffer
	distributor := start(&printed, "sstable", "export", "--format", "iceberg", "--catalog", cat.URI, "--table", "lake.dist",
		"--parallel", "4", "--distribute", snapDir)
	members := []*exec.Cmd{start(nil, "scan", "--concurrency", "1"), start(nil, "scan", "--concurrency", "1")}

	// The kill lands on the first member seen to have written token
	// ranges while it has a data file of another open (the group may
	// give one member few ranges, so either may be it).
	written := func(c *exec.Cmd) int {
		b, _ := os.ReadFile(logs[c])
		return bytes.Count(b, []byte("export task written"))
	}
	caught := func(c *exec.Cmd) bool { return written(c) > 0 && writing(c.Process.Pid) }
	victim := slices.IndexFunc(members, caught)
	for wait := time.Now().Add(2 * time.Minute); victim < 0; victim = slices.IndexFunc(members, caught) {
		if time.Now().After(wait) {
			a, _ := os.ReadFile(logs[members[0]])
			b, _ := os.ReadFile(logs[members[1]])
			t.Fatalf("no member was caught writing a token range after writing one, in 2 minutes:\n%s\n%s", a, b)
		}
		time.Sleep(2 * time.Millisecond)
	}
	members[victim].Process.Kill()
	members[victim].Wait()
	members = slices.Delete(members, victim, victim+1)
	store := assetstest.Cassandra(t, ks, config.Default().Layout)
	ctx := context.Background()
	var job string
	if jobs, err := store.Jobs(ctx); err == nil && len(jobs) == 1 {
		job = jobs[0].ID
	} else {
		t.Fatalf("want one export job, got %v (%v)", jobs, err)
	}
	cps, _ := store.Checkpoints(ctx, job)
	rec, _ := store.Job(ctx, job)
	if int64(len(cps)) >= rec.Counters["tasks"] || rec.Status != "running" {
		t.Fatalf("the kill came too late: %d of %d ranges written, job %s", len(cps), rec.Counters["tasks"], rec.Status)
	}
	t.Logf("killed a member; %d of %d ranges written", len(cps), rec.Counters["tasks"])

	done := make(chan error, 1)
	go func() { done <- distributor.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b, _ := os.ReadFile(logs[distributor])
			t.Fatalf("distributed export: %v\n%s", err, b)
		}
	case <-time.After(4 * time.Minute):
		t.Fatal("the distributed export did not end in 4 minutes")
	}
	took := time.Since(began)
	rec, _ = store.Job(ctx, job)
	if rec.Status != "succeeded" || rec.Counters["rows"] != n {
		t.Errorf("job %s: %s with %d rows, want succeeded with %d", job, rec.Status, rec.Counters["rows"], n)
	}
	if !strings.Contains(printed.String(), fmt.Sprintf("wrote %d rows", n)) {
		t.Errorf("the export printed %q, want it to say it wrote %d rows", printed.String(), n)
	}

	snap, err := sstable.OpenSnapshot(snapDir)
	if err != nil {
		t.Fatal(err)
	}
	single := time.Now()
	if _, err := iceberg.ExportSnapshot(ctx, snap, sstable.ReadOptions{}, iceberg.Options{Catalog: cat, Table: "lake.ref"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the single-process export of the snapshot took %s", time.Since(single).Round(time.Millisecond))
	got, want := icebergtest.Lines(t, cat, "lake.dist", "exported_at"), icebergtest.Lines(t, cat, "lake.ref", "exported_at")
	gotTbl := icebergtest.Table(t, cat, "lake.dist")
	checkSameRows(t, got, want, n)
	if snaps := gotTbl.Metadata().Snapshots(); len(snaps) != 1 || snaps[0].Summary.Properties[export.JobProperty] != job {
		t.Errorf("the table has %d snapshots, want 1 committed by %s", len(snaps), job)
	}
	checkWithPyiceberg(t, cat, "lake.dist", n)
	orphans := len(parquetFiles(t, tmp)) - committedFiles(t, gotTbl) - committedFiles(t, icebergtest.Table(t, cat, "lake.ref"))
	if orphans == 0 {
		t.Error("no data file is left uncommitted: the killed member's half-written file was committed, or never written")
	}
	t.Logf("%d rows by 2 members (one killed) in %s; %d data files of killed or repeated attempts left uncommitted", n, took.Round(time.Millisecond), orphans)

	out, err := cli(t, append(common, "sstable", "export", "--format", "iceberg", "--catalog", cat.URI, "--table", "lake.dist", "--distribute", snapDir)...)
	if err == nil || !strings.Contains(err.Error(), "already exported") {
		t.Errorf("a second distributed export of the snapshot: %v, want already exported\n%s", err, out)
	}
	for _, c := range members {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("the surviving member did not stop cleanly on SIGTERM: %v", err)
		}
	}
}

// checkSameRows checks that got and want are the same multiset of n rows,
// none of them twice.
func checkSameRows(t *testing.T, got, want []string, n int) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != n {
		t.Fatalf("the single-process export has %d rows, want %d", len(want), n)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("row twice: %s", got[i])
			break
		}
	}
	if len(got) != len(want) {
		t.Errorf("the distributed export has %d rows, the single-process one %d", len(got), len(want))
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("first difference at row %d:\n got %s\nwant %s", i, got[i], want[i])
			}
		}
	}
}

func committedFiles(t *testing.T, tbl *table.Table) int {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(tasks)
}

// checkWithPyiceberg reads the table with pyiceberg and checks it has n
// rows of n asset ids in one snapshot.
func checkWithPyiceberg(t *testing.T, cat iceberg.Catalog, name string, n int) {
	t.Helper()
	py := need.Python(t, "pyiceberg.catalog.sql")
	script := `import sys
from pyiceberg.catalog.sql import SqlCatalog
c = SqlCatalog("default", uri="sqlite:///" + sys.argv[1], warehouse="file://" + sys.argv[2])
t = c.load_table(sys.argv[3])
ids = t.scan().to_arrow().column("asset_id").to_pylist()
print(len(ids), len(set(ids)), len(t.snapshots()))`
	out, err := exec.Command(py, "-c", script, cat.URI, filepath.Join(filepath.Dir(cat.URI), "warehouse"), name).CombinedOutput()
	if want := fmt.Sprintf("%d %d 1", n, n); err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("pyiceberg reads rows, distinct ids, snapshots: %s (%v), want %s", out, err, want)
	}
}

// writing reports whether process pid has a Parquet file open.
func writing(pid int) bool {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasSuffix(p, ".parquet") {
			return true
		}
	}
	return false
}

func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			files = append(files, p)
		}
		return err
	})
	return files
}
