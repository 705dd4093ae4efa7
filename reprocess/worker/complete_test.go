package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// A scanned job ends when, and only when, its processors have reported
// every event it emitted: succeeded, or failed over its error budget.
func TestCompleteEndsAScannedJob(t *testing.T) {
	const spec = "name: j\nsource: {kind: ids, ids: [x]}\ntransform: {name: t, version: 1, facts: {f: '\"x\"'}}\nbudget: {max_dead_letters: 1}\n"
	for _, tc := range []struct {
		name     string
		status   string
		counters map[string]int64
		lag      int64 // the group's; -1: not known
		done     bool
		want     string
	}{
		{"events still out", control.Applying, map[string]int64{"emitted": 10, "applied": 9}, -1, false, control.Applying},
		{"events still on the topic", control.Applying, map[string]int64{"emitted": 10, "applied": 9}, 1, false, control.Applying},
		{"a killed worker's counts lost, topic drained", control.Applying, map[string]int64{"emitted": 10, "applied": 9}, 0, true, control.Succeeded},
		{"all handled", control.Applying, map[string]int64{"emitted": 10, "applied": 8, "skipped": 1, "dlq": 1}, -1, true, control.Succeeded},
		{"over budget", control.Applying, map[string]int64{"emitted": 10, "applied": 8, "dlq": 2}, -1, true, control.Failed},
		{"redelivered events count", control.Applying, map[string]int64{"emitted": 10, "applied": 10, "skipped": 3}, -1, true, control.Succeeded},
		{"still scanning", control.Running, map[string]int64{"emitted": 10, "applied": 10}, 0, false, control.Running},
		{"cancelled", control.Cancelled, map[string]int64{"emitted": 10, "applied": 10}, 0, false, control.Cancelled},
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
			done, err := worker.Complete(ctx, s, "j", lag)
			if err != nil || done != tc.done {
				t.Fatalf("Complete = %v, %v; want %v", done, err, tc.done)
			}
			rec, err := s.Job(ctx, "j")
			if err != nil || rec.Status != tc.want {
				t.Fatalf("job %s (%v); want %s", rec.Status, err, tc.want)
			}
			if tc.want == control.Failed && rec.Error == "" {
				t.Error("a job failed over its budget says nothing why")
			}
		})
	}
}
