package assetstest

import (
	"context"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/control"
)

// Ledger checks a job record's counters at the job's end: every asset
// scanned was filtered out or emitted, and every asset emitted ended in
// one outcome, or lacks the job's result:
//
//	scanned = filtered + emitted
//	emitted = applied + skipped + dlq + deleted + would_delete + missing + lacking
//
// missing counts assets gone from the store. Both hold for a job that
// ended succeeded or incomplete; only the first while it runs.
func Ledger(t testing.TB, j assets.Job) {
	t.Helper()
	c := j.Counters
	if c["scanned"] != c["filtered"]+c["emitted"] {
		t.Errorf("job %s: scanned %d != filtered %d + emitted %d", j.ID, c["scanned"], c["filtered"], c["emitted"])
	}
	if ended := c["applied"] + c["skipped"] + c["dlq"] + c["deleted"] + c["would_delete"] + c["missing"] + c["lacking"]; c["emitted"] != ended {
		t.Errorf("job %s (%s): emitted %d != %d ended (applied %d, skipped %d, dlq %d, deleted %d, would_delete %d, missing %d, lacking %d)",
			j.ID, j.Status, c["emitted"], ended, c["applied"], c["skipped"], c["dlq"], c["deleted"], c["would_delete"], c["missing"], c["lacking"])
	}
}

// LedgersAtEnd checks, when the test ends, the Ledger of every job in s
// that ended succeeded or incomplete, so no test ends a job unchecked.
// Register it before anything that stops the test's jobs, so it runs
// after them.
func LedgersAtEnd(t testing.TB, s assets.Store) {
	t.Helper()
	t.Cleanup(func() { Ledgers(t, s) })
}

// Ledgers checks the Ledger of every job in s that ended succeeded or
// incomplete.
func Ledgers(t testing.TB, s assets.Store) {
	t.Helper()
	jobs, err := s.Jobs(context.Background())
	if err != nil {
		t.Errorf("reading the jobs to check their ledgers: %v", err)
		return
	}
	for _, j := range jobs {
		LedgerIfEnded(t, j)
	}
}

// LedgerIfEnded checks j's Ledger if j ended succeeded or incomplete.
func LedgerIfEnded(t testing.TB, j assets.Job) {
	t.Helper()
	if j.Status == control.Succeeded || j.Status == control.Incomplete {
		Ledger(t, j)
	}
}
