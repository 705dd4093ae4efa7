package sstable

// The types below are what the stages after decoding hand to each other:
// the partition index and byte-range splits of one SSTable, and the live
// content of a partition once every SSTable of a table has been merged.

// IndexEntry is one partition of an SSTable's partition index (Index.db for
// BIG, Partitions.db and Rows.db for BTI), in Data.db order.
type IndexEntry struct {
	Key    []byte // the raw partition key; for BTI the full key when known
	Offset int64  // start of the partition in the uncompressed Data.db
}

// Split is a byte range [From, To) of an SSTable's uncompressed Data.db
// that starts and ends on partition boundaries.
type Split struct {
	From, To int64
}

// Element is one live element of a multi-cell (non-frozen collection or
// user type) column: the cell path and the value.
type Element struct {
	Path, Value []byte
}

// LiveColumn is a column's live content after merging and applying every
// deletion and expiry: Value for a simple column, Elements (in path order)
// for a multi-cell one.
type LiveColumn struct {
	Column    Column
	Value     []byte
	Elements  []Element
	Timestamp int64 // the newest timestamp among the live cells
}

// LiveRow is a row visible to CQL at the merge's point in time.
type LiveRow struct {
	Clustering [][]byte // nil for the static row
	Columns    []LiveColumn
}

// LivePartition is one merged partition: its live static row, if any, and
// its live rows in clustering order.
type LivePartition struct {
	Key    []byte
	Static *LiveRow
	Rows   []LiveRow
}
