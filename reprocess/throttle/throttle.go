// Package throttle protects production from a job: a rate limit in assets
// per second, an adaptive mode that moves the limit with a production
// latency signal (additive increase, multiplicative decrease) polled on
// the controller's own ticker, a pacer that holds each processor to its
// share of the job's rate, and a gate that holds scanning while the
// processors' consumer lag is over a bound.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Signals the adaptive mode can watch (Config.Signal).
const (
	SignalStore     = "store"     // the job's own store requests (the default)
	SignalCassandra = "cassandra" // the nodes' coordinator p99 (system_views)
	SignalProbe     = "probe"     // a CQL statement timed at a low fixed rate
)

// Why a job is slowed (Status.Reason; the job adds lag and paused).
const (
	ReasonLatency   = "latency"
	ReasonMissing   = "signal missing"
	ReasonBaseline  = "measuring baseline"
	ReasonLag       = "lag"
	ReasonPaused    = "paused"
	DefaultTimeout  = 3 * time.Second
	baselineFactor  = 1.2
	baselineMinimum = time.Millisecond
)

// Config is a job's rate settings.
type Config struct {
	// Limit is assets per second; 0 means unlimited (and no adaptation).
	Limit float64 `yaml:"limit" json:"limit"`
	// Adaptive moves the limit between Min and Limit with the signal.
	Adaptive bool `yaml:"adaptive" json:"adaptive"`
	// TargetP99 is the latency the adaptive mode keeps the signal under;
	// 0 measures the signal first and targets 1.2 times that baseline.
	TargetP99 time.Duration `yaml:"target_p99" json:"target_p99"`
	// Min is the floor of the adaptive limit (default Limit/20).
	Min float64 `yaml:"min" json:"min"`
	// MaxLag pauses scanning while the consumer group lags by more
	// events than this; 0 disables the gate.
	MaxLag int64 `yaml:"max_lag" json:"max_lag"`
	// Signal is what the adaptive mode watches: store (default),
	// cassandra or probe.
	Signal string `yaml:"signal" json:"signal,omitempty"`
	// Probe is the CQL statement the probe signal times.
	Probe string `yaml:"probe" json:"probe,omitempty"`
	// SignalTimeout is how long the signal may go unread before the rate
	// drops to Min (default 3s).
	SignalTimeout time.Duration `yaml:"signal_timeout" json:"signal_timeout,omitempty"`
}

// Validate reports bad settings under the prefix (e.g. "rate").
func (c Config) Validate(prefix string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(prefix+"."+format, args...)) }
	if c.Limit < 0 || math.IsNaN(c.Limit) || math.IsInf(c.Limit, 0) {
		bad("limit: want >= 0 assets/s, got %v", c.Limit)
	}
	if c.Adaptive {
		if c.Limit == 0 {
			bad("adaptive: needs %s.limit, the ceiling it adapts under", prefix)
		}
		if c.Min < 0 || c.Min > c.Limit {
			bad("min: want 0 to %s.limit, got %v", prefix, c.Min)
		}
	}
	if c.TargetP99 < 0 {
		bad("target_p99: want a positive duration, or none to measure a baseline, got %s", c.TargetP99)
	}
	switch c.Signal {
	case "", SignalStore, SignalCassandra:
		if c.Probe != "" {
			bad("probe: only the probe signal runs a statement (set %s.signal: probe)", prefix)
		}
	case SignalProbe:
		if c.Probe == "" {
			bad("probe: the probe signal needs the CQL statement it times")
		}
	default:
		bad("signal: want store, cassandra or probe, got %q", c.Signal)
	}
	if c.SignalTimeout < 0 {
		bad("signal_timeout: want a positive duration, got %s", c.SignalTimeout)
	}
	if c.MaxLag < 0 {
		bad("max_lag: want >= 0, got %d", c.MaxLag)
	}
	return errors.Join(errs...)
}

// Signal reads one figure of production's latency, a p99.
type Signal interface {
	Sample(ctx context.Context) (time.Duration, error)
}

// Status is what the limiter knows: the rate, the signal against its
// target, and why the rate is under its ceiling.
type Status struct {
	Rate     float64       // assets/s; 0: unlimited
	Signal   time.Duration // the last sample
	Target   time.Duration // 0 while the baseline is measured
	Baseline time.Duration // the measured baseline, if the target came from one
	Reason   string        // ReasonLatency, ReasonMissing, ReasonBaseline or ""
	Missing  string        // why the signal could not be read, while it cannot
}

// Limiter paces a job. It is safe for concurrent use.
type Limiter struct {
	cfg      Config
	lim      *rate.Limiter
	cooldown time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu            sync.Mutex
	st            Status
	lastOK        time.Time // the last sample read
	lastCut       time.Time
	baselineUntil time.Time
}

// NewLimiter returns a limiter for cfg. The adaptive mode halves the rate
// at most once per cooldown (a signal that decays slowly stays over its
// target for a while after a cut); it starts at the ceiling with a
// target, at the floor while it measures a baseline for one timeout.
func NewLimiter(cfg Config, cooldown time.Duration) *Limiter {
	l := &Limiter{cfg: cfg, cooldown: cooldown, now: time.Now, log: slog.New(slog.DiscardHandler)}
	if l.cfg.SignalTimeout == 0 {
		l.cfg.SignalTimeout = DefaultTimeout
	}
	if l.cfg.Adaptive && l.cfg.Min == 0 {
		l.cfg.Min = max(1, cfg.Limit/20)
	}
	// Unlimited until a live SetLimit, if no limit is given.
	l.lim = rate.NewLimiter(rate.Inf, 0)
	if cfg.Limit > 0 {
		// A burst of a tenth of a second keeps the rate smooth; the bucket
		// starts empty so the first second is not a burst either.
		l.lim = rate.NewLimiter(rate.Limit(cfg.Limit), burst(cfg.Limit))
		l.lim.AllowN(l.now(), l.lim.Burst())
	}
	l.lastOK = l.now()
	l.st = Status{Rate: cfg.Limit, Target: cfg.TargetP99}
	if cfg.Adaptive && cfg.TargetP99 == 0 {
		l.baselineUntil = l.lastOK.Add(l.cfg.SignalTimeout)
		l.st.Reason = ReasonBaseline
		l.set(l.lastOK, l.cfg.Min)
	}
	return l
}

// SetLogger makes the limiter say when it measured a baseline and when it
// fails closed or reopens.
func (l *Limiter) SetLogger(log *slog.Logger) { l.log = log }

// Wait blocks until n more assets may go, or ctx is done.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l.lim.Limit() == rate.Inf {
		return ctx.Err()
	}
	for n > 0 {
		step := min(n, l.lim.Burst())
		if err := l.lim.WaitN(ctx, step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

// Control polls sig every interval and adjusts the rate until ctx is
// done; without the adaptive mode it returns at once.
func (l *Limiter) Control(ctx context.Context, sig Signal, every time.Duration) {
	if !l.cfg.Adaptive { // adaptive has a limit (Config.Validate)
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Poll(ctx, sig)
		}
	}
}

// Poll reads sig once, within the signal timeout, and adjusts the rate.
func (l *Limiter) Poll(ctx context.Context, sig Signal) {
	sctx, cancel := context.WithTimeout(ctx, l.cfg.SignalTimeout)
	d, err := sig.Sample(sctx)
	cancel()
	if ctx.Err() == nil {
		l.adjust(d, err)
	}
}

// adjust applies one sample: a missing one holds the rate, and drops it
// to the floor once the signal was unread for the timeout; a read one
// sets the baseline's target, or applies AIMD: over target, halve (at most
// once per cooldown); else add 5% of the ceiling.
func (l *Limiter) adjust(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if err != nil {
		l.st.Missing = err.Error()
		if now.Sub(l.lastOK) >= l.cfg.SignalTimeout {
			if l.st.Reason != ReasonMissing {
				l.log.Warn("throttle: the latency signal cannot be read: rate down to the floor", "floor", l.cfg.Min, "error", err)
			}
			l.st.Reason = ReasonMissing
			l.set(now, l.cfg.Min)
		}
		return
	}
	if l.st.Reason == ReasonMissing {
		l.log.Info("throttle: the latency signal is back", "signal", d)
		l.st.Reason = ReasonLatency
	}
	l.lastOK, l.st.Signal, l.st.Missing = now, d, ""
	if l.st.Target == 0 {
		l.st.Baseline = max(l.st.Baseline, d)
		if now.Before(l.baselineUntil) {
			return
		}
		l.st.Target = max(baselineMinimum, time.Duration(baselineFactor*float64(l.st.Baseline)))
		l.st.Reason = ReasonLatency
		l.log.Info("throttle: no target_p99 given: the target is 1.2 times the measured baseline", "baseline", l.st.Baseline, "target", l.st.Target)
	}
	cur := float64(l.lim.Limit())
	next := cur + l.cfg.Limit*0.05
	if d > l.st.Target {
		if now.Sub(l.lastCut) < l.cooldown {
			return
		}
		next, l.lastCut, l.st.Reason = cur*0.5, now, ReasonLatency
	}
	l.set(now, next)
}

// set moves the rate within [Min, Limit]; at the ceiling nothing slows
// the job.
func (l *Limiter) set(now time.Time, r float64) {
	r = min(max(r, l.cfg.Min), l.cfg.Limit)
	l.lim.SetLimitAt(now, rate.Limit(r))
	l.lim.SetBurstAt(now, burst(r))
	l.st.Rate = r
	if r >= l.cfg.Limit {
		l.st.Reason = ""
	}
}

// SetLimit makes r (assets/s, > 0) the job's limit while it runs, as an
// operator's live change: a fixed rate becomes r at once, an unlimited one
// too; an adaptive one goes on adapting under the ceiling r, from at most
// r, its floor lowered to r if it was over it.
func (l *Limiter) SetLimit(r float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.st.Rate
	l.cfg.Limit, l.cfg.Min = r, min(l.cfg.Min, r)
	if l.cfg.Adaptive {
		r = min(cur, r)
	}
	l.set(l.now(), r)
}

// burst is the scan's token bucket for a rate: a tenth of a second, so
// the scan's own pauses between batches do not cost it its rate.
func burst(r float64) int { return max(1, int(min(r, 1e6)/10)) }

// paceBurst is a processor's token bucket for a rate: a tenth of a second, at
// most 4 events, so work reaches the store evenly.
func paceBurst(r float64) int { return min(4, burst(r)) }

// Rate is the current limit in assets per second (0: unlimited).
func (l *Limiter) Rate() float64 {
	if l.lim.Limit() == rate.Inf {
		return 0
	}
	return float64(l.lim.Limit())
}

// Status is the limiter's state (zero for a nil or unlimited limiter).
func (l *Limiter) Status() Status {
	if l == nil || l.lim.Limit() == rate.Inf {
		return Status{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
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
