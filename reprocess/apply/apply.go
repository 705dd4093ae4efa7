// Package apply is the processor's core: one event in, one asset handled.
//
// Handle loads the asset, skips it when the transform is already applied at
// this version or newer (so a redelivered event is a no-op), runs the
// transform, and writes only the cells it owns: its facts and
// transforms[name] = version, in one write, never the whole row. A
// transform that reads fields production may change is written with a
// conditional update on the asset's version; on a conflict the asset is
// read again and the transform re-applied, a bounded number of times.
//
// Policy retries what may pass on a retry, with exponential backoff and
// jitter; Retryable is the one place that decides. What cannot pass goes
// to the dead-letter topic (see events/kafka), and the partition moves on.
package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Outcome is what handling an event did.
type Outcome string

// Outcomes.
const (
	Applied     Outcome = "applied"      // transform written
	Skipped     Outcome = "skipped"      // already at this version or newer
	Missing     Outcome = "missing"      // the asset no longer exists
	Deleted     Outcome = "deleted"      // the delete transform removed it
	WouldDelete Outcome = "would_delete" // delete in dry-run
	Failed      Outcome = "failed"       // error; see Retryable
)

// Resolver finds the transform an event names.
type Resolver interface {
	Resolve(ctx context.Context, ev events.Reprocess) (transform.Transform, error)
}

// DryRunner is implemented by transforms that only report what they would
// do (the delete transform by default).
type DryRunner interface {
	DryRun() bool
}

// ErrConflict means production kept changing the asset under a
// conditional write; it is retryable.
var ErrConflict = errors.New("apply: version conflict persisted")

// Handler applies transforms to assets. It is safe for concurrent use, but
// events of one asset must be handled in order (Kafka's per-key order).
type Handler struct {
	Store      assets.Store
	Transforms Resolver
	// Conflicts bounds re-reads after a conditional write lost (default 5).
	Conflicts int
	Log       *slog.Logger
}

// Handle applies ev's transform to ev's asset.
func (h *Handler) Handle(ctx context.Context, ev events.Reprocess) (Outcome, error) {
	t, err := h.Transforms.Resolve(ctx, ev)
	if err != nil {
		return Failed, err
	}
	guarded := false
	if rp, ok := t.(transform.ReadsProduction); ok {
		guarded = rp.ReadsProduction()
	}
	conflicts := h.Conflicts
	if conflicts < 1 {
		conflicts = 5
	}
	for range conflicts {
		a, err := h.Store.Get(ctx, ev.AssetID)
		if errors.Is(err, assets.ErrNotFound) {
			return Missing, nil
		}
		if err != nil {
			return Failed, err
		}
		if a.Transforms[ev.Transform] >= ev.Version {
			return Skipped, nil
		}
		res, err := t.Apply(ctx, a)
		if err != nil {
			return Failed, fmt.Errorf("transform %s v%d on asset %s: %w", ev.Transform, ev.Version, ev.AssetID, err)
		}
		if res.Delete {
			if dr, ok := t.(DryRunner); ok && dr.DryRun() {
				return WouldDelete, nil
			}
			if err := h.Store.Delete(ctx, a.ID); err != nil {
				return Failed, err
			}
			return Deleted, nil
		}
		u := assets.Update{Facts: res.Facts, Transforms: map[string]int{ev.Transform: ev.Version}}
		if !guarded {
			if err := h.Store.Update(ctx, a.ID, u); err != nil {
				return Failed, err
			}
			return Applied, nil
		}
		ok, err := h.Store.UpdateIf(ctx, a.ID, a.Version, u)
		if errors.Is(err, assets.ErrNotFound) {
			return Missing, nil
		}
		if err != nil {
			return Failed, err
		}
		if ok {
			return Applied, nil
		}
		// Production wrote in between: read again, apply again.
	}
	return Failed, fmt.Errorf("asset %s: %w after %d attempts", ev.AssetID, ErrConflict, conflicts)
}

// Retryable reports whether err may pass on a retry: everything except
// permanent transform errors and events that name no known transform.
func Retryable(err error) bool {
	return err != nil && !errors.Is(err, transform.ErrPermanent) && !errors.Is(err, ErrUnknownTransform) &&
		!errors.Is(err, context.Canceled)
}

// ErrUnknownTransform is returned for an event whose transform is neither
// registered nor declared by its job.
var ErrUnknownTransform = errors.New("apply: unknown transform")

// Policy is the retry policy for one event.
type Policy struct {
	Attempts int           // total tries, at least 1
	Base     time.Duration // first backoff
	Max      time.Duration // backoff ceiling
}

// DefaultPolicy tries five times over about three seconds.
var DefaultPolicy = Policy{Attempts: 5, Base: 100 * time.Millisecond, Max: 2 * time.Second}

// Do calls fn until it succeeds, fails for good, or the attempts run out,
// sleeping base*2^n with full jitter between tries. A store that cannot be
// reached (assets.ErrUnavailable) is waited out: those tries do not count
// against the attempts, so an outage holds the event instead of
// dead-lettering it. It returns the last outcome and error and how many
// tries it took.
func (p Policy) Do(ctx context.Context, fn func() (Outcome, error)) (Outcome, int, error) {
	attempts := max(1, p.Attempts)
	counted := 0
	for try := 1; ; try++ {
		out, err := fn()
		if !errors.Is(err, assets.ErrUnavailable) {
			counted++
		}
		if err == nil || !Retryable(err) || counted >= attempts {
			return out, try, err
		}
		backoff := min(p.Max, p.Base<<min(try-1, 30))
		select {
		case <-ctx.Done():
			return Failed, try, errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(rand.Int64N(int64(backoff) + 1))):
		}
	}
}
