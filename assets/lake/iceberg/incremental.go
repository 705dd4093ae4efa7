package iceberg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/sstable"
)

// SinceLast, given as the since of ExportChanges, names the manifest the
// table's last export recorded.
const SinceLast = "last"

// ErrNotIncremental is an incremental export refused because it could not
// equal a full export of the snapshot; the error says why, and what to
// run instead.
var ErrNotIncremental = errors.New("iceberg: refused")

// ExportChanges updates the table, which holds an export of an older
// snapshot of the same Cassandra table, to what ExportSnapshot of s would
// have written, in one overwrite commit: the partitions touched by
// SSTables new since (sstable.ChangedSince) are re-merged across all of
// s's SSTables and replace every row the table has of them; a partition
// with no live row left loses its rows. The table's state must have been
// built from the older snapshot: its last export recorded that snapshot's
// manifest (ManifestProperty), and since is SinceLast, or that snapshot
// or a manifest of it, opened with cfg (backup.Since). Anything else is
// refused (ErrNotIncremental), as is a recorded manifest that no longer
// matches the checksum its commit recorded, and SSTables gone since when
// only a manifest is at hand: the partitions that only they held (purged
// by compaction, expired) cannot be seen without their files. The commit
// records s's fingerprint and manifest as ExportSnapshot does, and an
// export of a snapshot the table holds is refused (ErrAlreadyExported).
// An empty since is ExportSnapshot.
func ExportChanges(ctx context.Context, s *sstable.Snapshot, o sstable.ReadOptions, opt Options, since string, cfg backup.Config, log *slog.Logger) (Result, error) {
	if since == "" {
		return ExportSnapshot(ctx, s, o, opt)
	}
	w, err := newWrite(s, o)
	if err != nil {
		return Result{}, err
	}
	last, err := lastExport(ctx, opt, w.props[SourceProperty])
	if err != nil {
		return Result{}, err
	}
	var older *sstable.Snapshot
	if since != SinceLast {
		var given sstable.Manifest
		if given, older, err = backup.Since(ctx, cfg, since, log); err != nil {
			return Result{}, fmt.Errorf("--since: %w", err)
		}
		if !sameSSTables(given, last) {
			return Result{}, fmt.Errorf("%w: --since %s is not the snapshot the table's rows were built from (its last export read %d SSTables of %s, created %s): give that snapshot, or --since last; %s",
				ErrNotIncremental, since, len(last.SSTables), last.Table, last.CreatedAt.Format(time.RFC3339), replaceHint)
		}
	}
	c, err := s.ChangedSince(last, older, o.AsOf)
	if err != nil {
		return Result{}, fmt.Errorf("--since: %w", err)
	}
	log.Info("changes since the table's last export", "since", since, "new_sstables", len(c.New), "gone_sstables", len(c.Gone), "expiring_sstables", len(c.Expiring), "partitions", len(c.Keys))
	if len(c.Gone) > 0 && older == nil {
		return Result{}, fmt.Errorf("%w: %d SSTables the table's last export read are gone from this snapshot (compacted away): partitions that only they held, purged or expired since, cannot be seen from a manifest; give the older snapshot itself (--since DIR or URL), or %s",
			ErrNotIncremental, len(c.Gone), replaceHint)
	}
	keys, filter, err := keyFilter(s, w.sc, c.Keys)
	if err != nil {
		return Result{}, err
	}
	w.overwrite = filter
	w.props[ChangedProperty] = strconv.Itoa(len(keys))
	w.rows = partitionRows(s, o, keys, time.Now().UTC())
	res, err := commitRows(ctx, opt, w)
	res.Incremental, res.Partitions = true, len(keys)
	if errors.Is(err, ErrAlreadyExported) {
		err = fmt.Errorf("%w: the table is up to date with this snapshot", err)
	}
	return res, err
}

// replaceHint is what to run when an export cannot be incremental.
const replaceHint = "export the snapshot with --replace (no --since) to rewrite the table in full"

// ReplaceAll replaces every row of the table with the live rows of s,
// read with o, in one overwrite commit that records s as ExportSnapshot
// does: the table then holds exactly what a full export of s into a new
// table would.
func ReplaceAll(ctx context.Context, s *sstable.Snapshot, o sstable.ReadOptions, opt Options) (Result, error) {
	w, err := newWrite(s, o)
	if err != nil {
		return Result{}, err
	}
	w.overwrite = ice.AlwaysTrue{}
	w.rows = snapshotRows(s, o, time.Now().UTC())
	res, err := commitRows(ctx, opt, w)
	if errors.Is(err, ErrAlreadyExported) {
		err = fmt.Errorf("%w: the table is up to date with this snapshot", err)
	}
	return res, err
}

// lastExport returns the manifest the table's last export recorded, or
// ErrAlreadyExported when the table holds the export of source.
func lastExport(ctx context.Context, opt Options, source string) (sstable.Manifest, error) {
	tbl, err := Load(ctx, opt.Catalog, opt.Table)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return sstable.Manifest{}, fmt.Errorf("%w: --since needs the table an earlier export wrote: %w", ErrNotIncremental, err)
	}
	if err != nil {
		return sstable.Manifest{}, err
	}
	if snap := findExport(tbl, source); snap != nil {
		return sstable.Manifest{}, fmt.Errorf("%w: the table is up to date with this snapshot", alreadyExported(opt.Table, snap, source))
	}
	return lastManifest(ctx, tbl, opt.Table)
}

// sameSSTables reports whether two manifests list the same SSTables of
// the same table.
func sameSSTables(a, b sstable.Manifest) bool {
	return (a.Table == "" || b.Table == "" || a.Table == b.Table) && slices.Equal(sstableLines(a), sstableLines(b))
}

// partitionRows is the live rows of the partitions keys of s, re-merged
// across all its SSTables; assets as exported at exportedAt.
func partitionRows(s *sstable.Snapshot, o sstable.ReadOptions, keys []sstable.PartitionKey, exportedAt time.Time) rowSource {
	holdsAssets := backup.HoldsAssets(s)
	return func(ctx context.Context, fn func([]string, []any) error) error {
		return s.ReadPartitions(keys, o, func(_ sstable.PartitionKey, r *sstable.CQLRow) error {
			if err := ctx.Err(); err != nil || r == nil {
				return err
			}
			if !holdsAssets {
				return fn(r.Columns, r.Values)
			}
			a, err := backup.AssetFromRow(*r)
			if err != nil {
				return err
			}
			return fn(assetColumns, assetValues(lake.AssetRow(a, exportedAt)))
		})
	}
}

// keyFilter selects the table's rows of the partitions keys: per key
// column, an In over the values the keys have; the key columns lead the
// schema sc. With one key column of a type that keeps every value apart,
// that is exact. Otherwise (a composite key; times cut to microseconds)
// it may select other partitions too: the keys returned are then every
// partition of s the filter selects, so that each of them is re-merged.
func keyFilter(s *sstable.Snapshot, sc *ice.Schema, keys []sstable.PartitionKey) ([]sstable.PartitionKey, ice.BooleanExpression, error) {
	if len(keys) == 0 {
		return nil, ice.AlwaysFalse{}, nil
	}
	n := len(s.Tables[0].Header.PartitionKey.Params)
	if s.Tables[0].Header.PartitionKey.Name != "CompositeType" {
		n = 1
	}
	fields := sc.Fields()[:n]
	sets := make([]map[string]bool, n)
	lits := make([][]ice.Literal, n)
	for i := range sets {
		sets[i] = map[string]bool{}
	}
	for _, k := range keys {
		vals, err := s.KeyValues(k)
		if err != nil {
			return nil, nil, err
		}
		for i, f := range fields {
			lit, err := literal(f.Type, vals[i])
			if err != nil {
				return nil, nil, fmt.Errorf("iceberg: partition key column %s: %w: an incremental export cannot select rows by it; export in full", f.Name, err)
			}
			if !sets[i][lit.String()] {
				sets[i][lit.String()] = true
				lits[i] = append(lits[i], lit)
			}
		}
	}
	var filter ice.BooleanExpression = ice.AlwaysTrue{}
	for i, f := range fields {
		filter = ice.NewAnd(filter, ice.SetPredicate(ice.OpIn, ice.Reference(f.Name), lits[i]))
	}
	if _, isTime := fields[0].Type.(ice.TimeType); n == 1 && !isTime {
		return keys, filter, nil
	}
	selected, err := s.KeysWhere(func(vals []any) bool {
		for i, f := range fields {
			lit, err := literal(f.Type, vals[i])
			if err != nil || !sets[i][lit.String()] {
				return false
			}
		}
		return true
	})
	return selected, filter, err
}

// literal is the Iceberg literal of a partition key value v (as the
// appenders take it) in a column of type t.
func literal(t ice.Type, v any) (ice.Literal, error) {
	var lit ice.Literal
	switch t.(type) {
	case ice.StringType:
		lit = ice.NewLiteral(text(v))
	case ice.Int32Type:
		if n, ok := v.(int64); ok {
			lit = ice.NewLiteral(int32(n))
		}
	case ice.Int64Type:
		if n, ok := v.(int64); ok {
			lit = ice.NewLiteral(n)
		}
	case ice.Float32Type:
		if f, ok := v.(float32); ok {
			lit = ice.NewLiteral(f)
		}
	case ice.Float64Type:
		if f, ok := v.(float64); ok {
			lit = ice.NewLiteral(f)
		}
	case ice.BooleanType:
		if b, ok := v.(bool); ok {
			lit = ice.NewLiteral(b)
		}
	case ice.BinaryType:
		if b, ok := v.(sstable.Blob); ok {
			lit = ice.NewLiteral([]byte(b))
		}
	case ice.UUIDType:
		if id, ok := v.(uuid.UUID); ok {
			lit = ice.NewLiteral(id)
		}
	default:
		lit = temporalLiteral(t, v)
	}
	if lit == nil {
		return nil, fmt.Errorf("%T %v does not fit an Iceberg %s", v, v, t)
	}
	return lit, nil
}

// temporalLiteral is literal for timestamps, dates, times and varints, or
// nil.
func temporalLiteral(t ice.Type, v any) ice.Literal {
	switch t.(type) {
	case ice.TimestampTzType:
		if ms, ok := v.(sstable.Timestamp); ok && int64(ms) <= maxMillis && int64(ms) >= -maxMillis {
			return ice.NewLiteral(ice.Timestamp(int64(ms) * 1000))
		}
	case ice.DateType:
		if d, ok := v.(sstable.Date); ok {
			return ice.NewLiteral(ice.Date(d))
		}
	case ice.TimeType:
		if ns, ok := v.(sstable.Time); ok {
			return ice.NewLiteral(ice.Time(int64(ns) / 1000))
		}
	case ice.DecimalType:
		if n, ok := v.(*big.Int); ok && new(big.Int).Abs(n).Cmp(maxDecimal38) < 0 {
			return ice.NewLiteral(ice.Decimal{Val: decimal128.FromBigInt(n)})
		}
	}
	return nil
}

// writeManifest writes m beside the table's metadata, named after the
// source's fingerprint and the SHA-256 of its bytes, and returns its
// location: the commit that records the location records the checksum.
func writeManifest(ctx context.Context, tbl *table.Table, source string, m sstable.Manifest) (string, error) {
	fs, err := tbl.FS(ctx)
	if err != nil {
		return "", err
	}
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return "", fmt.Errorf("the file system of %s cannot write files", tbl.Location())
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	loc := tbl.Location() + "/metadata/reprocess-" + source + "-" + hex.EncodeToString(sum[:]) + lake.ManifestSuffix
	if err := wfs.WriteFile(loc, b); err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	return loc, nil
}

// LastManifest reads the SSTable manifest the newest export of the table
// recorded (ManifestProperty), walking back from its current snapshot,
// and checks it against the checksum its location carries.
func LastManifest(ctx context.Context, c Catalog, name string) (sstable.Manifest, error) {
	tbl, err := Load(ctx, c, name)
	if err != nil {
		return sstable.Manifest{}, err
	}
	return lastManifest(ctx, tbl, name)
}

func lastManifest(ctx context.Context, tbl *table.Table, name string) (sstable.Manifest, error) {
	for snap := tbl.CurrentSnapshot(); snap != nil; snap = parent(tbl, snap) {
		loc := ""
		if snap.Summary != nil {
			loc = snap.Summary.Properties[ManifestProperty]
		}
		if loc == "" {
			continue
		}
		fs, err := tbl.FS(ctx)
		if err != nil {
			return sstable.Manifest{}, err
		}
		f, err := fs.Open(loc)
		if err != nil {
			return sstable.Manifest{}, fmt.Errorf("manifest of Iceberg snapshot %d: %w", snap.SnapshotID, err)
		}
		defer f.Close()
		raw, err := io.ReadAll(f)
		if err != nil {
			return sstable.Manifest{}, fmt.Errorf("manifest of Iceberg snapshot %d: %w", snap.SnapshotID, err)
		}
		sum := sha256.Sum256(raw)
		want := manifestSum(loc)
		if want == "" {
			return sstable.Manifest{}, fmt.Errorf("%w: the manifest of Iceberg snapshot %d, %s, was recorded without its checksum (by an older version), so it cannot be trusted; %s",
				ErrNotIncremental, snap.SnapshotID, loc, replaceHint)
		}
		if want != hex.EncodeToString(sum[:]) {
			return sstable.Manifest{}, fmt.Errorf("%w: the manifest of Iceberg snapshot %d, %s, does not match the checksum its commit recorded (%q): it was changed or replaced since; %s",
				ErrNotIncremental, snap.SnapshotID, loc, want, replaceHint)
		}
		return sstable.ParseManifest(loc, raw)
	}
	return sstable.Manifest{}, fmt.Errorf("%w: %s: no export recorded the SSTables its rows were read from (%s); %s", ErrNotIncremental, name, ManifestProperty, replaceHint)
}

// manifestSum is the SHA-256 a manifest's location carries (writeManifest),
// or "".
func manifestSum(loc string) string {
	name := strings.TrimSuffix(path.Base(loc), lake.ManifestSuffix)
	sum := name[strings.LastIndexByte(name, '-')+1:]
	if _, err := hex.DecodeString(sum); err != nil || len(sum) != 2*sha256.Size {
		return ""
	}
	return sum
}

func parent(tbl *table.Table, snap *table.Snapshot) *table.Snapshot {
	if snap.ParentSnapshotID == nil {
		return nil
	}
	return tbl.SnapshotByID(*snap.ParentSnapshotID)
}

// CheckExport checks the flags of an export to the Iceberg table named
// table, or of a file export; distribute is for a full Iceberg export.
func CheckExport(ex *lake.Export, table string, distribute bool) error {
	switch {
	case ex.Format != "iceberg" && distribute:
		return errors.New("--distribute: only --format iceberg exports are distributed")
	case ex.Format != "iceberg" && ex.Replace:
		return errors.New("--replace: only an Iceberg table (--format iceberg) is replaced; a file export writes a new file")
	case ex.Format != "iceberg":
		return ex.Check()
	case table == "":
		return errors.New("--table: name the Iceberg table to write, namespace.name")
	case ex.Out != "" || ex.Base != "":
		return errors.New("--format iceberg writes to --table: --out and --base are for parquet and jsonl")
	case distribute && (ex.Since != "" || ex.Replace):
		return errors.New("--distribute: an incremental export (--since) or a replacement (--replace) runs in one process; leave out one of them")
	case ex.Since != "" && ex.Replace:
		return errors.New("--replace rewrites the table in full: leave out --since")
	}
	return nil
}
