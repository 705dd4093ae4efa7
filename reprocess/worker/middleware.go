package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

// Delivery is one event on its way through the chain.
type Delivery struct {
	// Message is the event as read from Kafka; empty for an event handed
	// over in sync mode.
	Message events.Message
	// Event is the decoded event (set by Decode, or given in sync mode).
	Event events.Reprocess
	// Attempts is how many times Retry tried the event.
	Attempts int
	// Err is why the event was dead-lettered.
	Err error
}

// Handler handles one delivery and says what came of it. An error means
// the event was neither handled nor dead-lettered.
type Handler func(ctx context.Context, d *Delivery) (apply.Outcome, error)

// Middleware wraps a Handler with one concern.
type Middleware func(Handler) Handler

// Chain wraps h in mws; the first middleware is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Apply is the innermost handler: the event applied to its asset.
func Apply(h *apply.Handler) Handler {
	return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
		return h.Handle(ctx, d.Event)
	}
}

// Decode decodes the delivery's message into its event; a message that is
// not a valid event fails for good. A delivery without a message (sync
// mode) carries its event already.
func Decode() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
			if d.Message.Value == nil {
				return next(ctx, d)
			}
			ev, err := events.Decode(d.Message.Value)
			if err != nil {
				return apply.Failed, err
			}
			d.Event = ev
			return next(ctx, d)
		}
	}
}

// Ignored is the outcome of events of other transforms.
const Ignored apply.Outcome = "ignored"

// Only passes on the events of one transform version and ignores the
// rest; with no transform it passes on every event.
func Only(transform string, version int) Middleware {
	return func(next Handler) Handler {
		if transform == "" {
			return next
		}
		return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
			if d.Event.Transform != transform || d.Event.Version != version {
				return Ignored, nil
			}
			return next(ctx, d)
		}
	}
}

// Pace holds each event to its share of its job's rate, as p reads it
// (once per event, not per retry); with p nil it passes events on at
// once. Stopping (ctx done) while waiting is returned as the error, so the
// message stays uncommitted.
func Pace(p *throttle.Pacer) Middleware {
	return func(next Handler) Handler {
		if p == nil {
			return next
		}
		return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
			if err := p.Wait(ctx, d.Event.JobID); err != nil {
				<-ctx.Done() // a wait past ctx's deadline: wait for it
				return apply.Failed, ctx.Err()
			}
			return next(ctx, d)
		}
	}
}

// Retry repeats what may pass on a retry, as the policy says, and records
// the tries on the delivery.
func Retry(p apply.Policy) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
			out, tries, err := p.Do(ctx, func() (apply.Outcome, error) { return next(ctx, d) })
			d.Attempts = tries
			return out, err
		}
	}
}

// DeadLettered is the outcome of events sent to the dead-letter topic.
const DeadLettered apply.Outcome = "dlq"

// DeadLetter sends an event that failed for good to dlq, with the error
// and the tries, and reports it handled. While shutting down (ctx done)
// the error is returned instead, so the message stays uncommitted. The
// first few dead letters are logged as warnings, then every thousandth,
// so a bad expression does not flood the log.
func DeadLetter(dlq DeadLetters, log *slog.Logger) Middleware {
	var n atomic.Int64
	return func(next Handler) Handler {
		return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
			out, err := next(ctx, d)
			if err == nil || ctx.Err() != nil {
				return out, err
			}
			m := d.Message
			if m.Value == nil { // sync mode: encoded only when dead-lettered
				var eerr error
				if m, eerr = events.Encode(d.Event, "reprocess/sync"); eerr != nil {
					return apply.Failed, fmt.Errorf("%w (while handling: %w)", eerr, err)
				}
			}
			if serr := dlq.Send(ctx, m, err, d.Attempts); serr != nil {
				return apply.Failed, fmt.Errorf("%w (while handling: %w)", serr, err)
			}
			level, ev := slog.LevelDebug, d.Event
			if c := n.Add(1); c <= 5 || c%1000 == 0 {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "dead-lettered event", "job", ev.JobID, "asset_id", ev.AssetID, "transform", ev.Transform,
				"version", ev.Version, "attempts", d.Attempts, "error", err, "dead_letters", n.Load())
			d.Err = err
			return DeadLettered, nil
		}
	}
}

// Count records every outcome in c, by job (a replayed event as its
// asset's move out of the dead letters), and the first errors of dead
// letters.
func Count(c *Counts) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
			out, err := next(ctx, d)
			if err == nil {
				c.add(d.Event.JobID, out, d.Event.Attempt > 1)
			}
			if d.Err != nil {
				c.noteError(d.Err)
			}
			return out, err
		}
	}
}
