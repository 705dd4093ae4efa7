package assetstest

import (
	"testing"

	"github.com/reprocess/reprocess/assets"
)

// Ledger checks a job record's counters at the job's end: every id
// scanned was filtered out or emitted (with the events the completeness
// pass emitted again), and every event emitted ended in one outcome:
//
//	scanned + reemitted = filtered + emitted
//	emitted = applied + skipped + dlq + deleted + would_delete + missing
//
// missing counts events whose asset was gone. Both hold for a job that
// ended succeeded or incomplete; only the first while it runs.
func Ledger(t testing.TB, j assets.Job) {
	t.Helper()
	c := j.Counters
	if c["scanned"]+c["reemitted"] != c["filtered"]+c["emitted"] {
		t.Errorf("job %s: scanned %d + reemitted %d != filtered %d + emitted %d", j.ID, c["scanned"], c["reemitted"], c["filtered"], c["emitted"])
	}
	if ended := c["applied"] + c["skipped"] + c["dlq"] + c["deleted"] + c["would_delete"] + c["missing"]; c["emitted"] != ended {
		t.Errorf("job %s (%s): emitted %d != %d ended (applied %d, skipped %d, dlq %d, deleted %d, would_delete %d, missing %d)",
			j.ID, j.Status, c["emitted"], ended, c["applied"], c["skipped"], c["dlq"], c["deleted"], c["would_delete"], c["missing"])
	}
}
