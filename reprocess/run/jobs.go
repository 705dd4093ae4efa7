package run

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// JobPoll is how often WorkJobs looks for jobs to serve.
var JobPoll = 5 * time.Second

// WorkJobs is a worker for every job: every JobPoll it lists the store's
// jobs and, for each async job that is running or applying, runs a member
// of its transform version's consumer group in this process, until that
// transform has no such job left. A deployment of these serves new jobs
// without a worker per transform. cfg and cc are each member's settings
// (Transform, Version and Group are set per job). It returns when ctx
// ends, or with the first member that fails.
func (e *Env) WorkJobs(ctx context.Context, cfg worker.Config, cc kafka.ConsumerConfig) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ms := &members{set: map[*worker.Worker]bool{}}
	if err := e.Metrics.Register(ms); err != nil {
		return err
	}
	defer e.Metrics.Unregister(ms)
	type member struct{ stop context.CancelFunc }
	members := map[string]member{}
	done := make(chan struct{}, 64)
	defer func() {
		for _, m := range members {
			m.stop()
		}
		for range members {
			<-done
		}
	}()
	for {
		want, err := e.servedGroups(ctx)
		if err != nil && ctx.Err() == nil {
			e.Log.Warn("list the jobs to serve", "error", err)
		}
		for group, t := range want {
			if _, ok := members[group]; ok {
				continue
			}
			mctx, stop := context.WithCancel(ctx)
			members[group] = member{stop}
			e.Log.Info("serving a job's transform", "group", group)
			go func() {
				defer func() { done <- struct{}{} }()
				if err := e.member(mctx, ms, cfg, cc, t); err != nil && mctx.Err() == nil {
					cancel(err)
				}
			}()
		}
		for group, m := range members {
			if _, ok := want[group]; !ok && err == nil {
				e.Log.Info("no job of this transform runs any more", "group", group)
				m.stop()
				delete(members, group)
				<-done
			}
		}
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		case <-time.After(JobPoll):
		}
	}
}

// servedGroups are the consumer groups of the async jobs running or
// applying, with their transforms.
func (e *Env) servedGroups(ctx context.Context) (map[string]job.Transform, error) {
	recs, err := e.Store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]job.Transform{}
	for _, rec := range recs {
		if rec.Status != control.Running && rec.Status != control.Applying {
			continue
		}
		s, err := job.Parse([]byte(rec.Spec))
		if err != nil || s.Mode == "sync" {
			continue
		}
		want[events.Group(s.Transform.Name, s.Transform.Version)] = s.Transform
	}
	return want, nil
}

// member runs one member of t's consumer group until ctx ends.
func (e *Env) member(ctx context.Context, ms *members, cfg worker.Config, cc kafka.ConsumerConfig, t job.Transform) error {
	cc.Group, cc.Topics = events.Group(t.Name, t.Version), []string{e.Kafka.Topic()}
	dlq, err := e.Kafka.NewDLQ(cc.Group)
	if err != nil {
		return err
	}
	defer dlq.Close()
	cfg.Transform, cfg.Version = t.Name, t.Version
	w, flush, err := e.Worker(dlq, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := flush(); err != nil {
			e.Log.Error("flush stock transform writers", "error", err)
		}
	}()
	ms.add(w)
	defer ms.remove(w)
	return w.Run(ctx, e.Kafka, cc)
}

// members collects the metrics of the workers WorkJobs runs, as they
// come and go.
type members struct {
	mu  sync.Mutex
	set map[*worker.Worker]bool
}

func (ms *members) add(w *worker.Worker) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.set[w] = true
}

func (ms *members) remove(w *worker.Worker) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	delete(ms.set, w)
}

// Describe implements prometheus.Collector: a worker's series.
func (ms *members) Describe(ch chan<- *prometheus.Desc) { (&worker.Worker{}).Describe(ch) }

// Collect implements prometheus.Collector: every member's series.
func (ms *members) Collect(ch chan<- prometheus.Metric) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for w := range ms.set {
		w.Collect(ch)
	}
}
