package jobctl

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/reprocess/reprocess/reprocess/api"
)

// ListTable writes jobs as job list shows them, one a line.
func ListTable(w io.Writer, views []api.JobView) {
	fmt.Fprintln(w, "JOB\tSTATUS\tSTARTED\tUPDATED\tCOUNTERS")
	for _, v := range views {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Status, when(v.StartedAt), when(v.UpdatedAt), counters(v.Counters))
	}
}

// StatusTable writes one job as job status shows it, its runs last.
func StatusTable(w io.Writer, v api.JobView) {
	fmt.Fprintf(w, "job\t%s\nstatus\t%s\nstarted\t%s\nended\t%s\ntasks\t%d started, %d done\ncounters\t%s\n",
		v.ID, v.Status, when(v.StartedAt), when(v.EndedAt), v.TasksStarted, v.TasksDone, counters(v.Counters))
	fmt.Fprintf(w, "ledger\t%s\n", api.LedgerOf(v.Counters).Text)
	if r := Rate(v); r != "" {
		fmt.Fprintf(w, "rate\t%s\n", r)
	}
	if v.Error != "" {
		fmt.Fprintf(w, "error\t%s\n", v.Error)
	}
	for _, r := range v.Runs {
		fmt.Fprintf(w, "run %d\t%s by %s, %s to %s: %s\n", r.N, r.Status, r.Owner, when(r.StartedAt), when(r.EndedAt), counters(r.Counters))
	}
}

// Rate is a job's rate in a few words: the rate it last went at, why it
// is slowed, and an operator's limit; empty when none is known.
func Rate(v api.JobView) string {
	var parts []string
	if t := v.Throttle; t != nil {
		s := "now unlimited"
		if t.Rate > 0 {
			s = fmt.Sprintf("now %.0f/s", t.Rate)
		}
		if t.Reason != "" {
			s += ", slowed: " + t.Reason
		}
		parts = append(parts, s)
	}
	if v.RateLimit > 0 {
		parts = append(parts, fmt.Sprintf("limit %.0f/s set by job rate", v.RateLimit))
	}
	return strings.Join(parts, "; ")
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func counters(c map[string]int64) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, " ")
}
