// Package control is a job's lifecycle, kept in the store:
//
//	pending -> running <-> paused -> succeeded | failed | cancelled
//	running | paused -> interrupted -> running (run again) | cancelled
//	running -> applying -> succeeded | failed | cancelled
//	running | applying -> incomplete -> running (run again)
//
// A job whose completeness pass still finds assets in its scope without
// its result ends incomplete, with their count, never succeeded.
//
// An async job whose scan is done while its events are still with
// processors in other processes is applying; whichever process reports
// the last of its events ends it (see worker.Complete).
// (pending and paused jobs may be cancelled too). A job whose process was
// stopped (Ctrl-C, SIGTERM) is interrupted: running it again resumes it
// from its checkpoints. Operators act on a job with Act (pause, resume,
// cancel), each allowed only from the states that make sense; a running
// scan asks Watch before every batch whether to go on, wait (paused) or
// stop (cancelled), so a pause takes effect within one page and in-flight
// events still finish. SetRate gives a job that has not ended a new rate
// limit, which its scan's controller reads from the store every second.
package control

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// Job states.
const (
	Pending   = "pending"
	Running   = "running"
	Paused    = "paused"
	Succeeded = "succeeded"
	Failed    = "failed"
	Cancelled = "cancelled"
	// Interrupted is a job whose process stopped before it ended.
	Interrupted = "interrupted"
	// Applying is an async job scanned to its end whose events processors
	// elsewhere have not all handled yet.
	Applying = "applying"
	// Incomplete is a job that ended with assets in its scope still
	// lacking its result (its completeness pass counted them).
	Incomplete = "incomplete"
)

var next = map[string][]string{
	Pending: {Running, Cancelled},
	// A running job may be started again: a scan restarted after a crash.
	Running:     {Running, Paused, Succeeded, Failed, Cancelled, Interrupted, Applying, Incomplete},
	Applying:    {Running, Succeeded, Failed, Cancelled, Incomplete},
	Paused:      {Running, Cancelled, Interrupted},
	Interrupted: {Running, Cancelled},
	// A finished job may run again: its checkpoints make that a resume.
	Succeeded:  {Running},
	Failed:     {Running},
	Cancelled:  {Running},
	Incomplete: {Running},
}

// ErrTransition is returned for a move the lifecycle does not allow.
var ErrTransition = errors.New("control: transition not allowed")

// ErrCancelled stops a scan whose job was cancelled.
var ErrCancelled = errors.New("control: job cancelled")

// Transition moves job id to state to, applying edit (may be nil) to the
// record, and saves it if no other process moved the job on meanwhile
// (else ErrTransition): of processes ending a job at once, one does. The
// job must exist.
func Transition(ctx context.Context, s assets.JobStore, id, to string, edit func(*assets.Job)) (assets.Job, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return j, err
	}
	if !slices.Contains(next[j.Status], to) {
		return j, fmt.Errorf("%w: job %s is %s, cannot become %s", ErrTransition, id, j.Status, to)
	}
	from, now := j.Status, time.Now().UTC()
	if to == Running && j.Status != Paused {
		j.EndedAt, j.Error = time.Time{}, ""
		if j.StartedAt.IsZero() { // a job's start is its first
			j.StartedAt = now
		}
	}
	if slices.Contains(ended, to) {
		j.EndedAt = now
	}
	j.Status, j.UpdatedAt = to, now
	if edit != nil {
		edit(&j)
	}
	switch ok, err := s.SaveJobIf(ctx, j, from); {
	case err != nil:
		return j, err
	case !ok: // another process moved it on first
		return j, fmt.Errorf("%w: job %s is no longer %s, so it does not become %s", ErrTransition, id, from, to)
	}
	if to != Running && to != Paused && to != Applying {
		here.set(id, false)
	}
	return j, nil
}

// here is the jobs this process started and has not yet ended or
// interrupted.
var here = jobSet{ids: map[string]bool{}}

type jobSet struct {
	sync.Mutex
	ids map[string]bool
}

func (s *jobSet) set(id string, on bool) {
	s.Lock()
	defer s.Unlock()
	if on {
		s.ids[id] = true
	} else {
		delete(s.ids, id)
	}
}

// RunsHere reports whether this process started job id and has not
// ended it: on a store no other process can open (the embedded one), a
// running job that does not run here was left by a process that is gone.
func RunsHere(id string) bool {
	here.Lock()
	defer here.Unlock()
	return here.ids[id]
}

// ErrNoAction is returned by Act for an action it does not know.
var ErrNoAction = errors.New("control: no action")

// actions are what an operator may do to a job, each from the states it
// names: resume only a paused job (a finished or interrupted one is run
// again instead), cancel any job that has not ended.
var actions = map[string]struct {
	from []string
	to   string
}{
	"pause":  {[]string{Running}, Paused},
	"resume": {[]string{Paused}, Running},
	"cancel": {[]string{Pending, Running, Paused, Interrupted, Applying}, Cancelled},
}

// Act applies an operator's action (pause, resume or cancel) to job id.
func Act(ctx context.Context, s assets.JobStore, id, action string) (assets.Job, error) {
	a, ok := actions[action]
	if !ok {
		return assets.Job{}, fmt.Errorf("%w %q: want pause, resume or cancel", ErrNoAction, action)
	}
	j, err := s.Job(ctx, id)
	if err != nil {
		return j, err
	}
	if !slices.Contains(a.from, j.Status) {
		hint := ""
		if action == "resume" && j.Status != Running {
			hint = "; run its spec again to resume it from its checkpoints"
		}
		return j, fmt.Errorf("%w: job %s is %s, cannot become %s by %s%s", ErrTransition, id, j.Status, a.to, action, hint)
	}
	return Transition(ctx, s, id, a.to, nil)
}

// ErrRate is returned for a rate that is not a positive whole number.
var ErrRate = errors.New("control: bad rate")

// ParseRate reads an operator's rate: a positive whole number of assets
// per second.
func ParseRate(s string) (float64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w %q: want a positive whole number of assets per second, e.g. 200", ErrRate, s)
	}
	return float64(n), nil
}

// SetRate makes rate (assets per second) the limit of job id until it
// ends, over its spec's rate.limit: the job's scan reads it within a
// second and paces itself and its processors at it. A job that ended
// takes none.
func SetRate(ctx context.Context, s assets.JobStore, id string, rate float64) (assets.Job, error) {
	if rate < 1 || rate != math.Trunc(rate) || math.IsInf(rate, 0) {
		return assets.Job{}, fmt.Errorf("%w %v: want a positive whole number of assets per second", ErrRate, rate)
	}
	j, err := s.Job(ctx, id)
	if err != nil {
		return j, err
	}
	if slices.Contains(ended, j.Status) {
		return j, fmt.Errorf("%w: job %s is %s: only a job that has not ended takes a rate; run its spec again with another rate.limit", ErrTransition, id, j.Status)
	}
	return j, s.SetRateLimit(ctx, id, rate)
}

// ended are the states a job ends in.
var ended = []string{Succeeded, Failed, Cancelled, Incomplete}

// ErrBusy is returned by Start for a job another process is running.
var ErrBusy = errors.New("control: job is running elsewhere")

// Heartbeat is how often a running scan touches its job record; a record
// untouched for three heartbeats belongs to a process that is gone.
const Heartbeat = 2 * time.Second

// Start records a job as running, creating it if it is new, with its spec.
// A job that another process is running (its record touched within three
// heartbeats) is ErrBusy unless takeover is set.
func Start(ctx context.Context, s assets.JobStore, id, spec string, takeover bool) (assets.Job, error) {
	cur, err := s.Job(ctx, id)
	if err == nil && cur.Status == Running && !takeover {
		if age := time.Since(cur.UpdatedAt); age < 3*Heartbeat {
			return cur, fmt.Errorf("%w: job %s was updated %s ago; if its process is gone, wait %s or take it over (--takeover)",
				ErrBusy, id, age.Round(time.Millisecond), (3*Heartbeat - age).Round(time.Second))
		}
	}
	if errors.Is(err, assets.ErrNotFound) {
		now := time.Now().UTC()
		j := assets.Job{ID: id, Spec: spec, Status: Running, CreatedAt: now, StartedAt: now, UpdatedAt: now}
		if err := s.SaveJob(ctx, j); err != nil {
			return j, err
		}
		here.set(id, true)
		return j, nil
	}
	if err != nil {
		return assets.Job{}, err
	}
	if slices.Contains(ended, cur.Status) { // an operator's rate was for its last run
		if err := s.SetRateLimit(ctx, id, 0); err != nil {
			return cur, err
		}
	}
	j, err := Transition(ctx, s, id, Running, func(j *assets.Job) { j.Spec = spec })
	if err == nil {
		here.set(id, true)
	}
	return j, err
}

// Watch reads a job's state at most once per interval, for a scan to ask
// before each batch.
type Watch struct {
	Store    assets.JobStore
	Job      string
	Interval time.Duration
	// Paused, if not nil, is called once each time a pause begins.
	Paused func()

	mu     sync.Mutex
	last   time.Time
	status string
}

func (w *Watch) state(ctx context.Context) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status != "" && time.Since(w.last) < w.Interval {
		return w.status, nil
	}
	j, err := w.Store.Job(ctx, w.Job)
	if err != nil {
		return "", fmt.Errorf("read state of job %s: %w", w.Job, err)
	}
	w.status, w.last = j.Status, time.Now()
	return w.status, nil
}

// Status is the job's state as last read ("" before the first read).
func (w *Watch) Status() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Proceed returns nil when the job may go on, waits while it is paused,
// and returns ErrCancelled once it is cancelled.
func (w *Watch) Proceed(ctx context.Context) error {
	told := false
	for {
		st, err := w.state(ctx)
		if err != nil {
			return err
		}
		switch st {
		case Cancelled:
			return ErrCancelled
		case Paused:
			if !told && w.Paused != nil {
				w.Paused()
				told = true
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(w.Interval):
			}
		default:
			return nil
		}
	}
}

// View is a job with how many of its scan tasks started and finished.
type View struct {
	assets.Job
	TasksStarted int          `json:"tasks_started"`
	TasksDone    int          `json:"tasks_done"`
	Runs         []assets.Run `json:"runs"` // oldest first
}

// Show reads job j's task checkpoints and run history into its view.
func Show(ctx context.Context, s assets.JobStore, j assets.Job) (View, error) {
	cps, err := s.Checkpoints(ctx, j.ID)
	if err != nil {
		return View{}, err
	}
	runs, err := s.Runs(ctx, j.ID)
	if err != nil {
		return View{}, err
	}
	v := View{Job: j, Runs: runs}
	for _, c := range cps {
		if c.Subtask() {
			continue
		}
		v.TasksStarted++
		if c.Done {
			v.TasksDone++
		}
	}
	return v, nil
}
