package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// TestWorkersPaceAtTheSharedRate drains a backlog of 200 events with two
// members of the job's group while the job's shared rate is 100/s: each
// paces at its share of the topic's partitions, so together they take
// about 2s, and no tenth of a second sees a burst.
func TestWorkersPaceAtTheSharedRate(t *testing.T) {
	for name, mk := range envMakers {
		t.Run(name, func(t *testing.T) {
			e := mk(t, 200)
			j := e.spec(t, "paced", fmt.Sprintf(countingFacts, 1, 1))
			if err := e.store.SetThrottle(context.Background(), j.Name, assets.Throttle{Rate: 100, UpdatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			n := e.scan(t, j)
			var ws []*worker.Worker
			for range 2 {
				w, err := worker.New(worker.Config{
					Apply: &apply.Handler{Store: e.store, Transforms: &apply.Resolve{Jobs: e.store}},
					DLQ:   e.dlq(t), Log: quiet, Transform: j.Transform.Name, Version: j.Transform.Version,
					Throttle: e.store,
				})
				if err != nil {
					t.Fatal(err)
				}
				ws = append(ws, w)
			}
			var (
				mu      sync.Mutex
				started time.Time
				peak    int64
			)
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() { // the most events handled in any 100ms
				defer close(sampled)
				type sample struct {
					at time.Time
					n  int64
				}
				var last []sample
				for {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					now, h := time.Now(), sum(ws, apply.Applied)
					mu.Lock()
					if h > 0 && started.IsZero() {
						started = now
					}
					last = append(last, sample{now, h})
					for len(last) > 1 && now.Sub(last[1].at) >= 100*time.Millisecond {
						last = last[1:]
					}
					if now.Sub(last[0].at) <= 110*time.Millisecond { // a window of at most ~100ms
						peak = max(peak, h-last[0].n)
					}
					mu.Unlock()
				}
			}()
			e.drain(t, j, ws, n)
			close(stop)
			<-sampled
			took := time.Since(started)
			t.Logf("%s: %d events at a shared 100/s took %s after the first; at most %d in any 100ms", e.name, n, took, peak)
			if n != 200 || took < 1800*time.Millisecond || peak > 25 {
				t.Errorf("%d events at a shared 100/s: took %s, at most %d in 100ms; want >= 1.8s and <= 25 per 100ms", n, took, peak)
			}
		})
	}
}
