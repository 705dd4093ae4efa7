// Package scan walks a job's source and emits one event per asset id.
//
// A source splits a job into tasks (a Cassandra partition, an id list, an
// Elasticsearch query) and walks one task from a checkpoint in batches. For
// each batch the scanner waits for the lag gate and the rate limiter,
// applies the job's filter (reading each asset), hands the events to the
// emitter, which returns once Kafka acknowledged every one, and only then
// saves the batch's position as the task's checkpoint. A task that ends is
// marked done and never walked again by this job. So after a crash at most
// the batches in flight (one per concurrent task) are emitted twice, and
// nothing is skipped: at-least-once, which idempotent transforms make
// exactly-once in effect.
//
// A source may split a task while walking it (a wide partition): a batch
// then names the parts the rest of the task is cut into. The scanner
// records them in the task's checkpoint in the same write that saves the
// batch's position, walks the parts at once, each with a checkpoint of its
// own (task + assets.SubtaskMark + part), and marks the task done once
// every part is. A resumed scan finds the parts in the checkpoint and
// resumes each from its own; a part in flight at a crash re-emits at most
// its one batch, like a task.
package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/expr"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

// Item is one asset id with what the source knows of it.
type Item struct {
	ID     assets.ID
	Type   string    // "" when the source does not know
	Bucket time.Time // zero when the source does not know
	// Asset is the asset as the source has it (the backup source);
	// nil means the filter reads it from the store.
	Asset *assets.Asset
	// Deleted says the source has the asset deleted (the backup source
	// since an older snapshot): Asset is nil and a filter drops it.
	Deleted bool
}

// Batch is a run of items and the position to resume after them.
type Batch struct {
	Items    []Item
	Position string
	// Split, if not empty, names the parts the rest of the task is cut
	// into, each walked as task + assets.SubtaskMark + part; the walk
	// ends with this batch.
	Split []string
}

// Source splits a job into tasks and walks them.
type Source interface {
	// Tasks lists the task keys, stable across runs of one job.
	Tasks(ctx context.Context) ([]string, error)
	// Walk calls fn with each batch of task after position from ("" is
	// the start), in order, until the task ends or fn fails.
	Walk(ctx context.Context, task, from string, fn func(Batch) error) error
}

// Emitter delivers events; Emit returns once every event was accepted
// (acknowledged by Kafka, or applied in sync mode), with how many were,
// also on an error: those count as emitted.
type Emitter interface {
	Emit(ctx context.Context, evs []events.Reprocess) (accepted int, err error)
}

// Store is what the scanner needs of the asset store.
type Store interface {
	Get(ctx context.Context, id assets.ID) (assets.Asset, error)
	SaveCheckpoint(ctx context.Context, c assets.Checkpoint) error
	Checkpoints(ctx context.Context, job string) ([]assets.Checkpoint, error)
}

// Config wires a scan.
type Config struct {
	Job         string
	Transform   string
	Version     int
	Concurrency int               // tasks walked at once
	Filter      *expr.Filter      // nil keeps every asset
	Limiter     *throttle.Limiter // nil: unlimited
	Gate        *throttle.Gate    // nil: never holds
	// Proceed, if not nil, is asked before every batch: it may hold the
	// scan (job paused) or stop it with an error (job cancelled).
	Proceed func(ctx context.Context) error
	Store   Store
	Log     *slog.Logger
}

// Stats counts a scan's progress; safe to read while it runs.
type Stats struct {
	Tasks     atomic.Int64 // tasks of the job
	TasksDone atomic.Int64 // done, including those done before this run
	Scanned   atomic.Int64 // ids read from the source
	Filtered  atomic.Int64 // ids dropped by the filter or gone from the store
	Emitted   atomic.Int64 // events accepted by the emitter
	Batches   atomic.Int64
	Splits    atomic.Int64 // tasks split into parts by this run
}

// Scanner runs one job's scan.
type Scanner struct {
	cfg   Config
	src   Source
	emit  Emitter
	Stats Stats
}

// New returns a scanner; Run starts it.
func New(cfg Config, src Source, emit Emitter) *Scanner {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Log = cfg.Log.With("job", cfg.Job)
	return &Scanner{cfg: cfg, src: src, emit: emit}
}

// Run scans every task that is not done, resuming each from its
// checkpoint, and returns when all are done or the first error.
func (s *Scanner) Run(ctx context.Context) error {
	tasks, err := s.src.Tasks(ctx)
	if err != nil {
		return fmt.Errorf("list scan tasks: %w", err)
	}
	cps, err := s.cfg.Store.Checkpoints(ctx, s.cfg.Job)
	if err != nil {
		return fmt.Errorf("load checkpoints: %w", err)
	}
	byTask := make(map[string]assets.Checkpoint, len(cps))
	for _, c := range cps {
		byTask[c.Task] = c
	}
	s.Stats.Tasks.Store(int64(len(tasks)))
	var todo []assets.Checkpoint
	for _, t := range tasks {
		c, ok := byTask[t]
		switch {
		case ok && c.Done:
			s.Stats.TasksDone.Add(1)
		case ok:
			todo = append(todo, c)
		default:
			todo = append(todo, assets.Checkpoint{Job: s.cfg.Job, Task: t})
		}
	}
	s.cfg.Log.Info("scan starting", "tasks", len(tasks), "done_before", len(tasks)-len(todo), "transform", s.cfg.Transform, "version", s.cfg.Version)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for _, c := range todo {
		g.Go(func() error { return s.task(ctx, c) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.cfg.Log.Info("scan finished", "scanned", s.Stats.Scanned.Load(), "emitted", s.Stats.Emitted.Load(), "filtered", s.Stats.Filtered.Load())
	return nil
}

// RunTask walks one task of the job from its checkpoint; a task already
// done returns at once. Scanner-group members run the tasks Kafka assigns
// them this way.
func (s *Scanner) RunTask(ctx context.Context, task string) error {
	cps, err := s.cfg.Store.Checkpoints(ctx, s.cfg.Job)
	if err != nil {
		return fmt.Errorf("load checkpoints: %w", err)
	}
	c := assets.Checkpoint{Job: s.cfg.Job, Task: task}
	for _, cp := range cps {
		if cp.Task == task {
			c = cp
		}
	}
	if c.Done {
		return nil
	}
	return s.task(ctx, c)
}

// splitPrefix starts the position of a task split into parts; a JSON
// list of the parts follows.
const splitPrefix = "split:"

// split reports whether a task's position says it was split into parts.
func split(position string) bool { return strings.HasPrefix(position, splitPrefix) }

func (s *Scanner) task(ctx context.Context, c assets.Checkpoint) error {
	log := s.cfg.Log.With("task", c.Task)
	if c.Position != "" {
		log.Debug("resuming task", "position", c.Position)
	}
	// A store outage is waited out: the task resumes from its last
	// checkpoint once the store answers again.
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		err := s.walk(ctx, &c)
		if err == nil {
			s.Stats.TasksDone.Add(1)
		}
		if !errors.Is(err, assets.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		log.Warn("waiting for store: the task resumes from its checkpoint when it answers", "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// walk walks task c from its position, checkpointing each batch, then
// the parts it was split into, if it was, and marks it done at its end.
func (s *Scanner) walk(ctx context.Context, c *assets.Checkpoint) error {
	if !split(c.Position) {
		if err := s.src.Walk(ctx, c.Task, c.Position, func(b Batch) error { return s.step(ctx, c, b) }); err != nil {
			return fmt.Errorf("scan task %s: %w", c.Task, err)
		}
	}
	if split(c.Position) {
		if err := s.walkParts(ctx, c); err != nil {
			return fmt.Errorf("scan task %s: %w", c.Task, err)
		}
	}
	c.Done, c.UpdatedAt = true, time.Now().UTC()
	if err := s.cfg.Store.SaveCheckpoint(ctx, *c); err != nil {
		return fmt.Errorf("scan task %s: mark done: %w", c.Task, err)
	}
	return nil
}

// step handles one batch of task c and checkpoints its position, or the
// parts the task is split into.
func (s *Scanner) step(ctx context.Context, c *assets.Checkpoint, b Batch) error {
	if err := s.batch(ctx, b); err != nil {
		return err
	}
	c.Position, c.UpdatedAt = b.Position, time.Now().UTC()
	if len(b.Split) > 0 {
		ps, err := json.Marshal(b.Split)
		if err != nil {
			return err
		}
		c.Position = splitPrefix + string(ps)
		s.Stats.Splits.Add(1)
		s.cfg.Log.Info("task split", "task", c.Task, "parts", len(b.Split), "after", b.Position)
	}
	if err := s.cfg.Store.SaveCheckpoint(ctx, *c); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// walkParts walks the parts split task c names at once, each from its
// own checkpoint, skipping those done.
func (s *Scanner) walkParts(ctx context.Context, c *assets.Checkpoint) error {
	var ps []string
	if err := json.Unmarshal([]byte(strings.TrimPrefix(c.Position, splitPrefix)), &ps); err != nil {
		return fmt.Errorf("parts in checkpoint %q: %w", c.Position, err)
	}
	cps, err := s.cfg.Store.Checkpoints(ctx, s.cfg.Job)
	if err != nil {
		return fmt.Errorf("load checkpoints of its parts: %w", err)
	}
	byTask := make(map[string]assets.Checkpoint, len(cps))
	for _, cp := range cps {
		byTask[cp.Task] = cp
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, p := range ps {
		key := c.Task + assets.SubtaskMark + p
		part, ok := byTask[key]
		if !ok {
			part = assets.Checkpoint{Job: s.cfg.Job, Task: key}
		}
		if !part.Done {
			g.Go(func() error { return s.walk(ctx, &part) })
		}
	}
	return g.Wait()
}

func (s *Scanner) batch(ctx context.Context, b Batch) error {
	if s.cfg.Proceed != nil {
		if err := s.cfg.Proceed(ctx); err != nil {
			return err
		}
	}
	s.Stats.Batches.Add(1)
	if err := s.cfg.Gate.Wait(ctx, func(lag int64) {
		s.cfg.Log.Info("scan paused: processors lag", "lag", lag)
	}); err != nil {
		return err
	}
	items := b.Items
	if s.cfg.Filter != nil {
		var err error
		if items, err = s.filter(ctx, items); err != nil {
			return err
		}
	}
	// An id is counted scanned once its fate is: filtered out, or its
	// event emitted (also from a batch that failed after some were).
	filtered := int64(len(b.Items) - len(items))
	if len(items) == 0 {
		s.count(filtered, 0)
		return nil
	}
	if s.cfg.Limiter != nil {
		if err := s.cfg.Limiter.Wait(ctx, len(items)); err != nil {
			return err
		}
	}
	evs := s.events(items)
	n, err := s.emit.Emit(ctx, evs)
	s.count(filtered, int64(n))
	if err != nil {
		return fmt.Errorf("emit %d events: %w", len(evs), err)
	}
	return nil
}

// count adds a batch's ids to the stats, once their fate is known.
func (s *Scanner) count(filtered, emitted int64) {
	s.Stats.Filtered.Add(filtered)
	s.Stats.Emitted.Add(emitted)
	s.Stats.Scanned.Add(filtered + emitted)
}

// events are the job's events for items.
func (s *Scanner) events(items []Item) []events.Reprocess {
	now := time.Now().UTC()
	evs := make([]events.Reprocess, len(items))
	for i, it := range items {
		evs[i] = events.Reprocess{
			SchemaVersion: events.SchemaVersion, JobID: s.cfg.Job, AssetID: it.ID, AssetType: it.Type, Bucket: it.Bucket,
			Transform: s.cfg.Transform, Version: s.cfg.Version, Attempt: 1, EmittedAt: now,
		}
	}
	return evs
}

// asset is the item's asset: the source's copy, else a store read.
func (s *Scanner) asset(ctx context.Context, it Item) (assets.Asset, error) {
	if it.Asset != nil {
		return *it.Asset, nil
	}
	if it.Deleted {
		return assets.Asset{}, assets.ErrNotFound
	}
	return s.cfg.Store.Get(ctx, it.ID)
}

// filter reads each asset and keeps those the filter matches. An asset
// deleted since it was listed is dropped; an evaluation error fails the
// scan, since the spec, not the asset, is wrong.
func (s *Scanner) filter(ctx context.Context, items []Item) ([]Item, error) {
	kept := items[:0:0]
	for _, it := range items {
		a, err := s.asset(ctx, it)
		if errors.Is(err, assets.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		ok, err := s.cfg.Filter.Match(a)
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		if !ok {
			continue
		}
		if it.Type == "" {
			it.Type = a.Type
		}
		kept = append(kept, it)
	}
	return kept, nil
}

// Tally is what a completeness pass found, in assets: Checked were read,
// of which Filtered left out by the filter and Done carry the result;
// Gone were named by the source but are not in the store.
type Tally struct {
	Checked, Filtered, Done, Gone int64
}

func (t *Tally) add(o Tally) {
	t.Checked += o.Checked
	t.Filtered += o.Filtered
	t.Done += o.Done
	t.Gone += o.Gone
}

// Lacking walks every task of the job again from its start, as the scan
// does (paused, cancelled and rate-limited alike, the filter applied), and
// calls fn with each batch's assets for which done is false: in scope but
// without the job's result. An asset gone from the store is not lacking.
// It returns what it found. It keeps no checkpoint: a store outage is
// waited out and the task walked again.
func (s *Scanner) Lacking(ctx context.Context, done func(assets.Asset) bool, fn func([]Item) error) (Tally, error) {
	tasks, err := s.src.Tasks(ctx)
	if err != nil {
		return Tally{}, fmt.Errorf("list scan tasks: %w", err)
	}
	var total Tally
	var mu sync.Mutex
	report := func(items []Item) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(items)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for _, t := range tasks {
		g.Go(func() error {
			for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
				var seen Tally
				var lacking [][]Item
				err := s.check(ctx, t, done, &seen, func(items []Item) { lacking = append(lacking, items) })
				if err == nil {
					mu.Lock()
					total.add(seen)
					mu.Unlock()
					for _, items := range lacking {
						if err := report(items); err != nil {
							return err
						}
					}
					return nil
				}
				if !errors.Is(err, assets.ErrUnavailable) || ctx.Err() != nil {
					return err
				}
				s.cfg.Log.Warn("completeness pass: waiting for store; the task is walked again when it answers", "task", t, "retry_in", wait, "error", err)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		})
	}
	err = g.Wait()
	return total, err
}

// check walks task from its start, and the parts it splits into.
func (s *Scanner) check(ctx context.Context, task string, done func(assets.Asset) bool, seen *Tally, fn func([]Item)) error {
	var parts []string
	err := s.src.Walk(ctx, task, "", func(b Batch) error {
		if s.cfg.Proceed != nil {
			if err := s.cfg.Proceed(ctx); err != nil {
				return err
			}
		}
		if s.cfg.Limiter != nil {
			if err := s.cfg.Limiter.Wait(ctx, len(b.Items)); err != nil {
				return err
			}
		}
		states, types := make([]state, len(b.Items)), make([]string, len(b.Items))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(passReads)
		for i, it := range b.Items {
			g.Go(func() (err error) {
				states[i], types[i], err = s.judge(gctx, it, done)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		var lacking []Item
		for i, st := range states {
			switch st {
			case gone:
				seen.Gone++
			case filtered:
				seen.Checked++
				seen.Filtered++
			case carries:
				seen.Checked++
				seen.Done++
			case lacks:
				seen.Checked++
				it := b.Items[i]
				if it.Type == "" {
					it.Type = types[i]
				}
				lacking = append(lacking, it)
			}
		}
		if len(lacking) > 0 {
			fn(lacking)
		}
		parts = b.Split
		return nil
	})
	if err != nil {
		return fmt.Errorf("completeness pass: task %s: %w", task, err)
	}
	for _, p := range parts {
		if err := s.check(ctx, task+assets.SubtaskMark+p, done, seen, fn); err != nil {
			return err
		}
	}
	return nil
}

// passReads is how many assets of a batch a completeness pass reads at
// once: a read each, so a remote store's round trips overlap.
const passReads = 16

// state is what a completeness pass finds of one item.
type state int

const (
	gone     state = iota // named by the source, not in the store
	filtered              // left out by the filter
	carries               // in scope, with the job's result
	lacks                 // in scope, without it
)

// judge reads it (the source's copy, if it has one, for the filter; the
// store's for the result) and says which state it is in, with its type.
func (s *Scanner) judge(ctx context.Context, it Item, done func(assets.Asset) bool) (state, string, error) {
	a, err := s.asset(ctx, it)
	if errors.Is(err, assets.ErrNotFound) {
		return gone, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("completeness pass: %w", err)
	}
	if s.cfg.Filter != nil {
		ok, err := s.cfg.Filter.Match(a)
		if err != nil {
			return 0, "", fmt.Errorf("completeness pass: filter: %w", err)
		}
		if !ok {
			return filtered, "", nil
		}
	}
	if it.Asset != nil { // the source's copy (a backup): the result is in the store
		if a, err = s.cfg.Store.Get(ctx, it.ID); errors.Is(err, assets.ErrNotFound) {
			return gone, "", nil
		} else if err != nil {
			return 0, "", fmt.Errorf("completeness pass: %w", err)
		}
	}
	if done(a) {
		return carries, a.Type, nil
	}
	return lacks, a.Type, nil
}

// Reemit emits the events of items again, returning how many were
// accepted; those count as scanned (read again) and emitted.
func (s *Scanner) Reemit(ctx context.Context, items []Item) (int, error) {
	evs := s.events(items)
	n, err := s.emit.Emit(ctx, evs)
	s.Stats.Scanned.Add(int64(n)) // read again
	s.Stats.Emitted.Add(int64(n))
	if err != nil {
		return n, fmt.Errorf("emit %d events again: %w", len(evs), err)
	}
	return n, nil
}
