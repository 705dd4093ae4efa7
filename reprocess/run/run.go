package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/internal/tick"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// Options say how a job runs in this process.
type Options struct {
	// Source is the job's source, built beforehand with Env.Source so a
	// bad id list fails before the job is recorded; nil builds it.
	Source scan.Source
	// Takeover runs the job even if another process seems to run it.
	Takeover bool
	// Follow, for an async job, waits after the scan until the
	// transform's consumer group handled every event emitted.
	Follow bool
	// Workers, for an async job, runs this many members of the
	// transform's consumer group in this process while the job runs.
	Workers int
	// Restart forgets the job's checkpoints, so it walks everything again,
	// and lets its name run a spec that differs from its last.
	Restart bool
	// Owner names what runs the job in its run history: run (default),
	// scan, serve. serve resumes the interrupted jobs it ran.
	Owner string
}

// Job is one run of a job in this process.
type Job struct {
	env  *Env
	spec *job.Job
	opts Options
	log  *slog.Logger

	scan    *scan.Scanner
	src     scan.Source
	workers []*worker.Worker // sync: the emitter; async: in-process members
	counts  worker.Counts    // the workers' outcomes
	budget  func() error     // stops the run when over the error budget
	tally   tally            // what the job's record has of the counts
	async   bool
	metrics *collectors // the run's publisher and worker metrics
	closers []func()

	run assets.Run // this process's entry in the job's run history

	reemitted atomic.Int64 // events the completeness pass emitted again
	verdict   *verdict     // the completeness pass's last walk: settles the ledger
	dead      int64        // over budget: the dead letters that count; -1 when not known

	mu      sync.Mutex
	start   time.Time
	scanned time.Duration // how long the scan took, once done

	lagMu   sync.Mutex
	lag     int64 // the group's lag as last read (following)
	lagRead time.Time

	thMu   sync.Mutex
	th     assets.Throttle // the job's throttle as last read
	thRead time.Time
}

// Start assembles the job and records it as running; Run runs it. A job
// another process runs is control.ErrBusy unless o.Takeover.
func (e *Env) Start(ctx context.Context, j *job.Job, o Options) (*Job, error) {
	if err := errors.Join(e.checkTransform(j), e.checkTypes(ctx, j)); err != nil {
		return nil, err
	}
	if err := e.checkSpec(ctx, j, o.Restart); err != nil {
		return nil, err
	}
	r := &Job{env: e, spec: j, opts: o, log: e.Log.With("job", j.Name), async: j.Mode != "sync", dead: -1}
	if e.Kafka.Ephemeral() {
		r.log.Warn("no kafka.brokers configured and no embedded store: dead letters go to an in-process broker and are gone when this process exits")
	}
	if r.async && e.Kafka.InProcess() && o.Workers == 0 {
		// No worker process can reach the in-process broker: apply the
		// events here rather than leave them unapplied.
		r.log.Warn("no kafka.brokers configured: the job's events are applied by a worker in this process")
		r.opts.Workers = 1
	}
	if err := r.assemble(ctx); err != nil {
		r.close()
		return nil, err
	}
	if _, err := control.Start(ctx, e.Store, j.Name, j.Text, o.Takeover || e.gone(j.Name)); err != nil {
		r.close()
		return nil, err
	}
	if o.Restart {
		if err := e.Store.DeleteCheckpoints(ctx, j.Name); err != nil {
			r.close()
			return nil, err
		}
		r.log.Info("job restarts: its checkpoints are forgotten")
	}
	if err := r.beginRun(ctx); err != nil {
		r.close()
		return nil, err
	}
	e.setFailed(j.Name, false)
	return r, nil
}

// assemble builds the source, the emitter and any in-process workers.
func (r *Job) assemble(ctx context.Context) error {
	e, j := r.env, r.spec
	r.metrics = &collectors{reg: e.Metrics}
	r.closers = append(r.closers, r.metrics.unregister)
	src := r.opts.Source
	if src == nil {
		var err error
		if src, err = e.Source(ctx, j, nil); err != nil {
			return err
		}
	}
	var emit scan.Emitter
	if r.async {
		pub, err := e.Kafka.NewPublisher("reprocess/scan/" + j.Name)
		if err != nil {
			return err
		}
		r.closers = append(r.closers, pub.Close)
		if err := pub.Register(r.metrics); err != nil {
			r.log.Warn("publisher metrics not registered", "error", err)
		}
		emit = pub
		if err := r.addWorkers(r.opts.Workers, events.Group(j.Transform.Name, j.Transform.Version),
			worker.Config{Transform: j.Transform.Name, Version: j.Transform.Version}); err != nil {
			return err
		}
	} else {
		// The scan emits only the job's transform version: the filter
		// passes every event and the metrics name the transform.
		if err := r.addWorkers(1, j.Name, worker.Config{Transform: j.Transform.Name, Version: j.Transform.Version,
			Concurrency: j.Source.Concurrency * 4}); err != nil {
			return err
		}
		emit = r.workers[0]
	}
	r.src = src
	sc, stop, err := e.scanner(j, src, emit, j.Source.Concurrency, func() error { return r.budget() })
	if err != nil {
		return err
	}
	r.scan = sc
	r.closers = append(r.closers, stop)
	return nil
}

// addWorkers adds n processors that dead-letter as dlqGroup.
func (r *Job) addWorkers(n int, dlqGroup string, cfg worker.Config) error {
	if n == 0 {
		return nil
	}
	dlq, err := r.env.Kafka.NewDLQ(dlqGroup)
	if err != nil {
		return err
	}
	r.closers = append(r.closers, dlq.Close)
	cfg.Counts, cfg.Throttle = &r.counts, r.env.Store
	for i := range n {
		w, flush, err := r.env.Worker(dlq, cfg)
		if err != nil {
			return err
		}
		r.closers = append(r.closers, func() {
			if err := flush(); err != nil {
				r.log.Error("flush stock transform writers", "error", err)
			}
		})
		if i == 0 { // one collector for the counts the workers share
			if err := r.metrics.Register(w); err != nil {
				r.log.Warn("worker metrics not registered", "error", err)
			}
		}
		r.workers = append(r.workers, w)
	}
	return nil
}

// close releases what assemble opened, last first.
func (r *Job) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// scanner assembles the scan of j: a rate limiter governed by the job's
// latency signal, the lag gate on the transform's group, and, before
// every batch, check (if not nil) and the job's state. stop ends the
// throttle's control and unregisters the scan's metrics. A signal this
// process cannot read is ErrInvalid.
func (e *Env) scanner(j *job.Job, src scan.Source, emit scan.Emitter, concurrency int, check func() error) (sc *scan.Scanner, stop func(), err error) {
	log := e.Log.With("job", j.Name)
	sig, unwatch, err := e.signal(j.Rate)
	if err != nil {
		return nil, nil, err
	}
	lim := throttle.NewLimiter(j.Rate, cooldown(j.Rate.Signal))
	lim.SetLogger(log)
	group := events.Group(j.Transform.Name, j.Transform.Version)
	gate := throttle.NewGate(j.Rate.MaxLag, func(ctx context.Context) (int64, error) { return e.Kafka.Lag(ctx, group) }, 2*time.Second)
	watch := &control.Watch{Store: e.Store, Job: j.Name, Interval: time.Second,
		Paused: func() { log.Info("job paused: scanning waits; in-flight events finish") }}
	proceed := watch.Proceed
	if check != nil {
		proceed = func(ctx context.Context) error {
			if err := check(); err != nil {
				return err
			}
			return watch.Proceed(ctx)
		}
	}
	sc = scan.New(scan.Config{Job: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version,
		Concurrency: concurrency, Filter: j.Filter, Limiter: lim, Gate: gate, Proceed: proceed, Store: e.Store, Log: e.Log,
	}, src, emit)
	reg := &collectors{reg: e.Metrics}
	if err := sc.Register(reg, lim, gate); err != nil {
		log.Warn("scan metrics not registered (a run of this job already has them)", "error", err)
	}
	ungovern := e.govern(j, lim, sig, gate, watch, log)
	return sc, func() { ungovern(); unwatch(); reg.unregister() }, nil
}

// Run scans the job to its end, with its heartbeat, and its in-process
// workers if any; with Follow (or workers) it then waits until every
// event emitted was handled, and runs the verification pass. A job over
// its error budget stops and fails.
// It records how the job ended: succeeded, failed with the error, or,
// when ctx ended the scan, interrupted (running it again resumes it from
// its checkpoints).
func (r *Job) Run(ctx context.Context) error {
	defer r.close()
	r.mu.Lock()
	r.start = time.Now()
	r.mu.Unlock()
	stopBeat := r.heartbeat(ctx)
	defer r.warnUnconsumed(ctx)()
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	g, gctx := errgroup.WithContext(wctx)
	if r.async {
		for _, w := range r.workers {
			g.Go(func() error {
				return w.Run(gctx, r.env.Kafka, kafka.ConsumerConfig{Group: events.Group(r.spec.Transform.Name, r.spec.Transform.Version),
					Topics: []string{r.env.Kafka.Topic()}, Concurrency: 8})
			})
		}
	}
	// Over its error budget, the job stops (checked before every batch
	// and while following) and fails.
	bctx, overBudget := context.WithCancelCause(ctx)
	defer overBudget(nil)
	r.budget = func() error {
		err := r.overBudget(r.counts.Get(worker.DeadLettered), r.counts.Handled(), r.counts.FirstErrors())
		if err != nil {
			overBudget(err)
		}
		return err
	}
	err := r.scan.Run(bctx)
	r.mu.Lock()
	r.scanned = time.Since(r.start)
	r.mu.Unlock()
	if err == nil && r.async && (r.opts.Follow || len(r.workers) > 0) {
		err = r.drain(bctx, gctx) // a stop while following is one too
	}
	switch cause := context.Cause(bctx); {
	case errors.Is(cause, ErrOverBudget):
		err = cause
	case err != nil && ctx.Err() != nil: // stopped, however the scan put it
		err = errors.Join(ctx.Err(), err)
	case err == nil:
		err = r.conclude(ctx, bctx, gctx)
	}
	stopWorkers()
	if werr := g.Wait(); werr != nil && err == nil {
		err = werr
	}
	if errors.Is(err, ErrOverBudget) {
		err = r.countDead(context.WithoutCancel(ctx), err)
	}
	stopBeat()
	if ferr := r.finish(context.WithoutCancel(ctx), err); ferr != nil {
		r.log.Error("record the job's end", "error", ferr)
	}
	r.endRun(context.WithoutCancel(ctx))
	return err
}

// conclude ends a run whose events were all handled: when this run ends
// the job, the completeness pass; the final budget check, the
// verification pass, and, when this run ends the job, the transform's
// on-success step.
func (r *Job) conclude(ctx, bctx, workers context.Context) error {
	var err error
	if r.endsHere() {
		err = r.complete(bctx, workers)
	}
	if err == nil {
		err = r.finalBudget(ctx)
	}
	if err == nil {
		err = r.verify(bctx)
	}
	if err == nil && r.endsHere() {
		err = r.env.onSuccess(bctx, r.spec)
	}
	return err
}

// finalBudget checks the budget against the job's final counts: the
// in-process processors', or, for processors elsewhere that this run
// followed, what they reported to the job's record.
func (r *Job) finalBudget(ctx context.Context) error {
	if len(r.workers) > 0 || !r.opts.Follow {
		return r.overBudget(r.counts.Get(worker.DeadLettered), r.counts.Handled(), r.counts.FirstErrors())
	}
	rec, err := r.reported(ctx)
	if err != nil {
		return nil // the heartbeat reports a store that is down
	}
	return r.overBudget(rec.Counters[string(worker.DeadLettered)], worker.HandledIn(rec.Counters), nil)
}

// reported reads the job's record once the processors elsewhere reported
// every emitted event they handled: their group's lag reaches zero up to a
// report interval before their counts do. A processor killed before its
// last report leaves the counts short; after three intervals they are
// taken as they are, with a warning.
func (r *Job) reported(ctx context.Context) (assets.Job, error) {
	if err := r.save(ctx); err != nil { // this run's emitted count
		return assets.Job{}, err
	}
	deadline := time.Now().Add(3 * worker.ReportEvery)
	for {
		rec, err := r.env.Store.Job(ctx, r.spec.Name)
		if err != nil {
			return rec, err
		}
		handled, emitted := worker.HandledIn(rec.Counters), rec.Counters["emitted"]
		if handled >= emitted || time.Now().After(deadline) {
			if handled < emitted {
				r.log.Warn("the processors reported fewer events than were emitted (one was killed before its last report?)",
					"reported", handled, "emitted", emitted)
			}
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return rec, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// follow waits until every emitted event was handled, ctx is done, or
// the in-process workers failed (workers is then done).
func (r *Job) follow(ctx, workers context.Context) error {
	for {
		if p := r.Progress(ctx); p.Handled >= p.Emitted {
			return nil
		}
		if err := r.budget(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-workers.Done():
			// Stopped with the run (the cancel may reach the workers
			// first), or a worker failed.
			if cause := context.Cause(workers); ctx.Err() != nil || errors.Is(cause, context.Canceled) {
				return cmp.Or(ctx.Err(), cause)
			}
			return fmt.Errorf("in-process workers stopped before every event was handled: %w", context.Cause(workers))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// heartbeat saves the job's counters every control.Heartbeat, which
// also tells other processes the job is alive; stop ends it.
func (r *Job) heartbeat(ctx context.Context) (stop func()) {
	return tick.Every(control.Heartbeat, func() {
		if err := r.save(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("job heartbeat: save counters", "error", err)
		}
	})
}

// save records the job's task counts and adds what its counts gained.
func (r *Job) save(ctx context.Context) error {
	p := r.progress()
	set := r.env.Store.SetJobCounters(ctx, r.spec.Name, map[string]int64{"tasks": p.Tasks, "tasks_done": p.TasksDone})
	return errors.Join(set, r.tally.report(ctx, r.env.Store, r.spec.Name, r.Counters()))
}

// finish records how the scan ended: succeeded, failed with its error,
// cancelled (already recorded by whoever cancelled), or interrupted if the
// process was stopped (running it again resumes it).
func (r *Job) finish(ctx context.Context, runErr error) error {
	s, id := r.env.Store, r.spec.Name
	stopped := errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded)
	r.env.setFailed(id, runErr != nil && !stopped && !errors.Is(runErr, control.ErrCancelled) && !isIncomplete(runErr))
	if err := r.save(ctx); err != nil {
		r.log.Error("save the job's counters", "error", err)
	}
	if r.dead >= 0 && errors.Is(runErr, ErrOverBudget) {
		if err := r.setDead(ctx); err != nil {
			r.log.Error("count the job's dead letters", "error", err)
		}
	}
	if r.verdict != nil && (runErr == nil || isIncomplete(runErr)) {
		settle, err := r.env.settlement(ctx, r.spec, *r.verdict, r.opts.Follow && len(r.workers) == 0)
		if err == nil {
			err = settle(ctx)
		}
		if err != nil {
			r.log.Error("settle the job's ledger", "error", err)
		}
	}
	switch {
	case runErr == nil && !r.endsHere():
		return r.env.applying(ctx, id)
	case runErr == nil:
		_, err := control.Transition(ctx, s, id, control.Succeeded, nil)
		return err
	case errors.Is(runErr, control.ErrCancelled):
		return nil
	case isIncomplete(runErr):
		_, err := control.Transition(ctx, s, id, control.Incomplete, func(j *assets.Job) { j.Error = runErr.Error() })
		return err
	case stopped:
		_, err := control.Transition(ctx, s, id, control.Interrupted, nil)
		return err
	}
	_, err := control.Transition(ctx, s, id, control.Failed, func(j *assets.Job) { j.Error = runErr.Error() })
	return err
}

// endsHere reports whether this run ends the job, its events handled:
// else processors elsewhere end it (see applying).
func (r *Job) endsHere() bool {
	return !r.async || r.opts.Follow || len(r.workers) > 0
}

// applying records that job id's scan is done while its events are with
// processors elsewhere; they end it (worker.Complete), or it ends now if
// they already handled every event.
func (e *Env) applying(ctx context.Context, id string) error {
	if _, err := control.Transition(ctx, e.Store, id, control.Applying, nil); err != nil {
		return err
	}
	_, err := worker.Complete(ctx, e.Store, id, e.Kafka.Lag, e.checkApplying, e.onSuccess)
	return err
}

// Progress is how far a job got.
type Progress struct {
	Tasks, TasksDone           int64 // scan tasks: partitions, token ranges, id lists
	Scanned, Emitted, Filtered int64 // asset ids
	Handled                    int64 // emitted events the processors finished; -1 when not known
	Outcomes                   map[apply.Outcome]int64
	Reapplied                  int64           // facts applied again over changed inputs
	Elapsed, ScanTime          time.Duration   // ScanTime is 0 while scanning
	Throttle                   assets.Throttle // as recorded, read at most once a second
}

// Progress reads the job's progress; safe while it runs. Handled counts
// the in-process processors' outcomes, or, when following an async job,
// the emitted events its consumer group has committed (its lag is read
// at most once a second).
func (r *Job) Progress(ctx context.Context) Progress {
	p := r.progress()
	p.Throttle = r.throttle(ctx)
	if len(r.workers) > 0 || !r.opts.Follow {
		return p
	}
	r.lagMu.Lock()
	defer r.lagMu.Unlock()
	if time.Since(r.lagRead) >= time.Second {
		group := events.Group(r.spec.Transform.Name, r.spec.Transform.Version)
		if lag, err := r.env.Kafka.Lag(ctx, group); err == nil {
			r.lag = lag
		}
		r.lagRead = time.Now()
	}
	p.Handled = max(0, p.Emitted-r.lag)
	return p
}

// progress is the scan's counts and the in-process processors' outcomes.
func (r *Job) progress() Progress {
	st := &r.scan.Stats
	p := Progress{Tasks: st.Tasks.Load(), TasksDone: st.TasksDone.Load(), Scanned: st.Scanned.Load(),
		Emitted: st.Emitted.Load(), Filtered: st.Filtered.Load(), Handled: -1}
	r.mu.Lock()
	p.ScanTime = r.scanned
	if !r.start.IsZero() {
		p.Elapsed = time.Since(r.start)
	}
	r.mu.Unlock()
	if len(r.workers) > 0 {
		p.Outcomes = map[apply.Outcome]int64{}
		for _, o := range worker.Outcomes {
			if worker.Done(o) {
				p.Outcomes[o] = r.counts.Get(o)
			}
		}
		p.Handled = r.counts.Handled()
	}
	p.Reapplied = r.counts.Noted(r.spec.Name, apply.Reapplied)
	return p
}

// Counters are this run's counts of ids and outcomes.
func (r *Job) Counters() map[string]int64 {
	p := r.progress()
	c := map[string]int64{"scanned": p.Scanned, "emitted": p.Emitted, "filtered": p.Filtered, "reemitted": r.reemitted.Load()}
	for o, n := range p.Outcomes {
		c[string(o)] = n
	}
	for _, n := range []apply.Note{apply.Conflict, apply.Reapplied} {
		c[string(n)] = r.counts.Noted(r.spec.Name, n)
	}
	return c
}

// labels are how a summary names outcomes whose names are not words.
var labels = map[apply.Outcome]string{apply.WouldDelete: "would delete", worker.DeadLettered: "dead-lettered"}

// Summary is the job's progress in a line, and a line of outcomes when
// they are known.
func (p Progress) Summary(name string) string {
	el := p.Elapsed
	s := fmt.Sprintf("job %s: %d/%d tasks done, scanned %d, emitted %d, filtered %d in %s (%.0f ids/s)",
		name, p.TasksDone, p.Tasks, p.Scanned, p.Emitted, p.Filtered, el.Round(time.Millisecond), float64(p.Scanned)/el.Seconds())
	if p.Outcomes != nil {
		s += "\n"
		for i, o := range worker.Outcomes {
			if !worker.Done(o) {
				continue
			}
			if i > 0 {
				s += ", "
			}
			s += fmt.Sprintf("%s %d", cmp.Or(labels[o], string(o)), p.Outcomes[o])
		}
	}
	if p.Reapplied > 0 {
		s += fmt.Sprintf(", reapplied %d", p.Reapplied)
	}
	return s
}

// Total is how many ids a job's scan has left, as known before it walks:
// the zero Total when it is not known.
type Total struct {
	IDs      int64
	Estimate bool // extrapolated from a sample, not counted
}

// CountSample is how many of a scan's unfinished partitions its Total is
// estimated from when the store is not in this process (Cassandra).
var CountSample = 64

// Total returns how many ids the job's scan has left: an id list's size,
// or the ids of the partitions not done yet, from their checkpoints,
// counted in the paging index of a store in this process (embedded) and
// estimated from CountSample of them elsewhere.
func (r *Job) Total(ctx context.Context) Total {
	switch s := r.src.(type) {
	case interface{ Size() int64 }:
		return Total{IDs: s.Size()}
	case *scan.Partitions:
		t, err := r.countLeft(ctx, s)
		if err != nil {
			r.log.Warn("progress is shown in partitions: the ids left could not be counted", "error", err)
		}
		return t
	}
	return Total{}
}

// countLeft counts or estimates the ids left in the partitions of s.
func (r *Job) countLeft(ctx context.Context, s *scan.Partitions) (Total, error) {
	tasks, err := s.Tasks(ctx)
	if err != nil {
		return Total{}, err
	}
	cps, err := r.env.Store.Checkpoints(ctx, r.spec.Name)
	if err != nil {
		return Total{}, err
	}
	from, done := map[string]string{}, map[string]bool{}
	for _, c := range cps {
		from[c.Task], done[c.Task] = c.Position, c.Done
	}
	left := slices.DeleteFunc(tasks, func(t string) bool { return done[t] })
	sample := CountSample
	if l, ok := r.env.Store.Store.(interface{ Local() bool }); ok && l.Local() {
		sample = 0
	}
	n, exact, err := s.Count(ctx, left, from, sample)
	return Total{IDs: n, Estimate: !exact}, err
}
