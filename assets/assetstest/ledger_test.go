package assetstest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
)

// recorder is a testing.TB that keeps its errors instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Ledgers finds each ended job whose ledger does not balance, and leaves
// alone a running job, whose outcomes are still to come.
func TestLedgersChecksEveryEndedJob(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	ctx := context.Background()
	for _, j := range []assets.Job{
		{ID: "balanced", Status: "succeeded", Counters: map[string]int64{"scanned": 10, "filtered": 2, "emitted": 8, "applied": 5, "skipped": 1, "dlq": 1, "lacking": 1}},
		{ID: "short", Status: "succeeded", Counters: map[string]int64{"scanned": 10, "emitted": 10, "applied": 9}},
		{ID: "overscanned", Status: "incomplete", Counters: map[string]int64{"scanned": 11, "emitted": 10, "applied": 10}},
		{ID: "running", Status: "running", Counters: map[string]int64{"scanned": 10, "emitted": 10, "applied": 3}},
	} {
		if err := s.SaveJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	r := &recorder{TB: t}
	assetstest.Ledgers(r, s)
	if len(r.errors) != 2 {
		t.Fatalf("got %d ledger errors, want 2 (overscanned, short): %q", len(r.errors), r.errors)
	}
	for i, want := range []string{"job overscanned: scanned 11 != filtered 0 + emitted 10", "job short (succeeded): emitted 10 != 9 ended"} {
		if got := r.errors[i]; len(got) < len(want) || got[:len(want)] != want {
			t.Errorf("error %d = %q, want it to start %q", i, got, want)
		}
	}
}
