package api_test

import (
	"testing"

	"github.com/reprocess/reprocess/reprocess/api"
)

func TestLedgerOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		counters map[string]int64
		pending  int64
		balanced bool
		text     string
	}{
		{"settled", map[string]int64{"scanned": 3000, "filtered": 277, "emitted": 2723, "applied": 2666, "skipped": 57, "tasks": 160}, 0, true,
			"scanned 3000 = filtered 277 + emitted 2723; emitted 2723 = applied 2666 + skipped 57 + dlq 0 (balanced)"},
		{"incomplete", map[string]int64{"scanned": 10, "emitted": 10, "applied": 4, "dlq": 2, "missing": 1, "lacking": 3}, 0, true,
			"scanned 10 = filtered 0 + emitted 10; emitted 10 = applied 4 + skipped 0 + missing 1 + dlq 2 + lacking 3 (balanced)"},
		{"running", map[string]int64{"scanned": 100, "filtered": 10, "emitted": 90, "applied": 50}, 40, false,
			"scanned 100 = filtered 10 + emitted 90; emitted 90 = applied 50 + skipped 0 + dlq 0 + 40 pending"},
		{"reports lost", map[string]int64{"scanned": 2939, "filtered": 277, "emitted": 2662, "applied": 2693, "skipped": 20}, -51, false,
			"scanned 2939 = filtered 277 + emitted 2662; emitted 2662 = applied 2693 + skipped 20 + dlq 0 (51 more outcomes than events emitted)"},
		{"scan off", map[string]int64{"scanned": 12, "filtered": 2, "emitted": 9, "applied": 9}, 0, false,
			"scanned 12 = filtered 2 + emitted 9 (off by 1); emitted 9 = applied 9 + skipped 0 + dlq 0"},
		{"a delete", map[string]int64{"scanned": 5, "emitted": 5, "deleted": 4, "would_delete": 1}, 0, true,
			"scanned 5 = filtered 0 + emitted 5; emitted 5 = applied 0 + skipped 0 + deleted 4 + would_delete 1 + dlq 0 (balanced)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := api.LedgerOf(tc.counters)
			if l.Pending != tc.pending || l.Balanced != tc.balanced || l.Text != tc.text {
				t.Errorf("LedgerOf(%v) = pending %d, balanced %v, %q; want %d, %v, %q", tc.counters, l.Pending, l.Balanced, l.Text, tc.pending, tc.balanced, tc.text)
			}
		})
	}
}
