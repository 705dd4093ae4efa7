package control_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

func TestTransitions(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	if _, err := control.Transition(ctx, s, "nope", control.Paused, nil); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("transition of a missing job: %v", err)
	}
	j, err := control.Start(ctx, s, "j", "name: j\n", false)
	if err != nil || j.Status != control.Running || j.Spec != "name: j\n" {
		t.Fatalf("Start: %+v, %v", j, err)
	}
	for _, tc := range []struct {
		to string
		ok bool
	}{
		{control.Paused, true}, {control.Paused, false}, {control.Succeeded, false}, {control.Running, true},
		{control.Succeeded, true}, {control.Paused, false}, {control.Cancelled, false}, {control.Running, true},
		{control.Cancelled, true}, {control.Running, true}, {control.Failed, true},
	} {
		before, _ := s.Job(ctx, "j")
		after, err := control.Transition(ctx, s, "j", tc.to, nil)
		if tc.ok != (err == nil) {
			t.Fatalf("%s -> %s: err %v, want allowed=%v", before.Status, tc.to, err, tc.ok)
		}
		if !tc.ok && !errors.Is(err, control.ErrTransition) {
			t.Errorf("%s -> %s: %v, want ErrTransition", before.Status, tc.to, err)
		}
		if tc.ok && (after.Status != tc.to || (tc.to == control.Succeeded && after.EndedAt.IsZero())) {
			t.Errorf("%s -> %s: got %+v", before.Status, tc.to, after)
		}
	}
}

type counting struct{ n atomic.Int64 }

func (c *counting) Emit(_ context.Context, evs []events.Reprocess) (int, error) {
	c.n.Add(int64(len(evs)))
	return len(evs), nil
}

// TestPauseResumeCancelARunningScan pauses a throttled scan, checks that
// it stops emitting within a page, resumes it, and cancels it.
func TestPauseResumeCancelARunningScan(t *testing.T) {
	layout := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 2}
	s := assetstest.Embedded(t, layout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	end := time.Now()
	if _, err := synth.Seed(ctx, s, synth.Config{Count: 3000, Span: 48 * time.Hour, End: end, Seed: 2, Concurrency: 4}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Start(ctx, s, "pausable", "", false); err != nil {
		t.Fatal(err)
	}
	em := &counting{}
	watch := &control.Watch{Store: s, Job: "pausable", Interval: 20 * time.Millisecond}
	src := &scan.Partitions{Pager: s, Layout: layout, Types: synth.TypeNames(), From: end.Add(-49 * time.Hour), To: end, PageSize: 20}
	sc := scan.New(scan.Config{Job: "pausable", Transform: "t", Version: 1, Concurrency: 2, Store: s, Proceed: watch.Proceed,
		Limiter: throttle.NewLimiter(throttle.Config{Limit: 1000}, time.Second)}, src, em)
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()

	assetstest.Eventually(t, 30*time.Second, "the scan to emit", func() bool { return em.n.Load() > 0 })
	if _, err := control.Transition(ctx, s, "pausable", control.Paused, nil); err != nil {
		t.Fatal(err)
	}
	// The watch notices and the pages in hand finish: the count stops
	// moving (it does not for 200ms).
	held, still := em.n.Load(), time.Now()
	assetstest.Eventually(t, 30*time.Second, "the paused scan to stop emitting", func() bool {
		if n := em.n.Load(); n != held {
			held, still = n, time.Now()
		}
		return watch.Status() == control.Paused && time.Since(still) >= 200*time.Millisecond
	})
	time.Sleep(500 * time.Millisecond) // the claim: nothing moves while paused
	if moved := em.n.Load() - held; moved > 0 {
		t.Errorf("a paused scan emitted %d more events", moved)
	}
	if held == 0 || held >= 3000 {
		t.Fatalf("%d events before the pause; want the scan midway", held)
	}
	if _, err := control.Transition(ctx, s, "pausable", control.Running, nil); err != nil {
		t.Fatal(err)
	}
	assetstest.Eventually(t, 30*time.Second, "the resumed scan to emit", func() bool { return em.n.Load() > held })
	if _, err := control.Transition(ctx, s, "pausable", control.Cancelled, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, control.ErrCancelled) {
			t.Errorf("cancelled scan ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled scan did not stop")
	}
	if em.n.Load() >= 3000 {
		t.Errorf("the cancelled scan emitted everything (%d)", em.n.Load())
	}
}

func TestStartRefusesAJobRunningElsewhere(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	if _, err := control.Start(ctx, s, "busy", "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Start(ctx, s, "busy", "", false); !errors.Is(err, control.ErrBusy) || !strings.Contains(err.Error(), "--takeover") {
		t.Errorf("a second Start of a fresh running job: %v, want ErrBusy with advice", err)
	}
	if _, err := control.Start(ctx, s, "busy", "", true); err != nil {
		t.Errorf("Start with takeover: %v", err)
	}
	j, _ := s.Job(ctx, "busy")
	j.UpdatedAt = time.Now().Add(-time.Minute) // its process went away a minute ago
	s.SaveJob(ctx, j)
	if _, err := control.Start(ctx, s, "busy", "", false); err != nil {
		t.Errorf("Start of a job whose process is long gone: %v", err)
	}
}

// Operators' actions are allowed only from the states that make sense:
// resume only a paused job, cancel any that has not ended.
func TestActions(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	for _, c := range []struct {
		from, action string
		to           string // "" refused
	}{
		{control.Running, "pause", control.Paused},
		{control.Paused, "pause", ""},
		{control.Paused, "resume", control.Running},
		{control.Running, "resume", ""},
		{control.Succeeded, "resume", ""},
		{control.Cancelled, "resume", ""},
		{control.Interrupted, "resume", ""},
		{control.Failed, "resume", ""},
		{control.Pending, "cancel", control.Cancelled},
		{control.Interrupted, "cancel", control.Cancelled},
		{control.Succeeded, "cancel", ""},
		{control.Cancelled, "cancel", ""},
	} {
		now := time.Now().UTC()
		if err := s.SaveJob(ctx, assets.Job{ID: "a", Status: c.from, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		j, err := control.Act(ctx, s, "a", c.action)
		switch {
		case c.to == "" && !errors.Is(err, control.ErrTransition):
			t.Errorf("%s a %s job: %v; want refused", c.action, c.from, err)
		case c.to != "" && (err != nil || j.Status != c.to):
			t.Errorf("%s a %s job: %s, %v; want %s", c.action, c.from, j.Status, err, c.to)
		}
	}
	if _, err := control.Act(ctx, s, "a", "explode"); !errors.Is(err, control.ErrNoAction) {
		t.Errorf("an unknown action: %v", err)
	}
}

// An operator's rate: a positive whole number, for a job that has not
// ended, kept until the job runs again after it ended.
func TestSetRate(t *testing.T) {
	for _, in := range []string{"0", "-5", "2.5", "fast", "", "1e3"} {
		if _, err := control.ParseRate(in); !errors.Is(err, control.ErrRate) || !strings.Contains(err.Error(), "positive whole number") {
			t.Errorf("ParseRate(%q): %v; want ErrRate saying what a rate is", in, err)
		}
	}
	if r, err := control.ParseRate("250"); r != 250 || err != nil {
		t.Errorf("ParseRate(250) = %v, %v", r, err)
	}
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	if _, err := control.SetRate(ctx, s, "nope", 10); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("rate of a missing job: %v; want ErrNotFound", err)
	}
	for _, c := range []struct {
		status string
		ok     bool
	}{
		{control.Pending, true}, {control.Running, true}, {control.Paused, true}, {control.Interrupted, true},
		{control.Applying, true}, {control.Succeeded, false}, {control.Failed, false}, {control.Cancelled, false},
	} {
		now := time.Now().UTC()
		if err := errors.Join(s.SaveJob(ctx, assets.Job{ID: "r", Status: c.status, CreatedAt: now, UpdatedAt: now}),
			s.SetRateLimit(ctx, "r", 0)); err != nil {
			t.Fatal(err)
		}
		_, err := control.SetRate(ctx, s, "r", 40)
		got, _ := s.RateLimit(ctx, "r")
		if c.ok != (err == nil) || (c.ok && got != 40) || (!c.ok && (got != 0 || !errors.Is(err, control.ErrTransition))) {
			t.Errorf("rate 40 for a %s job: %v, recorded %v; want allowed=%v", c.status, err, got, c.ok)
		}
	}
	if _, err := control.SetRate(ctx, s, "r", 0.5); !errors.Is(err, control.ErrRate) {
		t.Errorf("rate 0.5: %v; want ErrRate", err)
	}
	// A rate set while the job ran holds when it resumes, and is gone
	// when it runs again after it ended.
	steps := []struct {
		end  string
		want float64
	}{{control.Interrupted, 40}, {control.Succeeded, 0}}
	for _, st := range steps {
		if _, err := control.Start(ctx, s, "k", "name: k\n", true); err != nil {
			t.Fatal(err)
		}
		if _, err := control.SetRate(ctx, s, "k", 40); err != nil {
			t.Fatal(err)
		}
		if _, err := control.Transition(ctx, s, "k", st.end, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := control.Start(ctx, s, "k", "name: k\n", false); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.RateLimit(ctx, "k"); got != st.want {
			t.Errorf("run again after %s: rate limit %v, want %v", st.end, got, st.want)
		}
	}
}
