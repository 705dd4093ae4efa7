package iceberg

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// replaceRows stages in txn, recording props, one commit that replaces
// the table's rows filter selects by the rows of recs (of Arrow schema
// sc) and keeps as they are the data files that cannot hold a selected
// row. The scan planner picks the files that may (by partition, then
// by column statistics); each is rewritten without the selected rows
// (copy-on-write), and the rows of recs are written to new files. The
// commit is an overwrite; with no file to rewrite, an append. tbl is the
// table as it is, target as txn leaves it (its schema evolved), which the
// new files are written for. It returns the rows removed.
func replaceRows(ctx context.Context, tbl, target *table.Table, txn *table.Transaction, sc *arrow.Schema, recs iter.Seq2[arrow.RecordBatch, error], filter ice.BooleanExpression, props ice.Properties) (int64, error) {
	tasks, err := filesHolding(ctx, tbl, filter)
	if err != nil {
		return 0, err
	}
	kept, err := rewriteWithout(ctx, tbl, tasks, filter)
	if err != nil {
		return 0, err
	}
	added, err := writeFiles(ctx, target, sc, recs)
	if err != nil {
		return 0, err
	}
	old := make([]ice.DataFile, len(tasks))
	removed := int64(0)
	for i, t := range tasks {
		old[i] = t.File
		removed += t.File.Count()
	}
	for _, f := range kept {
		removed -= f.Count()
	}
	if len(old) == 0 && len(added) == 0 {
		return 0, appendNothing(ctx, txn, sc, props)
	}
	return removed, txn.ReplaceDataFilesWithDataFiles(ctx, old, append(kept, added...), props)
}

// appendNothing stages an empty append recording props: a commit records
// an export that writes no row.
func appendNothing(ctx context.Context, txn *table.Transaction, sc *arrow.Schema, props ice.Properties) error {
	rdr, err := array.NewRecordReader(sc, nil)
	if err != nil {
		return err
	}
	defer rdr.Release()
	return txn.Append(ctx, rdr, props)
}

// filesHolding is a task reading the whole of each data file of the
// table that may hold a row filter selects, with its delete files and
// without the residual of filter a planner may give (ReadTasks would
// apply it).
func filesHolding(ctx context.Context, tbl *table.Table, filter ice.BooleanExpression) ([]table.FileScanTask, error) {
	planned, err := tbl.Scan(table.WithRowFilter(filter)).PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan the files to rewrite: %w", err)
	}
	seen := make(map[string]bool, len(planned))
	var tasks []table.FileScanTask
	for _, t := range planned {
		if !seen[t.File.FilePath()] {
			seen[t.File.FilePath()] = true
			t.Start, t.Length, t.Residual = 0, t.File.FileSizeBytes(), nil
			tasks = append(tasks, t)
		}
	}
	return tasks, nil
}

// rewriteWithout writes the rows tasks read that filter does not select
// to new data files.
func rewriteWithout(ctx context.Context, tbl *table.Table, tasks []table.FileScanTask, filter ice.BooleanExpression) ([]ice.DataFile, error) {
	if len(tasks) == 0 {
		return nil, nil
	}
	// Read in the order of their partitions, the files' rows come grouped
	// by partition, as writeFiles needs them.
	slices.SortStableFunc(tasks, func(a, b table.FileScanTask) int {
		return strings.Compare(filePartition(a.File), filePartition(b.File))
	})
	sc, recs, err := tbl.Scan(table.WithRowFilter(ice.NewNot(filter))).ReadTasks(ctx, tasks)
	if err != nil {
		return nil, fmt.Errorf("read the files to rewrite: %w", err)
	}
	return writeFiles(ctx, tbl, sc, recs)
}

// rowGroupRows bounds the rows of a Parquet row group, which the writer
// holds in memory until the group is full, where the table does not set
// write.parquet.row-group-limit.
const rowGroupRows = 128 << 10

// filePartition names the partition of a data file: its spec and
// partition values.
func filePartition(f ice.DataFile) string {
	p := f.Partition()
	ids := slices.Sorted(maps.Keys(p))
	var b strings.Builder
	fmt.Fprint(&b, f.SpecID())
	for _, id := range ids {
		fmt.Fprintf(&b, " %d=%#v", id, p[id])
	}
	return b.String()
}

// writeFiles writes recs to new data files of the table: files rolled at
// the table's write.target-file-size-bytes, in bounded row groups
// (rowGroupRows), with few batches queued. recs must come grouped by
// partition (see partitioner): a partitioned table's files are written
// one partition at a time, so that the memory a write takes grows
// neither with its rows nor with its partitions.
func writeFiles(ctx context.Context, tbl *table.Table, sc *arrow.Schema, recs iter.Seq2[arrow.RecordBatch, error], opts ...table.WriteRecordOption) ([]ice.DataFile, error) {
	opts = append(opts, table.WithRecordBatchBufferSize(2))
	if _, set := tbl.Properties()[table.ParquetRowGroupLimitKey]; !set {
		opts = append(opts, table.WithParquetRowGroupLimit(rowGroupRows))
	}
	if !tbl.Spec().IsUnpartitioned() {
		opts = append(opts, table.WithClusteredWrite())
	}
	var files []ice.DataFile
	for f, err := range table.WriteRecords(ctx, tbl, sc, recs, opts...) {
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}
