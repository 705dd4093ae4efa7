package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

// signal builds what the job's adaptive throttle watches: the store's own
// requests (a window fed by this process's timed store, probed with one
// read when it saw none), or, on Cassandra, the nodes' coordinator p99 or
// the spec's probe statement. A signal this store cannot give is
// ErrInvalid naming rate.signal. stop ends the window's feed.
func (e *Env) signal(r throttle.Config) (sig throttle.Signal, stop func(), err error) {
	cs, onCassandra := e.Store.Store.(*cassandra.Store)
	switch r.Signal {
	case throttle.SignalCassandra, throttle.SignalProbe:
		if !onCassandra {
			return nil, nil, invalid(fmt.Errorf("rate.signal: %s reads Cassandra, but this process's store is %T; use signal: store", r.Signal, e.Store.Store))
		}
		if r.Signal == throttle.SignalProbe {
			return cs.Probe(r.Probe), func() {}, nil
		}
		return cs.NodeLatency(), func() {}, nil
	}
	w := &throttle.Window{Probe: func(ctx context.Context) error {
		_, err := e.Store.Store.Get(ctx, assets.NewID(time.Now()))
		if errors.Is(err, assets.ErrNotFound) {
			return nil
		}
		return err
	}}
	return w, e.Store.Watch(w.Observe), nil
}

// cooldown is how long the limiter waits between two cuts: Cassandra's
// decaying p99 stays high for a while after production recovered.
func cooldown(signal string) time.Duration {
	if signal == throttle.SignalCassandra {
		return 15 * time.Second
	}
	return 2 * time.Second
}

// govern runs the job's throttle until stop: the limiter polls its signal
// every second on its own ticker, and every second an operator's rate
// limit (control.SetRate) is read from the store and applied, and the
// job's rate, signal, target and why it is slowed go to the store, where
// the processors read the rate they pace at.
func (e *Env) govern(j *job.Job, lim *throttle.Limiter, sig throttle.Signal, gate *throttle.Gate, watch *control.Watch, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go lim.Control(ctx, sig, time.Second)
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		applied := 0.0 // the operator's rate limit last applied
		for {
			if n, err := e.Store.RateLimit(ctx, j.Name); err != nil && ctx.Err() == nil {
				log.Warn("read the job's rate limit set by an operator", "error", err)
			} else if n > 0 && n != applied {
				lim.SetLimit(n)
				applied = n
				log.Info("rate limit set by an operator", "limit", n)
			}
			st := lim.Status()
			rec := assets.Throttle{Rate: st.Rate, Signal: st.Signal, Target: st.Target, Baseline: st.Baseline, UpdatedAt: time.Now(),
				Reason: slowedBy(st, j.Rate.MaxLag > 0 && gate.Lag() > j.Rate.MaxLag, watch.Status() == control.Paused)}
			if err := e.Store.SetThrottle(ctx, j.Name, rec); err != nil && ctx.Err() == nil {
				log.Warn("record the job's throttle", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// slowedBy says why the job goes slower than it may: paused, lag, or the
// limiter's reason.
func slowedBy(st throttle.Status, lagging, paused bool) string {
	switch {
	case paused:
		return throttle.ReasonPaused
	case lagging:
		return throttle.ReasonLag
	}
	return st.Reason
}

// throttle is the job's throttle as recorded, read at most once a second.
func (r *Job) throttle(ctx context.Context) assets.Throttle {
	r.thMu.Lock()
	defer r.thMu.Unlock()
	if time.Since(r.thRead) >= time.Second {
		if t, err := r.env.Store.Throttle(ctx, r.spec.Name); err == nil {
			r.th = t
		}
		r.thRead = time.Now()
	}
	return r.th
}

// ThrottleNote is the job's throttle in a few words: its rate, the
// latency signal against its target, and why it is slowed; empty before
// the first record.
func (p Progress) ThrottleNote() string {
	t := p.Throttle
	if t.UpdatedAt.IsZero() {
		return ""
	}
	s := "limit none"
	if t.Rate > 0 {
		s = fmt.Sprintf("limit %.0f/s", t.Rate)
	}
	if t.Signal > 0 {
		s += fmt.Sprintf(", p99 %s", t.Signal.Round(100*time.Microsecond))
		if t.Target > 0 {
			s += fmt.Sprintf(" / %s", t.Target.Round(100*time.Microsecond))
		}
		if t.Baseline > 0 && t.Target > 0 {
			s += " (1.2 x baseline)"
		}
	}
	if t.Reason != "" {
		s += ", slowed: " + t.Reason
	}
	return s
}
