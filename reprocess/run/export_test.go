package run_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"

	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/run"
)

// TestExportByGroup exports a snapshot through the scanner group (an
// in-process Kafka, the embedded store): the first member dies once it
// wrote the files of its first token range, before recording them; the
// second writes every range, that one again, and the waiting export
// reports the commit, which holds every row of the snapshot once and none
// of the dead member's files. Run again, the export is refused.
func TestExportByGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	firstCtx, stopFirst := context.WithCancel(ctx)
	var died atomic.Bool
	e := newEnv(t, 0, func(s assets.Store) assets.Store {
		return dyingStore{s, func() bool {
			if died.CompareAndSwap(false, true) {
				stopFirst()
				return true
			}
			return false
		}}
	})
	snap, err := sstable.OpenSnapshot("../../assets/sstable/testdata/uncompressed-snapshot")
	if err != nil {
		t.Fatal(err)
	}
	opt := iceberg.Options{Catalog: iceberg.Catalog{URI: filepath.Join(t.TempDir(), "c.db")}, Table: "lake.g"}
	ref := opt
	ref.Table = "lake.ref"
	want, err := iceberg.ExportSnapshot(ctx, snap, sstable.ReadOptions{}, ref)
	if err != nil {
		t.Fatal(err)
	}
	run.ExportPoll = 50 * time.Millisecond

	first := make(chan error, 1)
	go func() { first <- e.Member(firstCtx, 1) }()
	type result struct {
		res iceberg.Result
		err error
	}
	waited := make(chan result, 1)
	var tasks int
	go func() {
		j, _, err := e.DistributeExport(ctx, snap, []string{"../../assets/sstable/testdata/uncompressed-snapshot"}, sstable.ReadOptions{Parallel: 2}, opt)
		if err != nil {
			waited <- result{err: err}
			return
		}
		tasks = j.Spec.Tasks
		res, err := e.WaitExport(ctx, j, nil)
		waited <- result{res, err}
	}()
	if err := <-first; err == nil {
		t.Fatal("the first member ended well; want it to die")
	}
	// Every file on disk now is the dead member's: it recorded none.
	dataDir := filepath.Join(filepath.Dir(opt.Catalog.URI), "warehouse", "lake.db", "g", "data")
	dead, _ := filepath.Glob(filepath.Join(dataDir, "*.parquet"))
	if len(dead) == 0 {
		t.Fatal("the first member died before writing a file; the test needs one")
	}
	secondCtx, stopSecond := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() { second <- e.Member(secondCtx, 1) }()
	defer func() {
		stopSecond()
		if err := <-second; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("the second member: %v", err)
		}
	}()
	r := <-waited
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Rows != want.Rows || r.res.SnapshotID == 0 {
		t.Errorf("the export committed %d rows in snapshot %d, want %d rows", r.res.Rows, r.res.SnapshotID, want.Rows)
	}
	jobs, _ := e.Store.Jobs(ctx)
	if len(jobs) != 1 || jobs[0].Status != control.Succeeded || jobs[0].Counters["rows"] != want.Rows || jobs[0].Counters["tasks_done"] != int64(tasks) {
		t.Errorf("jobs %+v, want one succeeded with %d rows and %d tasks done", jobs, want.Rows, tasks)
	}
	tbl := icebergtest.Table(t, opt.Catalog, opt.Table)
	files, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The guarantee: each range committed once, and none of the dead
	// member's files (a redelivered task may leave more leftovers; how
	// many is not promised).
	if len(files) != tasks {
		t.Errorf("%d data files committed for %d ranges, want one each", len(files), tasks)
	}
	for _, f := range files {
		for _, d := range dead {
			if strings.HasSuffix(f.File.FilePath(), filepath.Base(d)) {
				t.Errorf("the dead member's file %s was committed", filepath.Base(d))
			}
		}
	}
	if got, wantLines := icebergtest.Lines(t, opt.Catalog, opt.Table), icebergtest.Lines(t, ref.Catalog, ref.Table); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("the table holds %d rows unlike the one-process export's %d", len(got), len(wantLines))
	}
	if len(tbl.Metadata().Snapshots()) != 1 {
		t.Errorf("%d Iceberg snapshots, want 1", len(tbl.Metadata().Snapshots()))
	}
	// The commit records the snapshot's dropped columns as the
	// one-process export does, so that a later export can evolve the
	// table's schema.
	refTbl, err := iceberg.Load(ctx, ref.Catalog, ref.Table)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tbl.CurrentSnapshot().Summary.Properties[iceberg.DroppedProperty], refTbl.CurrentSnapshot().Summary.Properties[iceberg.DroppedProperty]; got != want || got == "" {
		t.Errorf("the commit records dropped columns %q, the one-process export %q", got, want)
	}
	// The commit records the snapshot's SSTables, so that a later
	// incremental export can take --since last.
	m, err := iceberg.LastManifest(ctx, opt.Catalog, opt.Table)
	if wantM, _ := snap.Manifest(); err != nil || len(m.SSTables) == 0 || !reflect.DeepEqual(m.SSTables, wantM.SSTables) {
		t.Errorf("the table's last manifest: %+v %v, want the snapshot's %+v", m, err, wantM)
	}
	if _, _, err := e.DistributeExport(ctx, snap, []string{"x"}, sstable.ReadOptions{}, opt); !errors.Is(err, iceberg.ErrAlreadyExported) {
		t.Errorf("a second export: %v, want ErrAlreadyExported", err)
	}

	// Dropped and exported again, the table gets its rows anew: the
	// ranges written for the dropped one are not committed to it.
	cat, err := opt.Catalog.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer iceberg.Close(cat)
	if err := cat.DropTable(ctx, []string{"lake", "g"}); err != nil {
		t.Fatal(err)
	}
	j, _, err := e.DistributeExport(ctx, snap, []string{"../../assets/sstable/testdata/uncompressed-snapshot"}, sstable.ReadOptions{Parallel: 1}, opt)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.WaitExport(ctx, j, nil)
	if err != nil || again.Rows != want.Rows {
		t.Errorf("the export to the table made again: %d rows (%v), want %d", again.Rows, err, want.Rows)
	}
}

// dyingStore fails the SaveCheckpoint calls die says to, as a process
// killed before it recorded a task's position.
type dyingStore struct {
	assets.Store
	die func() bool
}

func (s dyingStore) SaveCheckpoint(ctx context.Context, c assets.Checkpoint) error {
	if s.die() {
		return errors.New("killed before recording")
	}
	return s.Store.SaveCheckpoint(ctx, c)
}
