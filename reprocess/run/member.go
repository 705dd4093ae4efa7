package run

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/export"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// ScannerGroup is the consumer group of scanner processes on the tasks
// topic.
const ScannerGroup = "reprocess.scanners"

// Distribute records the job as running and puts its unfinished tasks on
// the tasks topic for the scanner group, instead of scanning here. It
// returns how many tasks it published, of how many.
func (e *Env) Distribute(ctx context.Context, j *job.Job, takeover bool) (published, total int, err error) {
	if j.Mode != "async" || j.Source.Kind == job.SourceIDs && j.Source.File == "-" {
		return 0, 0, fmt.Errorf("job %s: only async jobs whose source a scanner can reach are distributed (not mode sync, not standard input)", j.Name)
	}
	if err := errors.Join(e.checkSpec(ctx, j, false), e.checkTransform(j), e.checkTypes(ctx, j)); err != nil {
		return 0, 0, err
	}
	src, err := e.Source(ctx, j, nil)
	if err != nil {
		return 0, 0, err
	}
	tasks, err := src.Tasks(ctx)
	if err != nil {
		return 0, 0, err
	}
	done, err := doneTasks(ctx, e.Store, j.Name)
	if err != nil {
		return 0, 0, err
	}
	var todo []events.ScanTask
	for _, t := range tasks {
		if !done[t] {
			todo = append(todo, events.ScanTask{JobID: j.Name, Task: t})
		}
	}
	if _, err := control.Start(ctx, e.Store, j.Name, j.Text, takeover); err != nil {
		return 0, 0, err
	}
	if err := e.Store.SetJobCounters(ctx, j.Name, map[string]int64{"tasks": int64(len(tasks))}); err != nil {
		return 0, 0, err
	}
	if err := e.Kafka.PublishTasks(ctx, todo); err != nil {
		return 0, 0, err
	}
	return len(todo), len(tasks), nil
}

// doneTasks are the job's tasks whose checkpoint says done.
func doneTasks(ctx context.Context, s assets.JobStore, id string) (map[string]bool, error) {
	cps, err := s.Checkpoints(ctx, id)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, c := range cps {
		if c.Done {
			done[c.Task] = true
		}
	}
	return done, nil
}

// Member runs this process as a member of the scanner group until ctx is
// done: it walks the scan tasks Kafka assigns it, concurrency at a time,
// each from its checkpoint, and commits a task only once it is done. A
// killed member's tasks go to the others, which resume them from their
// checkpoints.
func (e *Env) Member(ctx context.Context, concurrency int) error {
	pub, err := e.Kafka.NewPublisher("reprocess/scanners")
	if err != nil {
		return err
	}
	defer pub.Close()
	m := &member{env: e, pub: pub, jobs: map[string]*scan.Scanner{}, exports: map[string]*export.Job{}, tallies: map[string]*tally{}}
	defer m.close()
	e.Log.Info("scanner joining", "group", ScannerGroup, "topic", e.Kafka.TasksTopic())
	// A task stops with ctx, not after the consumer's grace period: it
	// stays uncommitted and resumes from its checkpoint elsewhere.
	handle := func(hctx context.Context, msg events.Message) error {
		tctx, cancel := context.WithCancel(hctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		return m.task(tctx, msg)
	}
	return e.Kafka.Consume(ctx, kafka.ConsumerConfig{Group: ScannerGroup, Topics: []string{e.Kafka.TasksTopic()}, Concurrency: concurrency}, handle)
}

type member struct {
	env *Env
	pub *kafka.Publisher

	mu      sync.Mutex
	jobs    map[string]*scan.Scanner
	exports map[string]*export.Job
	tallies map[string]*tally
	stops   []func()
}

// task walks one scan task; it returns nil (commit) once the task is done,
// skipped (job cancelled or gone) or poison (malformed message). A store
// that cannot be reached is waited out, with capped backoff: the task
// resumes from its checkpoint when the store answers.
func (m *member) task(ctx context.Context, msg events.Message) error {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := m.walkTask(ctx, msg)
		if !errors.Is(err, assets.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		m.env.Log.Warn("waiting for store: the scan task resumes from its checkpoint when it answers", "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// walkTask is one try at the task in msg.
func (m *member) walkTask(ctx context.Context, msg events.Message) error {
	log := m.env.Log
	t, err := events.DecodeTask(msg.Value)
	if err != nil {
		log.Warn("skipping a malformed scan task", "origin", msg.Origin(), "error", err)
		return nil
	}
	sc, ex, err := m.job(ctx, t.JobID)
	if errors.Is(err, assets.ErrNotFound) {
		log.Warn("skipping a task of an unknown job", "job", t.JobID, "task", t.Task)
		return nil
	}
	if err != nil {
		return err
	}
	if ex != nil {
		return m.exportTask(ctx, ex, t.Task)
	}
	err = sc.RunTask(ctx, t.Task)
	m.report(ctx, t.JobID, sc)
	switch {
	case errors.Is(err, control.ErrCancelled):
		log.Info("task skipped: job cancelled", "job", t.JobID, "task", t.Task)
		return nil
	case err != nil:
		return err
	}
	return m.finishIfDone(ctx, t.JobID)
}

// job returns the job's scanner, or the export it is, assembled once from
// the spec in the store.
func (m *member) job(ctx context.Context, id string) (*scan.Scanner, *export.Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sc, ok := m.jobs[id]; ok {
		return sc, nil, nil
	}
	rec, err := m.env.Store.Job(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if ex, ok := m.exports[id]; ok && ex.Spec.String() == rec.Spec { // not run again since
		return nil, ex, nil
	}
	if spec, ok := export.ParseSpec(rec.Spec); ok {
		ex, err := m.env.exportJob(ctx, rec, spec)
		if err == nil {
			m.exports[id] = ex
		}
		return nil, ex, err
	}
	j, err := job.Read([]byte(rec.Spec))
	if err != nil {
		return nil, nil, err
	}
	src, err := m.env.Source(ctx, j, nil)
	if err != nil {
		return nil, nil, err
	}
	sc, stop, err := m.env.scanner(j, src, m.pub, 1, nil)
	if err != nil {
		return nil, nil, err
	}
	m.jobs[id], m.tallies[id], m.stops = sc, &tally{}, append(m.stops, stop)
	return sc, nil, nil
}

// exportTask writes one token range of an export, and commits the export
// if that was its last.
func (m *member) exportTask(ctx context.Context, ex *export.Job, task string) error {
	start := time.Now()
	err := ex.RunTask(ctx, task)
	if errors.Is(err, export.ErrNotATask) {
		m.env.Log.Warn("skipping a stale export task", "error", err)
		return nil
	}
	if err != nil {
		return err
	}
	// A failed commit is the job's to report (its record says failed);
	// the task is written and recorded.
	committed, err := ex.Finish(ctx)
	m.env.Log.Info("export task written", "job", ex.ID, "task", task, "took", time.Since(start).Round(time.Millisecond), "committed", committed, "commit_error", err)
	return nil
}

// report adds what this member scanned of job id since its last report
// to the job's record.
func (m *member) report(ctx context.Context, id string, sc *scan.Scanner) {
	m.mu.Lock()
	t := m.tallies[id]
	m.mu.Unlock()
	st := &sc.Stats
	err := t.report(context.WithoutCancel(ctx), m.env.Store, id, map[string]int64{
		"scanned": st.Scanned.Load(), "emitted": st.Emitted.Load(), "filtered": st.Filtered.Load()})
	if err != nil {
		m.env.Log.Warn("report scan counts", "job", id, "error", err)
	}
}

func (m *member) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, stop := range m.stops {
		stop()
	}
}

// finishIfDone marks the job applying once every task is done.
func (m *member) finishIfDone(ctx context.Context, id string) error {
	s := m.env.Store
	rec, err := s.Job(ctx, id)
	if err != nil {
		return err
	}
	done, err := doneTasks(ctx, s, id)
	if err != nil {
		return err
	}
	if err := s.SetJobCounters(ctx, id, map[string]int64{"tasks_done": int64(len(done))}); err != nil {
		return err
	}
	if total := rec.Counters["tasks"]; total > 0 && int64(len(done)) >= total && rec.Status == control.Running {
		if err := m.env.applying(ctx, id); err != nil && !errors.Is(err, control.ErrTransition) {
			return err
		}
		m.env.Log.Info("job scanned: it ends once its processors handled every event", "job", id, "tasks", total)
	}
	return nil
}
