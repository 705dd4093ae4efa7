package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// A scanned job ends when, and only when, its processors have reported
// every event it emitted: succeeded, or failed over its error budget. Its
// on-success step is taken when, and only when, it would succeed, and
// fails it when it fails.
func TestCompleteEndsAScannedJob(t *testing.T) {
	const spec = "name: j\nsource: {kind: ids, ids: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]}\ntransform: {name: t, version: 1, facts: {f: '\"x\"'}}\nbudget: {max_dead_letters: 1}\n"
	for _, tc := range []struct {
		name     string
		status   string
		counters map[string]int64
		lag      int64 // the group's; -1: not known
		done     bool
		want     string
		finish   error // the on-success step's
	}{
		{"events still out", control.Applying, map[string]int64{"emitted": 10, "applied": 9}, -1, false, control.Applying, nil},
		{"events still on the topic", control.Applying, map[string]int64{"emitted": 10, "applied": 9}, 1, false, control.Applying, nil},
		{"a killed worker's counts lost, topic drained", control.Applying, map[string]int64{"emitted": 10, "applied": 9}, 0, true, control.Succeeded, nil},
		{"all handled", control.Applying, map[string]int64{"emitted": 10, "applied": 8, "skipped": 1, "dlq": 1}, -1, true, control.Succeeded, nil},
		{"over budget", control.Applying, map[string]int64{"emitted": 10, "applied": 8, "dlq": 2}, -1, true, control.Failed, nil},
		{"redelivered events count", control.Applying, map[string]int64{"emitted": 10, "applied": 10, "skipped": 3}, -1, true, control.Succeeded, nil},
		{"redelivered events counted, a killed worker's still on the topic", control.Applying, map[string]int64{"emitted": 10, "applied": 10, "skipped": 3}, 2, false, control.Applying, nil},
		{"still scanning", control.Running, map[string]int64{"emitted": 10, "applied": 10}, 0, false, control.Running, nil},
		{"cancelled", control.Cancelled, map[string]int64{"emitted": 10, "applied": 10}, 0, false, control.Cancelled, nil},
		{"on-success step fails", control.Applying, map[string]int64{"emitted": 10, "applied": 10}, -1, true, control.Failed, errors.New("alias not switched")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := assetstest.Embedded(t, layout)
			now := time.Now().UTC()
			if err := s.SaveJob(ctx, assets.Job{ID: "j", Spec: spec, Status: tc.status, Counters: tc.counters, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			var lag worker.LagFunc
			if tc.lag >= 0 {
				lag = func(_ context.Context, group string) (int64, error) {
					if group != "reprocess.t.v1" {
						t.Errorf("lag asked of group %q; want the transform's", group)
					}
					return tc.lag, nil
				}
			}
			finished := 0
			done, err := worker.Complete(ctx, s, "j", lag, nil, func(context.Context, *job.Job) error { finished++; return tc.finish })
			if err != nil || done != tc.done {
				t.Fatalf("Complete = %v, %v; want %v", done, err, tc.done)
			}
			if want := tc.want == control.Succeeded || tc.finish != nil; (finished == 1) != want || finished > 1 {
				t.Errorf("on-success step taken %d times; want it taken: %t", finished, want)
			}
			rec, err := s.Job(ctx, "j")
			if err != nil || rec.Status != tc.want {
				t.Fatalf("job %s (%v); want %s", rec.Status, err, tc.want)
			}
			if tc.want == control.Failed && rec.Error == "" {
				t.Error("a failed job says nothing why")
			}
			if tc.finish != nil && !strings.Contains(rec.Error, tc.finish.Error()) {
				t.Errorf("job error %q does not say the on-success step failed", rec.Error)
			}
		})
	}
}

// Of processors ending a job at once, each running its completeness
// pass, only the one that ends it settles the job's ledger: settling
// twice would add its corrections twice.
func TestCompleteSettlesOnce(t *testing.T) {
	const spec = "name: j\nsource: {kind: ids, ids: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]}\ntransform: {name: t, version: 1, facts: {f: '\"x\"'}}\n"
	ctx := context.Background()
	s := assetstest.Embedded(t, layout)
	now := time.Now().UTC()
	if err := s.SaveJob(ctx, assets.Job{ID: "j", Spec: spec, Status: control.Applying, Counters: map[string]int64{"emitted": 10, "applied": 10},
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var settled, checked atomic.Int64
	var both sync.WaitGroup
	both.Add(2)
	check := func(context.Context, *job.Job, int64) (worker.Verdict, error) {
		checked.Add(1)
		both.Done()
		both.Wait() // both passes are done before either ends the job
		return worker.Verdict{Settle: func(context.Context) error { settled.Add(1); return nil }}, nil
	}
	var ended atomic.Int64
	var g sync.WaitGroup
	for range 2 {
		g.Go(func() {
			done, err := worker.Complete(ctx, s, "j", nil, check, nil)
			if err != nil {
				t.Error(err)
			}
			if done {
				ended.Add(1)
			}
		})
	}
	g.Wait()
	if checked.Load() != 2 || ended.Load() != 1 || settled.Load() != 1 {
		t.Errorf("%d passes, %d ended the job, %d settled it; want 2, 1 and 1", checked.Load(), ended.Load(), settled.Load())
	}
}
