package run

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform/stock"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// ErrSpecChanged refuses to run a job under a name that ran another spec.
var ErrSpecChanged = errors.New("the job ran with another spec")

// checkSpec refuses a job whose name ran with a spec that does other
// work: its done tasks would be skipped, so the new spec would never be
// applied to them.
func (e *Env) checkSpec(ctx context.Context, j *job.Job, restart bool) error {
	rec, err := e.Store.Job(ctx, j.Name)
	if errors.Is(err, assets.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	was := "unreadable"
	old, err := job.Parse([]byte(rec.Spec))
	if err == nil {
		was = job.Fingerprint(old)
	}
	if t := j.Transform; err == nil && old.Transform.Name == t.Name && old.Transform.Version == t.Version && !reflect.DeepEqual(old.Transform, t) {
		return invalid(fmt.Errorf("transform %s v%d is not the one job %s applied before: every asset carrying %s v%d would be skipped, so the change would reach none of them: raise transform.version",
			t.Name, t.Version, j.Name, t.Name, t.Version))
	}
	if now := job.Fingerprint(j.Spec); was != now && !restart {
		return fmt.Errorf("%w: job %s ran with spec %s, this one is %s: give it a new name (or transform.version), or run it with --restart to forget its checkpoints and walk everything again",
			ErrSpecChanged, j.Name, was, now)
	}
	return nil
}

// checkTypes refuses a job naming an asset type the store never had
// written (a typo would scan nothing and succeed), naming the types it
// has, and a job walking a store that holds no asset at all: a mistyped
// data directory or keyspace, not a job done.
func (e *Env) checkTypes(ctx context.Context, j *job.Job) error {
	if j.Source.Kind != job.SourceCassandra {
		return nil
	}
	known, err := e.Store.Types(ctx)
	if err != nil {
		return err
	}
	if len(known) == 0 {
		return invalid(fmt.Errorf("source: the store holds no assets, so the job would walk nothing: check --data-dir (store.embedded.dir) or the Cassandra keyspace"))
	}
	for _, t := range j.Source.Types {
		if !slices.Contains(known, t) {
			return invalid(fmt.Errorf("source.types: unknown asset type %q; the store holds %s", t, strings.Join(known, ", ")))
		}
	}
	return nil
}

// ErrOverBudget fails a job that dead-lettered more than its budget.
var ErrOverBudget = errors.New("over the job's error budget")

// checkTransform refuses a job whose transform no processor could apply
// (apply.Which decides), and a reverse index on a store without one.
func (e *Env) checkTransform(j *job.Job) error {
	if j.Transform.Name == "reverse_index" {
		if _, ok := e.Store.Store.(assets.ReverseIndexer); !ok {
			return invalid(fmt.Errorf("transform reverse_index: %w", stock.ErrNoReverseIndex))
		}
	}
	if _, err := apply.Which(j, e.Transforms); err != nil {
		return invalid(err)
	}
	return nil
}

// overBudget says how the job's dead letters so far exceed its budget,
// with the first errors, or returns nil.
func (r *Job) overBudget(deadLetters, handled int64, firstErrors []string) error {
	msg := r.spec.Budget.Over(deadLetters, handled)
	if msg == "" {
		return nil
	}
	if len(firstErrors) > 0 {
		msg += "; first errors: " + strings.Join(firstErrors, "; ")
	}
	return fmt.Errorf("%w: %s", ErrOverBudget, msg)
}

// gone reports whether the process that last ran job name is known to be
// gone: the store is in this process, so no other can hold it, and this
// process does not run the job.
func (e *Env) gone(name string) bool {
	l, ok := e.Store.Store.(interface{ Local() bool })
	return ok && l.Local() && !control.RunsHere(name)
}

// countDead counts, for a job stopped over its budget (err), the dead
// letters that count (DeadLetters.judge): the processors' count can
// exceed them (an event dead-lettered twice) or trail them (letters
// still on their way at the stop). The budget's message then says that
// count, which the job's record keeps (setDead), as dlq list does.
func (r *Job) countDead(ctx context.Context, err error) error {
	es, lerr := r.env.DeadLetters().list(ctx, r.spec.Name)
	if lerr != nil {
		r.log.Warn("the dead letters could not be counted on the topic: the job keeps the processors' count", "error", lerr)
		return err
	}
	r.dead = 0
	for _, e := range es {
		if e.Superseded == "" && e.Version == r.spec.Transform.Version && e.Transform == r.spec.Transform.Name {
			r.dead++
		}
	}
	if over := r.overBudget(r.dead, r.counts.Handled(), r.counts.FirstErrors()); over != nil {
		return over
	}
	return fmt.Errorf("%w; %d dead letters count on the topic", err, r.dead)
}

// setDead sets the job's dlq counter to the dead letters that count.
func (r *Job) setDead(ctx context.Context) error {
	rec, err := r.env.Store.Job(ctx, r.spec.Name)
	if err != nil {
		return err
	}
	if d := r.dead - rec.Counters[string(worker.DeadLettered)]; d != 0 {
		return r.env.Store.AddJobCounters(ctx, r.spec.Name, map[string]int64{string(worker.DeadLettered): d})
	}
	return nil
}
