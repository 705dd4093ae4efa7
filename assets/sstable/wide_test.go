package sstable_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// TestWidePartitionReadsInBoundedMemory writes a partition of 2,000 rows
// and one of 20,000 to the real Cassandra, each over two flushes (even
// and odd clusterings, so the rows merge across two SSTables), reads each
// snapshot, and checks that the heap live at the partition's last row does
// not grow with the width: a partition is merged row by row, not whole.
func TestWidePartitionReadsInBoundedMemory(t *testing.T) {
	ks := sstabletest.Keyspace(t, "sstable_wide")
	live := map[int]uint64{}
	for _, rows := range []int{2_000, 20_000} {
		table := fmt.Sprintf("wide_%d", rows)
		sstabletest.Exec(t, fmt.Sprintf("CREATE TABLE %s.%s (k text, c int, v text, PRIMARY KEY (k, c))"+
			" WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}", ks, table))
		for first := range 2 {
			insertAll(t, widePartition(ks, table, rows, first))
			sstabletest.Flush(t, ks, table)
		}
		dir := sstabletest.Snapshot(t, ks, table, nil)
		live[rows] = liveAtLastRow(t, dir, rows)
	}
	narrow, wide := live[2_000], live[20_000]
	t.Logf("heap live at the last row: %d KiB for 2,000 rows, %d KiB for 20,000", narrow>>10, wide>>10)
	// A whole-partition merge would hold the 20,000 rows' 40 MB; the rows
	// in flight between the merge and the caller (up to 256 of 2 KB per
	// range) and the reused buffers put a few MiB of noise on both.
	if wide > 2*narrow+4<<20 {
		t.Errorf("reading 20,000 rows holds %d KiB at the last row, 2,000 rows %d KiB: memory grows with the partition", wide>>10, narrow>>10)
	}
}

// widePartition inserts every other row (from first) of one partition of
// rows rows, 2 KB each (a partition of 2,000 rows is a few times the
// size of a reader's window), in unlogged batches of 20.
func widePartition(ks, table string, rows, first int) []string {
	v := strings.Repeat("x", 2000)
	var out []string
	var b strings.Builder
	for c := first; c < rows; c += 2 {
		if b.Len() == 0 {
			b.WriteString("BEGIN UNLOGGED BATCH\n")
		}
		fmt.Fprintf(&b, "INSERT INTO %s.%s (k, c, v) VALUES ('wide', %d, '%s-%d');\n", ks, table, c, v, c)
		if c+2 >= rows || (c/2)%20 == 19 {
			b.WriteString("APPLY BATCH")
			out = append(out, b.String())
			b.Reset()
		}
	}
	return out
}

// insertAll runs the statements, 8 at a time.
func insertAll(t *testing.T, stmts []string) {
	t.Helper()
	s := sstabletest.Session(t)
	var g errgroup.Group
	g.SetLimit(8)
	for _, stmt := range stmts {
		g.Go(func() error { return s.Query(stmt).Exec() })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// liveAtLastRow reads the snapshot in dir, which holds rows rows, and
// returns how much more heap is live at the last row than before reading.
func liveAtLastRow(t *testing.T, dir string, rows int) uint64 {
	t.Helper()
	snap, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, at, n := ms.HeapAlloc, uint64(0), 0
	err = snap.ReadRange(sstable.TokenRange{}, sstable.ReadOptions{}, func(sstable.CQLRow) error {
		if n++; n == rows {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			at = ms.HeapAlloc
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != rows {
		t.Fatalf("%s: read %d rows, want %d", dir, n, rows)
	}
	return max(at, before) - before
}
