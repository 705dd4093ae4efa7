package worker_test

import (
	"context"
	"fmt"
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
			stop := watchPace(ws)
			e.drain(t, j, ws, n)
			took, peak := stop()
			t.Logf("%s: %d events at a shared 100/s took %s after the first; at most %d in any 100ms", e.name, n, took, peak)
			if n != 200 || took < 1800*time.Millisecond || peak > 25 {
				t.Errorf("%d events at a shared 100/s: took %s, at most %d in 100ms; want >= 1.8s and <= 25 per 100ms", n, took, peak)
			}
		})
	}
}

// watchPace samples the workers' applied count every 10ms; stop returns
// how long they took from the first applied event, and the most applied
// in any ~100ms.
func watchPace(ws []*worker.Worker) (stop func() (took time.Duration, peak int64)) {
	type sample struct {
		at time.Time
		n  int64
	}
	quit, done := make(chan struct{}), make(chan struct{})
	var (
		started time.Time
		peak    int64
	)
	go func() {
		defer close(done)
		var window []sample
		for {
			select {
			case <-quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
			now, h := time.Now(), sum(ws, apply.Applied)
			if h > 0 && started.IsZero() {
				started = now
			}
			window = append(window, sample{now, h})
			for len(window) > 1 && now.Sub(window[1].at) >= 100*time.Millisecond {
				window = window[1:]
			}
			if now.Sub(window[0].at) <= 110*time.Millisecond {
				peak = max(peak, h-window[0].n)
			}
		}
	}()
	return func() (time.Duration, int64) {
		close(quit)
		<-done
		return time.Since(started), peak
	}
}
