package iceberg

import (
	"context"
	"fmt"
	"iter"

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
// commit is an overwrite; with no file to rewrite, an append. It returns
// the rows removed.
func replaceRows(ctx context.Context, tbl *table.Table, txn *table.Transaction, sc *arrow.Schema, recs iter.Seq2[arrow.RecordBatch, error], filter ice.BooleanExpression, props ice.Properties) (int64, error) {
	old, err := filesHolding(ctx, tbl, filter)
	if err != nil {
		return 0, err
	}
	kept, err := rewriteWithout(ctx, tbl, old, filter)
	if err != nil {
		return 0, err
	}
	added, err := writeFiles(ctx, tbl, sc, recs)
	if err != nil {
		return 0, err
	}
	removed := int64(0)
	for _, f := range old {
		removed += f.Count()
	}
	for _, f := range kept {
		removed -= f.Count()
	}
	if len(old) == 0 && len(added) == 0 {
		// A commit still records the export: an empty append.
		rdr, err := array.NewRecordReader(sc, nil)
		if err != nil {
			return 0, err
		}
		defer rdr.Release()
		return 0, txn.Append(ctx, rdr, props)
	}
	return removed, txn.ReplaceDataFilesWithDataFiles(ctx, old, append(kept, added...), props)
}

// filesHolding is the table's data files that may hold a row filter
// selects, each once.
func filesHolding(ctx context.Context, tbl *table.Table, filter ice.BooleanExpression) ([]ice.DataFile, error) {
	tasks, err := tbl.Scan(table.WithRowFilter(filter)).PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan the files to rewrite: %w", err)
	}
	seen := make(map[string]bool, len(tasks))
	var files []ice.DataFile
	for _, t := range tasks {
		if !seen[t.File.FilePath()] {
			seen[t.File.FilePath()] = true
			files = append(files, t.File)
		}
	}
	return files, nil
}

// rewriteWithout writes the rows of files that filter does not select
// to new data files.
func rewriteWithout(ctx context.Context, tbl *table.Table, files []ice.DataFile, filter ice.BooleanExpression) ([]ice.DataFile, error) {
	if len(files) == 0 {
		return nil, nil
	}
	tasks := make([]table.FileScanTask, len(files))
	for i, f := range files {
		tasks[i] = table.FileScanTask{File: f, Length: f.FileSizeBytes()}
	}
	sc, recs, err := tbl.Scan(table.WithRowFilter(ice.NewNot(filter))).ReadTasks(ctx, tasks)
	if err != nil {
		return nil, fmt.Errorf("read the files to rewrite: %w", err)
	}
	return writeFiles(ctx, tbl, sc, recs)
}

// writeFiles writes recs to new data files of the table.
func writeFiles(ctx context.Context, tbl *table.Table, sc *arrow.Schema, recs iter.Seq2[arrow.RecordBatch, error]) ([]ice.DataFile, error) {
	var files []ice.DataFile
	for f, err := range table.WriteRecords(ctx, tbl, sc, recs) {
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}
