package cassandra

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// maxOpenWait caps the pause between two tries of OpenWaiting.
const maxOpenWait = 30 * time.Second

// OpenWaiting is Open for processes that run jobs and workers: while no
// node answers (assets.ErrUnavailable) it waits, doubling the pause up to
// maxOpenWait and saying so in log, until a node answers or ctx ends. A
// process started during a store restart then rides it out instead of
// exiting. Any other error is returned at once.
func OpenWaiting(ctx context.Context, cfg Config, layout assets.Layout, log *slog.Logger) (*Store, error) {
	for wait := time.Second; ; wait = min(2*wait, maxOpenWait) {
		s, err := Open(ctx, cfg, layout)
		if !errors.Is(err, assets.ErrUnavailable) {
			return s, err
		}
		log.Warn("waiting for store: no Cassandra node answers yet", "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}
