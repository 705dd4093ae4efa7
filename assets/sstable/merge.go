package sstable

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// MergeOptions is the point of view of a merge.
type MergeOptions struct {
	// Now is the merge's time in seconds since the epoch: expiring cells
	// and row liveness are live while Now < their expiration time. Use
	// one Now for a whole job (normally the snapshot's time).
	Now int64
	// Dropped maps a dropped column to its drop timestamp (µs): its cells
	// at or before that timestamp are gone.
	Dropped map[string]int64
	// transient: a row's values are dead once the next row is asked for
	// (the reader decodes each row first), so their memory is reused.
	transient bool
}

const (
	noDeletion = math.MinInt64
	// invalidDeletionTime is what Cassandra 5.0 reads an impossible local
	// deletion time as (a negative one from a pre-5.0 file, the 2038
	// overflow, or one smaller than the TTL): 2106, never purged, and an
	// expiring cell with it is live.
	invalidDeletionTime = 1<<32 - 2
	// expiredLivenessTTL marks a row liveness that is already expired
	// (materialized views).
	expiredLivenessTTL = math.MaxInt32
	extShadowable      = 0x02
)

// localDeletionTime decodes a stored local deletion or expiration time as
// Cassandra's Cell.decodeLocalDeletionTime does.
func localDeletionTime(ldt int64, ttl int32) int64 {
	if ldt >= int64(ttl) && ldt >= 0 {
		return ldt
	}
	if ldt >= 0 && ttl == expiredLivenessTTL {
		return ldt
	}
	return invalidDeletionTime
}

// MergePartition merges the versions of one partition read from several
// SSTables (the same key in each) into its live content as of opts.Now, as
// a read at consistency ALL followed by a major compaction would see it:
// deletions applied top down (partition, range tombstones, row, complex,
// cell; a deletion removes data with a timestamp at or below its own),
// cells reconciled (newer timestamp; on a tie a tombstone, then an
// expiring cell, then the later local deletion time, then the greater
// value wins; counters merge shard by shard and a counter tombstone always
// wins), expired cells dropped, and dropped columns' older cells removed.
// A row is live if its primary-key liveness is or one of its cells is.
// clustering gives the clustering column types (the Header's). It reports
// false when nothing of the partition is live. MergeRange applies the same
// rules row by row.
func MergePartition(clustering []*Type, opts MergeOptions, parts []Partition) (LivePartition, bool) {
	if len(parts) == 0 {
		return LivePartition{}, false
	}
	ins := make([]unfiltereds, len(parts))
	for i := range parts {
		ins[i] = &sliceUnfiltereds{us: parts[i].Unfiltereds}
	}
	lp, _ := newPartitionRows(clustering, opts, parts, ins, nil).Collect() // slices do not fail
	return lp, lp.Static != nil || len(lp.Rows) > 0
}

// unfiltereds is one SSTable's version of a partition, row by row.
type unfiltereds interface {
	next() (Unfiltered, bool, error)
}

// sliceUnfiltereds are the unfiltereds of a decoded partition.
type sliceUnfiltereds struct{ us []Unfiltered }

func (s *sliceUnfiltereds) next() (Unfiltered, bool, error) {
	if len(s.us) == 0 {
		return Unfiltered{}, false, nil
	}
	u := s.us[0]
	s.us = s.us[1:]
	return u, true, nil
}

// newPartitionRows starts merging the versions of one partition: heads
// are their keys, deletions and static rows, ins their rows and markers.
// With a scratch, every row is merged into its memory (see rowScratch).
func newPartitionRows(clustering []*Type, opts MergeOptions, heads []Partition, ins []unfiltereds, scratch *rowScratch) *PartitionRows {
	m := &rowMerge{opts: opts, clustering: clustering, pdel: noDeletion, scratch: scratch}
	var statics []*Row
	for i, h := range heads {
		if h.Deletion != nil {
			m.pdel = max(m.pdel, h.Deletion.MarkedForDeleteAt)
		}
		if h.Static != nil {
			statics = append(statics, h.Static)
		}
		m.srcs = append(m.srcs, &rowSource{in: ins[i], open: noDeletion})
	}
	pr := &PartitionRows{Key: heads[0].Key, m: m}
	if len(statics) > 0 {
		if r, _ := opts.mergeRow(statics, m.pdel, m.rowScratch()); len(r.Columns) > 0 {
			if opts.transient {
				r = r.clone() // read while the first rows are
			}
			pr.Static = &r
		}
	}
	return pr
}

// PartitionRows is one merged partition read row by row: its key, its
// live static row if any, and its live rows in clustering order from
// Next. Only the rows being merged are held in memory.
type PartitionRows struct {
	Key    []byte
	Static *LiveRow
	m      *rowMerge
	peeked *LiveRow
	err    error
}

// Next returns the partition's next live row; false after the last or on
// an error.
func (p *PartitionRows) Next() (LiveRow, bool, error) {
	if r := p.peeked; r != nil {
		p.peeked = nil
		return *r, true, nil
	}
	if p.err != nil {
		return LiveRow{}, false, p.err
	}
	r, ok, err := p.m.next()
	p.err = err
	return r, ok, err
}

// Collect reads the rest of the partition into memory.
func (p *PartitionRows) Collect() (LivePartition, error) {
	lp := LivePartition{Key: p.Key, Static: p.Static}
	for {
		r, ok, err := p.Next()
		if !ok {
			return lp, err
		}
		lp.Rows = append(lp.Rows, r)
	}
}

// live reads the first live row ahead and reports whether the partition
// has any live content.
func (p *PartitionRows) live() (bool, error) {
	r, ok, err := p.m.next()
	if err != nil {
		return false, err
	}
	if ok {
		p.peeked = &r
	}
	return ok || p.Static != nil, nil
}

// clone copies the row's values out of the memory they were read into.
func (r LiveRow) clone() LiveRow {
	cols := make([]LiveColumn, len(r.Columns))
	for i, c := range r.Columns {
		c.Value = bytes.Clone(c.Value)
		c.Elements = slices.Clone(c.Elements)
		for k, e := range c.Elements {
			c.Elements[k] = Element{Path: bytes.Clone(e.Path), Value: bytes.Clone(e.Value)}
		}
		cols[i] = c
	}
	r.Columns = cols
	return r
}

// rowMerge merges the rows of one partition from several SSTables as a
// k-way stream in clustering order, applying range tombstones as their
// bounds go by.
type rowMerge struct {
	opts       MergeOptions
	clustering []*Type
	pdel       int64 // the partition deletion
	srcs       []*rowSource
	rows       []*Row // the versions of the row being merged
	scratch    *rowScratch
}

// rowScratch is the memory a transient merge builds each row in: a row is
// dead once the next is merged, so its columns and elements are reused.
type rowScratch struct {
	cols  []LiveColumn
	datas []ColumnData
	cells []*Cell
	elems []Element
}

// rowScratch returns the memory to merge the next row into: the merge's
// scratch, emptied, or a new one when rows outlive the next.
func (m *rowMerge) rowScratch() *rowScratch {
	if m.scratch == nil {
		return &rowScratch{}
	}
	m.scratch.elems = m.scratch.elems[:0]
	return m.scratch
}

// rowSource is one SSTable's rows and markers, head the next one.
type rowSource struct {
	in   unfiltereds
	head Unfiltered
	ok   bool  // head is set
	done bool  // in is exhausted
	open int64 // the range tombstone open before head, noDeletion if none
}

// fill reads the source's next row or marker into head, if needed.
func (s *rowSource) fill() error {
	if s.ok || s.done {
		return nil
	}
	u, ok, err := s.in.next()
	if err != nil {
		return err
	}
	s.head, s.ok, s.done = u, ok, !ok
	return nil
}

// mark applies a range tombstone marker: bounds open or close a deletion,
// boundaries do both. A close with nothing open deletes nothing.
func (s *rowSource) mark(m *Marker) {
	switch m.Kind {
	case KindInclStartBound, KindExclStartBound:
		s.open = m.Deletion.MarkedForDeleteAt
	case KindExclEndBound, KindInclEndBound:
		s.open = noDeletion
	case KindExclEndInclStartBoundary, KindInclEndExclStartBoundary:
		s.open = noDeletion
		if m.Start != nil {
			s.open = m.Start.MarkedForDeleteAt
		}
	}
}

func (s *rowSource) prefix() Prefix {
	if s.head.Row != nil {
		return RowPrefix(s.head.Row.Clustering)
	}
	return s.head.Marker.Prefix()
}

// least returns the source whose head comes first, nil when all are done.
func (m *rowMerge) least() (*rowSource, error) {
	var least *rowSource
	for _, s := range m.srcs {
		if err := s.fill(); err != nil {
			return nil, err
		}
		if s.ok && (least == nil || ComparePrefixes(m.clustering, s.prefix(), least.prefix()) < 0) {
			least = s
		}
	}
	return least, nil
}

// next merges the versions of the next live row.
func (m *rowMerge) next() (LiveRow, bool, error) {
	for {
		s, err := m.least()
		if s == nil || err != nil {
			return LiveRow{}, false, err
		}
		if s.head.Row == nil {
			s.mark(s.head.Marker)
			s.ok = false
			continue
		}
		at := s.head.Row.Clustering
		del := m.pdel
		m.rows = m.rows[:0]
		for _, x := range m.srcs {
			// Every marker before at has gone by: open is what covers at.
			del = max(del, x.open)
			if x == s || x.ok && x.head.Row != nil && len(m.srcs) > 1 && CompareClusterings(m.clustering, x.head.Row.Clustering, at) == 0 {
				m.rows = append(m.rows, x.head.Row)
				x.ok = false
			}
		}
		if r, live := m.opts.mergeRow(m.rows, del, m.rowScratch()); live {
			r.Clustering = slices.Clone(at) // the rows' memory is reused
			return r, true, nil
		}
	}
}

// mergeRow merges the versions of one row under the deletion outer (the
// partition's and the range tombstones'): its live columns, and whether
// the row is live.
func (o MergeOptions) mergeRow(rows []*Row, outer int64, s *rowScratch) (LiveRow, bool) {
	del, rowLive := o.rowDeletion(rows, outer)
	var out LiveRow
	if len(rows) == 1 {
		out.Columns = s.cols[:0]
		for k := range rows[0].Columns {
			out.Columns = o.appendColumn(out.Columns, rows[0].Columns[k:k+1], del, s)
		}
		s.cols = out.Columns
		if len(out.Columns) == 0 {
			out.Columns = nil // as when versions merge
		}
		return out, rowLive || len(out.Columns) > 0
	}
	datas := s.datas[:0]
	for _, r := range rows {
		datas = append(datas, r.Columns...)
	}
	s.datas = datas
	// Cassandra's column order: simple columns, then complex, each by
	// name; the versions of a column stay in row order.
	slices.SortStableFunc(datas, func(a, b ColumnData) int {
		if c := cmp.Compare(b2i(isComplex(a.Column)), b2i(isComplex(b.Column))); c != 0 {
			return c
		}
		return cmp.Compare(a.Column.Name, b.Column.Name)
	})
	out.Columns = s.cols[:0]
	for i := 0; i < len(datas); {
		j := i + 1
		for j < len(datas) && datas[j].Column.Name == datas[i].Column.Name {
			j++
		}
		out.Columns = o.appendColumn(out.Columns, datas[i:j], del, s)
		i = j
	}
	s.cols = out.Columns
	if len(out.Columns) == 0 {
		out.Columns = nil
	}
	return out, rowLive || len(out.Columns) > 0
}

// rowDeletion returns the deletion over the row's cells (outer or the
// row's own) and whether its primary-key liveness is live.
func (o MergeOptions) rowDeletion(rows []*Row, outer int64) (int64, bool) {
	var live *Liveness
	var rowDel *Deletion
	shadowable := false
	for _, r := range rows {
		if r.Liveness != nil && (live == nil || livenessSupersedes(r.Liveness, live)) {
			live = r.Liveness
		}
		if r.Deletion != nil && (rowDel == nil || deletionSupersedes(r.Deletion, rowDel)) {
			rowDel, shadowable = r.Deletion, r.ExtFlags&extShadowable != 0
		}
	}
	del := outer
	// A shadowable deletion (materialized views) is undone by a newer
	// primary-key liveness.
	if rowDel != nil && !(shadowable && live != nil && live.Timestamp > rowDel.MarkedForDeleteAt) {
		del = max(del, rowDel.MarkedForDeleteAt)
	}
	return del, live != nil && live.Timestamp > del && o.livenessLive(live)
}

// appendColumn merges the versions of one column and appends it to out if
// anything of it is live.
func (o MergeOptions) appendColumn(out []LiveColumn, versions []ColumnData, del int64, s *rowScratch) []LiveColumn {
	col := versions[0].Column
	g := gone{del: del, dropped: noDeletion}
	if d, ok := o.Dropped[col.Name]; ok {
		g.dropped = d
	}
	counter := col.Type != nil && col.Type.Counter()
	if !isComplex(col) {
		var win *Cell
		for _, cd := range versions {
			for k := range cd.Cells {
				if c := &cd.Cells[k]; !g.covers(c) {
					win = reconcile(win, c, counter)
				}
			}
		}
		if win == nil || !o.cellLive(win) {
			return out
		}
		val := win.Value
		if val == nil {
			val = []byte{}
		}
		return append(out, LiveColumn{Column: col, Value: val, Timestamp: win.Timestamp})
	}
	if lc, ok := o.complexColumn(versions, g, counter, s); ok {
		out = append(out, lc)
	}
	return out
}

// gone is what removes a cell: a deletion over it, or its column dropped
// after it was written.
type gone struct{ del, dropped int64 }

func (g gone) covers(c *Cell) bool { return c.Timestamp <= g.del || c.Timestamp <= g.dropped }

// complexColumn merges the versions of a multi-cell column: the live
// elements in path order.
func (o MergeOptions) complexColumn(versions []ColumnData, g gone, counter bool, s *rowScratch) (LiveColumn, bool) {
	col := versions[0].Column
	for _, cd := range versions {
		if cd.Deletion != nil {
			g.del = max(g.del, cd.Deletion.MarkedForDeleteAt)
		}
	}
	cells := s.cells[:0]
	for _, cd := range versions {
		for k := range cd.Cells {
			if c := &cd.Cells[k]; !g.covers(c) {
				cells = append(cells, c)
			}
		}
	}
	pathType := col.Type.pathComparator()
	byPath := func(a, b *Cell) int { return pathType.Compare(a.Path, b.Path) }
	if len(versions) > 1 {
		slices.SortStableFunc(cells, byPath)
	}
	lc := LiveColumn{Column: col}
	start := len(s.elems)
	for i := 0; i < len(cells); {
		win, j := cells[i], i+1
		for ; j < len(cells) && byPath(cells[i], cells[j]) == 0; j++ {
			win = reconcile(win, cells[j], counter)
		}
		if o.cellLive(win) {
			if len(s.elems) == start || win.Timestamp > lc.Timestamp {
				lc.Timestamp = win.Timestamp
			}
			s.elems = append(s.elems, Element{Path: win.Path, Value: win.Value})
		}
		i = j
	}
	s.cells = cells
	if n := len(s.elems); n > start {
		lc.Elements = s.elems[start:n:n]
	}
	return lc, len(lc.Elements) > 0
}

func isComplex(c Column) bool { return c.Type != nil && c.Type.Complex() }

func (o MergeOptions) cellLive(c *Cell) bool {
	switch {
	case c.Tombstone:
		return false
	case c.Expiring:
		return o.Now < localDeletionTime(c.LDT, c.TTL)
	}
	return true
}

func (o MergeOptions) livenessLive(l *Liveness) bool {
	switch {
	case l.TTL == expiredLivenessTTL:
		return false
	case l.TTL != 0:
		return o.Now < localDeletionTime(l.Expires, l.TTL)
	}
	return true
}

// livenessSupersedes is LivenessInfo.supersedes: newer timestamp, then an
// expired liveness, then an expiring one, then the later expiration.
func livenessSupersedes(a, b *Liveness) bool {
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	ae, be := a.TTL == expiredLivenessTTL, b.TTL == expiredLivenessTTL
	if ae != be {
		return ae
	}
	if (a.TTL != 0) == (b.TTL != 0) {
		if a.TTL == 0 {
			return false
		}
		return localDeletionTime(a.Expires, a.TTL) > localDeletionTime(b.Expires, b.TTL)
	}
	return a.TTL != 0
}

// deletionSupersedes is DeletionTime.supersedes: greater mfda, then ldt.
func deletionSupersedes(a, b *Deletion) bool {
	if a.MarkedForDeleteAt != b.MarkedForDeleteAt {
		return a.MarkedForDeleteAt > b.MarkedForDeleteAt
	}
	return localDeletionTime(a.LocalDeletionTime, 0) > localDeletionTime(b.LocalDeletionTime, 0)
}

// reconcile returns the version of a cell that wins over the other (nil
// for none yet), as Cassandra's Cells.reconcile.
func reconcile(a, b *Cell, counter bool) *Cell {
	if a == nil {
		return b
	}
	if counter {
		return reconcileCounter(a, b)
	}
	if a.Timestamp != b.Timestamp {
		return pick(a.Timestamp > b.Timestamp, a, b)
	}
	ad, bd := a.Tombstone || a.Expiring, b.Tombstone || b.Expiring
	if ad || bd {
		if ad != bd {
			return pick(ad, a, b)
		}
		if a.Expiring != b.Expiring {
			return pick(!a.Expiring, a, b) // the tombstone
		}
		if la, lb := localDeletionTime(a.LDT, a.TTL), localDeletionTime(b.LDT, b.TTL); la != lb {
			return pick(la > lb, a, b)
		}
	}
	return pick(bytes.Compare(a.Value, b.Value) >= 0, a, b)
}

func pick(first bool, a, b *Cell) *Cell {
	if first {
		return a
	}
	return b
}

// reconcileCounter: a tombstone wins whatever the timestamps, else the
// contexts merge shard by shard under the newer timestamp.
func reconcileCounter(a, b *Cell) *Cell {
	if a.Tombstone || b.Tombstone {
		if a.Tombstone && b.Tombstone {
			return pick(a.Timestamp >= b.Timestamp, a, b)
		}
		return pick(a.Tombstone, a, b)
	}
	if len(a.Value) == 0 || len(b.Value) == 0 {
		if (len(a.Value) == 0) != (len(b.Value) == 0) {
			return pick(len(a.Value) == 0, a, b)
		}
		return pick(a.Timestamp > b.Timestamp, a, b)
	}
	merged, err := MergeCounterContexts(a.Value, b.Value)
	if err != nil { // malformed: keep the newer, CounterValue reports it
		return pick(a.Timestamp >= b.Timestamp, a, b)
	}
	return &Cell{Flags: a.Flags, Timestamp: max(a.Timestamp, b.Timestamp), Path: a.Path, Value: merged}
}

// Counter shards: a counter context is i16 n, n i16 header entries (an
// index into the shards, + math.MinInt16 for a global shard; others
// listed are local), then 32-byte shards sorted by counter id: 16-byte id,
// i64 clock, i64 count. Shards not in the header are remote.
type counterShard struct {
	id           []byte
	clock, count int64
	kind         byte
}

const (
	shardRemote = iota
	shardLocal
	shardGlobal
)

var errCounter = errors.New("sstable: malformed counter context")

func parseCounterContext(ctx []byte) ([]counterShard, error) {
	if len(ctx) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", errCounter, len(ctx))
	}
	n := int(int16(binary.BigEndian.Uint16(ctx)))
	n = max(n, -n)
	body := 2 + 2*n
	if len(ctx) < body || (len(ctx)-body)%32 != 0 {
		return nil, fmt.Errorf("%w: %d header entries, %d bytes", errCounter, n, len(ctx))
	}
	shards := make([]counterShard, (len(ctx)-body)/32)
	for i := range shards {
		s := ctx[body+32*i:]
		shards[i] = counterShard{id: s[:16:16], clock: int64(binary.BigEndian.Uint64(s[16:])), count: int64(binary.BigEndian.Uint64(s[24:]))}
	}
	for i := range n {
		e := int(int16(binary.BigEndian.Uint16(ctx[2+2*i:])))
		kind := byte(shardLocal)
		if e < 0 {
			e, kind = e-math.MinInt16, shardGlobal
		}
		if e >= len(shards) {
			return nil, fmt.Errorf("%w: header entry %d of %d shards", errCounter, e, len(shards))
		}
		shards[e].kind = kind
	}
	return shards, nil
}

func encodeCounterContext(shards []counterShard) []byte {
	var header, body []byte
	for i, s := range shards {
		switch s.kind {
		case shardGlobal:
			header = binary.BigEndian.AppendUint16(header, uint16(int16(i+math.MinInt16)))
		case shardLocal:
			header = binary.BigEndian.AppendUint16(header, uint16(i))
		}
		body = append(body, s.id...)
		body = binary.BigEndian.AppendUint64(body, uint64(s.clock))
		body = binary.BigEndian.AppendUint64(body, uint64(s.count))
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(header)/2))
	return append(append(out, header...), body...)
}

// MergeCounterContexts merges two counter contexts as Cassandra's
// CounterContext.merge: per counter id, global beats local beats remote;
// two globals or two remotes keep the higher clock (equal clocks: the
// higher count); two locals add up clocks and counts.
func MergeCounterContexts(a, b []byte) ([]byte, error) {
	sa, err := parseCounterContext(a)
	if err != nil {
		return nil, err
	}
	sb, err := parseCounterContext(b)
	if err != nil {
		return nil, err
	}
	out := make([]counterShard, 0, len(sa)+len(sb))
	i, j := 0, 0
	for i < len(sa) && j < len(sb) {
		switch c := bytes.Compare(sa[i].id, sb[j].id); {
		case c < 0:
			out = append(out, sa[i])
			i++
		case c > 0:
			out = append(out, sb[j])
			j++
		default:
			out = append(out, mergeShard(sa[i], sb[j]))
			i++
			j++
		}
	}
	out = append(append(out, sa[i:]...), sb[j:]...)
	return encodeCounterContext(out), nil
}

func mergeShard(l, r counterShard) counterShard {
	switch {
	case l.kind == shardGlobal || r.kind == shardGlobal:
		if l.kind != r.kind {
			return pickShard(l.kind == shardGlobal, l, r)
		}
	case l.kind == shardLocal || r.kind == shardLocal:
		if l.kind != r.kind {
			return pickShard(l.kind == shardLocal, l, r)
		}
		return counterShard{id: l.id, clock: l.clock + r.clock, count: l.count + r.count, kind: shardLocal}
	}
	// Two globals or two remotes.
	if l.clock == r.clock {
		return pickShard(l.count > r.count, l, r)
	}
	if l.kind == shardGlobal {
		return pickShard(l.clock > r.clock, l, r)
	}
	lc, rc := l.clock, r.clock // remote clocks: negative ones are legacy deletions
	return pickShard(lc >= 0 && rc > 0 && lc >= rc || lc < 0 && (rc > 0 || lc < rc), l, r)
}

func pickShard(first bool, a, b counterShard) counterShard {
	if first {
		return a
	}
	return b
}

// CounterValue is a counter's value: the sum of its context's shard counts.
func CounterValue(ctx []byte) (int64, error) {
	shards, err := parseCounterContext(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, s := range shards {
		total += s.count
	}
	return total, nil
}

// TokenRange is a range of the ring: the partitions whose token is after
// Start and at or before End, as Cassandra's (start, end]. A nil bound is
// open: Start nil includes the minimum token, End nil goes to the end.
type TokenRange struct {
	Start, End *Token
}

// Contains reports whether a token is in the range.
func (r TokenRange) Contains(t Token) bool {
	return (r.Start == nil || t.Compare(*r.Start) > 0) && (r.End == nil || t.Compare(*r.End) <= 0)
}

func (r TokenRange) String() string {
	s, e := "min", "max"
	if r.Start != nil {
		s = r.Start.String()
	}
	if r.End != nil {
		e = r.End.String()
	}
	return "(" + s + ", " + e + "]"
}

// mergeSetup checks that the tables can merge: one partitioner and the
// same number of clustering columns. It returns the partitioner and the
// clustering types.
func mergeSetup(tables []*Table) (Partitioner, []*Type, error) {
	if len(tables) == 0 {
		return 0, nil, nil
	}
	p, err := ParsePartitioner(tables[0].Partitioner)
	if err != nil {
		return 0, nil, err
	}
	for _, t := range tables[1:] {
		if t.Partitioner != tables[0].Partitioner {
			return 0, nil, fmt.Errorf("sstable: %s uses %s, %s uses %s", t.component("Data.db"), t.Partitioner, tables[0].component("Data.db"), tables[0].Partitioner)
		}
		if len(t.Header.Clustering) != len(tables[0].Header.Clustering) {
			return 0, nil, fmt.Errorf("sstable: %s has %d clustering columns, %s has %d", t.component("Data.db"), len(t.Header.Clustering), tables[0].component("Data.db"), len(tables[0].Header.Clustering))
		}
	}
	return p, tables[0].Header.Clustering, nil
}

// Merge merges the SSTables of one table (of one node, or of every replica)
// and calls fn with each partition that has live content, in partition
// order (token, then key). See MergePartition for the rules.
func Merge(tables []*Table, opts MergeOptions, fn func(*PartitionRows) error) error {
	return MergeRange(tables, TokenRange{}, opts, fn)
}

// MergeRange is Merge restricted to the partitions whose token is in r.
// Each table is read from the first partition of the range, found in its
// partition index, a window of bounded size at a time, and a partition's
// rows are merged as fn reads them: memory does not grow with the width
// of a partition. What fn leaves unread of a partition is skipped.
func MergeRange(tables []*Table, r TokenRange, opts MergeOptions, fn func(*PartitionRows) error) error {
	p, clustering, err := mergeSetup(tables)
	if err != nil || len(tables) == 0 {
		return err
	}
	srcs := make([]*partitionSource, len(tables))
	for i, t := range tables {
		c, err := openCursor(t, p, r, opts.transient)
		if err != nil {
			return err
		}
		defer c.close()
		srcs[i] = &partitionSource{c: c}
		if err := srcs[i].advance(p); err != nil {
			return err
		}
	}
	var heads []Partition
	var ins []unfiltereds
	var here []*partitionSource
	var scratch *rowScratch
	if opts.transient {
		scratch = &rowScratch{}
	}
	for {
		at, ok := leastKey(srcs)
		if !ok {
			return nil
		}
		heads, ins, here = heads[:0], ins[:0], here[:0]
		for _, s := range srcs {
			if s.ok && s.key.Compare(at) == 0 {
				heads, ins, here = append(heads, s.c.part), append(ins, s.c), append(here, s)
			}
		}
		pr := newPartitionRows(clustering, opts, heads, ins, scratch)
		if live, err := pr.live(); err != nil {
			return err
		} else if live {
			if err := fn(pr); err != nil {
				return err
			}
		}
		for _, s := range here {
			if err := s.advance(p); err != nil {
				return err
			}
			if s.ok && s.key.Compare(at) <= 0 {
				return fmt.Errorf("%w: partition %x follows %x out of %s order", ErrCorrupt, s.key.Key, at.Key, p)
			}
		}
	}
}

// partitionSource is one table's cursor in a merge, at the partition key.
type partitionSource struct {
	c   *tableCursor
	key PartitionKey
	ok  bool
}

func (s *partitionSource) advance(p Partitioner) error {
	ok, err := s.c.nextPartition()
	if err != nil {
		return err
	}
	s.ok = ok
	if ok {
		s.key = p.Decorate(s.c.part.Key)
	}
	return nil
}

// leastKey is the first key among the sources' partitions.
func leastKey(srcs []*partitionSource) (PartitionKey, bool) {
	var least *PartitionKey
	for _, s := range srcs {
		if s.ok && (least == nil || s.key.Compare(*least) < 0) {
			least = &s.key
		}
	}
	if least == nil {
		return PartitionKey{}, false
	}
	return *least, true
}

// indexSpan is the entries [from, to) of an index whose tokens are in r.
func indexSpan(idx []IndexEntry, p Partitioner, r TokenRange) (int, int) {
	from, to := 0, len(idx)
	if r.Start != nil {
		from = sort.Search(len(idx), func(i int) bool { return p.Token(idx[i].Key).Compare(*r.Start) > 0 })
	}
	if r.End != nil {
		to = sort.Search(len(idx), func(i int) bool { return p.Token(idx[i].Key).Compare(*r.End) > 0 })
	}
	return from, max(from, to)
}

// MergeSplits cuts the ring into at most n token ranges holding about the
// same amount of data across the tables, with boundaries at the tokens of
// the tables' index entries. The ranges are in ring order and cover it
// with no gap or overlap, so the MergeRange outputs of all of them,
// concatenated, are the output of Merge whatever n is.
func MergeSplits(tables []*Table, n int) ([]TokenRange, error) {
	p, _, err := mergeSetup(tables)
	if err != nil {
		return nil, err
	}
	type weighted struct {
		tok  Token
		size int64
	}
	var all []weighted
	var total int64
	for _, t := range tables {
		idx, err := t.Index()
		if err != nil {
			return nil, err
		}
		for i, e := range idx {
			end := t.DataLength()
			if i+1 < len(idx) {
				end = idx[i+1].Offset
			}
			all = append(all, weighted{p.Token(e.Key), end - e.Offset})
			total += end - e.Offset
		}
	}
	slices.SortStableFunc(all, func(a, b weighted) int { return a.tok.Compare(b.tok) })
	var out []TokenRange
	var start *Token
	var sum int64
	for i := 0; i < len(all) && len(out) < n-1; i++ {
		sum += all[i].size
		if i+1 < len(all) && all[i+1].tok.Compare(all[i].tok) == 0 {
			continue // never cut between equal tokens
		}
		if i+1 == len(all) || sum*int64(n) < total*int64(len(out)+1) {
			continue // the last range takes the rest
		}
		end := all[i].tok
		out = append(out, TokenRange{Start: start, End: &end})
		start = &end
	}
	return append(out, TokenRange{Start: start}), nil
}
