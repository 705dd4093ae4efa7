package throttle

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{Limit: 500}, nil},
		{Config{Limit: 500, Adaptive: true}, nil}, // no target: a measured baseline
		{Config{Limit: -1}, []string{"rate.limit"}},
		{Config{Adaptive: true}, []string{"rate.adaptive"}},
		{Config{Limit: 10, Adaptive: true, TargetP99: -time.Millisecond}, []string{"rate.target_p99"}},
		{Config{Limit: 10, Adaptive: true, TargetP99: time.Millisecond, Min: 20}, []string{"rate.min"}},
		{Config{MaxLag: -5}, []string{"rate.max_lag"}},
		{Config{Signal: "elastic"}, []string{"rate.signal"}},
		{Config{Signal: SignalProbe}, []string{"rate.probe"}},
		{Config{Signal: SignalCassandra, Probe: "SELECT 1"}, []string{"rate.probe"}},
		{Config{Signal: SignalProbe, Probe: "SELECT now() FROM system.local"}, nil},
		{Config{SignalTimeout: -time.Second}, []string{"rate.signal_timeout"}},
	} {
		err := tc.cfg.Validate("rate")
		if len(tc.want) == 0 && err != nil {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %v does not name %s", tc.cfg, err, w)
			}
		}
	}
}

// fakeSignal returns its samples in turn (a zero duration with err);
// the last repeats.
type fakeSignal struct {
	mu      sync.Mutex
	samples []time.Duration
	err     error
	reads   int
}

func (f *fakeSignal) Sample(context.Context) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.samples[min(f.reads, len(f.samples)-1)]
	f.reads++
	if d == 0 {
		return 0, f.err
	}
	return d, nil
}

// clock is a manual clock for a limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func manual(cfg Config, cooldown time.Duration) (*Limiter, *clock) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := NewLimiter(cfg, 0)
	l.now, l.cooldown = c.now, cooldown
	l.lastOK = c.t
	return l, c
}

func TestAdaptiveIsAIMD(t *testing.T) {
	const slow, fast = 50 * time.Millisecond, time.Millisecond
	steps := []struct {
		latency time.Duration
		want    float64
		reason  string
	}{
		{slow, 500, ReasonLatency}, // over target: halve
		{slow, 250, ReasonLatency},
		{slow, 125, ReasonLatency},
		{slow, 62.5, ReasonLatency},
		{slow, 50, ReasonLatency},  // floor: Limit/20
		{fast, 100, ReasonLatency}, // under target: +5% of the ceiling
		{fast, 150, ReasonLatency},
	}
	l, c := manual(Config{Limit: 1000, Adaptive: true, TargetP99: 10 * time.Millisecond}, 0)
	for i, s := range steps {
		c.t = c.t.Add(time.Second)
		l.Poll(context.Background(), &fakeSignal{samples: []time.Duration{s.latency}})
		if st := l.Status(); l.Rate() != s.want || st.Rate != s.want || st.Reason != s.reason || st.Signal != s.latency {
			t.Fatalf("step %d (latency %s): rate %v, status %+v; want %v, %q", i, s.latency, l.Rate(), st, s.want, s.reason)
		}
	}
	for range 40 {
		c.t = c.t.Add(time.Second)
		l.Poll(context.Background(), &fakeSignal{samples: []time.Duration{fast}})
	}
	if st := l.Status(); l.Rate() != 1000 || st.Reason != "" {
		t.Errorf("after a long calm: rate %v, reason %q; want the 1000 ceiling and no reason", l.Rate(), st.Reason)
	}
}

func TestCutsWaitForTheCooldown(t *testing.T) {
	l, c := manual(Config{Limit: 1000, Adaptive: true, TargetP99: 10 * time.Millisecond}, 10*time.Second)
	slow := &fakeSignal{samples: []time.Duration{50 * time.Millisecond}}
	var rates []float64
	for range 12 {
		c.t = c.t.Add(time.Second)
		l.Poll(context.Background(), slow)
		rates = append(rates, l.Rate())
	}
	if rates[0] != 500 || rates[9] != 500 || rates[10] != 250 {
		t.Errorf("a slow signal polled every second with a 10s cooldown: rates %v; want one halving, then the next 10s later", rates)
	}
}

func TestFailsClosed(t *testing.T) {
	down := errors.New("node unreachable")
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"default timeout", 0}, {"configured timeout", 5 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			l, c := manual(Config{Limit: 1000, Adaptive: true, TargetP99: 10 * time.Millisecond, Min: 40, SignalTimeout: tc.timeout}, 0)
			want := cmp.Or(tc.timeout, DefaultTimeout)
			l.Poll(context.Background(), &fakeSignal{samples: []time.Duration{time.Millisecond}}) // read: the clock starts
			sig := &fakeSignal{samples: []time.Duration{0}, err: down}
			var at time.Duration
			for step := 250 * time.Millisecond; at < 2*want; at += step {
				c.t = c.t.Add(step)
				l.Poll(context.Background(), sig)
				if l.Rate() > 1000 || (at+step < want && l.Rate() != 1000) {
					t.Fatalf("%s without a signal: rate %v; want it held at 1000 until %s", at+step, l.Rate(), want)
				}
				if l.Rate() == 40 {
					at += step
					break
				}
			}
			st := l.Status()
			if at != want || st.Reason != ReasonMissing || !strings.Contains(st.Missing, "node unreachable") {
				t.Errorf("rate %v after %s without a signal, status %+v; want the 40 floor at %s, reason %q naming the error", l.Rate(), at, st, want, ReasonMissing)
			}
			c.t = c.t.Add(time.Second)
			l.Poll(context.Background(), &fakeSignal{samples: []time.Duration{time.Millisecond}})
			if st := l.Status(); l.Rate() != 90 || st.Reason != ReasonLatency || st.Missing != "" {
				t.Errorf("signal back: rate %v, status %+v; want 90 (floor + 5%%), reason %q", l.Rate(), st, ReasonLatency)
			}
		})
	}
}

func TestBaselineSetsTheTarget(t *testing.T) {
	l, c := manual(Config{Limit: 1000, Adaptive: true, SignalTimeout: 3 * time.Second}, 0)
	l.baselineUntil = c.t.Add(3 * time.Second)
	if st := l.Status(); l.Rate() != 50 || st.Reason != ReasonBaseline || st.Target != 0 {
		t.Fatalf("measuring: rate %v, status %+v; want the 50 floor, reason %q", l.Rate(), st, ReasonBaseline)
	}
	for _, d := range []time.Duration{8, 10, 9} {
		c.t = c.t.Add(time.Second)
		l.Poll(context.Background(), &fakeSignal{samples: []time.Duration{d * time.Millisecond}})
	}
	if st := l.Status(); st.Baseline != 10*time.Millisecond || st.Target != 12*time.Millisecond || l.Rate() != 100 {
		t.Errorf("after 3s of 8-10ms: status %+v, rate %v; want baseline 10ms, target 12ms, rate 100", st, l.Rate())
	}
}

func TestKeepsSamplingWhileSlowed(t *testing.T) {
	// Nothing waits on the limiter (a slowed job), yet its own ticker
	// reads the signal: once production recovers the rate climbs back.
	sig := &fakeSignal{samples: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, time.Millisecond}}
	l := NewLimiter(Config{Limit: 1000, Adaptive: true, TargetP99: 10 * time.Millisecond}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Control(ctx, sig, time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	lowest := l.Rate()
	for (lowest == 1000 || l.Rate() < 1000) && time.Now().Before(deadline) {
		lowest = min(lowest, l.Rate())
		time.Sleep(time.Millisecond)
	}
	sig.mu.Lock()
	reads := sig.reads
	sig.mu.Unlock()
	if lowest > 125 || l.Rate() != 1000 || reads < 20 {
		t.Errorf("after slow then fast samples: lowest rate %v, then %v after %d reads; want down to <= 125, then back at the 1000 ceiling (>= 20 reads)", lowest, l.Rate(), reads)
	}
}

func TestWindow(t *testing.T) {
	w := &Window{}
	if _, err := w.Sample(context.Background()); err == nil {
		t.Error("an empty window without a probe gave a sample")
	}
	for i := range 100 {
		w.Observe(time.Duration(i+1) * time.Millisecond)
	}
	if d, err := w.Sample(context.Background()); d != 100*time.Millisecond || err != nil {
		t.Errorf("p99 of 1..100ms: %s, %v", d, err)
	}
	probes := 0
	w.Probe = func(context.Context) error { probes++; time.Sleep(2 * time.Millisecond); return nil }
	if d, err := w.Sample(context.Background()); d < 2*time.Millisecond || err != nil || probes != 1 {
		t.Errorf("an empty window with a probe: %s, %v after %d probes; want the probe's >= 2ms", d, err, probes)
	}
}

func TestUnlimitedNeverWaits(t *testing.T) {
	l := NewLimiter(Config{}, time.Second)
	start := time.Now()
	if err := l.Wait(context.Background(), 1_000_000); err != nil {
		t.Fatal(err)
	}
	if l.Rate() != 0 || time.Since(start) > time.Second {
		t.Errorf("unlimited limiter: rate %v, waited %s", l.Rate(), time.Since(start))
	}
}

// An operator's live limit: a fixed or unlimited rate becomes it at once
// and the limiter paces at it; an adaptive one adapts under it.
func TestSetLimit(t *testing.T) {
	const fast = time.Millisecond
	for _, tc := range []struct {
		name  string
		cfg   Config
		set   float64
		want  float64 // the rate right after SetLimit
		after float64 // the rate after one calm poll (adaptive)
	}{
		{"fixed, lowered", Config{Limit: 1000}, 50, 50, 50},
		{"fixed, raised", Config{Limit: 10}, 400, 400, 400},
		{"unlimited", Config{}, 20, 20, 20},
		{"adaptive at its ceiling, lowered", Config{Limit: 1000, Adaptive: true, Min: 500, TargetP99: 10 * time.Millisecond}, 100, 100, 100},
		{"adaptive, raised: grows to it", Config{Limit: 100, Adaptive: true, TargetP99: 10 * time.Millisecond}, 400, 100, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, c := manual(tc.cfg, 0)
			l.SetLimit(tc.set)
			if st := l.Status(); l.Rate() != tc.want || st.Rate != tc.want {
				t.Fatalf("after SetLimit(%v): rate %v, status %+v; want %v", tc.set, l.Rate(), st, tc.want)
			}
			c.t = c.t.Add(time.Second)
			l.Poll(context.Background(), &fakeSignal{samples: []time.Duration{fast}})
			if l.Rate() != tc.after {
				t.Errorf("after a calm poll: rate %v, want %v", l.Rate(), tc.after)
			}
			// Paced now: more than a second's worth cannot go within 50ms.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := l.Wait(ctx, int(tc.set)+10); err == nil {
				t.Errorf("Wait for %d assets at %v/s returned before its deadline", int(tc.set)+10, l.Rate())
			}
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	l := NewLimiter(Config{Limit: 1}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, 100); err == nil {
		t.Error("Wait for 100 assets at 1/s returned no error before its deadline")
	}
}

func TestGate(t *testing.T) {
	lags := []int64{500, 300, 90, 10}
	calls := 0
	g := NewGate(100, func(context.Context) (int64, error) {
		l := lags[min(calls, len(lags)-1)]
		calls++
		return l, nil
	}, time.Millisecond)
	var paused []int64
	if err := g.Wait(context.Background(), func(lag int64) { paused = append(paused, lag) }); err != nil {
		t.Fatal(err)
	}
	if calls != 3 || len(paused) != 1 || paused[0] != 500 || g.Lag() != 90 {
		t.Errorf("gate: %d lag reads, paused %v, last lag %d; want 3 reads, paused once at 500, last 90", calls, paused, g.Lag())
	}
	boom := errors.New("no coordinator")
	g = NewGate(100, func(context.Context) (int64, error) { return 0, boom }, time.Millisecond)
	if err := g.Wait(context.Background(), nil); !errors.Is(err, boom) {
		t.Errorf("gate with a failing lag read: %v", err)
	}
	if err := NewGate(0, nil, time.Second).Wait(context.Background(), nil); err != nil {
		t.Errorf("a disabled gate: %v", err)
	}
}
