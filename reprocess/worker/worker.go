// Package worker is the processor: it takes events from a consumer group
// (async mode) or straight from a scan (sync mode), applies them with
// retries, and dead-letters what fails for good, so one poison event never
// blocks its partition.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
)

// DeadLetters receives records that failed for good.
type DeadLetters interface {
	Send(ctx context.Context, r *kgo.Record, cause error, attempts int) error
}

// Worker applies events. It is safe for concurrent use.
type Worker struct {
	Handler *apply.Handler
	Policy  apply.Policy
	DLQ     DeadLetters
	Log     *slog.Logger
	// Concurrency bounds events applied at once in sync mode.
	Concurrency int
	// Transform and Version, when set, are the only events this worker
	// applies; others belong to other consumer groups and are ignored.
	Transform string
	Version   int
	// Reports, if set, receives per-job outcome counts every few seconds
	// while Run runs (AddJobCounters), so a job's record shows what the
	// workers applied.
	Reports assets.JobStore

	counts sync.Map // apply.Outcome or "dlq" -> *atomic.Int64

	mu      sync.Mutex
	pending map[string]map[string]int64 // job -> outcome -> count not yet reported
}

// Count returns how many events ended with outcome ("dlq" for dead-lettered).
func (w *Worker) Count(outcome apply.Outcome) int64 {
	if v, ok := w.counts.Load(outcome); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (w *Worker) add(job string, outcome apply.Outcome) {
	v, _ := w.counts.LoadOrStore(outcome, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if w.Reports == nil || job == "" || outcome == Ignored {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[string]map[string]int64{}
	}
	if w.pending[job] == nil {
		w.pending[job] = map[string]int64{}
	}
	w.pending[job][string(outcome)]++
}

// report adds the counts gathered since the last report to the jobs.
func (w *Worker) report(ctx context.Context) {
	w.mu.Lock()
	pending := w.pending
	w.pending = nil
	w.mu.Unlock()
	for job, deltas := range pending {
		if err := w.Reports.AddJobCounters(ctx, job, deltas); err != nil && !errors.Is(err, assets.ErrNotFound) {
			w.Log.Warn("report job counters", "job", job, "error", err)
		}
	}
}

// DeadLettered is the outcome counted for events sent to the DLQ.
const DeadLettered apply.Outcome = "dlq"

// Record handles one record from the events topic; it returns an error
// only when the record could neither be applied nor dead-lettered, which
// stops the consumer before the record's offset is committed.
func (w *Worker) Record(ctx context.Context, r *kgo.Record) error {
	ev, err := events.Decode(r.Value)
	if err != nil {
		return w.deadLetter(ctx, r, events.Reprocess{}, err, 0)
	}
	return w.event(ctx, ev, r)
}

// Ignored is the outcome counted for events of other transforms.
const Ignored apply.Outcome = "ignored"

func (w *Worker) event(ctx context.Context, ev events.Reprocess, r *kgo.Record) error {
	if w.Transform != "" && (ev.Transform != w.Transform || ev.Version != w.Version) {
		w.add(ev.JobID, Ignored)
		return nil
	}
	out, tries, err := w.Policy.Do(ctx, func() (apply.Outcome, error) { return w.Handler.Handle(ctx, ev) })
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: leave the record uncommitted
		}
		return w.deadLetter(ctx, r, ev, err, tries)
	}
	w.add(ev.JobID, out)
	w.Log.Debug("handled", "job", ev.JobID, "asset_id", ev.AssetID, "transform", ev.Transform, "version", ev.Version, "outcome", out)
	return nil
}

// deadLetter sends r, or ev encoded when there is no record (sync mode),
// to the dead-letter topic.
func (w *Worker) deadLetter(ctx context.Context, r *kgo.Record, ev events.Reprocess, cause error, tries int) error {
	if r == nil {
		m, err := events.Encode(ev, "reprocess/sync")
		if err != nil {
			return err
		}
		r = toRecord(m)
	}
	w.Log.Warn("dead-lettering event", "job", ev.JobID, "asset_id", ev.AssetID, "transform", ev.Transform,
		"version", ev.Version, "attempts", tries, "error", cause)
	if err := w.DLQ.Send(ctx, r, cause, tries); err != nil {
		return err
	}
	w.add(ev.JobID, DeadLettered)
	return nil
}

// Emit applies evs in-process (sync mode, for scan.Emitter), Concurrency
// at a time; failures go to the dead-letter topic as in async mode.
func (w *Worker) Emit(ctx context.Context, evs []events.Reprocess) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, w.Concurrency))
	for _, ev := range evs {
		g.Go(func() error { return w.event(ctx, ev, nil) })
	}
	return g.Wait()
}

func toRecord(m events.Message) *kgo.Record {
	r := &kgo.Record{Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// Run consumes the events topic as a member of the transform's consumer
// group until ctx is done (graceful) or a record can be neither handled
// nor dead-lettered.
func (w *Worker) Run(ctx context.Context, kc *kafka.Cluster, cfg kafka.ConsumerConfig) error {
	w.Log.Info("worker joining", "group", cfg.Group, "topics", cfg.Topics, "concurrency", cfg.Concurrency)
	if w.Reports != nil {
		done := make(chan struct{})
		defer func() {
			close(done)
			w.report(context.WithoutCancel(ctx))
		}()
		go func() {
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					w.report(ctx)
				}
			}
		}()
	}
	err := kc.Consume(ctx, cfg, w.Record)
	w.Log.Info("worker left", "group", cfg.Group, "applied", w.Count(apply.Applied), "skipped", w.Count(apply.Skipped),
		"dlq", w.Count(DeadLettered))
	if err != nil {
		return fmt.Errorf("worker %s: %w", cfg.Group, err)
	}
	return nil
}
