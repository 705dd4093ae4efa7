package worker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/apply"
)

// Outcomes is every outcome a worker counts, in the order they are shown:
// the counter names of a job's record, the outcome label of
// reprocess_apply_events_total, and the columns of progress output.
var Outcomes = []apply.Outcome{apply.Applied, apply.Skipped, apply.Missing, apply.Deleted, apply.WouldDelete, DeadLettered, Ignored}

// Done reports whether an outcome finishes an event of its job (every
// outcome but Ignored, which belongs to another group's job).
func Done(o apply.Outcome) bool { return o != Ignored }

// Counts counts outcomes, in all and per job for reports. It is safe for
// concurrent use.
type Counts struct {
	all sync.Map // apply.Outcome -> *atomic.Int64

	mu      sync.Mutex
	pending map[string]map[string]int64 // job -> outcome or note -> not yet reported
	errs    []string                    // the first errors of dead letters
	notes   map[string]map[apply.Note]int64
}

// Note implements apply.Noter: guard events count per job, for metrics
// and the job's record (counters "conflicts" and "reapplied").
func (c *Counts) Note(job string, n apply.Note) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.notes == nil {
		c.notes = map[string]map[apply.Note]int64{}
	}
	if c.notes[job] == nil {
		c.notes[job] = map[apply.Note]int64{}
	}
	c.notes[job][n]++
	if job != "" {
		c.addPending(job, string(n), 1)
	}
}

// Noted is how many guard events n job had.
func (c *Counts) Noted(job string, n apply.Note) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notes[job][n]
}

// firstErrors is how many dead-letter errors Counts keeps.
const firstErrors = 5

func (c *Counts) noteError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < firstErrors {
		c.errs = append(c.errs, err.Error())
	}
}

// FirstErrors are the errors of the first dead letters (at most five).
func (c *Counts) FirstErrors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// Add counts one event of job that ended with o.
func (c *Counts) Add(job string, o apply.Outcome) {
	c.add(job, o, false)
}

// add counts one event of job that ended with o; a replayed one (a dead
// letter sent back) is reported to the job as its asset's move out of
// the dead letters: nothing when it failed again, else o counted and a
// dead letter less. Its own counts (Get) count it as any event.
func (c *Counts) add(job string, o apply.Outcome, replayed bool) {
	v, _ := c.all.LoadOrStore(o, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if job == "" || !Done(o) || (replayed && o == DeadLettered) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addPending(job, string(o), 1)
	if replayed {
		c.addPending(job, string(DeadLettered), -1)
	}
}

// addPending adds d to what is not yet reported; c.mu is held.
func (c *Counts) addPending(job, outcome string, d int64) {
	if c.pending == nil {
		c.pending = map[string]map[string]int64{}
	}
	if c.pending[job] == nil {
		c.pending[job] = map[string]int64{}
	}
	c.pending[job][outcome] += d
}

// Get is how many events ended with o.
func (c *Counts) Get(o apply.Outcome) int64 {
	if v, ok := c.all.Load(o); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Handled is how many events ended with an outcome that finishes them.
func (c *Counts) Handled() int64 { return HandledIn(c.Map()) }

// HandledIn is how many events a job's counters say were finished.
func HandledIn(counters map[string]int64) int64 {
	var n int64
	for _, o := range Outcomes {
		if Done(o) {
			n += counters[string(o)]
		}
	}
	return n
}

// Map is the counts by outcome name, for a job's record.
func (c *Counts) Map() map[string]int64 {
	m := make(map[string]int64, len(Outcomes))
	for _, o := range Outcomes {
		if Done(o) {
			m[string(o)] = c.Get(o)
		}
	}
	return m
}

// Report adds the counts gathered since the last report to the jobs'
// records, one counter at a time; what could not be added is kept for the
// next report. It returns the jobs it reported for.
func (c *Counts) Report(ctx context.Context, s assets.JobStore, log *slog.Logger) (jobs []string) {
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for job, deltas := range pending {
		for outcome, d := range deltas {
			err := s.AddJobCounters(ctx, job, map[string]int64{outcome: d})
			if err == nil || errors.Is(err, assets.ErrNotFound) {
				continue
			}
			log.Warn("report job counters (kept for the next report)", "job", job, "error", err)
			c.mu.Lock()
			c.addPending(job, outcome, d)
			c.mu.Unlock()
		}
		jobs = append(jobs, job)
	}
	return jobs
}

var eventsDesc = prometheus.NewDesc("reprocess_apply_events_total",
	"Events handled by a worker, by transform, version and outcome (applied, skipped, missing, deleted, would_delete, dlq, ignored).",
	[]string{"transform", "version", "outcome"}, nil)

var (
	conflictsDesc = prometheus.NewDesc("reprocess_apply_conflicts_total",
		"Conditional writes of a transform that reads production which lost to a production write, by job.", []string{"job_name"}, nil)
	reappliedDesc = prometheus.NewDesc("reprocess_apply_reapplied_total",
		"Facts applied again because the metadata they were derived from had changed, by job.", []string{"job_name"}, nil)
)

// Describe implements prometheus.Collector.
func (w *Worker) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- conflictsDesc
	ch <- reappliedDesc
}

// Collect implements prometheus.Collector: one counter per outcome.
func (w *Worker) Collect(ch chan<- prometheus.Metric) {
	version := ""
	if w.cfg.Version > 0 {
		version = strconv.Itoa(w.cfg.Version)
	}
	for _, o := range Outcomes {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(w.Count(o)), w.cfg.Transform, version, string(o))
	}
	w.counts.mu.Lock()
	defer w.counts.mu.Unlock()
	for job, n := range w.counts.notes {
		ch <- prometheus.MustNewConstMetric(conflictsDesc, prometheus.CounterValue, float64(n[apply.Conflict]), job)
		ch <- prometheus.MustNewConstMetric(reappliedDesc, prometheus.CounterValue, float64(n[apply.Reapplied]), job)
	}
}
