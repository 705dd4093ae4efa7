package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
)

// A running job's rate is what its counters gained between two reads a
// heartbeat apart (not its average since it started an hour ago), and its
// ETA the remaining work at that rate when a total is known.
func TestJobViewRateAndETA(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	srv := httptest.NewServer((&api.Server{Store: s, Token: token, Log: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, status string
		before, gain map[string]int64
		rateOf       string
		grown        float64 // what the counter grew by between the reads
		remaining    float64 // the work left after them; -1: unknown
	}{
		{"scan", control.Running, map[string]int64{"tasks": 10, "tasks_done": 5, "scanned": 100}, map[string]int64{"scanned": 1000},
			"scanned", 1000, 1100}, // 1100 ids in 5 tasks done, 5 to go
		{"no-total", control.Running, map[string]int64{"scanned": 100}, map[string]int64{"scanned": 1000}, "scanned", 1000, -1},
		{"apply", control.Applying, map[string]int64{"emitted": 1000, "applied": 100}, map[string]int64{"applied": 150, "dlq": 50},
			"handled", 200, 700},
		{"scanned-following", control.Running, map[string]int64{"tasks": 4, "tasks_done": 4, "emitted": 500, "applied": 100},
			map[string]int64{"applied": 300}, "handled", 300, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := time.Now().UTC()
			j := assets.Job{ID: "pace-" + tc.name, Status: tc.status, CreatedAt: now.Add(-time.Hour), StartedAt: now.Add(-time.Hour), UpdatedAt: now}
			if err := s.SaveJob(ctx, j); err != nil {
				t.Fatal(err)
			}
			if err := s.AddJobCounters(ctx, j.ID, tc.before); err != nil {
				t.Fatal(err)
			}
			first := getJob(t, srv, j.ID)
			if first.RatePerSecond == nil || *first.RatePerSecond > 1 || first.RateOverSeconds < 3500 {
				t.Errorf("first read: rate %s over %vs; want the average since the start an hour ago", show(first.RatePerSecond), first.RateOverSeconds)
			}
			if err := s.AddJobCounters(ctx, j.ID, tc.gain); err != nil {
				t.Fatal(err)
			}
			time.Sleep(control.Heartbeat) // the reads a heartbeat apart the rate is measured over
			v := getJob(t, srv, j.ID)
			low, high := tc.grown/(control.Heartbeat+time.Second).Seconds(), tc.grown/control.Heartbeat.Seconds()
			if v.RateOf != tc.rateOf || v.RatePerSecond == nil || *v.RatePerSecond < low || *v.RatePerSecond > high {
				t.Fatalf("rate of %s %s over %vs; want %s in [%.0f, %.0f]", v.RateOf, show(v.RatePerSecond), v.RateOverSeconds, tc.rateOf, low, high)
			}
			switch {
			case tc.remaining < 0 && v.ETASeconds != nil:
				t.Errorf("ETA %vs with no total known; want none", *v.ETASeconds)
			case tc.remaining >= 0 && (v.ETASeconds == nil || math.Abs(*v.ETASeconds**v.RatePerSecond-tc.remaining) > 1):
				t.Errorf("ETA %s at %.1f/s; want %.0f left", show(v.ETASeconds), *v.RatePerSecond, tc.remaining)
			}
		})
	}
}

// A job that is not running has no pace.
func TestJobViewNoPaceWhenStopped(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	now := time.Now().UTC()
	j := assets.Job{ID: "paused", Status: control.Paused, CreatedAt: now, StartedAt: now.Add(-time.Minute), UpdatedAt: now,
		Counters: map[string]int64{"tasks": 2, "tasks_done": 1, "scanned": 50}}
	if err := s.SaveJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&api.Server{Store: s, Token: token, Log: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	if v := getJob(t, srv, j.ID); v.RatePerSecond != nil || v.ETASeconds != nil || v.RateOf != "" {
		t.Errorf("paused job: rate %s of %q, ETA %s; want none", show(v.RatePerSecond), v.RateOf, show(v.ETASeconds))
	}
}

// show is a value that may be absent.
func show(f *float64) string {
	if f == nil {
		return "absent"
	}
	return strconv.FormatFloat(*f, 'f', 2, 64)
}

func getJob(t *testing.T, srv *httptest.Server, id string) api.JobView {
	t.Helper()
	code, body := call(t, srv, "GET", "/api/v1/jobs/"+id, token)
	var v api.JobView
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("GET job %s: %d %s", id, code, body)
	}
	return v
}
