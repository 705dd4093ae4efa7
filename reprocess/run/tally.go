package run

import (
	"context"
	"errors"
	"sync"

	"github.com/reprocess/reprocess/assets"
)

// tally reports a process's running counts of a job to the job's record
// as increments, one counter at a time, so the counts of every process
// and every run of the job add up, and an increment that failed is sent
// again with the next report.
type tally struct {
	mu   sync.Mutex
	sent map[string]int64
}

// report adds to job id's counters what counts gained since the last
// report of each counter that succeeded.
func (t *tally) report(ctx context.Context, s assets.JobStore, id string, counts map[string]int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sent == nil {
		t.sent = map[string]int64{}
	}
	var errs []error
	for k, v := range counts {
		d := v - t.sent[k]
		if d == 0 {
			continue
		}
		if err := s.AddJobCounters(ctx, id, map[string]int64{k: d}); err != nil {
			errs = append(errs, err)
			continue
		}
		t.sent[k] = v
	}
	return errors.Join(errs...)
}
