// Package apply is the processor's core: one event in, one asset handled.
//
// Handle loads the asset, skips it when the transform is already applied at
// this version or newer (so a redelivered event is a no-op), runs the
// transform, and writes only the cells it owns: its facts and
// transforms[name] = version, in one write, never the whole row.
//
// A transform that reads fields production may change
// (transform.Tracked) is guarded three ways. Its write is conditional on
// the asset's version; on a conflict the asset is read again and the
// transform re-applied. The write also records, in the reserved fact
// "<transform>.src" (transform.SourceKey), a digest of the metadata the
// transform read (transform.InputDigest): a CEL transform's referenced
// keys, a Go transform's declared Inputs, else all metadata. And after
// the write the asset is read again: if its metadata no longer matches
// the digest (a plain production write the conditional write could not
// see, since a Cassandra lightweight transaction does not serialise
// against ordinary writes), the transform is applied again, guarded. An
// event finding the marker set over stale inputs re-applies too, and
// Refresh does the same for the end-of-job pass (reprocess/verify).
// Conflicts and re-applications are told to a Noter; all of it is
// bounded by Handler.Conflicts, beyond which Handle fails with
// ErrConflict, which is retried.
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
	"maps"
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

// Note is a guard event a Noter is told of.
type Note string

// Notes.
const (
	Conflict  Note = "conflicts" // a conditional write lost to production
	Reapplied Note = "reapplied" // a fact applied again: its inputs had changed
)

// Noter counts guard events per job; it must be safe for concurrent use.
type Noter interface {
	Note(job string, n Note)
}

// Handler applies transforms to assets. It is safe for concurrent use, but
// events of one asset must be handled in order (Kafka's per-key order).
type Handler struct {
	Store      assets.Store
	Transforms Resolver
	// Conflicts bounds the writes of one event that lose to production or
	// find their inputs changed (default 5).
	Conflicts int
	Notes     Noter // nil: guard events are not counted
	Log       *slog.Logger
}

// Handle applies ev's transform to ev's asset.
func (h *Handler) Handle(ctx context.Context, ev events.Reprocess) (Outcome, error) {
	t, err := h.Transforms.Resolve(ctx, ev)
	if err != nil {
		return Failed, err
	}
	for range h.bound() {
		a, err := h.Store.Get(ctx, ev.AssetID)
		if errors.Is(err, assets.ErrNotFound) {
			return Missing, nil
		}
		if err != nil {
			return Failed, err
		}
		if a.Transforms[ev.Transform] >= ev.Version {
			if a.Transforms[ev.Transform] == ev.Version && Stale(t, a) {
				return h.refresh(ctx, t, ev)
			}
			return Skipped, nil
		}
		out, err := h.write(ctx, t, ev, a)
		if out == Applied && transform.Tracked(t) {
			return h.refresh(ctx, t, ev)
		}
		if out != Failed || err != nil {
			return out, err
		}
		h.note(ev, Conflict) // production wrote in between: read again
	}
	return Failed, h.conflictErr(ev)
}

// Refresh re-applies ev's transform to ev's asset if the asset carries
// the transform's marker at ev's version but its recorded inputs are not
// its current metadata (Stale). It reports whether it wrote.
func (h *Handler) Refresh(ctx context.Context, ev events.Reprocess) (bool, error) {
	t, err := h.Transforms.Resolve(ctx, ev)
	if err != nil {
		return false, err
	}
	a, err := h.Store.Get(ctx, ev.AssetID)
	if errors.Is(err, assets.ErrNotFound) {
		return false, nil
	}
	if err != nil || a.Transforms[ev.Transform] != ev.Version || !Stale(t, a) {
		return false, err
	}
	out, err := h.refresh(ctx, t, ev)
	return out == Applied, err
}

// Stale reports whether a tracked transform's facts on a were derived
// from other metadata than a's: the digest recorded with them (none, for
// facts written before digests were) differs from a's current inputs.
func Stale(t transform.Transform, a assets.Asset) bool {
	return transform.Tracked(t) && a.Facts[transform.SourceKey(t.Name())] != transform.InputDigest(t, a.Metadata)
}

// refresh re-reads the asset after a tracked write and applies the
// transform again, guarded, while its inputs changed under the write.
func (h *Handler) refresh(ctx context.Context, t transform.Transform, ev events.Reprocess) (Outcome, error) {
	for range h.bound() {
		a, err := h.Store.Get(ctx, ev.AssetID)
		if errors.Is(err, assets.ErrNotFound) {
			return Missing, nil
		}
		if err != nil {
			return Failed, err
		}
		if a.Transforms[ev.Transform] != ev.Version || !Stale(t, a) {
			return Applied, nil
		}
		out, err := h.write(ctx, t, ev, a)
		switch {
		case out == Applied:
			h.note(ev, Reapplied)
		case out == Failed && err == nil:
			h.note(ev, Conflict)
		default:
			return out, err
		}
	}
	return Failed, h.conflictErr(ev)
}

// write runs the transform on a and writes its cells: Failed with no
// error is a conditional write that lost.
func (h *Handler) write(ctx context.Context, t transform.Transform, ev events.Reprocess, a assets.Asset) (Outcome, error) {
	u, del, err := cells(ctx, t, ev, a)
	if err != nil {
		return Failed, err
	}
	if del {
		return h.delete(ctx, t, a.ID)
	}
	if !transform.Tracked(t) {
		if err := h.Store.Update(ctx, a.ID, u); err != nil {
			return Failed, err
		}
		return Applied, nil
	}
	ok, err := h.Store.UpdateIf(ctx, a.ID, a.Version, u)
	switch {
	case errors.Is(err, assets.ErrNotFound):
		return Missing, nil
	case err != nil:
		return Failed, err
	case !ok:
		return Failed, nil
	}
	return Applied, nil
}

// cells runs the transform on a and returns the cells its write sets:
// its facts (with a tracked transform's inputs' digest) and its marker;
// del means the transform deletes a instead.
func cells(ctx context.Context, t transform.Transform, ev events.Reprocess, a assets.Asset) (u assets.Update, del bool, err error) {
	res, err := t.Apply(ctx, a)
	if err != nil {
		return u, false, fmt.Errorf("transform %s v%d on asset %s: %w", ev.Transform, ev.Version, ev.AssetID, err)
	}
	if res.Delete {
		return u, true, nil
	}
	u = assets.Update{Facts: res.Facts, Transforms: map[string]int{ev.Transform: ev.Version}}
	if !transform.Tracked(t) {
		return u, false, nil
	}
	src := transform.SourceKey(ev.Transform)
	if _, ok := res.Facts[src]; ok {
		return u, false, transform.Permanent(fmt.Errorf("transform %s writes fact %s, which is reserved for its inputs' digest", ev.Transform, src))
	}
	u.Facts = maps.Clone(res.Facts)
	if u.Facts == nil {
		u.Facts = map[string]string{}
	}
	u.Facts[src] = transform.InputDigest(t, a.Metadata)
	return u, false, nil
}

// Preview is what Handle would do to a for ev, computed with the real
// transform and written nowhere: Skipped (the marker is at ev's version
// or newer and its inputs are current), Applied with the update it would
// write, Deleted or WouldDelete (a delete's dry run), or Failed with the
// transform's error. t must have no side effects of its own (reindex and
// export write when applied).
func Preview(ctx context.Context, t transform.Transform, ev events.Reprocess, a assets.Asset) (Outcome, assets.Update, error) {
	if m := a.Transforms[ev.Transform]; m > ev.Version || (m == ev.Version && !Stale(t, a)) {
		return Skipped, assets.Update{}, nil
	}
	u, del, err := cells(ctx, t, ev, a)
	switch {
	case err != nil:
		return Failed, u, err
	case !del:
		return Applied, u, nil
	}
	if dr, ok := t.(DryRunner); ok && dr.DryRun() {
		return WouldDelete, u, nil
	}
	return Deleted, u, nil
}

func (h *Handler) delete(ctx context.Context, t transform.Transform, id assets.ID) (Outcome, error) {
	if dr, ok := t.(DryRunner); ok && dr.DryRun() {
		return WouldDelete, nil
	}
	if err := h.Store.Delete(ctx, id); err != nil {
		return Failed, err
	}
	return Deleted, nil
}

func (h *Handler) bound() int {
	if h.Conflicts < 1 {
		return 5
	}
	return h.Conflicts
}

func (h *Handler) note(ev events.Reprocess, n Note) {
	if h.Notes != nil {
		h.Notes.Note(ev.JobID, n)
	}
}

func (h *Handler) conflictErr(ev events.Reprocess) error {
	return fmt.Errorf("asset %s: %w after %d attempts", ev.AssetID, ErrConflict, h.bound())
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
