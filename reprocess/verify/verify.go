// Package verify is the end-of-job pass that no fact outlives the input it
// was derived from. A transform that reads production records with its
// facts a digest of the metadata it read (see reprocess/apply); a plain
// production write racing the processor's conditional write can still
// leave facts computed from the value it replaced. After a job's
// processors finished, Pass walks the job's scope again against the store
// (no Kafka), re-applies, guarded, every asset that carries the job's
// transform marker over inputs other than the recorded ones, and walks
// again while a round still found some (a few times: production may keep
// changing inputs for as long as it runs).
package verify

import (
	"context"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// Pass is one job's verification.
type Pass struct {
	Source  scan.Source    // the job's scope
	Handler *apply.Handler // re-applies; its Noter counts what it did
	// Event names the job, transform and version; AssetID is set per asset.
	Event       events.Reprocess
	Policy      apply.Policy // retries of one asset; zero: apply.DefaultPolicy
	Concurrency int          // tasks walked at once (default 1)
	Rounds      int          // walks at most (default 3)
}

// Run walks the scope until a round re-applies nothing, at most Rounds
// times, and returns how many re-applications it made. Production may
// keep rewriting inputs faster than a walk: changing is then what the
// last round still re-applied, each fact as of the input in force when
// the round reached it (0 when the pass converged).
func (p *Pass) Run(ctx context.Context) (reapplied, changing int64, err error) {
	rounds := p.Rounds
	if rounds < 1 {
		rounds = 3
	}
	for range rounds {
		n, err := p.round(ctx)
		reapplied += n
		if err != nil || n == 0 {
			return reapplied, 0, err
		}
		changing = n
	}
	return reapplied, changing, nil
}

// round walks every task once and re-applies what is stale.
func (p *Pass) round(ctx context.Context) (int64, error) {
	tasks, err := p.Source.Tasks(ctx)
	if err != nil {
		return 0, fmt.Errorf("verify: list tasks: %w", err)
	}
	policy := p.Policy
	if policy.Attempts == 0 {
		policy = apply.DefaultPolicy
	}
	var n atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, p.Concurrency))
	// walk walks a task, then the parts it splits into (a wide partition).
	var walk func(task string) error
	walk = func(task string) error {
		var parts []string
		err := p.Source.Walk(ctx, task, "", func(b scan.Batch) error {
			parts = b.Split
			for _, it := range b.Items {
				ev := p.Event
				ev.AssetID = it.ID
				did := false
				_, _, err := policy.Do(ctx, func() (apply.Outcome, error) {
					var err error
					did, err = p.Handler.Refresh(ctx, ev)
					return apply.Applied, err
				})
				if err != nil {
					return fmt.Errorf("verify asset %s: %w", it.ID, err)
				}
				if did {
					n.Add(1)
				}
			}
			return nil
		})
		for _, part := range parts {
			if err != nil {
				break
			}
			err = walk(task + assets.SubtaskMark + part)
		}
		return err
	}
	for _, task := range tasks {
		g.Go(func() error { return walk(task) })
	}
	err = g.Wait()
	return n.Load(), err
}
