package lake

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/sstable"
)

// ManifestSuffix names the manifest of SSTables written next to an export
// (see sstable.Manifest): FILE's is FILE.sstables.json.
const ManifestSuffix = ".sstables.json"

// Export is one export of a snapshot to a file, in full or, with Base,
// incrementally.
type Export struct {
	Out    string
	Format Format
	// Base is a previous export of an older snapshot of the assets table,
	// in Format: the export copies Base's rows of the partitions untouched
	// since and re-merges the touched ones (see sstable.ChangedSince), so
	// that Out holds what a full export would. A copied row keeps its
	// exported_at.
	Base string
	// Since is the older snapshot or manifest Base was read from;
	// default Base's manifest, Base+ManifestSuffix.
	Since string
	// Replace, for an Iceberg table, rewrites the table in full.
	Replace bool
}

// Check checks the export's settings before anything is read.
func (e *Export) Check() error {
	switch {
	case e.Format != Parquet && e.Format != JSONL:
		return fmt.Errorf("--format: want parquet or jsonl, got %q", e.Format)
	case e.Out == "":
		return errors.New("--out: name the file to write")
	case e.Since != "" && e.Base == "":
		return errors.New("--since: give --base too, the export of the older snapshot to update")
	case e.Base != "" && e.Base == e.Out:
		return errors.New("--base: name a file other than --out")
	}
	if e.Base != "" && e.Since == "" {
		e.Since = e.Base + ManifestSuffix
	}
	return nil
}

// ProgressUnit is what the progress of the export counts, once checked:
// partitions re-merged when it is incremental (Since), else token ranges.
func (e *Export) ProgressUnit() string {
	if e.Since != "" {
		return "partitions"
	}
	return "token ranges"
}

// Run writes the export of s, read with o, and then its manifest; it
// returns what it did, in a line. Since is opened with cfg.
func (e *Export) Run(ctx context.Context, s *sstable.Snapshot, o sstable.ReadOptions, cfg backup.Config, log *slog.Logger) (string, error) {
	asOf := cmp.Or(o.AsOf, s.CreatedAt, time.Now())
	if e.Base == "" {
		rows, err := ExportSnapshot(ctx, s, o, e.Out, e.Format)
		if err == nil {
			err = writeManifest(s, e.Out, asOf)
		}
		return fmt.Sprintf("wrote %d rows to %s (%s)", rows, e.Out, e.Format), err
	}
	if !backup.HoldsAssets(s) {
		return "", errors.New("--base: an incremental export is of the assets table only (partition key asset_id); export other tables in full")
	}
	m, older, err := backup.Since(ctx, cfg, e.Since, log)
	if err != nil {
		return "", fmt.Errorf("--since: %w", err)
	}
	changes, err := s.ChangedSince(m, older, o.AsOf)
	if err != nil {
		return "", fmt.Errorf("--since: %w", err)
	}
	if len(changes.Gone) > 0 && older == nil {
		return "", fmt.Errorf("--since %s: %d SSTables of the older snapshot are gone from this one (compacted away): partitions that only they held, purged or expired since, cannot be seen from a manifest; give the older snapshot itself with --since, or export in full (without --base)", e.Since, len(changes.Gone))
	}
	st, err := e.incremental(s, o, changes)
	if err == nil {
		err = writeManifest(s, e.Out, asOf)
	}
	return fmt.Sprintf("wrote %d rows to %s (%s): %d copied from %s, %d re-merged from %d partitions changed since",
		st.copied+st.merged, e.Out, e.Format, st.copied, e.Base, st.merged, len(changes.Keys)), err
}

// writeManifest writes the manifest of s, read as of asOf, next to the
// export out.
func writeManifest(s *sstable.Snapshot, out string, asOf time.Time) error {
	m, err := s.Manifest()
	if err != nil {
		return err
	}
	m.AsOf = asOf
	return m.Write(out + ManifestSuffix)
}

// counts is what an incremental export wrote.
type counts struct{ copied, merged int64 }

// incremental writes Out from Base and the changed partitions of s, both
// in partition order: Base's rows before each changed partition are
// copied, Base's row of it is dropped and the partition as s has it, if
// live, written.
func (e *Export) incremental(s *sstable.Snapshot, o sstable.ReadOptions, c *sstable.Changes) (counts, error) {
	var n counts
	p, err := sstable.ParsePartitioner(s.Tables[0].Partitioner)
	if err != nil {
		return n, err
	}
	base, err := openBase(e.Base, e.Format, p)
	if err != nil {
		return n, err
	}
	defer base.close()
	part := e.Out + ".part"
	file, err := os.Create(part)
	if err != nil {
		return n, err
	}
	defer os.Remove(part)
	defer file.Close()
	w, err := NewAssetWriter(file, e.Format)
	if err != nil {
		return n, err
	}
	now := time.Now().UTC()
	err = s.ReadPartitions(c.Keys, o, func(k sstable.PartitionKey, r *sstable.CQLRow) error {
		if err := base.copyUpTo(&k, w, &n.copied); err != nil || r == nil {
			return err
		}
		a, err := backup.AssetFromRow(*r)
		if err != nil {
			return err
		}
		n.merged++
		return w.Write(AssetRow(a, now))
	})
	if err == nil {
		err = base.copyUpTo(nil, w, &n.copied)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = file.Sync()
	}
	if err == nil {
		err = os.Rename(part, e.Out)
	}
	return n, err
}

// baseRows reads the rows of a previous export in order, checking that
// they are in partition order, one row per partition.
type baseRows struct {
	path  string
	p     sstable.Partitioner
	next  func() (Row, error) // io.EOF after the last
	close func() error
	row   Row
	key   sstable.PartitionKey
	ok    bool
	n     int
}

func openBase(path string, f Format, p sstable.Partitioner) (*baseRows, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--base: %w", err)
	}
	b := &baseRows{path: path, p: p, close: file.Close}
	if f == JSONL {
		r := bufio.NewReaderSize(file, 1<<16)
		b.next = func() (Row, error) {
			var row Row
			line, err := r.ReadBytes('\n')
			if err == io.EOF && len(line) > 0 {
				err = nil
			}
			if err == nil {
				err = json.Unmarshal(line, &row)
			}
			return row, err
		}
	} else if b.next, err = parquetRows(file); err != nil {
		file.Close()
		return nil, fmt.Errorf("--base: %s: %w", path, err)
	}
	return b, b.advance()
}

// parquetRows reads the asset rows of a Parquet file.
func parquetRows(file *os.File) (func() (Row, error), error) {
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(file, st.Size())
	if err != nil {
		return nil, err
	}
	if _, ok := pf.Schema().Lookup("asset_id"); !ok {
		return nil, errors.New("no asset_id column: not an export of the assets table")
	}
	r := parquet.NewGenericReader[Row](pf)
	buf := make([]Row, 256)
	at, n := 0, 0
	return func() (Row, error) {
		// Read may return no row and no error at a row group's end.
		for try := 0; at == n; try++ {
			var err error
			clear(buf) // rows handed out keep their maps: Read reuses a row's
			if n, err = r.Read(buf); n == 0 && (err != nil || try == 100) {
				return Row{}, cmp.Or(err, io.ErrNoProgress)
			}
			at = 0
		}
		at++
		return buf[at-1], nil
	}, nil
}

// advance reads the next row and its partition key.
func (b *baseRows) advance() error {
	row, err := b.next()
	if err == io.EOF {
		b.ok = false
		return nil
	}
	b.n++
	if err != nil {
		return fmt.Errorf("--base: %s: row %d: %w", b.path, b.n, err)
	}
	id, err := uuid.Parse(row.AssetID)
	if err != nil {
		return fmt.Errorf("--base: %s: row %d: asset_id: %w", b.path, b.n, err)
	}
	key := b.p.Decorate(id[:])
	if b.ok && key.Compare(b.key) <= 0 {
		return fmt.Errorf("--base: %s: row %d, asset %s, does not follow asset %s in token order: not an export of a snapshot", b.path, b.n, row.AssetID, b.row.AssetID)
	}
	b.row, b.key, b.ok = row, key, true
	return nil
}

// copyUpTo copies the rows before k to w and drops the row of k; a nil k
// copies the rest.
func (b *baseRows) copyUpTo(k *sstable.PartitionKey, w Writer[Row], n *int64) error {
	for b.ok && (k == nil || b.key.Compare(*k) <= 0) {
		if k == nil || b.key.Compare(*k) < 0 {
			if err := w.Write(b.row); err != nil {
				return err
			}
			*n++
		}
		if err := b.advance(); err != nil {
			return err
		}
	}
	return nil
}
