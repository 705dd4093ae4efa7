package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// sent records what reached the dead-letter destination.
type sent struct {
	msgs     []events.Message
	attempts []int
	causes   []error
}

func (s *sent) Send(_ context.Context, m events.Message, cause error, attempts int) error {
	s.msgs, s.attempts, s.causes = append(s.msgs, m), append(s.attempts, attempts), append(s.causes, cause)
	return nil
}

// TestChain runs one delivery through the chain New builds, with an
// innermost handler that fails as each case says.
func TestChain(t *testing.T) {
	ev := events.Reprocess{SchemaVersion: "1.0", JobID: "j", AssetID: assets.NewID(time.Now()), Transform: "t", Version: 2, Attempt: 1}
	msg, err := events.Encode(ev, "test")
	if err != nil {
		t.Fatal(err)
	}
	other := ev
	other.Transform = "u"
	otherMsg, _ := events.Encode(other, "test")
	retryable := errors.New("write timed out")
	down := fmt.Errorf("get: %w: no hosts available", assets.ErrUnavailable)
	permanent := transform.Permanent(errors.New("poison"))
	for _, c := range []struct {
		name      string
		d         worker.Delivery
		fails     []error // the innermost handler's errors, in turn; then it applies
		cancelled bool
		want      apply.Outcome
		wantErr   bool
		calls     int
		dlq       int // attempts recorded with the dead letter; -1: none sent
	}{
		{name: "applied", d: worker.Delivery{Message: msg}, want: apply.Applied, calls: 1, dlq: -1},
		{name: "retried then applied", d: worker.Delivery{Message: msg}, fails: []error{retryable, retryable}, want: apply.Applied, calls: 3, dlq: -1},
		{name: "an outage is waited out", d: worker.Delivery{Message: msg}, fails: []error{down, down, down, down, down}, want: apply.Applied, calls: 6, dlq: -1},
		{name: "retries run out", d: worker.Delivery{Message: msg}, fails: []error{retryable, retryable, retryable}, want: worker.DeadLettered, calls: 3, dlq: 3},
		{name: "permanent at once", d: worker.Delivery{Message: msg}, fails: []error{permanent}, want: worker.DeadLettered, calls: 1, dlq: 1},
		{name: "malformed", d: worker.Delivery{Message: events.Message{Value: []byte("{nope")}}, want: worker.DeadLettered, calls: 0, dlq: 0},
		{name: "another transform", d: worker.Delivery{Message: otherMsg}, want: worker.Ignored, calls: 0, dlq: -1},
		{name: "sync mode, failed", d: worker.Delivery{Event: ev}, fails: []error{permanent}, want: worker.DeadLettered, calls: 1, dlq: 1},
		{name: "shutting down", d: worker.Delivery{Message: msg}, fails: []error{permanent}, cancelled: true, wantErr: true, calls: 1, dlq: -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			inner := func(context.Context, *worker.Delivery) (apply.Outcome, error) {
				calls++
				if calls <= len(c.fails) {
					return apply.Failed, c.fails[calls-1]
				}
				return apply.Applied, nil
			}
			counts, dlq := &worker.Counts{}, &sent{}
			h := worker.Chain(inner, worker.Count(counts), worker.DeadLetter(dlq, quiet), worker.Decode(),
				worker.Only("t", 2), worker.Retry(apply.Policy{Attempts: 3, Base: time.Microsecond, Max: time.Microsecond}))
			ctx, cancel := context.WithCancel(context.Background())
			if c.cancelled {
				cancel()
			}
			defer cancel()
			d := c.d
			out, err := h(ctx, &d)
			if out != c.want && !c.wantErr || (err != nil) != c.wantErr || calls != c.calls {
				t.Errorf("outcome %s, error %v, %d calls; want %s, error %v, %d calls", out, err, calls, c.want, c.wantErr, c.calls)
			}
			switch {
			case c.dlq < 0 && len(dlq.msgs) > 0:
				t.Errorf("dead-lettered %d messages; want none", len(dlq.msgs))
			case c.dlq >= 0 && (len(dlq.msgs) != 1 || dlq.attempts[0] != c.dlq || dlq.msgs[0].Value == nil || dlq.causes[0] == nil):
				t.Errorf("dead letters %d with attempts %v, causes %v; want one with %d attempts and its cause", len(dlq.msgs), dlq.attempts, dlq.causes, c.dlq)
			}
			if !c.wantErr && counts.Get(c.want) != 1 {
				t.Errorf("counted %s %d times; want once", c.want, counts.Get(c.want))
			}
			if fmt.Sprint(counts.Map()["dlq"]) != fmt.Sprint(map[bool]int{true: 1}[c.want == worker.DeadLettered]) {
				t.Errorf("job counts %v", counts.Map())
			}
		})
	}
}

// TestNewChecksItsConfig: a worker without a handler, a dead-letter
// destination, or with half a transform filter is an error naming it.
func TestNewChecksItsConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  worker.Config
		want string
	}{
		{worker.Config{DLQ: &sent{}}, "no apply handler"},
		{worker.Config{Apply: &apply.Handler{}}, "no dead-letter destination"},
		{worker.Config{Apply: &apply.Handler{}, DLQ: &sent{}, Transform: "t"}, "go together"},
	} {
		if _, err := worker.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v; want an error saying %q", c.cfg, err, c.want)
		}
	}
}

// flakyJobs fails AddJobCounters while down.
type flakyJobs struct {
	assets.JobStore
	down bool
}

func (f *flakyJobs) AddJobCounters(ctx context.Context, id string, d map[string]int64) error {
	if f.down {
		return errors.New("store unavailable")
	}
	return f.JobStore.AddJobCounters(ctx, id, d)
}

// Counts that could not be reported are kept and reported next time.
func TestReportKeepsWhatFailed(t *testing.T) {
	ctx := context.Background()
	s := &flakyJobs{JobStore: assetstest.Embedded(t, assets.DefaultLayout), down: true}
	now := time.Now().UTC()
	if err := s.SaveJob(ctx, assets.Job{ID: "j", Status: "running", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var c worker.Counts
	for range 7 {
		c.Add("j", apply.Applied)
	}
	c.Add("j", worker.DeadLettered)
	c.Report(ctx, s, quiet) // the store is down
	c.Add("j", apply.Applied)
	s.down = false
	c.Report(ctx, s, quiet)
	j, err := s.Job(ctx, "j")
	if err != nil || j.Counters["applied"] != 8 || j.Counters["dlq"] != 1 {
		t.Errorf("counters %v, %v; want applied 8 and dlq 1 after a failed report", j.Counters, err)
	}
}
