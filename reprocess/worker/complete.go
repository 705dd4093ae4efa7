package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
)

// LagFunc is how many events of the topic a consumer group has yet to
// commit (kafka.Cluster.Lag).
type LagFunc func(ctx context.Context, group string) (int64, error)

// OnSuccess is a job's on-success step (its transform's
// transform.Finisher), taken before the job is recorded succeeded; its
// error fails the job instead.
type OnSuccess func(ctx context.Context, j *job.Job) error

// Check is a job's completeness pass once its processors handled every
// event, round the number of passes that came before.
type Check func(ctx context.Context, j *job.Job, round int64) (Verdict, error)

// Verdict is what a completeness pass found: how many assets of the
// job's scope lack its result, whether it emitted their events once more
// (Again: the job then waits for them too), and, when it ends the job,
// Settle (nil: nothing), which the process that ends it runs at once
// after.
type Verdict struct {
	Missing int64
	Again   bool
	Settle  func(context.Context) error
}

// Complete ends job id once its scan is done (control.Applying) and the
// processors, wherever they run, have handled every event it emitted:
// lag (if not nil) says the transform's group has committed everything
// on the topic, which the job's events were all on before it became
// applying; without lag, their reported counts reach its emitted count.
// The counts alone can mislead either way: a killed processor's last
// ones are lost, and events it handled but did not commit count again
// when a survivor handles them, possibly long after (once the group
// sees it gone), so they reach the emitted count with events still out. It ends succeeded,
// or failed when its dead letters are over its budget. Every process
// calls it after adding its counts to the job's record, the scan's last
// included, so whichever adds the last ones ends the job. It reports
// whether it did; a job in any other state is left as it is. A job that
// would succeed takes its completeness pass, check (nil: none), first:
// what it emitted again keeps the job applying, and what still lacks the
// result after it ends the job incomplete; then onSuccess (nil: none).
func Complete(ctx context.Context, s assets.JobStore, id string, lag LagFunc, check Check, onSuccess OnSuccess) (bool, error) {
	rec, err := s.Job(ctx, id)
	if errors.Is(err, assets.ErrNotFound) {
		return false, nil
	}
	if err != nil || rec.Status != control.Applying {
		return false, err
	}
	spec, err := job.Parse([]byte(rec.Spec))
	if err != nil {
		return false, err
	}
	handled := HandledIn(rec.Counters)
	if lag != nil {
		if n, err := lag(ctx, events.Group(spec.Transform.Name, spec.Transform.Version)); err != nil || n > 0 {
			return false, err
		}
	} else if handled < rec.Counters["emitted"] {
		return false, nil
	}
	to, edit := control.Succeeded, func(*assets.Job) {}
	over := spec.Budget.Over(rec.Counters[string(DeadLettered)], handled)
	var v Verdict
	if over == "" && check != nil {
		j, err := job.Compile(spec)
		if err != nil {
			return false, err
		}
		v, err = check(ctx, j, rec.Counters["complete_rounds"])
		switch {
		case err != nil:
			return false, err
		case v.Again:
			return false, nil
		case v.Missing > 0:
			to, edit = control.Incomplete, func(j *assets.Job) {
				j.Error = fmt.Sprintf("%d assets in its scope lack its result (list them: reprocess job missing %s)", v.Missing, id)
			}
		}
	}
	if over != "" {
		to, edit = control.Failed, func(j *assets.Job) { j.Error = "over its error budget: " + over }
	} else if to == control.Succeeded {
		if ferr := finish(ctx, spec, onSuccess); ferr != nil {
			to, edit = control.Failed, func(j *assets.Job) { j.Error = ferr.Error() }
		}
	}
	_, err = control.Transition(ctx, s, id, to, edit)
	if errors.Is(err, control.ErrTransition) { // another process ended it first
		return false, nil
	}
	if err == nil && v.Settle != nil && to != control.Failed { // once, by the process that ended it, even if it is stopping
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err = v.Settle(sctx)
	}
	return err == nil, err
}

// finish takes the on-success step of the job spec describes.
func finish(ctx context.Context, spec job.Spec, onSuccess OnSuccess) error {
	if onSuccess == nil {
		return nil
	}
	j, err := job.Compile(spec)
	if err != nil {
		return err
	}
	return onSuccess(ctx, j)
}
