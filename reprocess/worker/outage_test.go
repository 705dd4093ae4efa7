package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// timingOut fails every asset with a retryable error and counts its tries.
type timingOut struct {
	mu    sync.Mutex
	tries map[assets.ID]int
}

func (f *timingOut) Name() string { return "timingout" }
func (f *timingOut) Version() int { return 1 }
func (f *timingOut) Apply(_ context.Context, a assets.Asset) (transform.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries[a.ID]++
	return transform.Result{}, fmt.Errorf("asset %s: upstream timed out", a.ID)
}

// An error that may pass on a retry is tried exactly the policy's
// attempts (3 here), then dead-lettered with attempts 3.
func TestRetryableErrorIsTriedThenDeadLettered(t *testing.T) {
	for name, mk := range envMakers {
		t.Run(name, func(t *testing.T) {
			e := mk(t, 40)
			f := &timingOut{tries: map[assets.ID]int{}}
			j := e.spec(t, "timingout-job", "transform: {name: timingout, version: 1}\n")
			n := e.scan(t, j)
			ws := []*worker.Worker{e.worker(t, transform.NewRegistry(f), j, e.dlq(t), nil)}
			e.drain(t, j, ws, n)
			if got := sum(ws, worker.DeadLettered); got != n {
				t.Errorf("dead-lettered %d of %d", got, n)
			}
			for _, id := range e.ids {
				if f.tries[id] != 3 {
					t.Errorf("asset %s tried %d times; want 3", id, f.tries[id])
				}
			}
			records := 0
			err := e.kc.ReadAll(context.Background(), e.kcfg.DLQTopic, func(m events.Message) error {
				records++
				if got := m.Header(kafka.HeaderDLQAttempts); got != "3" || !strings.Contains(m.Header(kafka.HeaderDLQError), "timed out") {
					t.Errorf("DLQ record: attempts %q, error %q; want 3 and the cause", got, m.Header(kafka.HeaderDLQError))
				}
				return nil
			})
			if err != nil || int64(records) != n {
				t.Errorf("DLQ holds %d records (%v); want %d", records, err, n)
			}
		})
	}
}

// StoreWait says "waiting for store" once while the store cannot be
// reached and "store answers again" when it does.
func TestStoreWaitSaysSo(t *testing.T) {
	var buf bytes.Buffer
	down := fmt.Errorf("get: %w: no hosts available in the pool", assets.ErrUnavailable)
	fails := []error{down, down, down, nil, errors.New("other"), nil}
	i := 0
	inner := func(context.Context, *worker.Delivery) (apply.Outcome, error) {
		err := fails[i]
		i++
		return apply.Applied, err
	}
	h := worker.Chain(inner, worker.StoreWait(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour))
	for range fails {
		h(context.Background(), &worker.Delivery{})
	}
	log := buf.String()
	if strings.Count(log, "waiting for store") != 1 || strings.Count(log, "store answers again") != 1 {
		t.Errorf("log:\n%s\nwant one waiting-for-store line and one answers-again line", log)
	}
}
