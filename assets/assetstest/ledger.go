package assetstest

import (
	"testing"

	"github.com/reprocess/reprocess/assets"
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
