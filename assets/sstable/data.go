package sstable

import (
	"fmt"
	"math"
	"math/bits"
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
	Timestamp int64
	LDT       int64  // deletion or expiration time, when Tombstone or Expiring
	Path      []byte // complex columns: the element's key
	Value     []byte // nil for empty values
	TTL       int32
	Flags     byte
	Tombstone bool
	Expiring  bool
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

// plan is how a table's rows decode, worked out once from its header.
type plan struct {
	newDeletion     bool
	regular, static []colPlan
	clustering      []int // each clustering value's fixed length, -1 if none
}

// colPlan is how one column's cells decode.
type colPlan struct {
	col     Column
	complex bool
	fixed   int // the simple values' fixed length, -1 if none
}

func (t *Table) makePlan() {
	cols := func(cs []Column) []colPlan {
		out := make([]colPlan, len(cs))
		for i, c := range cs {
			out[i] = colPlan{col: c, complex: c.Type.Complex(), fixed: c.Type.fixedLength()}
		}
		return out
	}
	t.plan = plan{newDeletion: t.atLeast("oa"), regular: cols(t.Header.RegularColumns), static: cols(t.Header.StaticColumns)}
	for _, c := range t.Header.Clustering {
		t.plan.clustering = append(t.plan.clustering, c.fixedLength())
	}
}

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
	if t.plan.newDeletion {
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
	if t.plan.newDeletion {
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
	if n == 0 {
		return [][]byte{}
	}
	vals := take(&r.slabs.values, n)
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
			vals[i] = r.value(t.plan.clustering[i])
		}
		if r.err != nil {
			return nil
		}
	}
	return vals
}

func (t *Table) row(r *buf, flags byte, static bool) *Row {
	row := &take(&r.slabs.rows, 1)[0]
	row.Flags, row.Static = flags, static
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
		l := &take(&r.slabs.lives, 1)[0]
		l.Timestamp = t.timestamp(r)
		if flags&flagTTL != 0 {
			l.TTL = t.ttl(r)
			l.Expires = t.ldt(r)
		}
		row.Liveness = l
	}
	if flags&flagDeletion != 0 {
		row.Deletion = t.deltaDeletion(r)
	}
	cols := t.plan.regular
	if static {
		cols = t.plan.static
	}
	var missing uint64 // bit i set: cols[i] is not in the row
	if flags&flagAllColumns == 0 {
		cols, missing = t.presentColumns(r, cols)
	}
	row.Columns = take(&r.slabs.cols, len(cols)-bits.OnesCount64(missing))
	n := 0
	for i := range cols {
		if missing&(1<<uint(i)) != 0 || r.err != nil {
			continue
		}
		t.columnData(r, &row.Columns[n], &cols[i], flags, row.Liveness, end)
		n++
	}
	row.Columns = row.Columns[:n]
	if r.err == nil && r.off != end {
		r.fail("row ends at %d, its size says %d", r.base+int64(r.off), r.base+int64(end))
	}
	return row
}

// columnData reads what a row holds for column c into cd; end is where
// the row ends.
func (t *Table) columnData(r *buf, cd *ColumnData, c *colPlan, flags byte, live *Liveness, end int) {
	cd.Column = c.col
	if !c.complex {
		cd.Cells = take(&r.slabs.cells, 1)
		t.cell(r, &cd.Cells[0], c.fixed, live)
		return
	}
	if flags&flagComplexDeletion != 0 {
		if mfda, ldt := t.timestamp(r), t.ldt(r); mfda != math.MinInt64 {
			cd.Deletion = &take(&r.slabs.dels, 1)[0]
			*cd.Deletion = Deletion{MarkedForDeleteAt: mfda, LocalDeletionTime: ldt}
		}
	}
	n := r.uvint()
	if left := end - r.off; r.err == nil && (left < 0 || n > uint64(left)) {
		r.fail("%d cells in %d bytes", n, left)
	}
	if r.err != nil {
		return
	}
	cd.Cells = take(&r.slabs.cells, int(n))
	for i := range cd.Cells {
		t.cell(r, &cd.Cells[i], complexValue, live)
	}
}

// presentColumns reads the columns-present bitmap of a row: the columns
// it may hold and, of fewer than 64, a bit set for each one it does not.
func (t *Table) presentColumns(r *buf, cols []colPlan) ([]colPlan, uint64) {
	v := r.uvint()
	if v == 0 {
		return cols, 0
	}
	n := len(cols)
	if n < 64 {
		return cols, v & (1<<uint(n) - 1)
	}
	missing := int(v)
	if missing > n {
		r.fail("%d missing columns of %d", missing, n)
		return nil, 0
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
	out := make([]colPlan, 0, len(idx))
	for _, i := range idx {
		if i < 0 || i >= n {
			r.fail("column index %d of %d", i, n)
			return nil, 0
		}
		out = append(out, cols[i])
	}
	return out, 0
}

// complexValue, as a cell's fixed length, marks a complex column's cell:
// a path, and a value of any length.
const complexValue = -2

// cell reads a cell into c; fixed is its value's fixed length, -1 for
// none, or complexValue.
func (t *Table) cell(r *buf, c *Cell, fixed int, live *Liveness) {
	c.Flags = r.u8()
	if c.Flags&cellRowTimestamp != 0 {
		if live == nil {
			r.fail("cell uses the row timestamp of a row without one")
			return
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
	if fixed == complexValue {
		c.Path = r.bytesV()
	}
	if c.Flags&cellEmpty == 0 {
		c.Value = r.value(fixed)
	}
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
