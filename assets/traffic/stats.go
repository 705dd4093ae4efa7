package traffic

import (
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Stats are one kind of request's figures. Count includes the requests
// that failed; latencies are from the time each request was due.
type Stats struct {
	Count     int64         `json:"count"`
	Errors    int64         `json:"errors"`
	Conflicts int64         `json:"conflicts"` // LWT writes that lost the race and re-read
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	P999      time.Duration `json:"p999_ns"`
	Max       time.Duration `json:"max_ns"`
	LastError string        `json:"last_error,omitempty"`
}

func (s Stats) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
	line := fmt.Sprintf("count %d errors %d conflicts %d p50 %s p90 %s p99 %s p999 %s max %s",
		s.Count, s.Errors, s.Conflicts, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.P999), ms(s.Max))
	if s.LastError != "" {
		line += " (last error: " + s.LastError + ")"
	}
	return line
}

// Report is the figures of an interval (Interval) or of a whole run.
type Report struct {
	Elapsed  time.Duration `json:"elapsed_ns"`
	Interval bool          `json:"interval"`
	Reads    Stats         `json:"reads"`
	Writes   Stats         `json:"writes"`
}

func (r Report) String() string {
	what := "total"
	if r.Interval {
		what = "last"
	}
	return fmt.Sprintf("%6s %-5s reads  %s\n%6s %-5s writes %s", r.Elapsed.Round(time.Second), what, r.Reads,
		r.Elapsed.Round(time.Second), what, r.Writes)
}

// maxLatency is the largest latency a histogram keeps; larger ones count
// as this.
const maxLatency = time.Hour

// recorder keeps one kind of request's latencies (in microseconds) and
// counts, for the current interval and for the whole run.
type recorder struct {
	mu       sync.Mutex
	now, all *hdrhistogram.Histogram
	nowC     Stats // errors and conflicts of the interval
	allC     Stats
}

func newRecorder() *recorder {
	h := func() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatency.Microseconds(), 3) }
	return &recorder{now: h(), all: h()}
}

func (r *recorder) record(latency time.Duration, conflicts int, err error) {
	us := min(max(latency.Microseconds(), 1), maxLatency.Microseconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range []*Stats{&r.nowC, &r.allC} {
		c.Conflicts += int64(conflicts)
		if err != nil {
			c.Errors++
			c.LastError = err.Error()
		}
	}
	_ = r.now.RecordValue(us) // in range by construction
	_ = r.all.RecordValue(us)
}

// stats returns the interval's figures and starts a new interval, or the
// whole run's.
func (r *recorder) stats(interval bool) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, c := r.all, r.allC
	if interval {
		h, c = r.now, r.nowC
		defer func() { r.now.Reset(); r.nowC = Stats{} }()
	}
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtQuantile(p)) * time.Microsecond }
	c.Count = h.TotalCount()
	c.P50, c.P90, c.P99, c.P999 = q(50), q(90), q(99), q(99.9)
	c.Max = time.Duration(h.Max()) * time.Microsecond
	return c
}
