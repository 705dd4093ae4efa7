package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

// scannerGroup is the consumer group of scanner processes on the tasks topic.
const scannerGroup = "reprocess.scanners"

// distribute records the job as running and puts its unfinished tasks on
// the tasks topic for the scanner group, instead of scanning here.
func (a *app) distribute(ctx context.Context, j *job.Job, out io.Writer, takeover bool) error {
	if len(a.cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("--distribute needs kafka.brokers (--kafka-brokers) shared with the scanners")
	}
	if j.Mode != "async" || j.Source.Kind == job.SourceIDs && j.Source.File == "-" {
		return fmt.Errorf("job %s: only async jobs whose source a scanner can reach are distributed (not mode sync, not standard input)", j.Name)
	}
	src, err := a.source(j, nil)
	if err != nil {
		return err
	}
	s, kc, closeAll, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	tasks, err := src.Tasks(ctx)
	if err != nil {
		return err
	}
	cps, err := s.Checkpoints(ctx, j.Name)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, c := range cps {
		done[c.Task] = c.Done
	}
	var todo []events.ScanTask
	for _, t := range tasks {
		if !done[t] {
			todo = append(todo, events.ScanTask{JobID: j.Name, Task: t})
		}
	}
	if _, err := control.Start(ctx, s, j.Name, j.Text, takeover); err != nil {
		return err
	}
	if err := s.SetJobCounters(ctx, j.Name, map[string]int64{"tasks": int64(len(tasks))}); err != nil {
		return err
	}
	if err := kc.PublishTasks(ctx, todo); err != nil {
		return err
	}
	fmt.Fprintf(out, "job %s: published %d of %d scan tasks to %s for the scanner group (%d already done)\n",
		j.Name, len(todo), len(tasks), kc.TasksTopic(), len(tasks)-len(todo))
	return nil
}

// scanMember runs this process as a member of the scanner group: it walks
// the scan tasks Kafka assigns it, each from its checkpoint, and commits a
// task only once it is done. A killed member's tasks go to the others,
// which resume them from their checkpoints.
func (a *app) scanMember(ctx context.Context, concurrency int) error {
	if len(a.cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("a scanner-group member needs kafka.brokers (--kafka-brokers); to scan one job here, give its spec: reprocess scan JOB.yaml")
	}
	s, kc, closeAll, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	pub, err := kc.NewPublisher("reprocess/scanners")
	if err != nil {
		return err
	}
	defer pub.Close()
	m := &member{a: a, s: s, kc: kc, pub: pub, jobs: map[string]*scan.Scanner{}}
	a.log.Info("scanner joining", "group", scannerGroup, "topic", kc.TasksTopic())
	return kc.Consume(ctx, kafka.ConsumerConfig{Group: scannerGroup, Topics: []string{kc.TasksTopic()}, Concurrency: concurrency}, m.task)
}

type member struct {
	a   *app
	s   assets.Store
	kc  *kafka.Cluster
	pub *kafka.Publisher

	mu   sync.Mutex
	jobs map[string]*scan.Scanner
}

// task walks one scan task; it returns nil (commit) once the task is done,
// skipped (job cancelled or gone) or poison (malformed record).
func (m *member) task(ctx context.Context, msg events.Message) error {
	t, err := events.DecodeTask(msg.Value)
	if err != nil {
		m.a.log.Warn("skipping a malformed scan task", "origin", msg.Origin(), "error", err)
		return nil
	}
	sc, err := m.scanner(ctx, t.JobID)
	if errors.Is(err, assets.ErrNotFound) {
		m.a.log.Warn("skipping a task of an unknown job", "job", t.JobID, "task", t.Task)
		return nil
	}
	if err != nil {
		return err
	}
	log := m.a.log.With("job", t.JobID, "task", t.Task)
	switch err := sc.RunTask(ctx, t.Task); {
	case errors.Is(err, control.ErrCancelled):
		log.Info("task skipped: job cancelled")
		return nil
	case err != nil:
		return err
	}
	return m.finishIfDone(ctx, t.JobID)
}

// scanner returns the job's scanner, built once from the spec in the store.
func (m *member) scanner(ctx context.Context, id string) (*scan.Scanner, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sc, ok := m.jobs[id]; ok {
		return sc, nil
	}
	rec, err := m.s.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	spec, err := job.Parse([]byte(rec.Spec))
	if err != nil {
		return nil, err
	}
	j, err := job.Compile(spec)
	if err != nil {
		return nil, err
	}
	src, err := m.a.source(j, nil)
	if err != nil {
		return nil, err
	}
	limiter := throttle.NewLimiter(j.Rate, time.Second)
	if p, ok := src.(*scan.Partitions); ok {
		p.Pager = timedPager{m.s, limiter}
	}
	group := events.Group(j.Transform.Name, j.Transform.Version)
	gate := throttle.NewGate(j.Rate.MaxLag, func(ctx context.Context) (int64, error) { return m.kc.Lag(ctx, group) }, 2*time.Second)
	watch := &control.Watch{Store: m.s, Job: j.Name, Interval: time.Second}
	sc := scan.New(scan.Config{Job: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version, Concurrency: 1,
		Filter: j.Filter, Limiter: limiter, Gate: gate, Proceed: watch.Proceed, Store: m.s, Log: m.a.log}, src, m.pub)
	m.jobs[id] = sc
	return sc, nil
}

// finishIfDone marks the job succeeded once every task is done.
func (m *member) finishIfDone(ctx context.Context, id string) error {
	rec, err := m.s.Job(ctx, id)
	if err != nil {
		return err
	}
	cps, err := m.s.Checkpoints(ctx, id)
	if err != nil {
		return err
	}
	done := 0
	for _, c := range cps {
		if c.Done {
			done++
		}
	}
	if err := m.s.SetJobCounters(ctx, id, map[string]int64{"tasks_done": int64(done)}); err != nil {
		return err
	}
	if total := rec.Counters["tasks"]; total > 0 && int64(done) >= total && rec.Status == control.Running {
		if _, err := control.Transition(ctx, m.s, id, control.Succeeded, nil); err != nil && !errors.Is(err, control.ErrTransition) {
			return err
		}
		m.a.log.Info("job done", "job", id, "tasks", total)
	}
	return nil
}
