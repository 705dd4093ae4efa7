package sstable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// Index returns every partition's key and Data.db position, in Data.db
// order: from Index.db for BIG, from Partitions.db and Rows.db for BTI.
// Positions are checked to increase from 0 and stay inside the stream,
// and keys to follow each other in partitioner order; readers of the data
// check that each partition has its entry's key and position. The index
// is read once per Table (splits and every merged token range need it)
// and shared: callers must not modify it.
func (t *Table) Index() ([]IndexEntry, error) {
	t.indexOnce.Do(func() {
		if t.Format == "bti" {
			t.index, t.indexErr = t.btiIndex()
		} else {
			t.index, t.indexErr = t.bigIndex()
		}
		if t.indexErr == nil {
			t.indexErr = t.checkOrder(t.index)
		}
	})
	return t.index, t.indexErr
}

// indexFile names the component the partition index comes from.
func (t *Table) indexFile() string {
	if t.Format == "bti" {
		return t.component("Partitions.db")
	}
	return t.component("Index.db")
}

// checkOrder checks that each entry's key comes after the one before it
// in partitioner order (token, then key bytes), as Cassandra writes them.
func (t *Table) checkOrder(idx []IndexEntry) error {
	p, err := ParsePartitioner(t.Partitioner)
	if err != nil {
		return err
	}
	var prev PartitionKey
	for i, e := range idx {
		k := p.Decorate(e.Key)
		if i > 0 && k.Compare(prev) <= 0 {
			return fmt.Errorf("%w: %s: entry %d, key %x at Data.db position %d, does not follow key %x in %s order",
				ErrCorrupt, t.indexFile(), i, e.Key, e.Offset, prev.Key, p)
		}
		prev = k
	}
	return nil
}

// checkEntry checks that a partition decoded from the data stream is the
// one index entry e names: the same key at the same position.
func (t *Table) checkEntry(i int, e IndexEntry, p Partition) error {
	if p.Offset != e.Offset || !bytes.Equal(p.Key, e.Key) {
		return fmt.Errorf("%w: %s: entry %d gives key %x at Data.db position %d; the data holds key %x there",
			ErrCorrupt, t.indexFile(), i, e.Key, e.Offset, p.Key)
	}
	return nil
}

// bigIndex reads Index.db: bytes16 key, uvint position, uvint size of the
// promoted row index, which is skipped.
func (t *Table) bigIndex() ([]IndexEntry, error) {
	path := t.component("Index.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	r := &buf{b: raw, file: path}
	var out []IndexEntry
	for r.off < len(raw) {
		at := r.off
		key := r.bytes(int(r.u16()))
		pos := r.uvint()
		r.bytes(r.length())
		if r.err != nil {
			return nil, r.err
		}
		if err := t.checkPosition(path, int64(at), pos, out); err != nil {
			return nil, err
		}
		out = append(out, IndexEntry{Key: key, Offset: int64(pos)})
	}
	if len(out) == 0 && t.DataLength() > 0 {
		return nil, fmt.Errorf("%w: %s: no entries for %d bytes of data", ErrCorrupt, path, t.DataLength())
	}
	// A readable summary names the first and last keys, which catches an
	// Index.db cut at an entry boundary.
	if !t.has("Summary.db") || len(out) == 0 {
		return out, nil
	}
	if s, err := t.Summary(); err == nil {
		if !bytes.Equal(s.First, out[0].Key) || !bytes.Equal(s.Last, out[len(out)-1].Key) {
			return nil, fmt.Errorf("%w: %s: first and last keys %x, %x; Summary.db says %x, %x", ErrCorrupt, path, out[0].Key, out[len(out)-1].Key, s.First, s.Last)
		}
	}
	return out, nil
}

// checkPosition checks that the partition position an index entry at
// offset at of file gives follows the entries before it: 0 for the first,
// increasing, and inside the data stream.
func (t *Table) checkPosition(file string, at int64, pos uint64, before []IndexEntry) error {
	switch {
	case pos >= uint64(t.DataLength()):
		return fmt.Errorf("%w: %s at offset %d: partition position %d outside the %d bytes of data", ErrCorrupt, file, at, pos, t.DataLength())
	case len(before) == 0 && pos != 0:
		return fmt.Errorf("%w: %s at offset %d: first partition at %d, not 0", ErrCorrupt, file, at, pos)
	case len(before) > 0 && int64(pos) <= before[len(before)-1].Offset:
		return fmt.Errorf("%w: %s at offset %d: partition position %d does not follow %d", ErrCorrupt, file, at, pos, before[len(before)-1].Offset)
	}
	return nil
}

// Summary is Summary.db, a sample of Index.db kept in memory by Cassandra.
type Summary struct {
	MinIndexInterval    int // Index.db entries per summary entry at full sampling
	SamplingLevel       int // of 128
	FullSamplingEntries int
	Entries             []SummaryEntry
	First, Last         []byte // the SSTable's first and last partition keys
}

// SummaryEntry is a partition key and the position of its Index.db entry.
type SummaryEntry struct {
	Key           []byte
	IndexPosition int64
}

// Summary reads Summary.db (BIG only). Its offsets and positions are
// little-endian; a summary whose offsets only make sense big-endian is
// read that way.
func (t *Table) Summary() (*Summary, error) {
	path := t.component("Summary.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	indexSize := int64(-1)
	if st, err := os.Stat(t.component("Index.db")); err == nil {
		indexSize = st.Size()
	}
	r := &buf{b: raw, file: path}
	s := &Summary{MinIndexInterval: int(int32(r.u32()))}
	n := int64(int32(r.u32()))
	size := int64(r.u64())
	s.SamplingLevel = int(int32(r.u32()))
	s.FullSamplingEntries = int(int32(r.u32()))
	if r.err == nil && (n < 0 || size < 4*n || size > int64(len(raw)-r.off)) {
		r.fail("%d entries in %d bytes", n, size)
	}
	if r.err != nil {
		return nil, r.err
	}
	region := raw[r.off : r.off+int(size)]
	base := r.off
	var firstErr error
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		s.Entries, err = summaryEntries(region, int(n), order, indexSize)
		if err == nil {
			break
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, path, base, firstErr)
	}
	r.off += int(size)
	for _, k := range []*[]byte{&s.First, &s.Last} {
		l := int(int32(r.u32()))
		if r.err == nil && l < 0 {
			r.fail("key length %d", l)
		}
		*k = r.bytes(l)
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// summaryEntries decodes the offsets and entries region of Summary.db in
// one byte order, checking that every offset and position is in range.
func summaryEntries(region []byte, n int, order binary.ByteOrder, indexSize int64) ([]SummaryEntry, error) {
	out := make([]SummaryEntry, 0, n)
	last := int64(-1)
	for k := range n {
		off := int64(order.Uint32(region[4*k:]))
		end := int64(len(region))
		if k+1 < n {
			end = int64(order.Uint32(region[4*k+4:]))
		}
		if off < int64(4*n) || end > int64(len(region)) || end-off < 8 || (k == 0 && off != int64(4*n)) {
			return nil, fmt.Errorf("summary entry %d spans %d..%d of %d bytes", k, off, end, len(region))
		}
		pos := int64(order.Uint64(region[end-8:]))
		if pos < last || pos < 0 || (indexSize >= 0 && pos >= indexSize) {
			return nil, fmt.Errorf("summary entry %d: Index.db position %d out of order or range", k, pos)
		}
		last = pos
		out = append(out, SummaryEntry{Key: region[off : end-8], IndexPosition: pos})
	}
	return out, nil
}

// Sample returns a cheap subset of the partition index: for BIG tables
// with a readable summary, the Index.db entries Summary.db points at
// (about one in 128); otherwise the whole Index.
func (t *Table) Sample() ([]IndexEntry, error) {
	if t.Format == "bti" || !t.has("Summary.db") {
		return t.Index()
	}
	s, err := t.Summary()
	if err != nil {
		return t.Index() // the summary only saves time
	}
	path := t.component("Index.db")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	defer f.Close()
	out := make([]IndexEntry, 0, len(s.Entries))
	for _, e := range s.Entries {
		// An entry's key and position take at most 2+len(key)+9 bytes.
		win := make([]byte, 2+len(e.Key)+9)
		n, _ := f.ReadAt(win, e.IndexPosition)
		r := &buf{b: win[:n], base: e.IndexPosition, file: path}
		key := r.bytes(int(r.u16()))
		pos := r.uvint()
		if r.err != nil {
			return nil, r.err
		}
		if !bytes.Equal(key, e.Key) {
			return nil, fmt.Errorf("%w: %s at offset %d: key %x, Summary.db says %x", ErrCorrupt, path, e.IndexPosition, key, e.Key)
		}
		if len(out) > 0 && int64(pos) == out[len(out)-1].Offset {
			continue // a downsampled summary may repeat an entry
		}
		if pos >= uint64(t.DataLength()) || (len(out) > 0 && int64(pos) < out[len(out)-1].Offset) {
			return nil, fmt.Errorf("%w: %s at offset %d: partition position %d out of order or range", ErrCorrupt, path, e.IndexPosition, pos)
		}
		out = append(out, IndexEntry{Key: key, Offset: int64(pos)})
	}
	return out, nil
}
