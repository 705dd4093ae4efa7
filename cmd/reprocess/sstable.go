package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/cmd/internal/progress"
)

func (a *app) sstableCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sstable",
		Short: "Read Cassandra SSTable snapshots directly: info, dump, export",
		Long: `Read a table's SSTables straight from a snapshot, with no load on the live
cluster. A SNAPSHOT is a directory written by 'nodetool snapshot' (its
manifest.json lists the SSTables and schema.cql names the columns), a
backups or table directory, or an s3://bucket/prefix URL (fetched into
backup.cache_dir; endpoint and keys from backup.s3.* or AWS_* variables).
Give one SNAPSHOT per replica to merge them: the newest write of each cell
wins, and every tombstone and expired TTL is applied as of --as-of.`,
		Example: `  reprocess sstable info data/reprocess/assets-*/snapshots/daily
  reprocess sstable dump data/reprocess/assets-*/snapshots/daily | jq .asset_type
  reprocess sstable export --format parquet --out assets.parquet s3://backups/node1/assets/daily`,
	}
	cmd.AddCommand(a.sstableInfoCmd(), a.sstableDumpCmd(), a.sstableExportCmd())
	return cmd
}

func (a *app) sstableInfoCmd() *cobra.Command {
	var verify, allowMissing bool
	cmd := &cobra.Command{
		Use:   "info SNAPSHOT...",
		Short: "List a snapshot's SSTables: version, format, partitioner, compression, size, partitions",
		Example: `  reprocess sstable info /var/lib/cassandra/data/ks/t-*/snapshots/daily
  reprocess sstable info --verify /backups/node1/ks/t-1c8e1a40/snapshots/daily`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if allowMissing && !verify {
				return errors.New("--allow-missing-digest: give --verify too; without it no digest is checked")
			}
			s, err := backup.Open(cmd.Context(), a.cfg.Backup, args, a.log)
			if err != nil {
				return err
			}
			if err := s.WriteInfo(cmd.OutOrStdout()); err != nil || !verify {
				return err
			}
			err = s.Verify(cmd.Context(), cmd.OutOrStdout(), allowMissing)
			if errors.Is(err, sstable.ErrNoDigest) {
				err = fmt.Errorf("%w\n(--allow-missing-digest accepts SSTables without a digest, their Data.db checked only chunk by chunk as read)", err)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "also read each Data.db whole and check it against its Digest.crc32; an SSTable without one is an error")
	cmd.Flags().BoolVar(&allowMissing, "allow-missing-digest", false, "with --verify, report an SSTable without Digest.crc32 as not verified instead of failing")
	return cmd
}

type readFlags struct {
	asOf     string
	parallel int
}

func (f *readFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.asOf, "as-of", "", "judge TTLs at this RFC 3339 time (default: the snapshot's created_at, else now)")
	cmd.Flags().IntVar(&f.parallel, "parallel", 0, "token ranges read at once (default: sized from the snapshot, cores and memory; see sstable info)")
}

// open checks the flags, then opens the snapshot.
func (f *readFlags) open(ctx context.Context, a *app, locations []string) (*sstable.Snapshot, sstable.ReadOptions, error) {
	o, err := sstable.ParseReadOptions(f.asOf, f.parallel)
	if err != nil {
		return nil, o, err
	}
	s, err := backup.Open(ctx, a.cfg.Backup, locations, a.log)
	return s, o, err
}

func (a *app) sstableDumpCmd() *cobra.Command {
	var (
		rf    readFlags
		limit int64
	)
	cmd := &cobra.Command{
		Use:   "dump SNAPSHOT...",
		Short: "Print the live rows of a snapshot as JSON lines, one row per line",
		Long: `Print every live row of the merged snapshot, in token order, as one JSON
object per line with every column of the table, as SELECT JSON * would.`,
		Example: `  reprocess sstable dump /backups/node1/assets/daily /backups/node2/assets/daily
  reprocess sstable dump --as-of 2026-11-01T00:00:00Z --limit 10 s3://backups/node1/assets/daily`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit: want 0 (all) or more rows, got %d", limit)
			}
			s, o, err := rf.open(cmd.Context(), a, args)
			if err != nil {
				return err
			}
			w := sstable.NewJSONLineWriter(cmd.OutOrStdout())
			var n int64
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			err = s.Rows(ctx, o, func(r sstable.CQLRow) error {
				if limit > 0 && n >= limit {
					cancel()
					return context.Canceled
				}
				n++
				return w.Write(r)
			})
			if err != nil && !(limit > 0 && n >= limit) {
				return err
			}
			return w.Flush()
		},
	}
	rf.add(cmd)
	cmd.Flags().Int64Var(&limit, "limit", 0, "stop after this many rows (0: all)")
	return cmd
}

// exportHelp is the long help of sstable export.
const exportHelp = `Write every live row of the merged snapshot to --out. A snapshot of the
assets table (partition key asset_id, named by its schema.cql) is written as
assets, in the columns the export transform writes: asset_id, asset_type,
created_at, version, metadata, facts and exported_at. Any other table keeps
its columns: text as strings, integers as int64, floating point as double,
booleans as booleans, and every other type (timestamps, uuids, collections,
tuples, user types) as its SELECT JSON text in a JSON column. The SSTables
read are listed in FILE.sstables.json. With --base (assets table only), the
export updates a previous one: its rows are copied but for the partitions
SSTables new since --since touch, which are re-merged from the snapshot.

With --format iceberg the rows, every column typed, are appended in one
commit to --table (created when absent, partitioned by --partition-by) in
--catalog; a snapshot the table already holds is refused. With --since (an
older snapshot, its manifest, or "last": the one the table's last export
recorded) the commit is an overwrite of the partitions changed since; it
is refused unless the table's rows were built from that snapshot, and
when SSTables the last export read are gone and only a manifest is at
hand. With --replace the commit replaces every row the table holds. With
--distribute the scanner group ('reprocess scan' with no job) writes the
token ranges, committed at once when all are written; it waits for that, a
re-run resumes.`

func (a *app) sstableExportCmd() *cobra.Command {
	var rf readFlags
	var ex lake.Export
	var ice iceberg.Options
	var distribute bool
	cmd := &cobra.Command{
		Use:   "export SNAPSHOT... (--out FILE | --format iceberg --table NS.NAME)",
		Short: "Write the live rows of a snapshot to a Parquet or JSON-lines file, or an Iceberg table",
		Long:  exportHelp,
		Example: `  reprocess sstable export --format parquet --out assets.parquet /backups/node1/assets/daily
  reprocess sstable export --format jsonl --out assets.jsonl s3://backups/node1/assets/daily
  reprocess sstable export --base monday.parquet --out tuesday.parquet /backups/node1/assets/tuesday
  reprocess sstable export --format iceberg --catalog lake.db --table lake.assets --partition-by 'day(created_at)' /backups/node1/assets/daily
  reprocess --kafka-brokers k1:9092 sstable export --format iceberg --table lake.assets --distribute s3://backups/node1/assets/daily`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := iceberg.CheckExport(&ex, ice.Table, distribute); err != nil {
				return err
			}
			s, o, err := rf.open(cmd.Context(), a, args)
			if err != nil {
				return err
			}
			bar := progress.One(os.Stderr, "export", ex.ProgressUnit(), 0)
			o.Progress = func(done, total int) { bar.SetTotal(int64(total)); bar.Set(int64(done)) }
			ice.Catalog = a.cfg.Iceberg.With(ice.Catalog.URI)
			done, err := a.export(cmd.Context(), ex, ice, distribute, s, o, args)
			bar.Finish()
			if err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), done)
			}
			return err
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar((*string)(&ex.Format), "format", "parquet", "parquet, jsonl or iceberg")
	cmd.Flags().StringVarP(&ex.Out, "out", "o", "", "file to write (written as FILE.part, renamed when complete)")
	cmd.Flags().StringVar(&ex.Base, "base", "", "a previous export of an older snapshot to update (incremental)")
	cmd.Flags().StringVar(&ex.Since, "since", "", "the older snapshot or SSTable manifest --base (or --table; \"last\": its last export's) was read from (default BASE.sstables.json)")
	cmd.Flags().BoolVar(&ex.Replace, "replace", false, "with --format iceberg: replace every row the table holds with the snapshot's, in one commit")
	cmd.Flags().StringVar(&ice.Catalog.URI, "catalog", "", "Iceberg catalog: a SQLite file or a REST catalog's URL (default iceberg.catalog)")
	cmd.Flags().StringVar(&ice.Table, "table", "", "Iceberg table, namespace.name")
	cmd.Flags().StringVar(&ice.PartitionBy, "partition-by", "", "partition spec of a new Iceberg table, e.g. 'day(c_timestamp), bucket(16, id)'")
	cmd.Flags().BoolVar(&distribute, "distribute", false, "with --format iceberg: the scanner group on kafka.tasks_topic writes the token ranges")
	return cmd
}

// export runs the export the flags ask for: to a file, to Iceberg (an
// incremental one with --since, a replacement with --replace), or by the
// scanner group.
func (a *app) export(ctx context.Context, ex lake.Export, ice iceberg.Options, distribute bool, s *sstable.Snapshot, o sstable.ReadOptions, locations []string) (string, error) {
	switch {
	case distribute:
		return a.exportByGroup(ctx, s, locations, o, ice, o.Progress)
	case ex.Replace:
		r, err := iceberg.ReplaceAll(ctx, s, o, ice)
		return r.String(), err
	case ex.Format == "iceberg":
		r, err := iceberg.ExportChanges(ctx, s, o, ice, ex.Since, a.cfg.Backup, a.log)
		return r.String(), err
	}
	return ex.Run(ctx, s, o, a.cfg.Backup, a.log)
}

// exportByGroup has the scanner group export s (run.Env.ExportByGroup).
func (a *app) exportByGroup(ctx context.Context, s *sstable.Snapshot, locations []string, o sstable.ReadOptions, opt iceberg.Options, progress func(done, total int)) (string, error) {
	if len(a.cfg.Kafka.Brokers) == 0 {
		return "", errors.New("--distribute needs kafka.brokers (--kafka-brokers) shared with the scanner group")
	}
	env, closeEnv, err := a.open(ctx, false)
	if err != nil {
		return "", err
	}
	defer closeEnv()
	return env.ExportByGroup(ctx, s, locations, o, opt, progress)
}
