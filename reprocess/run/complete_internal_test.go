package run

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// A pass outside the job's run has no latency signal: it goes at the
// job's limit, or at an adaptive rate's floor.
func TestPassLimiter(t *testing.T) {
	for _, c := range []struct {
		rate throttle.Config
		want float64
	}{
		{throttle.Config{Limit: 200}, 200},
		{throttle.Config{Limit: 200, Adaptive: true}, 10},
		{throttle.Config{Limit: 200, Adaptive: true, Min: 30}, 30},
	} {
		if got := passLimiter(c.rate).Rate(); got != c.want {
			t.Errorf("%+v: %v/s; want %v/s", c.rate, got, c.want)
		}
	}
}

// A job's ledger is settled with the reports processors elsewhere make
// after their lag reached zero, however late, as long as each comes
// within a report interval and a half of the one before.
func TestSettlementTakesLateReports(t *testing.T) {
	const spec = "name: j\nsource: {kind: ids, ids: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]}\ntransform: {name: t, version: 1, facts: {f: '\"x\"'}}\n"
	ctx := context.Background()
	s := assetstest.Embedded(t, assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4})
	assetstest.LedgersAtEnd(t, s)
	now := time.Now().UTC()
	if err := s.SaveJob(ctx, assets.Job{ID: "j", Spec: spec, Status: "applying", CreatedAt: now, UpdatedAt: now,
		Counters: map[string]int64{"scanned": 10, "emitted": 10, "applied": 6}}); err != nil {
		t.Fatal(err)
	}
	j, err := job.Read([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan error, 1)
	go func() { // a worker's last two reports, one interval apart
		var err error
		for range 2 {
			time.Sleep(worker.ReportEvery)
			err = errors.Join(err, s.AddJobCounters(ctx, "j", map[string]int64{"applied": 2}))
		}
		reports <- err
	}()
	timed, err := instrument.Wrap(s, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Store: timed, Log: slog.New(slog.DiscardHandler)}
	settle, err := e.settlement(ctx, j, verdict{Tally: scan.Tally{Checked: 10, Done: 10}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(settle(ctx), <-reports); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Job(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if c := rec.Counters; c["applied"] != 10 || c["skipped"] != 0 {
		t.Errorf("settled at applied %d, skipped %d; want 10 and 0 (the late reports taken)", c["applied"], c["skipped"])
	}
	assetstest.Ledger(t, rec)
}
