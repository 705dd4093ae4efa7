package jobctl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/jobctl"
)

// job status shows the job's ledger and its run history, a line per run.
func TestStatusTableShowsRuns(t *testing.T) {
	start := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	c := map[string]int64{"scanned": 300, "filtered": 10, "emitted": 290, "applied": 280, "dlq": 10}
	v := api.JobView{View: control.View{Job: assets.Job{ID: "j", Status: "succeeded", Counters: c}, Runs: []assets.Run{
		{N: 1, Owner: "serve", Status: "interrupted", StartedAt: start, EndedAt: start.Add(time.Minute), Counters: map[string]int64{"emitted": 16}},
		{N: 2, Owner: "run", Status: "succeeded", StartedAt: start.Add(2 * time.Minute), EndedAt: start.Add(3 * time.Minute), Counters: map[string]int64{"emitted": 284}},
	}}}
	var out strings.Builder
	jobctl.StatusTable(&out, v)
	for _, want := range []string{"ledger\tscanned 300 = filtered 10 + emitted 290; emitted 290 = applied 280 + skipped 0 + dlq 10 (balanced)\n", "run 1\tinterrupted by serve", "emitted=16", "run 2\tsucceeded by run", "emitted=284"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("job status lacks %q:\n%s", want, out.String())
		}
	}
}
