// Package sstable reads Apache Cassandra SSTables directly from their
// files, for reprocessing from backups with no load on the live cluster.
//
// An SSTable is a set of component files sharing a prefix such as
// nb-1-big (version nb, generation 1, BIG format):
//
//	TOC.txt          the component list
//	Statistics.db    a table of components: validation (partitioner),
//	                 compaction, stats, and the serialization header, which
//	                 names every column with its type and gives the bases
//	                 of all delta-encoded timestamps, deletion times and TTLs
//	CompressionInfo  compressor, chunk length, uncompressed length and the
//	                 offset of every chunk in Data.db
//	Index.db         BIG: every partition's key and Data.db position
//	Summary.db       BIG: a sample of Index.db (little-endian offsets)
//	Partitions.db    BTI: a trie of key prefixes, replacing both
//	Rows.db          BTI: key, position and row index of wide partitions
//	Data.db          partitions, concatenated; compressed in independent
//	                 chunks, each followed by a CRC32 of its stored bytes
//
// The uncompressed data stream is a run of partitions:
//
//	partition   = u16 key length, key, deletion time, [static row], unfiltered*, 0x01
//	unfiltered  = row | range tombstone marker, told apart by a flags byte
//	row         = flags, [ext flags], clustering, uvint size, uvint prev size,
//	              [liveness], [deletion], [columns bitmap], column data
//	column data = simple: one cell; complex: [deletion], uvint count, cells
//	cell        = flags, [timestamp], [ldt], [ttl], [path], [value]
//
// Integers in rows are unsigned vints (the count of leading one bits of the
// first byte is the count of extra bytes), most of them deltas from the
// serialization header's bases. Versions differ in small ways this reader
// follows: m* and n* store deletion times as 12 fixed bytes with signed
// seconds, oa and da mark a live one with a single 0x80 byte and read the
// seconds as unsigned; from na, Statistics components carry CRCs and
// CompressionInfo a maximum compressed length.
//
// Chunks are LZ4, Snappy, Deflate (zlib), Zstd or Noop and independent:
// ReadRange decompresses only those covering a range, checking each CRC.
// Index lists every partition's key and position, from Index.db (BIG) or
// from a depth-first walk of the Partitions.db trie, whose payloads point
// into Data.db or at a Rows.db entry (BTI); Summary and Sample read the
// BIG summary, one entry in 128. Splits cuts the stream on partition
// starts into ranges of about a target size, which Scan decodes one by one
// with absolute offsets, so workers can share one big SSTable.
//
// Above one SSTable, the stages run in this order:
//
//	OpenSnapshot   snapshot directories (manifest.json, schema.cql), backup
//	               or table directories (package backup fetches S3 prefixes)
//	MergeSplits    token ranges of similar size over all the SSTables
//	MergeRange     k-way merge by token and key, then within a partition
//	               k-way by clustering, row by row from a bounded window of
//	               each SSTable (MergePartition's rules): the newest cell
//	               wins, every deletion and expired TTL (as of one fixed
//	               time) applies, dropped columns go
//	Snapshot.Rows  live partitions as CQL rows, values decoded by their
//	               types (Type.Decode) into SELECT JSON's forms
//
// Malformed input of any kind is an error wrapping ErrCorrupt that names
// the file and the offset; the reader never panics on bad bytes.
package sstable
