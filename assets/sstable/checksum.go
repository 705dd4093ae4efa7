package sstable

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
)

// checksums is CRC.db, the checksums of an uncompressed Data.db: i32
// chunk length, then the CRC32 of each chunk of that many bytes (the last
// one shorter).
//
// Cassandra's writer appends one checksum each time it flushes its
// chunk-sized buffer (when it is full and more is written, and on every
// sync), whether or not the buffer holds anything; a flush with nothing
// buffered appends the CRC32 of no bytes, 0. A flush of a memtable syncs
// Data.db once, when it commits. Compaction (and every rewrite: scrub,
// upgradesstables) that opens its new tables early, as it does by
// default, syncs it once it has written the last byte and again when it
// commits: one 0 follows the last chunk's checksum. Nothing else in
// CRC.db is valid.
type checksums struct {
	chunk int64
	sums  []uint32
}

// maxEmptyFlushes is how many checksums of an empty flush Cassandra's
// writer leaves after the last chunk's, at most (see checksums).
const maxEmptyFlushes = 1

// readChecksums reads CRC.db and checks that it covers Data.db.
func (t *Table) readChecksums() error {
	path := t.component("CRC.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sstable: %w", err)
	}
	if len(raw) < 4 || len(raw)%4 != 0 {
		return fmt.Errorf("%w: %s: %d bytes, not a chunk length and whole checksums", ErrCorrupt, path, len(raw))
	}
	c := &checksums{chunk: int64(int32(binary.BigEndian.Uint32(raw)))}
	if c.chunk <= 0 || c.chunk > 1<<30 {
		return fmt.Errorf("%w: %s: chunk length %d", ErrCorrupt, path, c.chunk)
	}
	for b := raw[4:]; len(b) > 0; b = b[4:] {
		c.sums = append(c.sums, binary.BigEndian.Uint32(b))
	}
	want := (t.dataSize + c.chunk - 1) / c.chunk
	extra := int64(len(c.sums)) - want
	if extra < 0 || extra > maxEmptyFlushes || slices.ContainsFunc(c.sums[want:], func(s uint32) bool { return s != 0 }) {
		return fmt.Errorf("%w: %s: %d checksums of %d-byte chunks for the %d bytes of Data.db, want %d, then at most one 0 (an empty flush)",
			ErrCorrupt, path, len(c.sums), c.chunk, t.dataSize, want)
	}
	c.sums = c.sums[:want]
	t.checksums = c
	return nil
}

// readChecked reads [from, to) of an uncompressed Data.db that has
// CRC.db, verifying every chunk the range touches.
func (d *dataReader) readChecked(from, to int64) ([]byte, error) {
	if from == to {
		return []byte{}, nil
	}
	c := d.t.checksums
	first, last := from/c.chunk, (to-1)/c.chunk
	if first == last { // small reads, as of keys, come one chunk at a time
		chunk, err := d.plainChunk(int(first))
		if err != nil {
			return nil, err
		}
		lo := first * c.chunk
		return append([]byte(nil), chunk[from-lo:to-lo]...), nil
	}
	lo, hi := first*c.chunk, min(d.t.dataSize, (last+1)*c.chunk)
	b := make([]byte, hi-lo)
	if _, err := d.f.ReadAt(b, lo); err != nil {
		return nil, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, d.path, lo, err)
	}
	for i := first; i <= last; i++ {
		s := (i - first) * c.chunk
		if err := d.verify(int(i), b[s:min(s+c.chunk, int64(len(b)))]); err != nil {
			return nil, err
		}
	}
	return b[from-lo : to-lo], nil
}

// plainChunk returns chunk i of an uncompressed Data.db, verified, keeping
// it for the next read.
func (d *dataReader) plainChunk(i int) ([]byte, error) {
	if i == d.chunk {
		return d.cache, nil
	}
	c := d.t.checksums
	at := int64(i) * c.chunk
	b := make([]byte, min(c.chunk, d.t.dataSize-at))
	if _, err := d.f.ReadAt(b, at); err != nil {
		return nil, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, d.path, at, err)
	}
	if err := d.verify(i, b); err != nil {
		return nil, err
	}
	d.chunk, d.cache = i, b
	return b, nil
}

func (d *dataReader) verify(i int, chunk []byte) error {
	c := d.t.checksums
	if crc32.ChecksumIEEE(chunk) != c.sums[i] {
		return fmt.Errorf("%w: %s: chunk %d at offset %d: checksum mismatch (CRC.db)", ErrCorrupt, d.path, i, int64(i)*c.chunk)
	}
	return nil
}
