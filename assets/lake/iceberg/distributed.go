package iceberg

import (
	"context"
	"fmt"
	"strconv"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/codec"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets/sstable"
)

// A distributed export writes a snapshot's token ranges on many machines
// (WriteRange), each into data files no snapshot references yet, and
// commits the files of every range at once (CommitParts). A range written
// twice (its writer was killed, or was slow and lost it) leaves the files
// of the attempt not committed as orphans: only the Parts handed to
// CommitParts become rows.

// Part is the data files one WriteRange wrote: encoded as a manifest
// entry is, for the table's schema and partition spec they were written
// with.
type Part struct {
	Rows     int64    `json:"rows"`
	Files    [][]byte `json:"files"`
	Table    string   `json:"table_uuid"` // the table written to: one dropped and made again is another
	SchemaID int      `json:"schema_id"`
	SpecID   int      `json:"spec_id"`
}

// Prepare opens the table of opt, creating it for the rows of s when it
// is absent, and returns the snapshot's fingerprint and the table's UUID;
// a table that already holds the snapshot is ErrAlreadyExported.
func Prepare(ctx context.Context, s *sstable.Snapshot, opt Options) (source, tableUUID string, err error) {
	sc, err := Schema(s)
	if err != nil {
		return "", "", err
	}
	if source, err = Fingerprint(s); err != nil {
		return "", "", err
	}
	cat, err := opt.Catalog.Open(ctx)
	if err != nil {
		return "", "", err
	}
	defer Close(cat)
	tbl, err := openTable(ctx, cat, opt.Table, sc, opt.PartitionBy)
	if err != nil {
		return "", "", err
	}
	got, want := tbl.Schema().AsStruct(), sc.AsStruct()
	if err := sameShape(&got, &want, ""); err != nil {
		return "", "", fmt.Errorf("iceberg: table %s does not fit the rows to write: %w; an export in one process (without --distribute) evolves its schema", opt.Table, err)
	}
	if snap := findExport(tbl, source); snap != nil {
		return source, "", alreadyExported(opt.Table, snap, source)
	}
	return source, tbl.Metadata().TableUUID().String(), nil
}

// RecordManifest writes the SSTable manifest of s, read at asOf, beside
// the metadata of the table of opt, as an export of source records it,
// and returns its location, for a commit's ManifestProperty.
func RecordManifest(ctx context.Context, s *sstable.Snapshot, asOf time.Time, opt Options, source string) (string, error) {
	m, err := s.Manifest()
	if err != nil {
		return "", err
	}
	m.AsOf = asOf.UTC()
	tbl, err := Load(ctx, opt.Catalog, opt.Table)
	if err != nil {
		return "", err
	}
	return writeManifest(ctx, tbl, source, m)
}

// WriteRange writes the live rows of token range r of s, exported at
// exportedAt, to new data files of the table of opt, and commits nothing.
func WriteRange(ctx context.Context, s *sstable.Snapshot, r sstable.TokenRange, o sstable.ReadOptions, exportedAt time.Time, opt Options) (Part, error) {
	tbl, err := Load(ctx, opt.Catalog, opt.Table)
	if err != nil {
		return Part{}, err
	}
	sc, err := Schema(s)
	if err != nil {
		return Part{}, err
	}
	got, want := tbl.Schema().AsStruct(), sc.AsStruct()
	if err := sameShape(&got, &want, ""); err != nil {
		return Part{}, fmt.Errorf("iceberg: table %s does not fit the rows to write: %w", opt.Table, err)
	}
	var c counts
	read := func(ctx context.Context, fn func([]string, []any) error) error {
		return s.ReadRange(r, o, rowFunc(s, exportedAt, func(cols []string, vals []any) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(cols, vals)
		}))
	}
	batches, err := newRowBatches(read, tbl.Schema(), tbl.Spec(), &c)
	if err != nil {
		return Part{}, err
	}
	meta := tbl.Metadata()
	p := Part{Table: meta.TableUUID().String(), SchemaID: meta.CurrentSchema().ID, SpecID: meta.DefaultPartitionSpec()}
	// A fresh write id per attempt: no two attempts name a file alike.
	files, err := writeFiles(ctx, tbl, batches.schema, batches.all(ctx), table.WithWriteUUID(uuid.New()))
	if err != nil {
		return Part{}, fmt.Errorf("iceberg: write %s: %w", opt.Table, err)
	}
	for _, df := range files {
		b, err := codec.EncodeDataFile(df, meta.PartitionSpec(), meta.CurrentSchema(), meta.Version())
		if err != nil {
			return Part{}, err
		}
		p.Files = append(p.Files, b)
	}
	p.Rows = batches.n
	return p, nil
}

// CommitParts adds the data files of parts to the table of opt in one
// commit recording props, as ExportSnapshot's commit does: a table that
// already holds props[SourceProperty] is ErrAlreadyExported, also when
// another process committed it while this one was committing.
func CommitParts(ctx context.Context, opt Options, parts []Part, props ice.Properties) (Result, error) {
	res := Result{Source: props[SourceProperty]}
	cat, err := opt.Catalog.Open(ctx)
	if err != nil {
		return res, err
	}
	defer Close(cat)
	ident, err := ParseIdent(opt.Table)
	if err != nil {
		return res, err
	}
	// A commit that fails may have lost the race to another process's (a
	// catalog says so in its own words), or landed unanswered: each try
	// looks for the export on the table's new head first.
	for try := 1; ; try++ {
		tbl, err := cat.LoadTable(ctx, ident)
		if err != nil {
			return res, fmt.Errorf("iceberg: load %s: %w", opt.Table, err)
		}
		if snap := findExport(tbl, res.Source); snap != nil {
			return res, alreadyExported(opt.Table, snap, res.Source)
		}
		if res, err = commitParts(ctx, tbl, parts, props); err == nil || try == 5 || ctx.Err() != nil {
			if err != nil {
				err = fmt.Errorf("iceberg: commit to %s: %w", opt.Table, err)
			}
			return res, err
		}
		time.Sleep(time.Duration(try) * 100 * time.Millisecond)
	}
}

// commitParts appends the files of parts to tbl in one commit, which
// fails if any other landed since tbl was read.
func commitParts(ctx context.Context, tbl *table.Table, parts []Part, props ice.Properties) (Result, error) {
	res := Result{Source: props[SourceProperty]}
	meta := tbl.Metadata()
	var files []ice.DataFile
	for i, p := range parts {
		if p.Table != meta.TableUUID().String() {
			return res, fmt.Errorf("part %d was written to table %s, not to this one (%s): export again", i, p.Table, meta.TableUUID())
		}
		if p.SchemaID != meta.CurrentSchema().ID || p.SpecID != meta.DefaultPartitionSpec() {
			return res, fmt.Errorf("part %d was written for schema %d and partition spec %d; the table has %d and %d now: export again",
				i, p.SchemaID, p.SpecID, meta.CurrentSchema().ID, meta.DefaultPartitionSpec())
		}
		for _, b := range p.Files {
			df, err := codec.DecodeDataFile(b, meta.PartitionSpec(), meta.CurrentSchema(), meta.Version())
			if err != nil {
				return res, fmt.Errorf("part %d: %w", i, err)
			}
			files = append(files, df)
		}
		res.Rows += p.Rows
	}
	txn := tbl.NewTransaction()
	if err := txn.AssertRefSnapshotID(table.MainBranch); err != nil {
		return res, err
	}
	if err := txn.AddDataFiles(ctx, files, props); err != nil {
		return res, err
	}
	committed, err := txn.Commit(ctx)
	if err != nil {
		return res, err
	}
	if cur := committed.CurrentSnapshot(); cur != nil {
		res.SnapshotID = cur.SnapshotID
	}
	return res, nil
}

// Exported returns what the table of opt committed of source, and whether
// it holds it at all.
func Exported(ctx context.Context, opt Options, source string) (Result, bool, error) {
	tbl, err := Load(ctx, opt.Catalog, opt.Table)
	if err != nil {
		return Result{}, false, err
	}
	snap := findExport(tbl, source)
	if snap == nil {
		return Result{Source: source}, false, nil
	}
	rows, _ := strconv.ParseInt(snap.Summary.Properties["added-records"], 10, 64)
	return Result{Rows: rows, SnapshotID: snap.SnapshotID, Source: source}, true, nil
}

func alreadyExported(name string, snap *table.Snapshot, source string) error {
	return fmt.Errorf("%w: Iceberg snapshot %d of %s (committed %s) holds %s", ErrAlreadyExported,
		snap.SnapshotID, name, time.UnixMilli(snap.TimestampMs).UTC().Format(time.RFC3339), source)
}
