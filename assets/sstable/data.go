package sstable

import (
	"fmt"
	"math"
)

// Deletion is a deletion time: the timestamp everything older than or
// equal to is deleted (MarkedForDeleteAt) and when it happened, in seconds.
type Deletion struct {
	MarkedForDeleteAt int64
	LocalDeletionTime int64
}

// Liveness is a row's primary-key liveness (an INSERT).
type Liveness struct {
	Timestamp int64
	TTL       int32 // 0 when not expiring
	Expires   int64 // local expiration time, when TTL > 0
}

// Cell is one cell: a simple column's value or one element of a complex one.
type Cell struct {
	Flags     byte
	Timestamp int64
	Tombstone bool
	Expiring  bool
	LDT       int64 // deletion or expiration time, when Tombstone or Expiring
	TTL       int32
	Path      []byte // complex columns: the element's key
	Value     []byte // nil for empty values
}

// ColumnData is what a row holds for one column.
type ColumnData struct {
	Column   Column
	Deletion *Deletion // complex columns: the collection tombstone, if any
	Cells    []Cell    // one for a simple column
}

// Row is a row of a partition, or its static row.
type Row struct {
	Flags, ExtFlags byte
	Static          bool
	Clustering      [][]byte
	Liveness        *Liveness
	Deletion        *Deletion
	Columns         []ColumnData
}

// Marker is a range tombstone bound or boundary.
type Marker struct {
	Kind  byte // see the bound kind table in the format brief
	Bound [][]byte
	// Deletion for a bound; for a boundary, Deletion ends and Start begins.
	Deletion Deletion
	Start    *Deletion
}

// Unfiltered is a row or a marker, in on-disk order.
type Unfiltered struct {
	Row    *Row
	Marker *Marker
}

// Partition is one partition of Data.db.
type Partition struct {
	Key         []byte
	Offset, End int64 // in the uncompressed stream
	Deletion    *Deletion
	Static      *Row
	Unfiltereds []Unfiltered
}

// Row and cell flags.
const (
	flagEnd             = 0x01
	flagMarker          = 0x02
	flagTimestamp       = 0x04
	flagTTL             = 0x08
	flagDeletion        = 0x10
	flagAllColumns      = 0x20
	flagComplexDeletion = 0x40
	flagExtension       = 0x80
	extStatic           = 0x01

	cellDeleted      = 0x01
	cellExpiring     = 0x02
	cellEmpty        = 0x04
	cellRowTimestamp = 0x08
	cellRowTTL       = 0x10
)

// Partitions decodes every partition of data (the uncompressed stream)
// in order, calling fn with each.
func (t *Table) Partitions(data []byte, fn func(Partition) error) error {
	return t.partitions(data, 0, int64(len(data)), fn)
}

// partitions decodes the partitions that start in [from, to) of data.
func (t *Table) partitions(data []byte, from, to int64, fn func(Partition) error) error {
	r := &buf{b: data, off: int(from), file: t.component("Data.db")}
	for int64(r.off) < to {
		p, err := t.partition(r)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) partition(r *buf) (Partition, error) {
	p := t.partitionHead(r)
	for r.err == nil {
		u, ok := t.unfiltered(r)
		if !ok {
			break
		}
		p.Unfiltereds = append(p.Unfiltereds, u)
	}
	p.End = r.base + int64(r.off)
	return p, r.err
}

// partitionHead reads a partition's key, deletion and static row.
func (t *Table) partitionHead(r *buf) Partition {
	p := Partition{Offset: r.base + int64(r.off)}
	p.Key = r.bytes(int(r.u16()))
	p.Deletion = t.fixedDeletion(r)
	if len(t.Header.StaticColumns) > 0 {
		flags := r.u8()
		if flags&flagExtension != 0 && r.need(1) && r.b[r.off]&extStatic != 0 {
			p.Static = t.row(r, flags, true)
		} else if r.err == nil {
			r.off-- // not a static row: leave the flags for the unfiltereds
		}
	}
	return p
}

// unfiltered reads a partition's next row or marker; false at its end.
func (t *Table) unfiltered(r *buf) (Unfiltered, bool) {
	flags := r.u8()
	switch {
	case r.err != nil || flags&flagEnd != 0:
		return Unfiltered{}, false
	case flags&flagMarker != 0:
		return Unfiltered{Marker: t.marker(r)}, true
	}
	return Unfiltered{Row: t.row(r, flags, false)}, true
}

// fixedDeletion reads a partition deletion time; nil means live.
func (t *Table) fixedDeletion(r *buf) *Deletion {
	if t.newDeletion() {
		if r.need(1) && r.b[r.off] == 0x80 {
			r.off++
			return nil
		}
		mfda := int64(r.u64())
		ldt := int64(r.u32())
		return &Deletion{MarkedForDeleteAt: mfda, LocalDeletionTime: ldt}
	}
	ldt := int64(int32(r.u32()))
	mfda := int64(r.u64())
	if ldt == math.MaxInt32 && mfda == math.MinInt64 {
		return nil
	}
	return &Deletion{MarkedForDeleteAt: mfda, LocalDeletionTime: ldt}
}

// Delta decoding against the serialization header.
func (t *Table) timestamp(r *buf) int64 { return int64(r.uvint() + uint64(t.Header.MinTimestamp)) }

func (t *Table) ldt(r *buf) int64 {
	v := uint32(r.uvint()) + t.Header.MinLDT
	if t.newDeletion() {
		return int64(v)
	}
	return int64(int32(v))
}

func (t *Table) ttl(r *buf) int32 { return int32(r.uvint()) + t.Header.MinTTL }

func (t *Table) deltaDeletion(r *buf) *Deletion {
	return &Deletion{MarkedForDeleteAt: t.timestamp(r), LocalDeletionTime: t.ldt(r)}
}

// clustering reads n prefix values typed by the header's clustering types.
func (t *Table) clustering(r *buf, n int) [][]byte {
	if n > len(t.Header.Clustering) {
		r.fail("%d clustering values, the table has %d clustering columns", n, len(t.Header.Clustering))
		return nil
	}
	vals := make([][]byte, n)
	var header uint64
	for i := range n {
		if i%32 == 0 {
			header = r.uvint()
		}
		bitsAt := uint(i%32) * 2
		switch {
		case header&(1<<(bitsAt+1)) != 0: // null
		case header&(1<<bitsAt) != 0:
			vals[i] = []byte{}
		default:
			vals[i] = t.value(r, t.Header.Clustering[i])
		}
		if r.err != nil {
			return nil
		}
	}
	return vals
}

// value reads a value of type typ: raw bytes when fixed-length, else
// a uvint length and bytes.
func (t *Table) value(r *buf, typ *Type) []byte {
	if n := typ.fixedLength(); n >= 0 {
		return r.bytes(n)
	}
	return r.bytesV()
}

func (t *Table) row(r *buf, flags byte, static bool) *Row {
	row := &Row{Flags: flags, Static: static}
	if flags&flagExtension != 0 {
		row.ExtFlags = r.u8()
	}
	if !static {
		row.Clustering = t.clustering(r, len(t.Header.Clustering))
	}
	size := r.length()
	end := r.off + size
	r.uvint() // previous unfiltered's size, for backward reads
	if flags&flagTimestamp != 0 {
		row.Liveness = &Liveness{Timestamp: t.timestamp(r)}
		if flags&flagTTL != 0 {
			row.Liveness.TTL = t.ttl(r)
			row.Liveness.Expires = t.ldt(r)
		}
	}
	if flags&flagDeletion != 0 {
		row.Deletion = t.deltaDeletion(r)
	}
	cols := t.Header.RegularColumns
	if static {
		cols = t.Header.StaticColumns
	}
	present := cols
	if flags&flagAllColumns == 0 {
		present = t.presentColumns(r, cols)
	}
	for _, c := range present {
		if r.err != nil {
			break
		}
		cd := ColumnData{Column: c}
		if !c.Type.Complex() {
			cd.Cells = []Cell{t.cell(r, c.Type, false, row.Liveness)}
		} else {
			if flags&flagComplexDeletion != 0 {
				if d := t.deltaDeletion(r); d.MarkedForDeleteAt != math.MinInt64 {
					cd.Deletion = d
				}
			}
			n := r.uvint()
			if r.err == nil && n > uint64(end-r.off) {
				r.fail("%d cells in %d bytes", n, end-r.off)
			}
			for i := uint64(0); i < n && r.err == nil; i++ {
				cd.Cells = append(cd.Cells, t.cell(r, c.Type, true, row.Liveness))
			}
		}
		row.Columns = append(row.Columns, cd)
	}
	if r.err == nil && r.off != end {
		r.fail("row ends at %d, its size says %d", r.base+int64(r.off), r.base+int64(end))
	}
	return row
}

// presentColumns reads the columns-present bitmap of a row.
func (t *Table) presentColumns(r *buf, cols []Column) []Column {
	v := r.uvint()
	if v == 0 {
		return cols
	}
	n := len(cols)
	if n < 64 {
		var out []Column
		for i, c := range cols {
			if v&(1<<uint(i)) == 0 {
				out = append(out, c)
			}
		}
		return out
	}
	missing := int(v)
	if missing > n {
		r.fail("%d missing columns of %d", missing, n)
		return nil
	}
	var idx []int
	if n-missing < n/2 {
		for range n - missing {
			idx = append(idx, int(r.uvint()))
		}
	} else {
		skip := map[int]bool{}
		for range missing {
			skip[int(r.uvint())] = true
		}
		for i := range n {
			if !skip[i] {
				idx = append(idx, i)
			}
		}
	}
	out := make([]Column, 0, len(idx))
	for _, i := range idx {
		if i < 0 || i >= n {
			r.fail("column index %d of %d", i, n)
			return nil
		}
		out = append(out, cols[i])
	}
	return out
}

func (t *Table) cell(r *buf, typ *Type, complex bool, live *Liveness) Cell {
	c := Cell{Flags: r.u8()}
	if c.Flags&cellRowTimestamp != 0 {
		if live == nil {
			r.fail("cell uses the row timestamp of a row without one")
			return c
		}
		c.Timestamp = live.Timestamp
	} else {
		c.Timestamp = t.timestamp(r)
	}
	c.Tombstone = c.Flags&cellDeleted != 0
	c.Expiring = c.Flags&cellExpiring != 0
	if c.Tombstone || c.Expiring {
		if c.Flags&cellRowTTL != 0 && live != nil {
			c.LDT, c.TTL = live.Expires, live.TTL
		} else {
			c.LDT = t.ldt(r)
			if c.Expiring {
				c.TTL = t.ttl(r)
			}
		}
	}
	if complex {
		c.Path = r.bytesV()
	}
	if c.Flags&cellEmpty == 0 {
		if complex {
			c.Value = r.bytesV()
		} else {
			c.Value = t.value(r, typ)
		}
	}
	return c
}

func (t *Table) marker(r *buf) *Marker {
	m := &Marker{Kind: r.u8()}
	n := int(r.u16())
	if n > 0 {
		m.Bound = t.clustering(r, n)
	}
	size := r.length()
	end := r.off + size
	r.uvint() // previous size
	m.Deletion = *t.deltaDeletion(r)
	if m.Kind == 2 || m.Kind == 5 { // boundaries: end deletion, then start
		m.Start = t.deltaDeletion(r)
	}
	if r.err == nil && r.off != end {
		r.fail("marker ends at %d, its size says %d", r.base+int64(r.off), r.base+int64(end))
	}
	if r.err == nil && m.Kind > 7 {
		r.fail("bound kind %d", m.Kind)
	}
	return m
}

// KindName names a marker's bound kind.
func KindName(k byte) string {
	names := []string{"EXCL_END_BOUND", "INCL_START_BOUND", "EXCL_END_INCL_START_BOUNDARY", "STATIC_CLUSTERING",
		"CLUSTERING", "INCL_END_EXCL_START_BOUNDARY", "INCL_END_BOUND", "EXCL_START_BOUND"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("KIND_%d", k)
}
