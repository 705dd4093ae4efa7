// Package cassandra is the assets.Store on Apache Cassandra, through the
// Apache Cassandra Go driver. Statements are prepared (the driver prepares
// every statement with bound values and caches it), routed token-aware, run
// at the configured consistency, and retried with exponential backoff when
// idempotent.
//
// Writes are cell-scoped: Update appends map entries (`facts = facts + ?`)
// and never rewrites a row, so concurrent writers to other cells are never
// lost. UpdateIf is a lightweight transaction on the version column.
package cassandra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets"
)

// Store is the Cassandra-backed assets.Store.
type Store struct {
	sess      *gocql.Session
	ks        string
	layout    assets.Layout
	lwt       bool // Update through a lightweight transaction
	now       func() time.Time
	closeOnce sync.Once
	types     sync.Map // the asset types this process recorded in asset_types
}

var _ assets.Store = (*Store)(nil)

// Open connects to the cluster, applies the schema when cfg.ApplySchema is
// set, and checks that the keyspace's tables are there.
func Open(ctx context.Context, cfg Config, layout assets.Layout) (*Store, error) {
	if err := errors.Join(cfg.Validate(), layout.Validate()); err != nil {
		return nil, err
	}
	if cfg.ApplySchema {
		if err := ApplySchema(ctx, cfg); err != nil {
			return nil, err
		}
	}
	ks := cfg.Keyspace
	cfg.Keyspace = "" // statements name their keyspace, so a missing one is reported clearly
	sess, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{sess: sess, ks: ks, layout: layout, lwt: cfg.LWTUpdates, now: time.Now}
	var n int
	if err := s.query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name IN ('assets', 'assets_by_type_bucket', 'asset_types', 'jobs', 'job_counters', 'job_runs', 'checkpoints', 'settings', 'job_throttle', 'job_rate_limit')`, ks).
		ScanContext(ctx, &n); err != nil {
		sess.Close()
		return nil, fmt.Errorf("check schema of keyspace %s: %w", ks, classify(err))
	}
	if n != 10 {
		sess.Close()
		return nil, fmt.Errorf("keyspace %s lacks the reprocess tables (%d of 10 found): run `reprocess schema apply` or set store.cassandra.apply_schema", ks, n)
	}
	if err := s.checkLayout(ctx); err != nil {
		sess.Close()
		return nil, err
	}
	return s, nil
}

// checkLayout records the layout in a new keyspace and compares it with
// the one recorded in an existing one (a lightweight transaction, so two
// processes starting at once agree on the first).
func (s *Store) checkLayout(ctx context.Context) error {
	row := map[string]any{}
	applied, err := s.query(`INSERT INTO {ks}.settings (name, value) VALUES ('layout', ?) IF NOT EXISTS`, s.layout.String()).
		MapScanCASContext(ctx, row)
	if err != nil {
		return fmt.Errorf("record the layout of keyspace %s: %w", s.ks, classify(err))
	}
	if applied {
		return nil
	}
	recorded, _ := row["value"].(string)
	return s.layout.Check(recorded)
}

// query binds a statement whose tables are written {ks}.table.
func (s *Store) query(stmt string, args ...any) *gocql.Query {
	return s.sess.Query(strings.ReplaceAll(stmt, "{ks}", s.ks), args...)
}

func connect(cfg Config) (*gocql.Session, error) {
	c := gocql.NewCluster(cfg.Hosts...)
	c.Keyspace = cfg.Keyspace
	c.Consistency = gocql.ParseConsistency(cfg.Consistency)
	if strings.EqualFold(cfg.SerialConsistency, "SERIAL") {
		c.SerialConsistency = gocql.Serial
	} else {
		c.SerialConsistency = gocql.LocalSerial
	}
	c.ConnectTimeout = cfg.ConnectTimeout
	c.Timeout = cfg.Timeout
	c.WriteTimeout = cfg.Timeout
	c.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: cfg.Retries, Min: cfg.MinBackoff, Max: cfg.MaxBackoff}
	fallback := gocql.RoundRobinHostPolicy()
	if cfg.LocalDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(cfg.LocalDC)
	}
	c.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback)
	c.DefaultIdempotence = true
	c.Logger = gocql.NewLogger(gocql.LogLevelNone)
	if cfg.Username != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	sess, err := c.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("connect to cassandra at %s: %w: %w", strings.Join(cfg.Hosts, ","), assets.ErrUnavailable, err)
	}
	return sess, nil
}

// classify maps driver errors onto the assets sentinels.
func classify(err error) error {
	var (
		netErr      net.Error
		unavailable *gocql.RequestErrUnavailable
		wto         *gocql.RequestErrWriteTimeout
		rto         *gocql.RequestErrReadTimeout
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gocql.ErrNotFound):
		return assets.ErrNotFound
	case errors.Is(err, gocql.ErrNoConnections), errors.Is(err, gocql.ErrTimeoutNoResponse),
		errors.Is(err, gocql.ErrConnectionClosed), errors.Is(err, gocql.ErrSessionClosed),
		errors.Is(err, gocql.ErrNoStreams),
		errors.As(err, &netErr), errors.As(err, &unavailable), errors.As(err, &wto), errors.As(err, &rto),
		transient(err):
		return fmt.Errorf("%w: %w", assets.ErrUnavailable, err)
	}
	return err
}

// transient reports whether Cassandra answered with an error a node gives
// while it is overloaded, starting or stopping: waited out, not blamed on
// the event.
func transient(err error) bool {
	var re gocql.RequestError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code() {
	case gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping, gocql.ErrCodeReadFailure,
		gocql.ErrCodeWriteFailure, gocql.ErrCodeCASWriteUnknown:
		return true
	}
	return false
}

// Close closes the session; a second call is a no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(s.sess.Close)
	return nil
}

// Put writes the index entry, then the asset, so a scan never finds an id
// whose Put failed before the asset row was attempted.
func (s *Store) Put(ctx context.Context, a assets.Asset) error {
	if a.ID.IsZero() || a.Type == "" {
		return fmt.Errorf("put asset %s: id and type are required", a.ID)
	}
	p := s.layout.PartitionOf(a)
	err := s.recordType(ctx, a.Type)
	if err == nil {
		err = s.query(`INSERT INTO {ks}.assets_by_type_bucket (asset_type, time_bucket, shard, asset_id) VALUES (?, ?, ?, ?)`,
			p.Type, p.Bucket, p.Shard, a.ID[:]).ExecContext(ctx)
	}
	if err == nil {
		err = s.query(`INSERT INTO {ks}.assets (asset_id, asset_type, created_at, metadata, facts, transforms, version) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			a.ID[:], a.Type, a.CreatedAt, a.Metadata, a.Facts, a.Transforms, assets.NextVersion(a.Version, s.now())).ExecContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("put asset %s: %w", a.ID, classify(err))
	}
	return nil
}

// PutAll writes assets as Put does, in fewer requests: the paging index
// rows of each partition in one unlogged batch (one mutation), then the
// asset rows in small unlogged batches. A failure may leave some of them
// written; writing them again is harmless.
func (s *Store) PutAll(ctx context.Context, as []assets.Asset) error {
	byPart := map[assets.Partition][]assets.ID{}
	for _, a := range as {
		if a.ID.IsZero() || a.Type == "" {
			return fmt.Errorf("put asset %s: id and type are required", a.ID)
		}
		if err := s.recordType(ctx, a.Type); err != nil {
			return fmt.Errorf("put asset %s: %w", a.ID, classify(err))
		}
		p := s.layout.PartitionOf(a)
		byPart[p] = append(byPart[p], a.ID)
	}
	ins := strings.ReplaceAll(`INSERT INTO {ks}.assets_by_type_bucket (asset_type, time_bucket, shard, asset_id) VALUES (?, ?, ?, ?)`, "{ks}", s.ks)
	for p, ids := range byPart {
		b := s.sess.Batch(gocql.UnloggedBatch)
		for _, id := range ids {
			b.Query(ins, p.Type, p.Bucket, p.Shard, id[:])
		}
		if err := b.ExecContext(ctx); err != nil {
			return fmt.Errorf("put %d assets of %s: %w", len(ids), p, classify(err))
		}
	}
	ins = strings.ReplaceAll(`INSERT INTO {ks}.assets (asset_id, asset_type, created_at, metadata, facts, transforms, version) VALUES (?, ?, ?, ?, ?, ?, ?)`, "{ks}", s.ks)
	for chunk := range slices.Chunk(as, 16) {
		b := s.sess.Batch(gocql.UnloggedBatch)
		for _, a := range chunk {
			b.Query(ins, a.ID[:], a.Type, a.CreatedAt, a.Metadata, a.Facts, a.Transforms, assets.NextVersion(a.Version, s.now()))
		}
		if err := b.ExecContext(ctx); err != nil {
			return fmt.Errorf("put %d assets: %w", len(chunk), classify(err))
		}
	}
	return nil
}

// TableSize reports the paging index's partition sizes as Cassandra
// estimates them: system.size_estimates per token range (flushed data
// only), and system_views.max_partition_size (Cassandra 5.0; 0 where the
// view is missing).
func (s *Store) TableSize(ctx context.Context) (assets.TableSize, error) {
	const table = "assets_by_type_bucket"
	iter := s.sess.Query(`SELECT mean_partition_size, partitions_count FROM system.size_estimates WHERE keyspace_name = ? AND table_name = ?`, s.ks, table).IterContext(ctx)
	var ts assets.TableSize
	var bytes float64
	var mean, n int64
	for iter.Scan(&mean, &n) {
		ts.Partitions += n
		bytes += float64(mean) * float64(n)
	}
	if err := iter.Close(); err != nil {
		return ts, fmt.Errorf("size estimates of %s.%s: %w", s.ks, table, classify(err))
	}
	if ts.Partitions > 0 {
		ts.MeanBytes = int64(bytes / float64(ts.Partitions))
	}
	var mib int64
	if err := s.sess.Query(`SELECT mebibytes FROM system_views.max_partition_size WHERE keyspace_name = ? AND table_name = ?`, s.ks, table).
		ScanContext(ctx, &mib); err == nil {
		ts.MaxBytes = mib << 20
	}
	return ts, nil
}

// recordType adds typ to asset_types, once per process.
func (s *Store) recordType(ctx context.Context, typ string) error {
	if _, ok := s.types.Load(typ); ok {
		return nil
	}
	if err := s.query(`INSERT INTO {ks}.asset_types (asset_type) VALUES (?)`, typ).ExecContext(ctx); err != nil {
		return err
	}
	s.types.Store(typ, true)
	return nil
}

// Types lists the asset types Put wrote, sorted.
func (s *Store) Types(ctx context.Context) ([]string, error) {
	iter := s.query(`SELECT asset_type FROM {ks}.asset_types`).IterContext(ctx)
	var types []string
	var t string
	for iter.Scan(&t) {
		types = append(types, t)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("asset types: %w", classify(err))
	}
	slices.Sort(types)
	return types, nil
}

// Get reads one asset.
func (s *Store) Get(ctx context.Context, id assets.ID) (assets.Asset, error) {
	a := assets.Asset{ID: id}
	err := s.query(`SELECT asset_type, created_at, metadata, facts, transforms, version FROM {ks}.assets WHERE asset_id = ?`, id[:]).
		ScanContext(ctx, &a.Type, &a.CreatedAt, &a.Metadata, &a.Facts, &a.Transforms, &a.Version)
	if err != nil {
		return assets.Asset{}, fmt.Errorf("get asset %s: %w", id, classify(err))
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.Metadata, a.Facts, a.Transforms = nilIfEmpty(a.Metadata), nilIfEmpty(a.Facts), nilIfEmpty(a.Transforms)
	return a, nil
}

// Page returns the next ids of p below after, newest first, in one request.
func (s *Store) Page(ctx context.Context, p assets.Partition, after assets.ID, limit int) ([]assets.ID, error) {
	if limit < 1 {
		return nil, fmt.Errorf("page %s: limit must be positive, got %d", p, limit)
	}
	var q *gocql.Query
	if after.IsZero() {
		q = s.query(`SELECT asset_id FROM {ks}.assets_by_type_bucket WHERE asset_type = ? AND time_bucket = ? AND shard = ? LIMIT ?`,
			p.Type, p.Bucket, p.Shard, limit)
	} else {
		q = s.query(`SELECT asset_id FROM {ks}.assets_by_type_bucket WHERE asset_type = ? AND time_bucket = ? AND shard = ? AND asset_id < ? LIMIT ?`,
			p.Type, p.Bucket, p.Shard, after[:], limit)
	}
	iter := q.PageSize(limit).IterContext(ctx)
	ids := make([]assets.ID, 0, limit)
	var u gocql.UUID
	for iter.Scan(&u) {
		ids = append(ids, assets.ID(u))
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("page %s: %w", p, classify(err))
	}
	return ids, nil
}

// updateStmt builds `UPDATE {ks}.assets SET m = m + ?, ..., version = ?` for the
// maps u names; the driver caches one prepared statement per shape.
func updateStmt(u assets.Update, cond bool) (string, []any) {
	var sets []string
	var args []any
	add := func(col string, n int, v any) {
		if n > 0 {
			sets = append(sets, col+" = "+col+" + ?")
			args = append(args, v)
		}
	}
	add("metadata", len(u.Metadata), u.Metadata)
	add("facts", len(u.Facts), u.Facts)
	add("transforms", len(u.Transforms), u.Transforms)
	sets = append(sets, "version = ?")
	stmt := "UPDATE {ks}.assets SET " + strings.Join(sets, ", ") + " WHERE asset_id = ?"
	if cond {
		stmt += " IF version = ?"
	}
	return stmt, args
}

// Update appends u's entries and sets a new version. It reads the version
// first, so that updating a missing asset is ErrNotFound rather than a
// partial row. With Config.LWTUpdates the write is conditional on the
// version read, and read and written again while it loses.
func (s *Store) Update(ctx context.Context, id assets.ID, u assets.Update) error {
	for range maxLWTTries {
		var prev int64
		err := s.query(`SELECT version FROM {ks}.assets WHERE asset_id = ?`, id[:]).ScanContext(ctx, &prev)
		if err != nil {
			return fmt.Errorf("update asset %s: %w", id, classify(err))
		}
		if s.lwt {
			if ok, err := s.UpdateIf(ctx, id, prev, u); ok || err != nil {
				return err
			}
			continue
		}
		stmt, args := updateStmt(u, false)
		args = append(args, assets.NextVersion(prev, s.now()), id[:])
		if err := s.query(stmt, args...).ExecContext(ctx); err != nil {
			return fmt.Errorf("update asset %s: %w", id, classify(err))
		}
		return nil
	}
	return fmt.Errorf("update asset %s: the version changed under %d conditional writes", id, maxLWTTries)
}

// maxLWTTries bounds an LWT Update's conditional writes.
const maxLWTTries = 100

// UpdateIf applies u through a lightweight transaction on version.
func (s *Store) UpdateIf(ctx context.Context, id assets.ID, version int64, u assets.Update) (bool, error) {
	stmt, args := updateStmt(u, true)
	args = append(args, assets.NextVersion(version, s.now()), id[:], version)
	var current *int64
	// Not idempotent: a retry after an applied-but-unacknowledged attempt
	// would report "not applied". The caller re-reads and decides instead.
	applied, err := s.query(stmt, args...).Idempotent(false).ScanCASContext(ctx, &current)
	if err != nil {
		return false, fmt.Errorf("update asset %s if version %d: %w", id, version, classify(err))
	}
	if !applied && current == nil {
		return false, fmt.Errorf("update asset %s if version %d: %w", id, version, assets.ErrNotFound)
	}
	return applied, nil
}

// Delete reads the asset's partition, then deletes the asset row and
// then its index entry, so a scan never lists a deleted asset for long.
func (s *Store) Delete(ctx context.Context, id assets.ID) error {
	a, err := s.Get(ctx, id)
	if errors.Is(err, assets.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	p := s.layout.PartitionOf(a)
	err = s.query(`DELETE FROM {ks}.assets WHERE asset_id = ?`, id[:]).ExecContext(ctx)
	if err == nil {
		err = s.query(`DELETE FROM {ks}.assets_by_type_bucket WHERE asset_type = ? AND time_bucket = ? AND shard = ? AND asset_id = ?`,
			p.Type, p.Bucket, p.Shard, id[:]).ExecContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("delete asset %s: %w", id, classify(err))
	}
	return nil
}

// SaveJob creates or replaces a job record.
func (s *Store) SaveJob(ctx context.Context, j assets.Job) error {
	if j.ID == "" {
		return errors.New("save job: id is required")
	}
	err := s.query(`INSERT INTO {ks}.jobs (job_id, spec, status, counters, error, created_at, started_at, ended_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, j.Spec, j.Status, j.Counters, j.Error, nullTime(j.CreatedAt), nullTime(j.StartedAt), nullTime(j.EndedAt), nullTime(j.UpdatedAt)).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("save job %s: %w", j.ID, classify(err))
	}
	return nil
}

// SaveJobIf replaces job j's record if its status is still status (a
// lightweight transaction); its counters are left as they are.
func (s *Store) SaveJobIf(ctx context.Context, j assets.Job, status string) (bool, error) {
	var ignored *string
	applied, err := s.query(`UPDATE {ks}.jobs SET spec = ?, status = ?, error = ?, created_at = ?, started_at = ?, ended_at = ?, updated_at = ? WHERE job_id = ? IF status = ?`,
		j.Spec, j.Status, j.Error, nullTime(j.CreatedAt), nullTime(j.StartedAt), nullTime(j.EndedAt), nullTime(j.UpdatedAt), j.ID, status).
		Idempotent(false).ScanCASContext(ctx, &ignored)
	if err != nil {
		return false, fmt.Errorf("save job %s: %w", j.ID, classify(err))
	}
	return applied, nil
}

// SetJobCounters appends the counters to the job's map (a lightweight
// transaction, so that a missing job is ErrNotFound, not a partial row).
func (s *Store) SetJobCounters(ctx context.Context, id string, counters map[string]int64) error {
	var ignored *string
	applied, err := s.query(`UPDATE {ks}.jobs SET counters = counters + ?, updated_at = ? WHERE job_id = ? IF EXISTS`,
		counters, s.now().UTC(), id).Idempotent(false).ScanCASContext(ctx, &ignored)
	if err != nil {
		return fmt.Errorf("set counters of job %s: %w", id, classify(err))
	}
	if !applied {
		return fmt.Errorf("set counters of job %s: %w", id, assets.ErrNotFound)
	}
	return nil
}

// AddJobCounters increments the job's counter columns (Cassandra
// counters: safe from many writers; a retried increment may count twice,
// which progress figures tolerate). The increments go in one counter
// batch on the job's partition, so a reader sees all of them or none.
func (s *Store) AddJobCounters(ctx context.Context, id string, deltas map[string]int64) error {
	add := strings.ReplaceAll(`UPDATE {ks}.job_counters SET value = value + ? WHERE job_id = ? AND name = ?`, "{ks}", s.ks)
	b := s.sess.Batch(gocql.CounterBatch)
	for name, d := range deltas {
		if d != 0 {
			b.Query(add, d, id, name)
		}
	}
	if b.Size() == 0 {
		return nil
	}
	if err := b.ExecContext(ctx); err != nil {
		return fmt.Errorf("add to the counters of job %s: %w", id, classify(err))
	}
	return nil
}

// addCounters overlays the job's counter columns on j.Counters.
func (s *Store) addCounters(ctx context.Context, j *assets.Job) error {
	iter := s.query(`SELECT name, value FROM {ks}.job_counters WHERE job_id = ?`, j.ID).IterContext(ctx)
	var (
		name  string
		value int64
	)
	for iter.Scan(&name, &value) {
		if j.Counters == nil {
			j.Counters = map[string]int64{}
		}
		j.Counters[name] = value
	}
	return classify(iter.Close())
}

const jobColumns = `job_id, spec, status, counters, error, created_at, started_at, ended_at, updated_at`

func scanJob(scan func(...any) bool) (assets.Job, bool) {
	var j assets.Job
	ok := scan(&j.ID, &j.Spec, &j.Status, &j.Counters, &j.Error, &j.CreatedAt, &j.StartedAt, &j.EndedAt, &j.UpdatedAt)
	return j, ok
}

// Job reads one job.
func (s *Store) Job(ctx context.Context, id string) (assets.Job, error) {
	iter := s.query(`SELECT `+jobColumns+` FROM {ks}.jobs WHERE job_id = ?`, id).IterContext(ctx)
	j, ok := scanJob(iter.Scan)
	if err := iter.Close(); err != nil {
		return assets.Job{}, fmt.Errorf("job %s: %w", id, classify(err))
	}
	if !ok {
		return assets.Job{}, fmt.Errorf("job %s: %w", id, assets.ErrNotFound)
	}
	j = normJob(j)
	if err := s.addCounters(ctx, &j); err != nil {
		return assets.Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	return j, nil
}

// Jobs lists every job in id order (the table is small: one row a job).
func (s *Store) Jobs(ctx context.Context) ([]assets.Job, error) {
	iter := s.query(`SELECT ` + jobColumns + ` FROM {ks}.jobs`).IterContext(ctx)
	var jobs []assets.Job
	for {
		j, ok := scanJob(iter.Scan)
		if !ok {
			break
		}
		jobs = append(jobs, normJob(j))
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", classify(err))
	}
	for i := range jobs {
		if err := s.addCounters(ctx, &jobs[i]); err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
	}
	slices.SortFunc(jobs, func(a, b assets.Job) int { return strings.Compare(a.ID, b.ID) })
	return jobs, nil
}

// SaveCheckpoint records a task's position.
func (s *Store) SaveCheckpoint(ctx context.Context, c assets.Checkpoint) error {
	if c.Job == "" || c.Task == "" {
		return errors.New("save checkpoint: job and task are required")
	}
	err := s.query(`INSERT INTO {ks}.checkpoints (job_id, task, position, done, updated_at) VALUES (?, ?, ?, ?, ?)`,
		c.Job, c.Task, c.Position, c.Done, nullTime(c.UpdatedAt)).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("save checkpoint %s/%s: %w", c.Job, c.Task, classify(err))
	}
	return nil
}

// DeleteCheckpoints deletes a job's checkpoints (one partition).
func (s *Store) DeleteCheckpoints(ctx context.Context, job string) error {
	if err := s.query(`DELETE FROM {ks}.checkpoints WHERE job_id = ?`, job).ExecContext(ctx); err != nil {
		return fmt.Errorf("delete checkpoints of %s: %w", job, classify(err))
	}
	return nil
}

// Checkpoints lists a job's checkpoints in task order.
func (s *Store) Checkpoints(ctx context.Context, job string) ([]assets.Checkpoint, error) {
	iter := s.query(`SELECT task, position, done, updated_at FROM {ks}.checkpoints WHERE job_id = ?`, job).IterContext(ctx)
	var out []assets.Checkpoint
	c := assets.Checkpoint{Job: job}
	for iter.Scan(&c.Task, &c.Position, &c.Done, &c.UpdatedAt) {
		c.UpdatedAt = utcOrZero(c.UpdatedAt)
		out = append(out, c)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", job, classify(err))
	}
	return out, nil
}

// SetThrottle records a job's throttle state (one row, replaced).
func (s *Store) SetThrottle(ctx context.Context, job string, t assets.Throttle) error {
	err := s.query(`INSERT INTO {ks}.job_throttle (job_id, rate, signal_us, target_us, baseline_us, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		job, t.Rate, t.Signal.Microseconds(), t.Target.Microseconds(), t.Baseline.Microseconds(), t.Reason, nullTime(t.UpdatedAt)).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("set throttle of %s: %w", job, classify(err))
	}
	return nil
}

// SetRateLimit records an operator's rate limit for a job; 0 removes it.
func (s *Store) SetRateLimit(ctx context.Context, job string, limit float64) error {
	q := s.query(`DELETE FROM {ks}.job_rate_limit WHERE job_id = ?`, job)
	if limit != 0 {
		q = s.query(`INSERT INTO {ks}.job_rate_limit (job_id, rate, updated_at) VALUES (?, ?, ?)`, job, limit, s.now().UTC())
	}
	if err := q.ExecContext(ctx); err != nil {
		return fmt.Errorf("set rate limit of %s: %w", job, classify(err))
	}
	return nil
}

// RateLimit reads an operator's rate limit for a job; 0 if none is set.
func (s *Store) RateLimit(ctx context.Context, job string) (float64, error) {
	var limit float64
	err := s.query(`SELECT rate FROM {ks}.job_rate_limit WHERE job_id = ?`, job).ScanContext(ctx, &limit)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return 0, fmt.Errorf("rate limit of %s: %w", job, classify(err))
	}
	return limit, nil
}

// Throttle reads a job's throttle state.
func (s *Store) Throttle(ctx context.Context, job string) (assets.Throttle, error) {
	var t assets.Throttle
	var sig, target, base int64
	err := s.query(`SELECT rate, signal_us, target_us, baseline_us, reason, updated_at FROM {ks}.job_throttle WHERE job_id = ?`, job).
		ScanContext(ctx, &t.Rate, &sig, &target, &base, &t.Reason, &t.UpdatedAt)
	if err != nil {
		return t, fmt.Errorf("throttle of %s: %w", job, classify(err))
	}
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	t.Signal, t.Target, t.Baseline = us(sig), us(target), us(base)
	t.UpdatedAt = utcOrZero(t.UpdatedAt)
	return t, nil
}

// SaveRun records one run of a job (one row, replaced).
func (s *Store) SaveRun(ctx context.Context, r assets.Run) error {
	err := s.query(`INSERT INTO {ks}.job_runs (job_id, run, owner, status, counters, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Job, r.N, r.Owner, r.Status, r.Counters, nullTime(r.StartedAt), nullTime(r.EndedAt)).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("save run %d of %s: %w", r.N, r.Job, classify(err))
	}
	return nil
}

// Runs lists a job's runs, oldest first.
func (s *Store) Runs(ctx context.Context, job string) ([]assets.Run, error) {
	iter := s.query(`SELECT run, owner, status, counters, started_at, ended_at FROM {ks}.job_runs WHERE job_id = ?`, job).
		IterContext(ctx)
	var out []assets.Run
	r := assets.Run{Job: job}
	for iter.Scan(&r.N, &r.Owner, &r.Status, &r.Counters, &r.StartedAt, &r.EndedAt) {
		r.Counters = nilIfEmpty(r.Counters)
		r.StartedAt, r.EndedAt = utcOrZero(r.StartedAt), utcOrZero(r.EndedAt)
		out = append(out, r)
		r = assets.Run{Job: job}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("runs of %s: %w", job, classify(err))
	}
	return out, nil
}

// nullTime stores the zero time as null rather than as year 1.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nilIfEmpty reads an absent collection (Cassandra has no empty ones) as nil.
func nilIfEmpty[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normJob(j assets.Job) assets.Job {
	j.CreatedAt = utcOrZero(j.CreatedAt)
	j.StartedAt = utcOrZero(j.StartedAt)
	j.EndedAt = utcOrZero(j.EndedAt)
	j.UpdatedAt = utcOrZero(j.UpdatedAt)
	j.Counters = nilIfEmpty(j.Counters)
	return j
}
