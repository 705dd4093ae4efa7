package throttle

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/reprocess/reprocess/assets"
)

// RateReader reads a job's shared throttle state (an assets.JobStore).
type RateReader interface {
	Throttle(ctx context.Context, job string) (assets.Throttle, error)
}

// Pacer holds a processor to its share of each job's rate, as the job's
// controller shares it through the store: it rereads a job's rate at most
// once per interval, and lets events go in bursts of at most Burst. A job
// with no rate recorded is not paced.
type Pacer struct {
	store RateReader
	every time.Duration

	mu    sync.Mutex
	share float64
	jobs  map[string]*paced
}

type paced struct {
	lim  *rate.Limiter
	read time.Time
}

// NewPacer returns a pacer reading rates from s every interval, with a
// share of 1 until SetShare.
func NewPacer(s RateReader, every time.Duration) *Pacer {
	return &Pacer{store: s, every: every, share: 1, jobs: map[string]*paced{}}
}

// SetShare sets the part of each job's rate this processor takes: its
// partitions of the events topic over the topic's partitions.
func (p *Pacer) SetShare(f float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.share = f
	for _, j := range p.jobs {
		j.read = time.Time{} // apply it at the next event
	}
}

// Wait blocks until one more event of job may be applied, or ctx is done.
func (p *Pacer) Wait(ctx context.Context, job string) error {
	return p.limiter(ctx, job).Wait(ctx)
}

// limiter is job's limiter, its rate reread if the last read is older
// than the interval. A rate that cannot be read keeps the last one.
func (p *Pacer) limiter(ctx context.Context, job string) *rate.Limiter {
	p.mu.Lock()
	j, ok := p.jobs[job]
	if !ok {
		j = &paced{lim: rate.NewLimiter(rate.Inf, 1)}
		p.jobs[job] = j
	}
	stale := time.Since(j.read) >= p.every
	if stale {
		j.read = time.Now() // one reader at a time
	}
	share := p.share
	p.mu.Unlock()
	if !stale {
		return j.lim
	}
	t, err := p.store.Throttle(ctx, job)
	switch {
	case errors.Is(err, assets.ErrNotFound):
		t.Rate = 0
	case err != nil:
		return j.lim
	}
	r := rate.Inf
	if t.Rate > 0 {
		r = rate.Limit(max(t.Rate*share, 0.1))
	}
	if j.lim.Limit() != r {
		now := time.Now()
		j.lim.SetLimitAt(now, r)
		j.lim.SetBurstAt(now, paceBurst(float64(r)))
	}
	return j.lim
}

// Rate is the rate this processor last paced job at (0: unlimited).
func (p *Pacer) Rate(job string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if j, ok := p.jobs[job]; ok && j.lim.Limit() != rate.Inf {
		return float64(j.lim.Limit())
	}
	return 0
}
