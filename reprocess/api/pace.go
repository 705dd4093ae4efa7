package api

import (
	"sync"
	"time"

	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// paceWindow is how far back a job's rate looks. Counters reach the store
// every control.Heartbeat, so a window of many heartbeats smooths their
// steps.
const paceWindow = 15 * control.Heartbeat

// maxSamples bounds what is kept of one job.
const maxSamples = 256

// sample is a counter of a job as the server read it.
type sample struct {
	at    time.Time
	count int64
}

// pace keeps, per job and counter, the values the server read in the last
// paceWindow: each value when first seen, so its time is within one read
// of when it was saved.
type pace struct {
	mu   sync.Mutex
	seen map[string][]sample // by job id and counter name
}

// rate records count, the value of counter key read at now, and returns
// how fast it grew over the window and over how many seconds. It is 0
// over 0 seconds until the values seen span a heartbeat: a shorter span
// may fall between two saves of the counters.
func (p *pace) rate(key string, count int64, now time.Time) (perSecond, over float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string][]sample{}
	}
	s := p.seen[key]
	if n := len(s); n > 0 && count < s[n-1].count { // the job started over
		s = nil
	}
	if n := len(s); n == 0 || s[n-1].count != count {
		s = append(s, sample{at: now, count: count})
	}
	// Keep one value from before the window: the base it is measured from.
	for len(s) > 1 && (len(s) > maxSamples || !s[1].at.After(now.Add(-paceWindow))) {
		s = s[1:]
	}
	p.seen[key] = s
	base := s[0]
	span := now.Sub(base.at).Seconds()
	if span < control.Heartbeat.Seconds() {
		return 0, 0
	}
	return float64(count-base.count) / span, span
}

// forget drops what was kept of the counters keys.
func (p *pace) forget(keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		delete(p.seen, k)
	}
}

// Pace is how fast a running or applying job moves, and when it should be
// done; a job in another state has none.
type Pace struct {
	// RatePerSecond is how fast RateOf grows: ids scanned while the job
	// scans, events handled once its scan is done. Absent when unknown.
	RatePerSecond *float64 `json:"rate_per_second,omitempty"`
	RateOf        string   `json:"rate_of,omitempty"`
	// RateOverSeconds is the span the rate was measured over: the
	// counters as this server read them in the last paceWindow or, before
	// it saw them long enough, the time since the job started.
	RateOverSeconds float64 `json:"rate_over_seconds,omitempty"`
	// ETASeconds is the remaining work at that rate; absent when unknown
	// (no total known, or no progress measured).
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
}

// paceOf is job v's pace read at now, recorded for the next reads.
func (s *Server) paceOf(v control.View, now time.Time) Pace {
	c := v.Counters
	scanKey, handledKey := v.ID+"\x00scanned", v.ID+"\x00handled"
	if v.Status != control.Running && v.Status != control.Applying {
		s.pace.forget(scanKey, handledKey)
		return Pace{}
	}
	tasks, done, scanned, handled := c["tasks"], c["tasks_done"], c["scanned"], worker.HandledIn(c)
	p := Pace{RateOf: "scanned"}
	key, count := scanKey, scanned
	if v.Status == control.Applying || (tasks > 0 && done >= tasks) {
		p.RateOf, key, count = "handled", handledKey, handled
	}
	rate, over := s.pace.rate(key, count, now)
	if over == 0 && len(v.Runs) <= 1 && !v.StartedAt.IsZero() && now.After(v.StartedAt) {
		over = now.Sub(v.StartedAt).Seconds()
		rate = float64(count) / over
	}
	if over == 0 {
		return Pace{RateOf: p.RateOf}
	}
	p.RatePerSecond, p.RateOverSeconds = &rate, over
	remaining := int64(-1)
	switch {
	case p.RateOf == "handled":
		remaining = max(0, c["emitted"]-handled)
	case tasks > 0 && done > 0: // ids per done task, for the tasks left
		remaining = scanned * (tasks - done) / done
	}
	switch {
	case remaining == 0:
		p.ETASeconds = new(float64)
	case remaining > 0 && rate > 0:
		eta := float64(remaining) / rate
		p.ETASeconds = &eta
	}
	return p
}
