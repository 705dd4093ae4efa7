package iceberg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	ice "github.com/apache/iceberg-go"
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

// ExportChanges updates the table, which holds an export of an older
// snapshot of the same Cassandra table, to what ExportSnapshot of s would
// have written, in one overwrite commit: the partitions touched by
// SSTables new since (sstable.ChangedSince) are re-merged across all of
// s's SSTables and replace every row the table has of them; a partition
// with no live row left loses its rows. since is the older snapshot or
// its manifest, opened with cfg (backup.Since), or SinceLast: the
// manifest the table's last export recorded (ManifestProperty). The
// commit records s's fingerprint and manifest as ExportSnapshot does, and
// an export of a snapshot the table holds is refused (ErrAlreadyExported).
// An empty since is ExportSnapshot.
func ExportChanges(ctx context.Context, s *sstable.Snapshot, o sstable.ReadOptions, opt Options, since string, cfg backup.Config, log *slog.Logger) (Result, error) {
	if since == "" {
		return ExportSnapshot(ctx, s, o, opt)
	}
	w, err := newWrite(s, o)
	if err != nil {
		return Result{}, err
	}
	var c *sstable.Changes
	if since == SinceLast {
		var m sstable.Manifest
		if m, err = LastManifest(ctx, opt.Catalog, opt.Table); err == nil {
			c, err = s.ChangedSince(m, nil, o.AsOf)
		}
	} else {
		c, err = backup.Changed(ctx, cfg, s, since, o.AsOf, log)
	}
	if err != nil {
		return Result{}, fmt.Errorf("--since: %w", err)
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
				return nil, nil, fmt.Errorf("iceberg: partition key column %s: %w", f.Name, err)
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
		return nil, fmt.Errorf("%T in an Iceberg %s: an incremental export cannot select rows by it; export in full", v, t)
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
// source's fingerprint, and returns its location.
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
	loc := tbl.Location() + "/metadata/reprocess-" + source + lake.ManifestSuffix
	if err := wfs.WriteFile(loc, b); err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	return loc, nil
}

// LastManifest reads the SSTable manifest the newest export of the table
// recorded (ManifestProperty), walking back from its current snapshot.
func LastManifest(ctx context.Context, c Catalog, name string) (sstable.Manifest, error) {
	tbl, err := Load(ctx, c, name)
	if err != nil {
		return sstable.Manifest{}, err
	}
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
		return sstable.ParseManifest(loc, raw)
	}
	return sstable.Manifest{}, fmt.Errorf("%s: no export of a snapshot recorded its SSTables (%s); give the older snapshot or its manifest", name, ManifestProperty)
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
	case ex.Format != "iceberg":
		return ex.Check()
	case table == "":
		return errors.New("--table: name the Iceberg table to write, namespace.name")
	case ex.Out != "" || ex.Base != "":
		return errors.New("--format iceberg writes to --table: --out and --base are for parquet and jsonl")
	case distribute && ex.Since != "":
		return errors.New("--distribute: an incremental export (--since) runs in one process; leave out one of them")
	}
	return nil
}
