package iceberg

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/sstable"
)

// Snapshot summary properties an export records.
const (
	SourceProperty   = "reprocess.source"       // the source snapshot's fingerprint
	TableProperty    = "reprocess.source-table" // keyspace.table
	AsOfProperty     = "reprocess.as-of"        // the moment TTLs were judged at
	ManifestProperty = "reprocess.sstables"     // the location of the source's SSTable manifest
	ChangedProperty  = "reprocess.changed"      // partitions an incremental export replaced
	DroppedProperty  = "reprocess.dropped"      // the source's dropped columns and drop times (µs), JSON
)

// ErrAlreadyExported is returned when the table already holds an export
// of the same source.
var ErrAlreadyExported = errors.New("iceberg: already exported to the table")

// Options say where to export.
type Options struct {
	Catalog     Catalog
	Table       string // namespace.table, created when absent
	PartitionBy string // a partition spec for a new table (ParsePartitionSpec)

	// BeforeCommit, if set, is called once every data file is written,
	// just before the commit; an error abandons the export uncommitted.
	BeforeCommit func() error
}

// Result is what an export committed.
type Result struct {
	Rows           int64
	SnapshotID     int64  // the Iceberg snapshot committed
	Source         string // the source fingerprint recorded with it
	TimesTruncated int64  // time values cut to whole microseconds

	// Of an incremental export (ExportChanges):
	Incremental bool
	Partitions  int   // partitions replaced
	Deleted     int64 // rows of the replaced partitions the commit removed
	FilesGone   int64 // data files the commit removed, whole or rewritten (copy-on-write)
	FilesKept   int64 // data files the commit kept as they were
}

// ExportSnapshot appends the live rows of s, read with o, to the Iceberg
// table in one commit: the data files are written first and become
// visible only when the commit lands, so an export that stops early adds
// no rows (its files are orphans). The commit records the snapshot's
// fingerprint (Fingerprint) in its summary, and an export of a snapshot
// the table already holds is refused with ErrAlreadyExported. It records
// the snapshot's SSTable manifest too (ManifestProperty), which a later
// ExportChanges may start from.
func ExportSnapshot(ctx context.Context, s *sstable.Snapshot, o sstable.ReadOptions, opt Options) (Result, error) {
	w, err := newWrite(s, o)
	if err != nil {
		return Result{}, err
	}
	w.rows = snapshotRows(s, o, time.Now().UTC())
	res, err := commitRows(ctx, opt, w)
	if errors.Is(err, ErrAlreadyExported) {
		err = fmt.Errorf("%w: export another snapshot, or to another table", err)
	}
	return res, err
}

// write is what one commit writes.
type write struct {
	sc    *ice.Schema
	rows  rowSource
	props ice.Properties
	// manifest, when set, is written beside the table's metadata and its
	// location recorded as ManifestProperty.
	manifest *sstable.Manifest
	// overwrite, when set, selects the table's rows the commit replaces.
	overwrite ice.BooleanExpression
	// dropped is the snapshot's dropped columns (sstable.Schema.Dropped).
	dropped map[string]int64
}

// newWrite is the write of snapshot s's rows, read with o: its schema,
// fingerprint, table, time and manifest.
func newWrite(s *sstable.Snapshot, o sstable.ReadOptions) (write, error) {
	sc, err := Schema(s)
	if err != nil {
		return write{}, err
	}
	source, err := Fingerprint(s)
	if err != nil {
		return write{}, err
	}
	m, err := s.Manifest()
	if err != nil {
		return write{}, err
	}
	m.AsOf = cmp.Or(o.AsOf, s.CreatedAt, time.Now()).UTC()
	props := ice.Properties{SourceProperty: source, TableProperty: SourceTable(s), AsOfProperty: asOf(s, o)}
	w := write{sc: sc, props: props, manifest: &m, dropped: Dropped(s)}
	props[DroppedProperty] = DroppedJSON(w.dropped)
	return w, nil
}

// Dropped is the dropped columns of s's table, each with its last drop
// time in µs (sstable.Schema.Dropped): what an export records as
// DroppedProperty. The assets table's columns are the export's own.
func Dropped(s *sstable.Snapshot) map[string]int64 {
	if s.Schema == nil || backup.HoldsAssets(s) {
		return map[string]int64{}
	}
	return s.Schema.Dropped
}

// DroppedJSON is dropped as DroppedProperty holds it.
func DroppedJSON(dropped map[string]int64) string {
	if dropped == nil {
		dropped = map[string]int64{}
	}
	b, _ := json.Marshal(dropped) // a map of strings to numbers always marshals
	return string(b)
}

// commitRows writes the rows of w to the table of opt in one commit
// recording w.props, unless a snapshot of the table already recorded
// props[SourceProperty] (ErrAlreadyExported).
func commitRows(ctx context.Context, opt Options, w write) (Result, error) {
	res := Result{Source: w.props[SourceProperty]}
	cat, err := opt.Catalog.Open(ctx)
	if err != nil {
		return res, err
	}
	defer Close(cat)
	tbl, err := openTable(ctx, cat, opt.Table, w.sc, opt.PartitionBy)
	if err != nil {
		return res, err
	}
	if snap := findExport(tbl, res.Source); snap != nil {
		return res, alreadyExported(opt.Table, snap, res.Source)
	}
	txn := tbl.NewTransaction()
	target, order, err := evolve(txn, tbl, w.sc, w.dropped)
	if err != nil {
		return res, err
	}
	var c counts
	batches, err := newRowBatches(reorder(w.rows, order), target.Schema(), target.Spec(), &c)
	if err != nil {
		return res, err
	}
	if res.Deleted, err = stage(ctx, tbl, target, txn, batches.schema, batches.all(ctx), w); err != nil {
		return res, fmt.Errorf("iceberg: write %s: %w", opt.Table, err)
	}
	if opt.BeforeCommit != nil {
		if err := opt.BeforeCommit(); err != nil {
			return res, err
		}
	}
	committed, err := txn.Commit(ctx)
	if err != nil {
		return res, fmt.Errorf("iceberg: commit to %s: %w", opt.Table, err)
	}
	res.Rows, res.TimesTruncated = batches.n, c.TimesTruncated
	res.SnapshotID = committed.CurrentSnapshot().SnapshotID
	if sum := committed.CurrentSnapshot().Summary; sum != nil {
		res.FilesGone, _ = strconv.ParseInt(sum.Properties["deleted-data-files"], 10, 64)
		total, _ := strconv.ParseInt(sum.Properties["total-data-files"], 10, 64)
		added, _ := strconv.ParseInt(sum.Properties["added-data-files"], 10, 64)
		res.FilesKept = total - added
	}
	return res, nil
}

// stage writes the manifest of w, if any, and the rows of recs (of Arrow
// schema sc) in txn: appended, or replacing the rows w.overwrite selects
// (replaceRows). tbl is the table as it is, target as txn leaves it. It
// returns the rows the commit removes.
func stage(ctx context.Context, tbl, target *table.Table, txn *table.Transaction, sc *arrow.Schema, recs iter.Seq2[arrow.RecordBatch, error], w write) (int64, error) {
	if w.manifest != nil {
		loc, err := writeManifest(ctx, tbl, w.props[SourceProperty], *w.manifest)
		if err != nil {
			return 0, err
		}
		w.props[ManifestProperty] = loc
	}
	if w.overwrite != nil {
		return replaceRows(ctx, tbl, target, txn, sc, recs, w.overwrite, w.props)
	}
	files, err := writeFiles(ctx, target, sc, recs)
	if err != nil || len(files) == 0 {
		return 0, cmp.Or(err, appendNothing(ctx, txn, sc, w.props))
	}
	return 0, txn.AddDataFiles(ctx, files, w.props)
}

// findExport returns the table's snapshot that recorded source, if any.
func findExport(tbl *table.Table, source string) *table.Snapshot {
	for _, snap := range tbl.Metadata().Snapshots() {
		if snap.Summary != nil && snap.Summary.Properties[SourceProperty] == source {
			return &snap
		}
	}
	return nil
}

// Fingerprint identifies a snapshot's content: its table and the SSTables
// of its manifest (name, size and digest, where written). The same
// snapshot read from another place (a copy, S3) has the same fingerprint.
func Fingerprint(s *sstable.Snapshot) (string, error) {
	m, err := s.Manifest()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", SourceTable(s))
	for _, l := range sstableLines(m) {
		fmt.Fprintf(h, "%s\n", l)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// sstableLines is a line per SSTable of m, "name size digest", sorted:
// what tells two manifests' SSTables apart.
func sstableLines(m sstable.Manifest) []string {
	lines := make([]string, len(m.SSTables))
	for i, f := range m.SSTables {
		lines[i] = fmt.Sprintf("%s %d %s", f.Name, f.Size, f.Digest)
	}
	slices.Sort(lines)
	return lines
}

// SourceTable names the table s is a snapshot of, keyspace.table.
func SourceTable(s *sstable.Snapshot) string {
	if s.Schema == nil {
		return "unknown"
	}
	return s.Schema.Keyspace + "." + s.Schema.Table
}

func asOf(s *sstable.Snapshot, o sstable.ReadOptions) string {
	switch {
	case !o.AsOf.IsZero():
		return o.AsOf.UTC().Format(time.RFC3339Nano)
	case !s.CreatedAt.IsZero():
		return s.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	return "now"
}

// batchRows is how many rows go in one Arrow record batch.
const batchRows = 8192

// rowSource calls fn with the values of every row, in schema order, from
// one goroutine.
type rowSource func(ctx context.Context, fn func(cols []string, vals []any) error) error

// snapshotRows is the rows of a snapshot: as assets exported at exportedAt
// when it holds the assets table, else as its own columns.
func snapshotRows(s *sstable.Snapshot, o sstable.ReadOptions, exportedAt time.Time) rowSource {
	return func(ctx context.Context, fn func([]string, []any) error) error {
		return s.Rows(ctx, o, rowFunc(s, exportedAt, fn))
	}
}

// rowFunc passes each row of s to fn: as an asset exported at exportedAt
// when s holds the assets table, else as its own columns.
func rowFunc(s *sstable.Snapshot, exportedAt time.Time, fn func([]string, []any) error) func(sstable.CQLRow) error {
	if !backup.HoldsAssets(s) {
		return func(r sstable.CQLRow) error { return fn(r.Columns, r.Values) }
	}
	return func(r sstable.CQLRow) error {
		a, err := backup.AssetFromRow(r)
		if err != nil {
			return err
		}
		return fn(assetColumns, assetValues(lake.AssetRow(a, exportedAt)))
	}
}

// reorder is rows with each row's columns in order: column i is the
// column order[i] of the row as rows gives it.
func reorder(rows rowSource, order []int) rowSource {
	if !slices.IsSorted(order) {
		return func(ctx context.Context, fn func([]string, []any) error) error {
			cols, vals := make([]string, len(order)), make([]any, len(order))
			return rows(ctx, func(c []string, v []any) error {
				for i, j := range order {
					cols[i], vals[i] = c[j], v[j]
				}
				return fn(cols, vals)
			})
		}
	}
	return rows
}

// rowBatches reads rows as Arrow record batches; rows of a partitioned
// table (part not nil) come grouped by partition.
type rowBatches struct {
	rows   rowSource
	schema *arrow.Schema
	fields []ice.NestedField
	part   *partitioner
	counts *counts
	n      int64
}

// newRowBatches reads rows as batches of the table's schema sc,
// partitioned by spec.
func newRowBatches(rows rowSource, sc *ice.Schema, spec ice.PartitionSpec, c *counts) (*rowBatches, error) {
	arrowSchema, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		return nil, err
	}
	part, err := newPartitioner(spec, sc)
	if err != nil {
		return nil, err
	}
	return &rowBatches{rows: rows, schema: arrowSchema, fields: sc.Fields(), part: part, counts: c}, nil
}

// all yields the batches, reading the snapshot in another goroutine; it
// stops reading when the consumer stops.
func (r *rowBatches) all(ctx context.Context) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		batches := make(chan arrow.RecordBatch, 2)
		errc := make(chan error, 1)
		go func() {
			defer close(batches)
			if r.part == nil {
				errc <- r.read(ctx, batches)
			} else {
				errc <- r.readGrouped(ctx, batches)
			}
		}()
		for b := range batches {
			if !yield(b, nil) {
				cancel()
				for b := range batches {
					b.Release()
				}
				return
			}
		}
		if err := <-errc; err != nil {
			yield(nil, err)
		}
	}
}

func (r *rowBatches) read(ctx context.Context, out chan<- arrow.RecordBatch) error {
	b := array.NewRecordBuilder(memory.DefaultAllocator, r.schema)
	defer b.Release()
	apps := r.appenders()
	pending := 0
	err := r.rows(ctx, func(cols []string, vals []any) error {
		if err := r.append(b, apps, cols, vals); err != nil {
			return err
		}
		if pending++; pending < batchRows {
			return nil
		}
		pending = 0
		select {
		case out <- b.NewRecordBatch():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err == nil && pending > 0 {
		out <- b.NewRecordBatch()
	}
	return err
}

// readGrouped reads every row into a spill, then sends its batches
// partition by partition.
func (r *rowBatches) readGrouped(ctx context.Context, out chan<- arrow.RecordBatch) error {
	s, err := newSpill(r.schema)
	if err != nil {
		return err
	}
	defer s.close()
	apps := r.appenders()
	err = r.rows(ctx, func(cols []string, vals []any) error {
		key, err := r.part.key(vals)
		if err != nil {
			return fmt.Errorf("row %d: %w", r.n+1, err)
		}
		if err := r.append(s.builder(key), apps, cols, vals); err != nil {
			return err
		}
		return s.added(key)
	})
	if err != nil {
		return err
	}
	return s.drain(ctx, out)
}

func (r *rowBatches) appenders() []appender {
	apps := make([]appender, len(r.fields))
	for i, f := range r.fields {
		apps[i] = appenderFor(f.Type, r.counts)
	}
	return apps
}

// append appends a row to b and counts it.
func (r *rowBatches) append(b *array.RecordBuilder, apps []appender, cols []string, vals []any) error {
	for i, v := range vals {
		if err := apps[i](b.Field(i), v); err != nil {
			return fmt.Errorf("row %d, column %s: %w", r.n+1, cols[i], err)
		}
	}
	r.n++
	return nil
}

// String formats a result for the command's report.
func (r Result) String() string {
	s := "wrote " + strconv.FormatInt(r.Rows, 10) + " rows in Iceberg snapshot " + strconv.FormatInt(r.SnapshotID, 10) + " (source " + r.Source + ")"
	if r.Incremental {
		s = fmt.Sprintf("replaced %d partitions changed since: removed %d rows (%d data files rewritten, %d kept), %s", r.Partitions, r.Deleted, r.FilesGone, r.FilesKept, s)
	}
	if r.TimesTruncated > 0 {
		s += fmt.Sprintf("; %d time values cut to whole microseconds", r.TimesTruncated)
	}
	return s
}
