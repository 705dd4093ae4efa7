package throttle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{Limit: 500}, nil},
		{Config{Limit: -1}, []string{"rate.limit"}},
		{Config{Adaptive: true}, []string{"rate.adaptive", "rate.target_p99"}},
		{Config{Limit: 10, Adaptive: true, TargetP99: time.Millisecond, Min: 20}, []string{"rate.min"}},
		{Config{MaxLag: -5}, []string{"rate.max_lag"}},
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

func TestAdaptiveIsAIMD(t *testing.T) {
	l := NewLimiter(Config{Limit: 1000, Adaptive: true, TargetP99: 10 * time.Millisecond}, 0)
	steps := []struct {
		latency time.Duration
		want    float64
	}{
		{50 * time.Millisecond, 500}, // over target: halve
		{50 * time.Millisecond, 250},
		{50 * time.Millisecond, 125},
		{50 * time.Millisecond, 62.5},
		{50 * time.Millisecond, 50}, // floor: Limit/20
		{time.Millisecond, 100},     // under target: +5% of the ceiling
		{time.Millisecond, 150},
	}
	for i, s := range steps {
		l.Observe(s.latency)
		if got := l.Rate(); got != s.want {
			t.Fatalf("step %d (latency %s): rate %v, want %v", i, s.latency, got, s.want)
		}
	}
	for range 40 {
		l.Observe(time.Millisecond)
	}
	if got := l.Rate(); got != 1000 {
		t.Errorf("rate after a long calm: %v, want the 1000 ceiling", got)
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
