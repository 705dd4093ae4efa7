// Package export is a backup export to Iceberg shared by the scanner
// group: the job record holds what a member needs (the snapshot, the
// table, the number of token ranges), each scan task is one token range
// whose member writes its data files uncommitted and records them as the
// task's checkpoint, and once every task is done the recorded files are
// committed to the table at once. A task written twice (its member was
// killed, or lost it to a rebalance) leaves its unrecorded files as
// orphans, so no row is committed twice or missed; the table's record of
// the source snapshot keeps a second commit out.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	ice "github.com/apache/iceberg-go"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/reprocess/control"
)

// Spec is an export job's record spec, stored as JSON.
type Spec struct {
	Export      string    `json:"export"` // "iceberg": marks the record as an export
	Snapshots   []string  `json:"snapshots"`
	AsOf        time.Time `json:"as_of"` // TTLs are judged at one moment by every member
	ExportedAt  time.Time `json:"exported_at"`
	Tasks       int       `json:"tasks"`
	Catalog     string    `json:"catalog"`
	Table       string    `json:"table"`
	PartitionBy string    `json:"partition_by,omitempty"`
	TableUUID   string    `json:"table_uuid"`
	Source      string    `json:"source"` // the snapshot's fingerprint
	SourceTable string    `json:"source_table"`
	Manifest    string    `json:"manifest"` // where its SSTable manifest is, for a later --since last
	// Dropped is the source table's dropped columns (iceberg.Dropped).
	Dropped map[string]int64 `json:"dropped,omitempty"`
}

// ID is the export job of source to table: a re-run finds the same job.
func ID(table, source string) string { return "export-" + table + "-" + source }

// ParseSpec reads a job record's spec; ok is false when it is not an
// export's (a job spec).
func ParseSpec(spec string) (s Spec, ok bool) {
	if !strings.HasPrefix(strings.TrimSpace(spec), "{") || json.Unmarshal([]byte(spec), &s) != nil {
		return Spec{}, false
	}
	return s, s.Export == "iceberg"
}

// String is the spec as the job record keeps it.
func (s Spec) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Task names token range i of n, as the backup source does.
func Task(i, n int) string { return fmt.Sprintf("range-%04d-of-%04d", i, n) }

// TaskNames are the spec's tasks, in order.
func (s Spec) TaskNames() []string {
	tasks := make([]string, s.Tasks)
	for i := range tasks {
		tasks[i] = Task(i, s.Tasks)
	}
	return tasks
}

// Job is an export job as a process runs it.
type Job struct {
	ID      string
	Spec    Spec
	Store   assets.JobStore
	Catalog iceberg.Catalog // this process's settings, with the spec's URI

	// Snapshot is the source, opened from Spec.Snapshots; only RunTask
	// reads it.
	Snapshot *sstable.Snapshot

	once   sync.Once
	ranges []sstable.TokenRange
	err    error
}

func (j *Job) options() iceberg.Options {
	return iceberg.Options{Catalog: j.Catalog.With(j.Spec.Catalog), Table: j.Spec.Table, PartitionBy: j.Spec.PartitionBy}
}

// ErrNotATask is a task the export does not have: one published by an
// earlier run of it that cut the snapshot otherwise.
var ErrNotATask = errors.New("not a task of the export")

// RunTask writes the token range of task and records its files as the
// task's checkpoint, unless the task is done or the job has ended.
func (j *Job) RunTask(ctx context.Context, task string) error {
	var i, n int
	if _, err := fmt.Sscanf(task, "range-%d-of-%d", &i, &n); err != nil || n != j.Spec.Tasks || i < 0 || i >= n || task != Task(i, n) {
		return fmt.Errorf("%w: export %s: task %q is not one of its %d ranges", ErrNotATask, j.ID, task, j.Spec.Tasks)
	}
	rec, err := j.Store.Job(ctx, j.ID)
	if err != nil {
		return err
	}
	if rec.Status != control.Running {
		return nil // ended, or failed and waiting for a re-run to publish its tasks again
	}
	parts, err := j.parts(ctx)
	if err != nil {
		return err
	}
	if _, done := parts[task]; done {
		return nil
	}
	j.once.Do(func() {
		if j.ranges, j.err = j.Snapshot.Ranges(n); j.err == nil && len(j.ranges) != n {
			j.err = fmt.Errorf("export %s: the snapshot cuts into %d token ranges, not %d", j.ID, len(j.ranges), n)
		}
	})
	if j.err != nil {
		return j.err
	}
	p, err := iceberg.WriteRange(ctx, j.Snapshot, j.ranges[i], sstable.ReadOptions{AsOf: j.Spec.AsOf}, j.Spec.ExportedAt, j.options())
	if err != nil {
		return fmt.Errorf("export %s: %s: %w", j.ID, task, err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return j.Store.SaveCheckpoint(ctx, assets.Checkpoint{Job: j.ID, Task: task, Position: string(b), Done: true, UpdatedAt: time.Now().UTC()})
}

// parts are the recorded files of the job's done tasks. A part written
// to another table is not one: a task of the run before the table was
// dropped and made again can record it after this run began, and the task
// is done again.
func (j *Job) parts(ctx context.Context) (map[string]iceberg.Part, error) {
	cps, err := j.Store.Checkpoints(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	parts := map[string]iceberg.Part{}
	for _, c := range cps {
		if !c.Done {
			continue
		}
		var p iceberg.Part
		if err := json.Unmarshal([]byte(c.Position), &p); err != nil {
			return nil, fmt.Errorf("export %s: checkpoint of %s: %w", j.ID, c.Task, err)
		}
		if p.Table == j.Spec.TableUUID {
			parts[c.Task] = p
		}
	}
	return parts, nil
}

// Finish commits the recorded files of every task in one commit once all
// are done, and ends the job succeeded; it reports whether the job is
// committed. The table refuses a second commit of the same source, so
// any number of processes may call it at once. A commit that fails ends
// the job failed: running the export again commits the recorded files.
func (j *Job) Finish(ctx context.Context) (committed bool, err error) {
	rec, err := j.Store.Job(ctx, j.ID)
	if err != nil || rec.Status != control.Running {
		return rec.Status == control.Succeeded, err // a cancelled export commits nothing
	}
	if rec.Spec != j.Spec.String() {
		return false, nil // run again since: that run commits
	}
	parts, err := j.parts(ctx)
	if err != nil {
		return false, err
	}
	if err := j.Store.SetJobCounters(ctx, j.ID, map[string]int64{"tasks_done": int64(len(parts))}); err != nil {
		return false, err
	}
	all := make([]iceberg.Part, 0, len(parts))
	for _, t := range j.Spec.TaskNames() {
		p, ok := parts[t]
		if !ok {
			return false, nil
		}
		all = append(all, p)
	}
	res, err := iceberg.CommitParts(ctx, j.options(), all, ice.Properties{
		iceberg.SourceProperty: j.Spec.Source, iceberg.TableProperty: j.Spec.SourceTable, iceberg.AsOfProperty: asOf(j.Spec),
		iceberg.ManifestProperty: j.Spec.Manifest, iceberg.DroppedProperty: iceberg.DroppedJSON(j.Spec.Dropped), JobProperty: j.ID,
	})
	if errors.Is(err, iceberg.ErrAlreadyExported) {
		res, _, err = iceberg.Exported(ctx, j.options(), j.Spec.Source)
	}
	if err != nil {
		if now, rerr := j.Store.Job(ctx, j.ID); rerr == nil && now.Spec != j.Spec.String() {
			return false, nil // run again meanwhile (its table made again): not this run's to fail
		}
		_, terr := control.Transition(ctx, j.Store, j.ID, control.Failed, func(r *assets.Job) { r.Error = err.Error() })
		return false, errors.Join(err, ignoreEnded(terr))
	}
	if err := j.Store.SetJobCounters(ctx, j.ID, map[string]int64{"rows": res.Rows, "iceberg_snapshot_id": res.SnapshotID}); err != nil {
		return true, err
	}
	_, err = control.Transition(ctx, j.Store, j.ID, control.Succeeded, nil)
	return true, ignoreEnded(err)
}

// JobProperty is the snapshot summary property naming the export job that
// committed it.
const JobProperty = "reprocess.export-job"

// ignoreEnded drops the error of a transition another process made first.
func ignoreEnded(err error) error {
	if errors.Is(err, control.ErrTransition) {
		return nil
	}
	return err
}

func asOf(s Spec) string { return s.AsOf.UTC().Format(time.RFC3339Nano) }
