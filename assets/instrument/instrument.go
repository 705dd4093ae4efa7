// Package instrument measures a Store: the latency of every request by
// operation and outcome, as the histogram
//
//	reprocess_store_request_seconds{op, outcome}
//
// (outcome: ok, not_found, error). Production-facing load is what a job
// must keep within bounds; this is the figure to watch. Each request is
// timed once: the same measurement feeds the histogram and every watcher
// (a job's adaptive rate limiter).
package instrument

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/assets"
)

// Store wraps an assets.Store and times its requests.
type Store struct {
	assets.Store
	hist *prometheus.HistogramVec

	mu       sync.RWMutex
	watchers map[int]func(time.Duration)
	next     int
}

var _ assets.Store = (*Store)(nil)

// Wrap registers the histogram on reg and returns the measured store.
func Wrap(s assets.Store, reg prometheus.Registerer) (*Store, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "reprocess_store_request_seconds",
		Help:    "Latency of asset store requests by operation and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16), // 0.2ms .. 6.5s
	}, []string{"op", "outcome"})
	if err := reg.Register(h); err != nil {
		return nil, err
	}
	return &Store{Store: s, hist: h}, nil
}

// Watch calls fn with the latency of every request from now until stop.
func (s *Store) Watch(fn func(time.Duration)) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers == nil {
		s.watchers = map[int]func(time.Duration){}
	}
	id := s.next
	s.next++
	s.watchers[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers, id)
	}
}

func (s *Store) observe(op string, start time.Time, err error) {
	d := time.Since(start)
	outcome := "ok"
	switch {
	case errors.Is(err, assets.ErrNotFound):
		outcome = "not_found"
	case err != nil:
		outcome = "error"
	}
	s.hist.WithLabelValues(op, outcome).Observe(d.Seconds())
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, fn := range s.watchers {
		fn(d)
	}
}

func (s *Store) Put(ctx context.Context, a assets.Asset) error {
	start := time.Now()
	err := s.Store.Put(ctx, a)
	s.observe("put", start, err)
	return err
}

func (s *Store) Get(ctx context.Context, id assets.ID) (a assets.Asset, err error) {
	start := time.Now()
	a, err = s.Store.Get(ctx, id)
	s.observe("get", start, err)
	return a, err
}

func (s *Store) Page(ctx context.Context, p assets.Partition, after assets.ID, limit int) ([]assets.ID, error) {
	start := time.Now()
	ids, err := s.Store.Page(ctx, p, after, limit)
	s.observe("page", start, err)
	return ids, err
}

func (s *Store) Update(ctx context.Context, id assets.ID, u assets.Update) error {
	start := time.Now()
	err := s.Store.Update(ctx, id, u)
	s.observe("update", start, err)
	return err
}

func (s *Store) UpdateIf(ctx context.Context, id assets.ID, version int64, u assets.Update) (bool, error) {
	start := time.Now()
	ok, err := s.Store.UpdateIf(ctx, id, version, u)
	s.observe("update_if", start, err)
	return ok, err
}

func (s *Store) Delete(ctx context.Context, id assets.ID) error {
	start := time.Now()
	err := s.Store.Delete(ctx, id)
	s.observe("delete", start, err)
	return err
}
