package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// completeRounds is how many times the completeness pass emits again the
// assets it finds lacking the job's result before it counts them lacking.
const completeRounds = 3

// dryRun reports whether j is a dry-run delete, which leaves no result in
// the store for a completeness pass to check.
func dryRun(j *job.Job) bool { return j.Transform.Name == "delete" && !j.Transform.Deletes() }

// IncompleteError ends a job whose completeness pass still found assets
// in its scope without its result: the job is incomplete, not succeeded.
type IncompleteError struct {
	Job     string
	Missing int64
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("job %s is incomplete: %d assets in its scope lack its result (list them: reprocess job missing %s)", e.Job, e.Missing, e.Job)
}

// complete is the completeness pass that ends a job whose events this
// run follows: the store, not a counter, judges whether it is done. It
// walks the job's scope as the scan does, finds the assets that lack the
// transform's marker at the job's version (or, deleting, that still
// exist), leaves out those dead-lettered (counted as such), emits the
// others again and waits until they are handled, at most completeRounds
// times; what a last walk still finds is an *IncompleteError.
// The last walk's verdict settles the job's ledger when the run ends
// (settle).
func (r *Job) complete(ctx, workers context.Context) error {
	j := r.spec
	if dryRun(j) {
		r.log.Info("completeness pass skipped: a dry-run delete leaves no result in the store to check")
		return nil
	}
	for round := 1; ; round++ {
		v, err := r.env.lacking(ctx, j, r.scan)
		if err != nil {
			return err
		}
		r.log.Info("completeness pass", "round", round, "checked", v.Checked, "lacking", len(v.lacking), "dead_lettered", v.dead)
		if len(v.lacking) == 0 || round > completeRounds {
			r.verdict = &v
		}
		if len(v.lacking) == 0 {
			return nil
		}
		if round > completeRounds {
			return &IncompleteError{Job: j.Name, Missing: int64(len(v.lacking))}
		}
		n, err := r.scan.Reemit(ctx, v.lacking)
		r.reemitted.Add(int64(n))
		if err != nil {
			return err
		}
		if r.async {
			if err := r.drain(ctx, workers); err != nil {
				return err
			}
		}
	}
}

// checkApplying is the completeness pass of an async job that processors
// elsewhere end (worker.Complete): what lacks the result is published
// again and counted as emitted, so the job stays applying until it is
// handled too; after completeRounds such rounds what still lacks it is
// missing. A job whose scope cannot be walked again (an id list read
// from standard input) is not checked, with a warning.
func (e *Env) checkApplying(ctx context.Context, j *job.Job, round int64) (worker.Verdict, error) {
	log := e.Log.With("job", j.Name)
	if dryRun(j) {
		return worker.Verdict{}, nil
	}
	if j.Source.Kind == job.SourceIDs && j.Source.File == "-" {
		log.Warn("completeness pass skipped: the job's ids came from standard input, which cannot be read again")
		return worker.Verdict{}, nil
	}
	src, err := e.Source(ctx, j, nil)
	if err != nil {
		return worker.Verdict{}, fmt.Errorf("completeness pass: %w", err)
	}
	pub, err := e.Kafka.NewPublisher("reprocess/complete/" + j.Name)
	if err != nil {
		return worker.Verdict{}, err
	}
	defer pub.Close()
	sc := e.passScanner(j, src, pub)
	v, err := e.lacking(ctx, j, sc)
	if err != nil {
		return worker.Verdict{}, err
	}
	log.Info("completeness pass", "round", round+1, "checked", v.Checked, "lacking", len(v.lacking), "dead_lettered", v.dead)
	n := int64(len(v.lacking))
	if n == 0 || round >= int64(completeRounds) {
		settle, err := e.settlement(ctx, j, v, true)
		return worker.Verdict{Missing: n, Settle: settle}, err
	}
	// Counted before they are sent: a processor reporting them handled
	// must find them emitted, or no report after it ends the job.
	count := func(k int64) map[string]int64 {
		return map[string]int64{"scanned": k, "emitted": k, "reemitted": k}
	}
	c := count(n)
	c["complete_rounds"] = 1
	if err := e.Store.AddJobCounters(ctx, j.Name, c); err != nil {
		return worker.Verdict{}, err
	}
	sent, err := sc.Reemit(ctx, v.lacking)
	if int64(sent) < n { // what was not sent is not counted
		return worker.Verdict{}, errors.Join(err, e.Store.AddJobCounters(ctx, j.Name, count(int64(sent)-n)))
	}
	return worker.Verdict{Missing: n, Again: true}, nil
}

// settlement is what settles job j's ledger to what the completeness
// pass's last walk found in the store, in assets: scanned (those read,
// and those named but gone), filtered, emitted (the rest), and, of those
// emitted, missing (gone), dead-lettered, lacking the result, and
// carrying it: applied as far as the processors reported (at most
// those), skipped the rest. The counts processors report are at least
// once: a process killed before its report loses some, an event handled
// twice counts twice; the store's are exact. It reads the record now and
// returns the corrections, for the process that ends the job to make
// (nothing for a deleting job, which keeps its reported counts). With
// processors elsewhere (remote), it first lets their last reports in:
// their group's lag reaches zero up to a report interval before their
// counts arrive, and events sent again by a scanner that took over a
// killed one's task arrive later still; it reads until a report interval
// and a half passes with no count moving (five at most).
func (e *Env) settlement(ctx context.Context, j *job.Job, v verdict, remote bool) (settle func(context.Context) error, err error) {
	if j.Transform.Deletes() {
		return func(context.Context) error { return nil }, nil
	}
	rec, err := e.Store.Job(ctx, j.Name)
	for i := 0; remote && err == nil && i < 5; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(worker.ReportEvery * 3 / 2):
		}
		was := rec.Counters
		if rec, err = e.Store.Job(ctx, j.Name); err == nil && maps.Equal(was, rec.Counters) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("settle the ledger: %w", err)
	}
	applied := min(rec.Counters["applied"], v.Done)
	want := map[string]int64{"scanned": v.Checked + v.Gone, "filtered": v.Filtered, "emitted": v.Checked - v.Filtered + v.Gone,
		"applied": applied, "skipped": v.Done - applied, string(worker.DeadLettered): v.dead, "missing": v.Gone}
	deltas := map[string]int64{}
	for k, n := range want {
		if d := n - rec.Counters[k]; d != 0 {
			deltas[k] = d
		}
	}
	return func(ctx context.Context) error {
		if len(deltas) > 0 {
			e.Log.Info("ledger settled by the store: the processors' reports were off", "job", j.Name, "by", deltas)
		}
		return errors.Join(e.Store.AddJobCounters(ctx, j.Name, deltas),
			e.Store.SetJobCounters(ctx, j.Name, map[string]int64{"lacking": int64(len(v.lacking))}))
	}, nil
}

// passScanner walks j's scope for a completeness pass outside the job's
// run, paced by passLimiter; emit (may be nil) sends what it re-emits.
func (e *Env) passScanner(j *job.Job, src scan.Source, emit scan.Emitter) *scan.Scanner {
	return scan.New(scan.Config{Job: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version,
		Concurrency: j.Source.Concurrency, Filter: j.Filter, Limiter: passLimiter(j.Rate), Store: e.Store, Log: e.Log}, src, emit)
}

// passLimiter paces a completeness pass run outside the job's run, where
// no latency signal governs it: at the job's rate limit or, for an
// adaptive rate, at its floor.
func passLimiter(rate throttle.Config) *throttle.Limiter {
	cfg := throttle.Config{Limit: rate.Limit}
	if rate.Adaptive {
		cfg.Limit = cmp.Or(rate.Min, rate.Limit/20)
	}
	return throttle.NewLimiter(cfg, time.Second)
}

// drain waits until the events emitted (after the scan, or again by a
// completeness pass) were handled: this run's count of handled events
// reaches its emitted count, and the transform's group, read now, has
// nothing left on the topic (the count may rest on a lag read before the
// last events were sent; events of an earlier run queued before them
// count in the second, not in the first).
func (r *Job) drain(ctx, workers context.Context) error {
	group := events.Group(r.spec.Transform.Name, r.spec.Transform.Version)
	for {
		if err := r.follow(ctx, workers); err != nil {
			return err
		}
		if lag, err := r.env.Kafka.Lag(ctx, group); err == nil && lag == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-workers.Done():
			return r.follow(ctx, workers)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// verdict is what a completeness pass found: the walk's tally, the
// assets lacking the job's result that were not dead-lettered, and how
// many lacking ones were.
type verdict struct {
	scan.Tally
	lacking []scan.Item
	dead    int64
}

// lacking walks j's scope with sc (Scanner.Lacking) for the assets
// without j's result: the transform's marker at j's version; for a
// deleting job, any that still exists.
func (e *Env) lacking(ctx context.Context, j *job.Job, sc *scan.Scanner) (v verdict, err error) {
	dead, err := e.deadLettered(ctx, j)
	if err != nil {
		return v, err
	}
	done := func(a assets.Asset) bool {
		return !j.Transform.Deletes() && a.Transforms[j.Transform.Name] >= j.Transform.Version
	}
	v.Tally, err = sc.Lacking(ctx, done, func(items []scan.Item) error {
		for _, it := range items {
			if dead[it.ID] {
				v.dead++
			} else {
				v.lacking = append(v.lacking, it)
			}
		}
		return nil
	})
	return v, err
}

// deadLettered is the set of assets whose events of j, at its transform
// version, are on the dead-letter topic. A broker that cannot be read is
// waited for, until ctx ends.
func (e *Env) deadLettered(ctx context.Context, j *job.Job) (map[assets.ID]bool, error) {
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		dead := map[assets.ID]bool{}
		err := e.Kafka.ReadAll(ctx, e.Kafka.DLQTopic(), func(m events.Message) error {
			if ev, err := events.Decode(m.Value); err == nil && ev.JobID == j.Name && ev.Transform == j.Transform.Name && ev.Version == j.Transform.Version {
				dead[ev.AssetID] = true
			}
			return nil
		})
		if err == nil {
			return dead, nil
		}
		e.Log.Warn("completeness pass: waiting for Kafka to read the dead letters", "job", j.Name, "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("completeness pass: read the dead letters: %w", errors.Join(err, ctx.Err()))
		case <-time.After(wait):
		}
	}
}

// Missing is what a completeness pass of job id finds now: the assets in
// its scope without its result, dead letters aside (the first limit of
// them; all if limit is 0), how many there are, and how many it checked.
func (e *Env) Missing(ctx context.Context, id string, limit int) (ids []assets.ID, n, checked int64, err error) {
	rec, err := e.Store.Job(ctx, id)
	if err != nil {
		return nil, 0, 0, err
	}
	j, err := job.Read([]byte(rec.Spec))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("job %s: its spec: %w", id, err)
	}
	if dryRun(j) {
		return nil, 0, 0, fmt.Errorf("job %s is a dry-run delete: it leaves no result in the store to check", id)
	}
	src, err := e.Source(ctx, j, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	sc := e.passScanner(j, src, nil)
	v, err := e.lacking(ctx, j, sc)
	if err != nil {
		return nil, 0, 0, err
	}
	for _, it := range v.lacking {
		if limit > 0 && len(ids) == limit {
			break
		}
		ids = append(ids, it.ID)
	}
	return ids, int64(len(v.lacking)), v.Checked, nil
}

// isIncomplete reports whether err ends the job incomplete.
func isIncomplete(err error) bool {
	var ie *IncompleteError
	return errors.As(err, &ie)
}
