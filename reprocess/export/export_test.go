package export_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/export"
)

const fixture = "../../assets/sstable/testdata/uncompressed-snapshot"

// setup records an export job of the fixture in 4 token ranges to lake.t.
func setup(t *testing.T) (*export.Job, iceberg.Options) {
	t.Helper()
	ctx := context.Background()
	snap, err := sstable.OpenSnapshot(fixture)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	store, err := embedded.Open(embedded.Config{Dir: filepath.Join(tmp, "store")}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	opt := iceberg.Options{Catalog: iceberg.Catalog{URI: filepath.Join(tmp, "c.db")}, Table: "lake.t"}
	source, tableUUID, err := iceberg.Prepare(ctx, snap, opt)
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := snap.Ranges(4)
	if err != nil || len(ranges) != 4 {
		t.Fatalf("the fixture cuts into %d ranges (%v), want 4", len(ranges), err)
	}
	spec := export.Spec{Export: "iceberg", Snapshots: []string{fixture}, AsOf: time.Now().UTC(), ExportedAt: time.Now().UTC(),
		Tasks: 4, Catalog: opt.Catalog.URI, Table: opt.Table, Source: source, SourceTable: iceberg.SourceTable(snap), TableUUID: tableUUID}
	j := &export.Job{ID: export.ID(opt.Table, source), Spec: spec, Store: store, Catalog: opt.Catalog, Snapshot: snap}
	if _, err := control.Start(ctx, store, j.ID, spec.String(), false); err != nil {
		t.Fatal(err)
	}
	return j, opt
}

// TestStaleFinishLeavesTheNewRun finishes an export whose table is
// dropped, made again and exported again while the finish reads the
// recorded files, as a member late to the first run would: its commit is
// refused (its files are for the old table), and the new run goes on, not
// failed by it.
func TestStaleFinishLeavesTheNewRun(t *testing.T) {
	ctx := context.Background()
	j, opt := setup(t)
	for _, task := range j.Spec.TaskNames() {
		if err := j.RunTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	store := j.Store
	j.Store = rerunStore{JobStore: store, rerun: sync.OnceFunc(func() {
		cat, err := opt.Catalog.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer iceberg.Close(cat)
		if err := cat.DropTable(ctx, []string{"lake", "t"}); err != nil {
			t.Fatal(err)
		}
		_, tableUUID, err := iceberg.Prepare(ctx, j.Snapshot, opt)
		if err != nil {
			t.Fatal(err)
		}
		again := j.Spec
		again.TableUUID, again.ExportedAt = tableUUID, time.Now().UTC()
		if _, err := control.Start(ctx, store, j.ID, again.String(), true); err != nil {
			t.Fatal(err)
		}
	})}
	if committed, err := j.Finish(ctx); committed || err != nil {
		t.Errorf("the first run's finish: committed %v (%v), want nothing and no error", committed, err)
	}
	if rec, _ := store.Job(ctx, j.ID); rec.Status != control.Running {
		t.Errorf("the new run is %s (%s) after the first run's finish; want running", rec.Status, rec.Error)
	}
}

// rerunStore runs rerun when the recorded files are first read.
type rerunStore struct {
	assets.JobStore
	rerun func()
}

func (s rerunStore) Checkpoints(ctx context.Context, job string) ([]assets.Checkpoint, error) {
	cps, err := s.JobStore.Checkpoints(ctx, job)
	s.rerun()
	return cps, err
}

// TestStalePartIsWrittenAgain records a range's files as a member of the
// run before the table was dropped and made again would, after this run
// began: the range is written again for this table, and the commit holds
// every row.
func TestStalePartIsWrittenAgain(t *testing.T) {
	ctx := context.Background()
	j, opt := setup(t)
	stale := iceberg.Part{Rows: 1, Table: "a-table-dropped-since"}
	b, _ := json.Marshal(stale)
	if err := j.Store.SaveCheckpoint(ctx, assets.Checkpoint{Job: j.ID, Task: j.Spec.TaskNames()[0], Position: string(b), Done: true}); err != nil {
		t.Fatal(err)
	}
	for _, task := range j.Spec.TaskNames() {
		if err := j.RunTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if committed, err := j.Finish(ctx); !committed || err != nil {
		t.Fatalf("finish: committed %v (%v), want the commit", committed, err)
	}
	if got, want := icebergtest.Count(t, opt.Catalog, opt.Table, "k"), exportOnce(t, j.Snapshot, opt); !reflect.DeepEqual(got, want) {
		t.Errorf("the table holds rows of keys %v, want one of each of %v", got, want)
	}
}

// TestExportTasksCommitOnce writes an export's token ranges as members
// would, one of them twice (its first writer was killed after writing its
// files), and finishes it from several processes at once: the table holds
// every row of the snapshot once, in one Iceberg snapshot, and nothing is
// committed before every range is written.
func TestExportTasksCommitOnce(t *testing.T) {
	ctx := context.Background()
	j, opt := setup(t)
	ranges, _ := j.Snapshot.Ranges(4)
	// The killed writer's files: written, never recorded.
	if _, err := iceberg.WriteRange(ctx, j.Snapshot, ranges[2], sstable.ReadOptions{AsOf: j.Spec.AsOf}, j.Spec.ExportedAt, opt); err != nil {
		t.Fatal(err)
	}
	for _, task := range j.Spec.TaskNames()[:3] {
		if err := j.RunTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if committed, err := j.Finish(ctx); committed || err != nil {
		t.Fatalf("finish with 3 of 4 ranges written: committed %v (%v), want nothing committed", committed, err)
	}
	if tbl, _ := iceberg.Load(ctx, opt.Catalog, opt.Table); tbl.CurrentSnapshot() != nil {
		t.Fatal("the table has a snapshot before every range is written")
	}
	// A re-delivered task that is done writes nothing again.
	for _, task := range j.Spec.TaskNames() {
		if err := j.RunTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			var committed bool
			if committed, errs[i] = j.Finish(ctx); !committed && errs[i] == nil {
				errs[i] = errors.New("not committed")
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("finish from 3 processes at once: %v", err)
	}

	want := exportOnce(t, j.Snapshot, opt)
	if n := len(icebergtest.Table(t, opt.Catalog, opt.Table).Metadata().Snapshots()); n != 1 {
		t.Errorf("%d Iceberg snapshots, want 1", n)
	}
	got := icebergtest.Count(t, opt.Catalog, opt.Table, "k")
	if len(got) != len(want) {
		t.Errorf("%d keys, a single-process export has %d", len(got), len(want))
	}
	for k, n := range got {
		if n != 1 || want[k] != 1 {
			t.Errorf("key %s: %d rows, %d in a single-process export", k, n, want[k])
		}
	}
	rec, err := j.Store.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != control.Succeeded || rec.Counters["rows"] != int64(len(want)) || rec.Counters["tasks_done"] != 4 {
		t.Errorf("job %s with counters %v, want succeeded, %d rows, 4 tasks done", rec.Status, rec.Counters, len(want))
	}
}

// TestCancelledExportCommitsNothing cancels an export whose ranges are
// all written: finishing it commits nothing.
func TestCancelledExportCommitsNothing(t *testing.T) {
	ctx := context.Background()
	j, opt := setup(t)
	for _, task := range j.Spec.TaskNames() {
		if err := j.RunTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := control.Act(ctx, j.Store, j.ID, "cancel"); err != nil {
		t.Fatal(err)
	}
	if committed, err := j.Finish(ctx); committed || err != nil {
		t.Errorf("finish of a cancelled export: committed %v (%v), want nothing", committed, err)
	}
	if tbl, _ := iceberg.Load(ctx, opt.Catalog, opt.Table); tbl.CurrentSnapshot() != nil {
		t.Error("a cancelled export committed a snapshot")
	}
}

func TestRunTaskRefusesForeignTasks(t *testing.T) {
	j, _ := setup(t)
	for _, task := range []string{"range-0004-of-0004", "range-0001-of-0008", "range-1-of-4", "partition-x"} {
		if err := j.RunTask(context.Background(), task); !errors.Is(err, export.ErrNotATask) || !strings.Contains(err.Error(), "not one of its 4 ranges") {
			t.Errorf("task %q: %v, want not one of its ranges", task, err)
		}
	}
}

// exportOnce exports s to another table in one process and counts its keys.
func exportOnce(t *testing.T, s *sstable.Snapshot, opt iceberg.Options) map[string]int {
	t.Helper()
	ref := opt
	ref.Table = "lake.ref"
	if _, err := iceberg.ExportSnapshot(context.Background(), s, sstable.ReadOptions{}, ref); err != nil {
		t.Fatal(err)
	}
	return icebergtest.Count(t, ref.Catalog, ref.Table, "k")
}
