package sstable

import (
	"bytes"
	"fmt"
)

// windowSize is how many uncompressed bytes of a table a merge holds at a
// time (more while one row or marker is larger).
const windowSize = 512 << 10

// window is a sliding view of a table's uncompressed data stream: it holds
// the bytes [r.base, r.base+len(r.b)) and reads on, up to limit, when a
// decode runs out of them.
type window struct {
	d     *dataReader
	r     buf
	limit int64
	// reuse: nothing decoded from the window before last is used any
	// more, so its buffer is read into again (spare).
	reuse bool
	spare []byte
}

// more is called after a decode that started at r.off == start failed. It
// reports whether the decode should run again: the failure was running out
// of bytes before limit, and the window now holds more from start on.
// Decoded values keep the bytes they point into; unless reuse is set the
// window never overwrites them.
func (w *window) more(start int) (bool, error) {
	end := w.r.base + int64(len(w.r.b))
	if !w.r.short || end >= w.limit {
		return false, w.r.err
	}
	from := w.r.base + int64(start)
	to := min(w.limit, from+int64(max(windowSize, 2*(len(w.r.b)-start))))
	b, err := w.d.readInto(w.spare, from, to)
	if err != nil {
		return false, err
	}
	if w.reuse {
		w.spare = w.r.b
	}
	w.r = buf{b: b, base: from, file: w.r.file, slabs: w.r.slabs}
	return true, nil
}

// pos is the window's position in the stream.
func (w *window) pos() int64 { return w.r.base + int64(w.r.off) }

// partCursor decodes partitions from a window, one row or marker at a
// time.
type partCursor struct {
	t      *Table
	w      window
	part   Partition // the current partition's head: no Unfiltereds
	inPart bool      // the current partition has rows or markers left
	// recycle: what next returned is dead when it is called again, so
	// the memory of its rows is reused.
	recycle bool
}

// head reads the head of the partition at the window's position.
func (c *partCursor) head() error {
	for {
		start := c.w.r.off
		c.part = c.t.partitionHead(&c.w.r)
		if c.w.r.err == nil {
			c.inPart = true
			return nil
		}
		if again, err := c.w.more(start); !again {
			return err
		}
	}
}

// next returns the current partition's next row or marker; false at its
// end.
func (c *partCursor) next() (Unfiltered, bool, error) {
	if !c.inPart {
		return Unfiltered{}, false, nil
	}
	for {
		if c.recycle {
			c.w.r.slabs.reset()
		}
		start := c.w.r.off
		u, ok := c.t.unfiltered(&c.w.r)
		if c.w.r.err == nil {
			if !ok {
				c.inPart = false
				c.part.End = c.w.pos()
			}
			return u, ok, nil
		}
		if again, err := c.w.more(start); !again {
			return Unfiltered{}, false, err
		}
	}
}

// skip reads past what is left of the current partition.
func (c *partCursor) skip() error {
	for c.inPart {
		if _, _, err := c.next(); err != nil {
			return err
		}
	}
	return nil
}

// Scan decodes the partitions that start in [s.From, s.To), which must lie
// on partition starts as the splits of Splits do, calling fn with each.
// Offsets in partitions and errors are those of the whole stream. The
// split is read a window at a time.
func (t *Table) Scan(s Split, fn func(Partition) error) error {
	if n := t.DataLength(); s.From < 0 || s.To < s.From || s.To > n {
		return fmt.Errorf("sstable: %s: range [%d, %d) outside the %d uncompressed bytes", t.component("Data.db"), s.From, s.To, n)
	}
	d, err := t.openData()
	if err != nil {
		return err
	}
	defer d.close()
	c := partCursor{t: t, w: window{d: d, r: buf{base: s.From, file: d.path}, limit: s.To}}
	for c.w.pos() < s.To {
		if err := c.head(); err != nil {
			return err
		}
		p := c.part
		for {
			u, ok, err := c.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			p.Unfiltereds = append(p.Unfiltereds, u)
		}
		p.End = c.part.End
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// tableCursor reads the partitions of one table whose tokens are in a
// range, one row or marker at a time, holding one window of the stream;
// a row is dead once the next is read (the merge keeps none).
// Each partition is checked against its index entry.
type tableCursor struct {
	partCursor
	p     Partitioner
	rng   TokenRange
	idx   []IndexEntry
	k, to int // the next index entry, the end of the range's entries
}

// openCursor opens a cursor on the partitions of t in r. With transient,
// the bytes of a row are dead once the row after the next is read.
func openCursor(t *Table, p Partitioner, r TokenRange, transient bool) (*tableCursor, error) {
	idx, err := t.Index()
	if err != nil {
		return nil, err
	}
	from, to := indexSpan(idx, p, r)
	c := &tableCursor{partCursor: partCursor{t: t, recycle: true}, p: p, rng: r, idx: idx, k: from, to: to}
	if from >= to {
		return c, nil
	}
	if c.w.d, err = t.openData(); err != nil {
		return nil, err
	}
	c.w.reuse = transient
	c.w.limit = t.DataLength()
	if to < len(idx) {
		c.w.limit = idx[to].Offset
	}
	c.w.r = buf{base: idx[from].Offset, file: c.w.d.path}
	return c, nil
}

func (c *tableCursor) close() {
	if c.w.d != nil {
		c.w.d.close()
	}
}

// nextPartition moves to the next partition in the range, skipping what
// is left of the current one; false after the last.
func (c *tableCursor) nextPartition() (bool, error) {
	for {
		if err := c.skip(); err != nil {
			return false, err
		}
		if c.k >= c.to {
			if at := c.w.pos(); c.w.d != nil && at != c.w.limit {
				return false, fmt.Errorf("%w: %s: Data.db holds bytes [%d, %d) after entry %d that no entry names", ErrCorrupt, c.t.indexFile(), at, c.w.limit, c.k-1)
			}
			return false, nil
		}
		if at := c.w.pos(); at > c.idx[c.k].Offset {
			return false, fmt.Errorf("%w: %s: entry %d gives Data.db position %d inside the partition before it", ErrCorrupt, c.t.indexFile(), c.k, c.idx[c.k].Offset)
		}
		if err := c.head(); err != nil {
			return false, err
		}
		if err := c.t.checkEntry(c.k, c.idx[c.k], c.part); err != nil {
			return false, err
		}
		// A copy: the key outlives the window it was read from.
		c.part.Key = bytes.Clone(c.part.Key)
		c.k++
		if c.rng.Contains(c.p.Token(c.part.Key)) {
			return true, nil
		}
	}
}
