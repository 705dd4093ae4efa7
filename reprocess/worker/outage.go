package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/apply"
)

// StoreWait logs "waiting for store" when an event finds the store
// unreachable (Retry then waits it out), at most once every interval,
// and "store answers again" once it does.
func StoreWait(log *slog.Logger, interval time.Duration) Middleware {
	var (
		mu      sync.Mutex
		waiting bool
		told    time.Time
	)
	return func(next Handler) Handler {
		return func(ctx context.Context, d *Delivery) (apply.Outcome, error) {
			out, err := next(ctx, d)
			down := errors.Is(err, assets.ErrUnavailable)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case down && time.Since(told) >= interval:
				log.Warn("waiting for store: events are held, not dead-lettered, until it answers", "error", err)
				waiting, told = true, time.Now()
			case !down && waiting && err == nil:
				log.Info("store answers again")
				waiting, told = false, time.Time{}
			}
			return out, err
		}
	}
}
