package run

import (
	"context"
	"errors"

	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/verify"
)

// verify runs the end-of-job pass (reprocess/verify) for a transform that
// reads production, once the job's events are known to be handled: in
// sync mode, or async with in-process or followed processors. What it
// re-applies is counted in the job's "reapplied" counter.
func (r *Job) verify(ctx context.Context) error {
	if r.async && !r.opts.Follow && len(r.workers) == 0 {
		return nil
	}
	j := r.spec
	ev := events.Reprocess{JobID: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version}
	res := &apply.Resolve{Registry: r.env.Transforms, Jobs: r.env.Store}
	t, err := res.Resolve(ctx, ev)
	if errors.Is(err, apply.ErrUnknownTransform) { // a stock transform: reads no production field
		return nil
	}
	if err != nil || !transform.Tracked(t) {
		return err
	}
	p := &verify.Pass{Source: r.src, Event: ev, Concurrency: j.Source.Concurrency,
		Handler: &apply.Handler{Store: r.env.Store, Transforms: res, Notes: &r.counts, Log: r.log}}
	n, changing, err := p.Run(ctx)
	r.log.Info("verification pass", "reapplied", n, "error", err)
	if changing > 0 {
		r.log.Warn("production kept changing inputs during the verification pass: the last round re-applied their facts as of its visit",
			"assets", changing)
	}
	return err
}
