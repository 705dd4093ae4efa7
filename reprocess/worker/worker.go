// Package worker is the processor: it takes events from a consumer group
// (async mode) or straight from a scan (sync mode) and hands each to a
// chain of handlers, in the manner of a router's middleware:
//
//	Count → DeadLetter → Decode → Only → Retry → StoreWait → Apply
//
// Apply runs apply.Handler on the event; StoreWait says in the log when
// the store cannot be reached; Retry repeats what may pass on a retry
// and waits out a store that cannot be reached; Only ignores events of
// other transforms; Decode turns a message into an event; DeadLetter sends what failed for good to the dead-letter
// topic, so one poison event never blocks its partition; Count records
// every outcome for metrics, progress and the job's record.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/internal/tick"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

// DeadLetters receives messages that failed for good.
type DeadLetters interface {
	Send(ctx context.Context, m events.Message, cause error, attempts int) error
}

// Config configures a Worker.
type Config struct {
	Apply  *apply.Handler // required
	DLQ    DeadLetters    // required
	Policy apply.Policy   // zero: apply.DefaultPolicy
	Log    *slog.Logger   // nil: discard
	// Transform and Version, when set, are the only events this worker
	// applies; others belong to other consumer groups and are ignored.
	// They label reprocess_apply_events_total.
	Transform string
	Version   int
	// Concurrency bounds events applied at once in sync mode (default 1).
	Concurrency int
	// Reports, if set, receives per-job outcome counts every few seconds
	// while Run runs, so a job's record shows what the workers applied.
	Reports assets.JobStore
	// Counts, if set, is where the worker counts outcomes, shared by
	// several workers of one process; nil gives the worker its own. It
	// is also the apply handler's Noter when that has none.
	Counts *Counts
	// OnSuccess, if set, is taken for each job this worker ends, before
	// it is recorded succeeded (see Complete).
	OnSuccess OnSuccess
	// Check, if set, is the completeness pass of each job this worker
	// would end (see Complete).
	Check Check
	// Throttle, if set, is where the worker reads each job's shared rate
	// (every second); it applies the job's events at its share of it.
	Throttle throttle.RateReader
}

// Worker applies events through the handler chain. It is safe for
// concurrent use.
type Worker struct {
	cfg    Config
	counts *Counts
	pacer  *throttle.Pacer // nil: not paced
	handle Handler
}

// New checks cfg and returns a worker.
func New(cfg Config) (*Worker, error) {
	var errs []error
	if cfg.Apply == nil {
		errs = append(errs, errors.New("worker: no apply handler"))
	}
	if cfg.DLQ == nil {
		errs = append(errs, errors.New("worker: no dead-letter destination"))
	}
	if (cfg.Transform == "") != (cfg.Version == 0) || cfg.Version < 0 {
		errs = append(errs, fmt.Errorf("worker: transform %q and version %d go together", cfg.Transform, cfg.Version))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Policy.Attempts == 0 {
		cfg.Policy = apply.DefaultPolicy
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Concurrency = max(1, cfg.Concurrency)
	if cfg.Counts == nil {
		cfg.Counts = &Counts{}
	}
	if cfg.Apply.Notes == nil {
		cfg.Apply.Notes = cfg.Counts
	}
	w := &Worker{cfg: cfg, counts: cfg.Counts}
	if cfg.Throttle != nil {
		w.pacer = throttle.NewPacer(cfg.Throttle, time.Second)
	}
	w.handle = Chain(Apply(cfg.Apply),
		Count(w.counts),
		DeadLetter(cfg.DLQ, cfg.Log),
		Decode(),
		Only(cfg.Transform, cfg.Version),
		Pace(w.pacer),
		Retry(cfg.Policy),
		StoreWait(cfg.Log, 10*time.Second),
	)
	return w, nil
}

// Count returns how many events ended with outcome.
func (w *Worker) Count(o apply.Outcome) int64 { return w.counts.Get(o) }

// Handled is how many events this worker finished with (every outcome
// but Ignored).
func (w *Worker) Handled() int64 { return w.counts.Handled() }

// Handle handles one message from the events topic (a kafka.Handler); it
// returns an error only when the message could neither be applied nor
// dead-lettered, which stops the consumer before its offset is committed.
func (w *Worker) Handle(ctx context.Context, m events.Message) error {
	_, err := w.handle(ctx, &Delivery{Message: m})
	return err
}

// Emit applies evs in-process (sync mode, a scan.Emitter), Concurrency at
// a time; failures go to the dead-letter topic as in async mode. It
// returns how many ended with an outcome (counted), also on an error.
func (w *Worker) Emit(ctx context.Context, evs []events.Reprocess) (int, error) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(w.cfg.Concurrency)
	var done atomic.Int64
	for _, ev := range evs {
		g.Go(func() error {
			_, err := w.handle(ctx, &Delivery{Event: ev})
			if err == nil {
				done.Add(1)
			}
			return err
		})
	}
	err := g.Wait()
	return int(done.Load()), err
}

// Run consumes the events topic as a member of the transform's consumer
// group until ctx is done (graceful) or a message can be neither handled
// nor dead-lettered.
func (w *Worker) Run(ctx context.Context, kc *kafka.Cluster, cfg kafka.ConsumerConfig) error {
	log := w.cfg.Log
	log.Info("worker joining", "group", cfg.Group, "topics", cfg.Topics, "concurrency", cfg.Concurrency)
	if w.cfg.Reports != nil {
		stop := w.reportEvery(ctx, ReportEvery, kc.Lag)
		defer stop()
	}
	if w.pacer != nil {
		cfg.Owned = func(owned, total int) {
			w.pacer.SetShare(float64(owned) / float64(max(1, total)))
			log.Info("worker paces at its share of each job's rate", "partitions", owned, "of", total)
		}
	}
	err := kc.Consume(ctx, cfg, w.Handle)
	log.Info("worker left", "group", cfg.Group, "applied", w.Count(apply.Applied), "skipped", w.Count(apply.Skipped),
		"dlq", w.Count(DeadLettered))
	if err != nil {
		return fmt.Errorf("worker %s: %w", cfg.Group, err)
	}
	return nil
}

// ReportEvery is how often a worker adds its counts to the jobs' records.
const ReportEvery = 2 * time.Second

// reportEvery adds the counts gathered since the last report to the jobs'
// records every interval, and ends each of those jobs whose events are
// now all handled (Complete); stop reports the rest and returns.
func (w *Worker) reportEvery(ctx context.Context, interval time.Duration, lag LagFunc) (stop func()) {
	report := func(ctx context.Context) {
		for _, id := range w.counts.Report(ctx, w.cfg.Reports, w.cfg.Log) {
			if done, err := Complete(ctx, w.cfg.Reports, id, lag, w.cfg.Check, w.cfg.OnSuccess); err != nil {
				w.cfg.Log.Warn("end the job if all its events are handled", "job", id, "error", err)
			} else if done {
				w.cfg.Log.Info("job done: every event it emitted is handled", "job", id)
			}
		}
	}
	stopTick := tick.Every(interval, func() { report(ctx) })
	return func() {
		stopTick()
		report(context.WithoutCancel(ctx))
	}
}
