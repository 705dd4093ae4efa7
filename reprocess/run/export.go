package run

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/export"
)

// DistributeExport records an export of snapshot s (read from locations
// with o) to the Iceberg table of opt as a job, and puts its unfinished
// token ranges on the tasks topic for the scanner group; see package
// export. The job is named by the table and the snapshot's fingerprint,
// so running it again resumes it. It returns the job and how many tasks
// it published.
func (e *Env) DistributeExport(ctx context.Context, s *sstable.Snapshot, locations []string, o sstable.ReadOptions, opt iceberg.Options) (*export.Job, int, error) {
	source, tableUUID, err := iceberg.Prepare(ctx, s, opt)
	if err != nil {
		return nil, 0, err
	}
	spec, err := exportSpec(s, locations, o, opt, source)
	if err != nil {
		return nil, 0, err
	}
	spec.TableUUID = tableUUID
	id := export.ID(opt.Table, source)
	rec, err := e.Store.Job(ctx, id)
	switch old, ok := export.ParseSpec(rec.Spec); {
	case errors.Is(err, assets.ErrNotFound):
	case err != nil:
		return nil, 0, err
	case !ok:
		return nil, 0, fmt.Errorf("job %s exists and is not an export", id)
	case old.TableUUID == tableUUID: // a re-run goes on with the tasks written already
		spec.AsOf, spec.ExportedAt, spec.Tasks = old.AsOf, old.ExportedAt, old.Tasks
	default: // the files written were for a table dropped since
		if err := e.Store.DeleteCheckpoints(ctx, id); err != nil {
			return nil, 0, err
		}
	}
	if spec.Manifest, err = iceberg.RecordManifest(ctx, s, spec.AsOf, opt, source); err != nil {
		return nil, 0, err
	}
	if _, err := control.Start(ctx, e.Store, id, spec.String(), true); err != nil {
		return nil, 0, err
	}
	if err := e.Store.SetJobCounters(ctx, id, map[string]int64{"tasks": int64(spec.Tasks)}); err != nil {
		return nil, 0, err
	}
	done, err := doneTasks(ctx, e.Store, id)
	if err != nil {
		return nil, 0, err
	}
	var todo []events.ScanTask
	for _, t := range spec.TaskNames() {
		if !done[t] {
			todo = append(todo, events.ScanTask{JobID: id, Task: t})
		}
	}
	if err := e.Kafka.PublishTasks(ctx, todo); err != nil {
		return nil, 0, err
	}
	return &export.Job{ID: id, Spec: spec, Store: e.Store, Catalog: opt.Catalog}, len(todo), nil
}

// exportSpec is the spec of an export of s: local paths made absolute for
// members elsewhere, TTLs judged at one moment, as many token ranges as a
// single export reads.
func exportSpec(s *sstable.Snapshot, locations []string, o sstable.ReadOptions, opt iceberg.Options, source string) (export.Spec, error) {
	abs := func(p string) (string, error) {
		if strings.Contains(p, "://") {
			return p, nil
		}
		return filepath.Abs(p)
	}
	spec := export.Spec{Export: "iceberg", AsOf: o.AsOf, ExportedAt: time.Now().UTC(), Table: opt.Table,
		PartitionBy: opt.PartitionBy, Source: source, SourceTable: iceberg.SourceTable(s), Dropped: iceberg.Dropped(s)}
	if spec.AsOf.IsZero() {
		spec.AsOf = s.CreatedAt
	}
	if spec.AsOf.IsZero() {
		spec.AsOf = spec.ExportedAt
	}
	var err error
	if spec.Catalog = opt.Catalog.URI; !opt.Catalog.IsREST() {
		if spec.Catalog, err = abs(strings.TrimPrefix(spec.Catalog, "sqlite:")); err != nil {
			return spec, err
		}
	}
	for _, l := range locations {
		a, err := abs(l)
		if err != nil {
			return spec, err
		}
		spec.Snapshots = append(spec.Snapshots, a)
	}
	p := sstable.Plan(s, sstable.Budget{})
	if o.Parallel > 0 {
		p.Parallel = o.Parallel
	}
	ranges, err := s.Ranges(max(p.Splits, 4*p.Parallel)) // at most that many
	spec.Tasks = len(ranges)
	return spec, err
}

// ExportByGroup has the scanner group export s to the table of opt
// (DistributeExport), waits for the commit (WaitExport) and says what it
// committed.
func (e *Env) ExportByGroup(ctx context.Context, s *sstable.Snapshot, locations []string, o sstable.ReadOptions, opt iceberg.Options, progress func(done, total int)) (string, error) {
	j, published, err := e.DistributeExport(ctx, s, locations, o, opt)
	if err != nil {
		return "", err
	}
	e.Log.Info("export distributed: waiting for the scanner group ('reprocess scan' with no job)", "job", j.ID,
		"tasks", j.Spec.Tasks, "published", published, "topic", e.Kafka.TasksTopic())
	res, err := e.WaitExport(ctx, j, progress)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s by the scanner group: job %s, %d token ranges", res, j.ID, j.Spec.Tasks), nil
}

// ExportPoll is how often WaitExport reads the job.
var ExportPoll = time.Second

// WaitExport waits until the export job j ended, committing it itself
// when every task is done (its last member may be gone), and returns what
// the table committed; progress, if set, is told the tasks done.
func (e *Env) WaitExport(ctx context.Context, j *export.Job, progress func(done, total int)) (iceberg.Result, error) {
	for {
		if _, err := j.Finish(ctx); err != nil {
			return iceberg.Result{}, err
		}
		rec, err := e.Store.Job(ctx, j.ID)
		if err != nil {
			return iceberg.Result{}, err
		}
		if progress != nil {
			progress(int(rec.Counters["tasks_done"]), j.Spec.Tasks)
		}
		switch rec.Status {
		case control.Succeeded:
			res, ok, err := iceberg.Exported(ctx, iceberg.Options{Catalog: j.Catalog.With(j.Spec.Catalog), Table: j.Spec.Table}, j.Spec.Source)
			if err == nil && !ok {
				err = fmt.Errorf("export %s succeeded, but %s holds no snapshot of %s", j.ID, j.Spec.Table, j.Spec.Source)
			}
			return res, err
		case control.Running:
		default:
			return iceberg.Result{}, fmt.Errorf("export %s is %s: %s", j.ID, rec.Status, rec.Error)
		}
		select {
		case <-ctx.Done():
			return iceberg.Result{}, ctx.Err()
		case <-time.After(ExportPoll):
		}
	}
}

// exportJob opens the export job of record rec with spec for a member:
// its snapshot, which must still be the one the export was started from.
func (e *Env) exportJob(ctx context.Context, rec assets.Job, spec export.Spec) (*export.Job, error) {
	s, err := backup.Open(ctx, e.Backup, spec.Snapshots, e.Log)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", rec.ID, err)
	}
	source, err := iceberg.Fingerprint(s)
	if err != nil {
		return nil, err
	}
	if source != spec.Source {
		return nil, fmt.Errorf("export %s: the snapshot at %v is %s now, not %s as when the export started", rec.ID, spec.Snapshots, source, spec.Source)
	}
	return &export.Job{ID: rec.ID, Spec: spec, Store: e.Store, Catalog: e.Iceberg, Snapshot: s}, nil
}
