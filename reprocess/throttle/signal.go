package throttle

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Window is the store signal: the p99 of the store latencies observed
// since its last sample. When none were observed (a slowed job makes few
// requests) it times one Probe request itself, so it keeps sampling.
type Window struct {
	// Probe, if set, is one cheap store read.
	Probe func(ctx context.Context) error

	mu      sync.Mutex
	samples []time.Duration
}

// Observe records one request's latency.
func (w *Window) Observe(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples = append(w.samples, d)
}

// Sample is the p99 of the latencies observed since the last Sample, or
// the latency of one probe; errNoSamples without either.
func (w *Window) Sample(ctx context.Context) (time.Duration, error) {
	w.mu.Lock()
	s := w.samples
	w.samples = nil
	w.mu.Unlock()
	if len(s) > 0 {
		slices.Sort(s)
		return s[len(s)*99/100], nil
	}
	if w.Probe == nil {
		return 0, errNoSamples
	}
	start := time.Now()
	if err := w.Probe(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

var errNoSamples = errors.New("no store requests to measure")
