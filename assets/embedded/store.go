// Package embedded is the single-machine assets.Store on Pebble, an
// embedded LSM key-value store. It keeps Cassandra's partition and
// clustering order so scans behave the same on both backends, and it is the
// store the binary uses when nothing else is configured.
//
// Key space (every key starts with a one-byte table tag):
//
//	'a' id                                 → asset as JSON
//	'p' len(type) type bucket shard sortkey → empty (the paging index)
//	'j' job                                → job as JSON
//	'c' len(job) job task                  → checkpoint as JSON
//	'm' name                               → the store's settings (its layout)
//	't' job                                → the job's throttle as JSON
//	'h' len(job) job run(8 bytes, BE)      → one run of the job (its history) as JSON
//	'y' type                               → empty (the types Put wrote)
//	'r' job                                → an operator's rate limit as JSON
//
// Ids in the index are stored by assets.ID.SortKey, so byte order is
// timeuuid order and a page is a reverse iteration below the last id seen.
// Field-scoped writes read, modify and write one asset under a per-asset
// lock; a process holds the directory lock, so these locks cover every
// writer. That process records its pid in the file HOLDER, so a second
// Open, here or elsewhere, is a HeldError naming it.
package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/reprocess/reprocess/assets"
)

// Config configures the embedded store.
type Config struct {
	// Dir holds the Pebble files; it is created if missing.
	Dir string `mapstructure:"dir"`
	// Sync makes every write wait for fsync (concurrent writes share one).
	// Without it, writes of the last moments are lost if the process or
	// the machine dies: only for throw-away data.
	Sync bool `mapstructure:"sync"`
	// MustExist refuses to create a store: for commands that only read,
	// so a mistyped directory is an error, not a new empty store.
	MustExist bool `mapstructure:"-"`
}

// Validate reports a bad setting with its key.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("store.embedded.dir: must be set")
	}
	return nil
}

// Store is the Pebble-backed assets.Store.
type Store struct {
	db     *pebble.DB
	dir    string
	layout assets.Layout
	wo     *pebble.WriteOptions
	locks  [256]sync.Mutex
	jobsMu sync.Mutex // read-modify-write of job records
	closed atomic.Bool
	damage *damage
	now    func() time.Time
	// release ends this process's claim on the directory.
	release func()
}

var _ assets.Store = (*Store)(nil)

// Open opens (or creates) the store in cfg.Dir and records this process
// as its holder. A store another process, or this one, has open is a
// *HeldError naming the holder.
func Open(cfg Config, layout assets.Layout) (*Store, error) {
	if err := errors.Join(cfg.Validate(), layout.Validate()); err != nil {
		return nil, err
	}
	release, err := claim(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s, err := open(cfg, layout)
	if err == nil {
		err = writeHolder(cfg.Dir)
	}
	if err != nil {
		if s != nil {
			s.db.Close()
		}
		release()
		return nil, err
	}
	s.release = release
	return s, nil
}

// open opens the database in cfg.Dir and checks its layout.
func open(cfg Config, layout assets.Layout) (*Store, error) {
	var db *pebble.DB
	d := &damage{dir: cfg.Dir}
	_, err := os.Stat(cfg.Dir)
	if !cfg.MustExist || !errors.Is(err, fs.ErrNotExist) { // pebble would create the directory
		db, err = pebble.Open(cfg.Dir, &pebble.Options{Logger: quietLogger{}, ErrorIfNotExists: cfg.MustExist,
			EventListener: &pebble.EventListener{DataCorruption: d.found}})
	}
	switch {
	case cfg.MustExist && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, pebble.ErrDBDoesNotExist)):
		return nil, fmt.Errorf("no embedded store in %s: check --data-dir (store.embedded.dir); seed, run and scan create one", cfg.Dir)
	case locked(err):
		return nil, heldBy(cfg.Dir, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("embedded store in %s: %w: run as a user who may read and write it, or choose another --data-dir (store.embedded.dir)", cfg.Dir, err)
	case pebble.IsCorruptionError(err) || d.err() != nil:
		d.found(pebble.DataCorruptionInfo{Path: cfg.Dir, Details: err})
		return nil, d.err()
	case err != nil:
		return nil, fmt.Errorf("open embedded store in %s: %w: %w", cfg.Dir, assets.ErrUnavailable, err)
	}
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	s := &Store{db: db, dir: cfg.Dir, layout: layout, wo: wo, now: time.Now, damage: d}
	if err := s.checkLayout(); err != nil {
		db.Close()
		return nil, s.fail(err)
	}
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Local reports that the store is in this process: reading its whole
// paging index costs no round trips.
func (s *Store) Local() bool { return true }

// checkLayout records the layout in a new store and compares it with the
// one recorded in an existing store.
func (s *Store) checkLayout() error {
	key := []byte("mlayout")
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return s.db.Set(key, []byte(s.layout.String()), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("embedded store %s: read its layout: %w", s.dir, err)
	}
	defer closer.Close()
	return s.layout.Check(string(v))
}

// Close closes the database and removes the record of its holder; a
// second call is a no-op.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	rmErr := os.Remove(filepath.Join(s.dir, holderFile))
	if errors.Is(rmErr, fs.ErrNotExist) {
		rmErr = nil
	}
	err := errors.Join(s.db.Close(), rmErr, s.damage.err())
	s.release()
	return err
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("embedded store %s: %w: closed", s.dir, assets.ErrUnavailable)
	}
	if err := s.damage.err(); err != nil {
		return err
	}
	return ctx.Err()
}

// fail is err, or the store's damage once Pebble found some: what to do
// about it comes first.
func (s *Store) fail(err error) error {
	if d := s.damage.err(); d != nil {
		return errors.Join(d, err)
	}
	return err
}

// ErrDamaged is a store whose files Pebble found corrupt: not an outage
// to wait out, and not one asset's fault.
var ErrDamaged = errors.New("damaged")

// damage records the first corruption Pebble reports, from any goroutine
// (a compaction finds it as often as a read does).
type damage struct {
	dir   string
	first atomic.Pointer[error]
}

func (d *damage) found(info pebble.DataCorruptionInfo) {
	err := fmt.Errorf("embedded store %s is %w: %s: %v; restore the directory from a backup, or move it aside and seed or run again to make a new one", d.dir, ErrDamaged, info.Path, info.Details)
	d.first.CompareAndSwap(nil, &err)
}

func (d *damage) err() error {
	if p := d.first.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Store) lock(id assets.ID) *sync.Mutex {
	h := fnv.New32a()
	h.Write(id[:])
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

func assetKey(id assets.ID) []byte { return append([]byte{'a'}, id[:]...) }

func partitionPrefix(p assets.Partition) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(p.Type)+12)
	k = append(k, 'p')
	k = binary.AppendUvarint(k, uint64(len(p.Type)))
	k = append(k, p.Type...)
	k = binary.BigEndian.AppendUint64(k, uint64(p.Bucket.UnixNano())^(1<<63))
	k = binary.BigEndian.AppendUint32(k, uint32(p.Shard))
	return k
}

func indexKey(p assets.Partition, id assets.ID) []byte {
	sk := id.SortKey()
	return append(partitionPrefix(p), sk[:]...)
}

func jobKey(id string) []byte { return append([]byte{'j'}, id...) }

func checkpointPrefix(job string) []byte {
	k := binary.AppendUvarint([]byte{'c'}, uint64(len(job)))
	return append(k, job...)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Put writes a and its index entry in one batch.
func (s *Store) Put(ctx context.Context, a assets.Asset) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if a.ID.IsZero() || a.Type == "" {
		return fmt.Errorf("put asset %s: id and type are required", a.ID)
	}
	mu := s.lock(a.ID)
	mu.Lock()
	defer mu.Unlock()
	a = a.Clone()
	a.CreatedAt = a.CreatedAt.UTC()
	a.Version = assets.NextVersion(a.Version, s.now())
	v, err := json.Marshal(a)
	if err != nil {
		return s.fail(fmt.Errorf("put asset %s: %w", a.ID, err))
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(assetKey(a.ID), v, nil)
	_ = b.Set(indexKey(s.layout.PartitionOf(a), a.ID), nil, nil)
	_ = b.Set(append([]byte{'y'}, a.Type...), nil, nil)
	if err := b.Commit(s.wo); err != nil {
		return s.fail(fmt.Errorf("put asset %s: %w", a.ID, err))
	}
	return nil
}

// Types lists the asset types Put wrote, sorted.
func (s *Store) Types(ctx context.Context) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'y'}, UpperBound: []byte{'z'}})
	if err != nil {
		return nil, s.fail(fmt.Errorf("asset types: %w", err))
	}
	defer it.Close()
	var types []string
	for it.First(); it.Valid(); it.Next() {
		types = append(types, string(it.Key()[1:]))
	}
	if err := it.Error(); err != nil {
		return nil, s.fail(fmt.Errorf("asset types: %w", err))
	}
	return types, nil
}

// Get reads one asset.
func (s *Store) Get(ctx context.Context, id assets.ID) (assets.Asset, error) {
	if err := s.check(ctx); err != nil {
		return assets.Asset{}, err
	}
	return s.get(id)
}

func (s *Store) get(id assets.ID) (assets.Asset, error) {
	var a assets.Asset
	if err := s.getJSON(assetKey(id), &a); err != nil {
		return a, s.fail(fmt.Errorf("get asset %s: %w", id, err))
	}
	return a, nil
}

func (s *Store) getJSON(key []byte, v any) error {
	raw, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return assets.ErrNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	return json.Unmarshal(raw, v)
}

// Page returns the next ids of p below after, newest first.
func (s *Store) Page(ctx context.Context, p assets.Partition, after assets.ID, limit int) ([]assets.ID, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("page %s: limit must be positive, got %d", p, limit)
	}
	prefix := partitionPrefix(p)
	upper := prefixEnd(prefix)
	if !after.IsZero() {
		upper = indexKey(p, after)
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, s.fail(fmt.Errorf("page %s: %w", p, err))
	}
	defer it.Close()
	var ids []assets.ID
	for ok := it.Last(); ok && len(ids) < limit; ok = it.Prev() {
		id, err := assets.IDFromSortKey(it.Key()[len(prefix):])
		if err != nil {
			return nil, s.fail(fmt.Errorf("page %s: %w", p, err))
		}
		ids = append(ids, id)
	}
	if err := it.Error(); err != nil {
		return nil, s.fail(fmt.Errorf("page %s: %w", p, err))
	}
	return ids, nil
}

// Update sets u's cells and bumps the version.
func (s *Store) Update(ctx context.Context, id assets.ID, u assets.Update) error {
	_, err := s.update(ctx, id, u, func(int64) bool { return true })
	return err
}

// UpdateIf sets u's cells only while the version is still version.
func (s *Store) UpdateIf(ctx context.Context, id assets.ID, version int64, u assets.Update) (bool, error) {
	return s.update(ctx, id, u, func(v int64) bool { return v == version })
}

func (s *Store) update(ctx context.Context, id assets.ID, u assets.Update, cond func(int64) bool) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	mu := s.lock(id)
	mu.Lock()
	defer mu.Unlock()
	a, err := s.get(id)
	if err != nil {
		return false, s.fail(fmt.Errorf("update: %w", err))
	}
	if !cond(a.Version) {
		return false, nil
	}
	u.Apply(&a)
	a.Version = assets.NextVersion(a.Version, s.now())
	v, err := json.Marshal(a)
	if err != nil {
		return false, s.fail(fmt.Errorf("update asset %s: %w", id, err))
	}
	if err := s.db.Set(assetKey(id), v, s.wo); err != nil {
		return false, s.fail(fmt.Errorf("update asset %s: %w", id, err))
	}
	return true, nil
}

// Delete removes the asset and its index entry in one batch.
func (s *Store) Delete(ctx context.Context, id assets.ID) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	mu := s.lock(id)
	mu.Lock()
	defer mu.Unlock()
	a, err := s.get(id)
	if errors.Is(err, assets.ErrNotFound) {
		return nil
	}
	if err != nil {
		return s.fail(fmt.Errorf("delete: %w", err))
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Delete(assetKey(id), nil)
	_ = b.Delete(indexKey(s.layout.PartitionOf(a), id), nil)
	if err := b.Commit(s.wo); err != nil {
		return s.fail(fmt.Errorf("delete asset %s: %w", id, err))
	}
	return nil
}

// SaveJob creates or replaces a job record.
func (s *Store) SaveJob(ctx context.Context, j assets.Job) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if j.ID == "" {
		return errors.New("save job: id is required")
	}
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	return s.setJSON(jobKey(j.ID), j, "save job "+j.ID)
}

// SaveJobIf replaces job j's record if its status is still status; its
// counters, kept with the record, are kept as they are.
func (s *Store) SaveJobIf(ctx context.Context, j assets.Job, status string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	var cur assets.Job
	err := s.getJSON(jobKey(j.ID), &cur)
	if errors.Is(err, assets.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(fmt.Errorf("save job %s: %w", j.ID, err))
	}
	if cur.Status != status {
		return false, nil
	}
	j.Counters = cur.Counters
	return true, s.setJSON(jobKey(j.ID), j, "save job "+j.ID)
}

// AddJobCounters adds deltas to a job's counters (kept with the record:
// one process holds the store).
func (s *Store) AddJobCounters(ctx context.Context, id string, deltas map[string]int64) error {
	return s.editCounters(ctx, id, "add to counters of job", func(c map[string]int64) {
		for k, d := range deltas {
			c[k] += d
		}
	})
}

// SetJobCounters sets counters of an existing job.
func (s *Store) SetJobCounters(ctx context.Context, id string, counters map[string]int64) error {
	return s.editCounters(ctx, id, "set counters of job", func(c map[string]int64) { maps.Copy(c, counters) })
}

// editCounters changes a job's counters under the jobs lock.
func (s *Store) editCounters(ctx context.Context, id, op string, edit func(map[string]int64)) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	var j assets.Job
	if err := s.getJSON(jobKey(id), &j); err != nil {
		return s.fail(fmt.Errorf("%s %s: %w", op, id, err))
	}
	if j.Counters == nil {
		j.Counters = map[string]int64{}
	}
	edit(j.Counters)
	j.UpdatedAt = s.now().UTC()
	return s.setJSON(jobKey(id), j, op+" "+id)
}

func (s *Store) setJSON(key []byte, v any, op string) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return s.fail(fmt.Errorf("%s: %w", op, err))
	}
	if err := s.db.Set(key, raw, s.wo); err != nil {
		return s.fail(fmt.Errorf("%s: %w", op, err))
	}
	return nil
}

// Job reads one job.
func (s *Store) Job(ctx context.Context, id string) (assets.Job, error) {
	var j assets.Job
	if err := s.check(ctx); err != nil {
		return j, err
	}
	if err := s.getJSON(jobKey(id), &j); err != nil {
		return j, s.fail(fmt.Errorf("job %s: %w", id, err))
	}
	return j, nil
}

// Jobs lists every job in id order.
func (s *Store) Jobs(ctx context.Context) ([]assets.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out, err := scanJSON[assets.Job](s.db, []byte{'j'}, "list jobs")
	return out, s.fail(err)
}

// SaveCheckpoint records a task's position.
func (s *Store) SaveCheckpoint(ctx context.Context, c assets.Checkpoint) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if c.Job == "" || c.Task == "" {
		return errors.New("save checkpoint: job and task are required")
	}
	key := append(checkpointPrefix(c.Job), c.Task...)
	return s.setJSON(key, c, "save checkpoint "+c.Job+"/"+c.Task)
}

// Checkpoints lists a job's checkpoints in task order.
func (s *Store) Checkpoints(ctx context.Context, job string) ([]assets.Checkpoint, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out, err := scanJSON[assets.Checkpoint](s.db, checkpointPrefix(job), "checkpoints of "+job)
	return out, s.fail(err)
}

// DeleteCheckpoints deletes a job's checkpoints.
func (s *Store) DeleteCheckpoints(ctx context.Context, job string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	p := checkpointPrefix(job)
	if err := s.db.DeleteRange(p, prefixEnd(p), s.wo); err != nil {
		return s.fail(fmt.Errorf("delete checkpoints of %s: %w", job, err))
	}
	return nil
}

func throttleKey(job string) []byte { return append([]byte{'t'}, job...) }

// SetThrottle records a job's throttle state.
func (s *Store) SetThrottle(ctx context.Context, job string, t assets.Throttle) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.setJSON(throttleKey(job), t, "set throttle of "+job)
}

// Throttle reads a job's throttle state.
func (s *Store) Throttle(ctx context.Context, job string) (assets.Throttle, error) {
	var t assets.Throttle
	if err := s.check(ctx); err != nil {
		return t, err
	}
	if err := s.getJSON(throttleKey(job), &t); err != nil {
		return t, s.fail(fmt.Errorf("throttle of %s: %w", job, err))
	}
	return t, nil
}

func runPrefix(job string) []byte {
	k := binary.AppendUvarint([]byte{'h'}, uint64(len(job)))
	return append(k, job...)
}

// SaveRun records one run of a job.
func (s *Store) SaveRun(ctx context.Context, r assets.Run) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.setJSON(binary.BigEndian.AppendUint64(runPrefix(r.Job), uint64(r.N)), r, "save run of "+r.Job)
}

// Runs lists a job's runs, oldest first.
func (s *Store) Runs(ctx context.Context, job string) ([]assets.Run, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out, err := scanJSON[assets.Run](s.db, runPrefix(job), "runs of "+job)
	return out, s.fail(err)
}

func rateKey(job string) []byte { return append([]byte{'r'}, job...) }

// SetRateLimit records an operator's rate limit for a job; 0 removes it.
func (s *Store) SetRateLimit(ctx context.Context, job string, limit float64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if limit == 0 {
		if err := s.db.Delete(rateKey(job), s.wo); err != nil {
			return s.fail(fmt.Errorf("remove rate limit of %s: %w", job, err))
		}
		return nil
	}
	return s.setJSON(rateKey(job), limit, "set rate limit of "+job)
}

// RateLimit reads an operator's rate limit for a job; 0 if none is set.
func (s *Store) RateLimit(ctx context.Context, job string) (float64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var limit float64
	if err := s.getJSON(rateKey(job), &limit); err != nil && !errors.Is(err, assets.ErrNotFound) {
		return 0, s.fail(fmt.Errorf("rate limit of %s: %w", job, err))
	}
	return limit, nil
}

func scanJSON[T any](db *pebble.DB, prefix []byte, op string) ([]T, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer it.Close()
	var out []T
	for ok := it.First(); ok; ok = it.Next() {
		var v T
		if err := json.Unmarshal(it.Value(), &v); err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", op, it.Key(), err)
		}
		out = append(out, v)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// quietLogger drops Pebble's informational logs and keeps its fatal ones.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
