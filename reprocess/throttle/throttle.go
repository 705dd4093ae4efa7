// Package throttle protects production from a job: a rate limit in assets
// per second, an adaptive mode that moves the limit with the store's
// observed latency (additive increase, multiplicative decrease), and a gate
// that holds scanning while the processors' consumer lag is over a bound.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config is a job's rate settings.
type Config struct {
	// Limit is assets per second; 0 means unlimited (and no adaptation).
	Limit float64 `yaml:"limit" json:"limit"`
	// Adaptive moves the limit between Min and Limit with store latency.
	Adaptive bool `yaml:"adaptive" json:"adaptive"`
	// TargetP99 is the store latency the adaptive mode keeps under.
	TargetP99 time.Duration `yaml:"target_p99" json:"target_p99"`
	// Min is the floor of the adaptive limit (default Limit/20).
	Min float64 `yaml:"min" json:"min"`
	// MaxLag pauses scanning while the consumer group lags by more
	// events than this; 0 disables the gate.
	MaxLag int64 `yaml:"max_lag" json:"max_lag"`
}

// Validate reports bad settings under the prefix (e.g. "rate").
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.Limit < 0 || math.IsNaN(c.Limit) || math.IsInf(c.Limit, 0) {
		errs = append(errs, fmt.Errorf("%s.limit: want >= 0 assets/s, got %v", prefix, c.Limit))
	}
	if c.Adaptive {
		if c.Limit == 0 {
			errs = append(errs, fmt.Errorf("%s.adaptive: needs %s.limit, the ceiling it adapts under", prefix, prefix))
		}
		if c.TargetP99 <= 0 {
			errs = append(errs, fmt.Errorf("%s.target_p99: want a positive duration with adaptive, got %s", prefix, c.TargetP99))
		}
		if c.Min < 0 || c.Min > c.Limit {
			errs = append(errs, fmt.Errorf("%s.min: want 0 to %s.limit, got %v", prefix, prefix, c.Min))
		}
	}
	if c.MaxLag < 0 {
		errs = append(errs, fmt.Errorf("%s.max_lag: want >= 0, got %d", prefix, c.MaxLag))
	}
	return errors.Join(errs...)
}

// Limiter paces a job. It is safe for concurrent use.
type Limiter struct {
	cfg      Config
	lim      *rate.Limiter
	interval time.Duration
	now      func() time.Time

	mu       sync.Mutex
	samples  []time.Duration
	lastTune time.Time
	p99      time.Duration
}

// NewLimiter returns a limiter for cfg. The adaptive mode retunes at most
// once per interval, from the latencies observed since the last retune.
func NewLimiter(cfg Config, interval time.Duration) *Limiter {
	l := &Limiter{cfg: cfg, interval: interval, now: time.Now}
	if cfg.Limit > 0 {
		// A burst of a tenth of a second keeps the rate smooth; the bucket
		// starts empty so the first second is not a burst either.
		l.lim = rate.NewLimiter(rate.Limit(cfg.Limit), burst(cfg.Limit))
		l.lim.AllowN(l.now(), l.lim.Burst())
	}
	if l.cfg.Adaptive && l.cfg.Min == 0 {
		l.cfg.Min = max(1, cfg.Limit/20)
	}
	l.lastTune = l.now()
	return l
}

// Wait blocks until n more assets may go, or ctx is done.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l.lim == nil {
		return ctx.Err()
	}
	l.tune()
	for n > 0 {
		step := min(n, l.lim.Burst())
		if err := l.lim.WaitN(ctx, step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

// Observe records one store request's latency for the adaptive mode.
func (l *Limiter) Observe(d time.Duration) {
	if !l.cfg.Adaptive {
		return
	}
	l.mu.Lock()
	l.samples = append(l.samples, d)
	l.mu.Unlock()
	l.tune()
}

// tune applies AIMD once per interval: halve the rate when the p99 of the
// interval's samples is over target, else add 5% of the ceiling.
func (l *Limiter) tune() {
	if !l.cfg.Adaptive {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastTune) < l.interval || len(l.samples) == 0 {
		return
	}
	slices.Sort(l.samples)
	l.p99 = l.samples[(len(l.samples)*99)/100]
	l.samples = l.samples[:0]
	l.lastTune = now
	cur := float64(l.lim.Limit())
	next := cur + l.cfg.Limit*0.05
	if l.p99 > l.cfg.TargetP99 {
		next = cur * 0.5
	}
	next = min(max(next, l.cfg.Min), l.cfg.Limit)
	l.lim.SetLimitAt(now, rate.Limit(next))
	l.lim.SetBurstAt(now, burst(next))
}

func burst(limit float64) int { return max(1, int(limit/10)) }

// Rate is the current limit in assets per second (0: unlimited).
func (l *Limiter) Rate() float64 {
	if l.lim == nil {
		return 0
	}
	return float64(l.lim.Limit())
}

// P99 is the store latency p99 of the last adaptive interval.
func (l *Limiter) P99() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p99
}

// LagFunc reports how many events the processors have yet to handle.
type LagFunc func(ctx context.Context) (int64, error)

// Gate holds scanning while lag is over a bound. It asks for the lag at
// most once per poll interval.
type Gate struct {
	max  int64
	lag  LagFunc
	poll time.Duration

	mu      sync.Mutex
	last    time.Time
	lastLag int64
}

// NewGate returns a gate; with max 0 or lag nil it never holds.
func NewGate(max int64, lag LagFunc, poll time.Duration) *Gate {
	return &Gate{max: max, lag: lag, poll: poll}
}

// Wait returns once the lag is at most the bound, ctx is done, or the lag
// cannot be read (then the error says why). paused, if not nil, is called
// once when Wait starts holding.
func (g *Gate) Wait(ctx context.Context, paused func(lag int64)) error {
	if g == nil || g.max == 0 || g.lag == nil {
		return nil
	}
	told := false
	for {
		lag, err := g.current(ctx)
		if err != nil {
			return fmt.Errorf("read consumer lag: %w", err)
		}
		if lag <= g.max {
			return nil
		}
		if !told && paused != nil {
			paused(lag)
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(g.poll):
		}
	}
}

// Lag is the last lag read (0 before the first).
func (g *Gate) Lag() int64 {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastLag
}

func (g *Gate) current(ctx context.Context) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.last.IsZero() && time.Since(g.last) < g.poll {
		return g.lastLag, nil
	}
	lag, err := g.lag(ctx)
	if err != nil {
		return 0, err
	}
	g.last, g.lastLag = time.Now(), lag
	return lag, nil
}
