package api

import (
	"fmt"
	"strings"

	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// Ledger is where a job's assets went, from its counters:
//
//	scanned = filtered + emitted
//	emitted = handled (applied, skipped, dlq, deleted, would_delete, missing) + lacking + pending
//
// Pending were emitted and have no outcome yet. A job ended by its
// completeness pass (succeeded or incomplete) has its ledger settled by
// the store: it balances, with nothing pending.
type Ledger struct {
	Scanned  int64  `json:"scanned"`
	Filtered int64  `json:"filtered"`
	Emitted  int64  `json:"emitted"`
	Handled  int64  `json:"handled"`
	Lacking  int64  `json:"lacking"`
	Pending  int64  `json:"pending"`  // negative: more outcomes than events emitted
	Balanced bool   `json:"balanced"` // both identities hold, nothing pending
	Text     string `json:"text"`     // the identities in a line, as job status prints them
}

// LedgerOf reads a job's ledger from its counters.
func LedgerOf(c map[string]int64) Ledger {
	l := Ledger{Scanned: c["scanned"], Filtered: c["filtered"], Emitted: c["emitted"], Handled: worker.HandledIn(c), Lacking: c["lacking"]}
	l.Pending = l.Emitted - l.Handled - l.Lacking
	scanOff := l.Scanned - l.Filtered - l.Emitted
	l.Balanced = scanOff == 0 && l.Pending == 0
	parts := []string{}
	for _, o := range worker.Outcomes {
		if n := c[string(o)]; worker.Done(o) && (n != 0 || o == apply.Applied || o == apply.Skipped || o == worker.DeadLettered) {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
	}
	if l.Lacking != 0 {
		parts = append(parts, fmt.Sprintf("lacking %d", l.Lacking))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scanned %d = filtered %d + emitted %d", l.Scanned, l.Filtered, l.Emitted)
	if scanOff != 0 {
		fmt.Fprintf(&b, " (off by %d)", scanOff)
	}
	fmt.Fprintf(&b, "; emitted %d = %s", l.Emitted, strings.Join(parts, " + "))
	switch {
	case l.Pending > 0:
		fmt.Fprintf(&b, " + %d pending", l.Pending)
	case l.Pending < 0:
		fmt.Fprintf(&b, " (%d more outcomes than events emitted)", -l.Pending)
	}
	if l.Balanced {
		b.WriteString(" (balanced)")
	}
	l.Text = b.String()
	return l
}
