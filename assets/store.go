package assets

import (
	"context"
	"errors"
	"strings"
	"time"
)

// ErrNotFound is returned when an asset or job does not exist.
var ErrNotFound = errors.New("assets: not found")

// ErrUnavailable wraps failures to reach the store at all, as opposed to a
// request it answered with an error. Callers retry these.
var ErrUnavailable = errors.New("assets: store unavailable")

// Store is where assets, job state and checkpoints live. Implementations are
// safe for concurrent use and pass the assetstest contract suite.
type Store interface {
	// Put writes a whole new asset and its paging index entry. It is the
	// production path for creating assets (and seeding); transforms use
	// Update.
	Put(ctx context.Context, a Asset) error
	// Get reads one asset; ErrNotFound if there is none.
	Get(ctx context.Context, id ID) (Asset, error)
	// Page returns up to limit ids of partition p, newest first, all
	// ordered strictly before after (Compare); a zero after starts at the
	// newest. An empty result means the partition is exhausted.
	Page(ctx context.Context, p Partition, after ID, limit int) ([]ID, error)
	// Update sets exactly the cells u names and changes Version.
	// ErrNotFound if the asset does not exist.
	Update(ctx context.Context, id ID, u Update) error
	// UpdateIf is Update applied only while the asset's Version equals
	// version. It reports whether it applied; ErrNotFound if the asset
	// does not exist.
	UpdateIf(ctx context.Context, id ID, version int64, u Update) (bool, error)
	// Delete removes the asset and its paging index entry. Deleting an
	// asset that is not there is not an error (deletes are redelivered).
	Delete(ctx context.Context, id ID) error
	// Types lists the asset types Put has written, sorted: a job naming
	// another is refused before it scans nothing.
	Types(ctx context.Context) ([]string, error)

	JobStore
	// Close releases the store; it is safe to call twice.
	Close() error
}

// AllPutter is a store that writes many new assets in fewer requests than
// one Put each; seeding uses it where a store has it.
type AllPutter interface {
	// PutAll writes every asset as Put does.
	PutAll(ctx context.Context, as []Asset) error
}

// ReverseIndexer is a store that keeps reverse indexes beside its assets:
// tables of (value, asset id) rows, a partition per value, clustered by
// asset id, to find assets by a metadata field. The Cassandra store is
// one; the embedded store is not.
type ReverseIndexer interface {
	// EnsureReverseIndex creates table unless it exists.
	EnsureReverseIndex(ctx context.Context, table string) error
	// IndexValue writes the row (value, id) of table; writing it again
	// changes nothing.
	IndexValue(ctx context.Context, table, value string, id ID) error
	// UnindexValue deletes the row (value, id) of table, if there is one.
	UnindexValue(ctx context.Context, table, value string, id ID) error
	// Lookup lists up to limit ids under value in table, in id order.
	Lookup(ctx context.Context, table, value string, limit int) ([]ID, error)
}

// JobStore keeps job state and scan checkpoints.
type JobStore interface {
	// SaveJob creates or replaces a job's record.
	SaveJob(ctx context.Context, j Job) error
	// SaveJobIf replaces job j's record only if its status is still
	// status, and reports whether it did: of processes moving a job on at
	// once, one does. False, with no error, for a job that does not exist.
	SaveJobIf(ctx context.Context, j Job, status string) (bool, error)
	// Job reads one job; ErrNotFound if there is none.
	Job(ctx context.Context, id string) (Job, error)
	// Jobs lists every job, in id order.
	Jobs(ctx context.Context) ([]Job, error)
	// SetJobCounters sets the named counters of an existing job and leaves
	// the rest of its record, status included, as it is; ErrNotFound if
	// there is no such job.
	SetJobCounters(ctx context.Context, id string, counters map[string]int64) error
	// AddJobCounters adds deltas to a job's counters, safely from many
	// processes at once (workers report what they applied). Job shows
	// these counters over the ones SetJobCounters set.
	AddJobCounters(ctx context.Context, id string, deltas map[string]int64) error
	// SaveCheckpoint records a task's resume position.
	SaveCheckpoint(ctx context.Context, c Checkpoint) error
	// Checkpoints lists a job's checkpoints, in task order.
	Checkpoints(ctx context.Context, job string) ([]Checkpoint, error)
	// DeleteCheckpoints forgets a job's checkpoints: its next run starts
	// from the beginning.
	DeleteCheckpoints(ctx context.Context, job string) error
	// SetThrottle records a job's current throttle state, replacing the
	// last; the job's processors read it to pace themselves.
	SetThrottle(ctx context.Context, job string, t Throttle) error
	// Throttle reads what SetThrottle last recorded; ErrNotFound if
	// nothing was.
	Throttle(ctx context.Context, job string) (Throttle, error)
	// SetRateLimit records an operator's rate limit for a job, in assets
	// per second, over its spec's rate.limit; 0 removes it.
	SetRateLimit(ctx context.Context, job string, limit float64) error
	// RateLimit reads what SetRateLimit recorded; 0 if nothing is.
	RateLimit(ctx context.Context, job string) (float64, error)
	// SaveRun creates or replaces one run of a job, keyed by job and N.
	SaveRun(ctx context.Context, r Run) error
	// Runs lists a job's runs, oldest first.
	Runs(ctx context.Context, job string) ([]Run, error)
}

// Run is one run of a job: a process running it, from its start (or
// resumption) until it ended or was stopped.
type Run struct {
	Job       string           `json:"job_id"`
	N         int              `json:"run"`                // 1 for the job's first run
	Owner     string           `json:"owner"`              // what ran it: run, scan, serve
	Status    string           `json:"status"`             // running, or how the run ended
	Counters  map[string]int64 `json:"counters,omitempty"` // this run's own counts
	StartedAt time.Time        `json:"started_at"`
	EndedAt   time.Time        `json:"ended_at,omitzero"`
}

// Throttle is a job's rate as its scan's controller last set it, shared
// with every process that applies the job's events.
type Throttle struct {
	// Rate is assets per second for the whole job; 0 means unlimited.
	Rate float64 `json:"rate"`
	// Signal is the last production latency read (0 when none).
	Signal time.Duration `json:"signal"`
	// Target is the latency the controller keeps the signal under.
	Target time.Duration `json:"target"`
	// Baseline, when the spec gave no target, is the signal measured
	// at the start; the target is 1.2 times it.
	Baseline time.Duration `json:"baseline,omitempty"`
	// Reason says why the job is slowed: latency, lag, signal missing,
	// paused, or empty when it is not.
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Job is the persisted state of one reprocessing job.
type Job struct {
	ID        string           `json:"job_id"`
	Spec      string           `json:"spec"` // the job spec as submitted
	Status    string           `json:"status"`
	Counters  map[string]int64 `json:"counters,omitempty"`
	Error     string           `json:"error,omitempty"`
	CreatedAt time.Time        `json:"created_at"`
	StartedAt time.Time        `json:"started_at,omitzero"`
	EndedAt   time.Time        `json:"ended_at,omitzero"`
	UpdatedAt time.Time        `json:"updated_at"`
}

// Checkpoint is how far one scan task of a job got. Position is opaque to
// the store: a partition walk stores the last id it emitted, other sources
// their own cursor.
type Checkpoint struct {
	Job       string    `json:"job_id"`
	Task      string    `json:"task"`
	Position  string    `json:"position,omitempty"`
	Done      bool      `json:"done"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SubtaskMark joins a task's key and a part's name in the key of a
// subtask: a task split while walked (a wide partition) checkpoints each
// part of its rest on its own, as task + SubtaskMark + part.
const SubtaskMark = "#part:"

// Subtask reports whether c is a part of a split task rather than a task.
func (c Checkpoint) Subtask() bool { return strings.Contains(c.Task, SubtaskMark) }
