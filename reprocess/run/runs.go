package run

import (
	"context"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/control"
)

// Abandoned is the status of a run whose process ended without recording
// how (killed): set when the job runs again.
const Abandoned = "abandoned"

// beginRun records this process's run of the job in the job's history:
// the next number, what runs it, when it started; an earlier run left
// running by a killed process becomes abandoned.
func (r *Job) beginRun(ctx context.Context) error {
	runs, err := r.env.Store.Runs(ctx, r.spec.Name)
	if err != nil {
		return err
	}
	n := 1
	if len(runs) > 0 {
		n = runs[len(runs)-1].N + 1
	}
	for _, old := range runs {
		if old.Status != control.Running {
			continue
		}
		// Its process died without recording an end (kill -9): running
		// again, the job is no longer in its hands.
		old.Status = Abandoned
		if err := r.env.Store.SaveRun(ctx, old); err != nil {
			return err
		}
	}
	owner := r.opts.Owner
	if owner == "" {
		owner = "run"
	}
	r.run = assets.Run{Job: r.spec.Name, N: n, Owner: owner, Status: control.Running, StartedAt: time.Now().UTC()}
	return r.env.Store.SaveRun(ctx, r.run)
}

// endRun records how this process's run ended: the job's state after it,
// and this run's own counts.
func (r *Job) endRun(ctx context.Context) {
	rec, err := r.env.Store.Job(ctx, r.spec.Name)
	if err != nil {
		r.log.Warn("record the run's end: read the job", "error", err)
		return
	}
	r.run.Status, r.run.EndedAt, r.run.Counters = rec.Status, time.Now().UTC(), r.Counters()
	if err := r.env.Store.SaveRun(ctx, r.run); err != nil {
		r.log.Warn("record the run's end", "error", err)
	}
}
