package sstable

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
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
// false when nothing of the partition is live.
func MergePartition(clustering []*Type, opts MergeOptions, parts []Partition) (LivePartition, bool) {
	var lp LivePartition
	if len(parts) == 0 {
		return lp, false
	}
	lp.Key = parts[0].Key
	pdel := int64(noDeletion)
	var statics []*Row
	for _, p := range parts {
		if p.Deletion != nil {
			pdel = max(pdel, p.Deletion.MarkedForDeleteAt)
		}
		if p.Static != nil {
			statics = append(statics, p.Static)
		}
	}
	if len(statics) > 0 {
		if r, _ := opts.mergeRow(statics, pdel); len(r.Columns) > 0 {
			lp.Static = &r
		}
	}

	var rows []*Row
	ranges := make([][]rangeDeletion, len(parts))
	withRows := 0 // rows of one SSTable are in order already
	for i, p := range parts {
		n := len(rows)
		for _, u := range p.Unfiltereds {
			if u.Row != nil {
				rows = append(rows, u.Row)
			}
		}
		if len(rows) > n {
			withRows++
		}
		ranges[i] = rangeDeletions(p.Unfiltereds)
	}
	byClustering := func(a, b *Row) int { return CompareClusterings(clustering, a.Clustering, b.Clustering) }
	if withRows > 1 {
		slices.SortStableFunc(rows, byClustering)
	}
	next := make([]int, len(parts)) // per part, the first range not yet passed
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && byClustering(rows[i], rows[j]) == 0 {
			j++
		}
		at := RowPrefix(rows[i].Clustering)
		del := pdel
		for k, rs := range ranges {
			for next[k] < len(rs) && ComparePrefixes(clustering, rs[next[k]].end, at) < 0 {
				next[k]++
			}
			if next[k] < len(rs) && ComparePrefixes(clustering, rs[next[k]].start, at) < 0 {
				del = max(del, rs[next[k]].mfda)
			}
		}
		if r, live := opts.mergeRow(rows[i:j], del); live {
			r.Clustering = rows[i].Clustering
			lp.Rows = append(lp.Rows, r)
		}
		i = j
	}
	return lp, lp.Static != nil || len(lp.Rows) > 0
}

// rangeDeletion is a range tombstone of one SSTable: the rows strictly
// between start and end are deleted up to mfda.
type rangeDeletion struct {
	start, end Prefix
	mfda       int64
}

// rangeDeletions pairs one partition's markers into ranges, boundaries
// closing one and opening the next. A close without an open starts at the
// bottom; an open never closed ends at the top.
func rangeDeletions(us []Unfiltered) []rangeDeletion {
	var out []rangeDeletion
	var open *rangeDeletion
	closeAt := func(end Prefix, d Deletion) {
		if open == nil {
			open = &rangeDeletion{start: Prefix{Kind: KindInclStartBound}, mfda: d.MarkedForDeleteAt}
		}
		open.end = end
		out = append(out, *open)
		open = nil
	}
	for _, u := range us {
		m := u.Marker
		if m == nil {
			continue
		}
		switch m.Kind {
		case KindInclStartBound, KindExclStartBound:
			open = &rangeDeletion{start: m.Prefix(), mfda: m.Deletion.MarkedForDeleteAt}
		case KindExclEndBound, KindInclEndBound:
			closeAt(m.Prefix(), m.Deletion)
		case KindExclEndInclStartBoundary, KindInclEndExclStartBoundary:
			endKind, startKind := byte(KindExclEndBound), byte(KindInclStartBound)
			if m.Kind == KindInclEndExclStartBoundary {
				endKind, startKind = KindInclEndBound, KindExclStartBound
			}
			closeAt(Prefix{Kind: endKind, Values: m.Bound}, m.Deletion)
			if m.Start != nil {
				open = &rangeDeletion{start: Prefix{Kind: startKind, Values: m.Bound}, mfda: m.Start.MarkedForDeleteAt}
			}
		}
	}
	if open != nil {
		open.end = Prefix{Kind: KindInclEndBound}
		out = append(out, *open)
	}
	return out
}

// mergeRow merges the versions of one row under the deletion outer (the
// partition's and the range tombstones'): its live columns, and whether
// the row is live.
func (o MergeOptions) mergeRow(rows []*Row, outer int64) (LiveRow, bool) {
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
	rowLive := live != nil && live.Timestamp > del && o.livenessLive(live)

	type versions struct {
		col   Column
		datas []*ColumnData
	}
	var cols []*versions
	seen := map[string]*versions{}
	for _, r := range rows {
		for k := range r.Columns {
			cd := &r.Columns[k]
			v := seen[cd.Column.Name]
			if v == nil {
				v = &versions{col: cd.Column}
				seen[cd.Column.Name] = v
				cols = append(cols, v)
			}
			v.datas = append(v.datas, cd)
		}
	}
	if len(rows) > 1 {
		// Cassandra's column order: simple columns, then complex, each by name.
		slices.SortStableFunc(cols, func(a, b *versions) int {
			if c := cmp.Compare(b2i(isComplex(a.col)), b2i(isComplex(b.col))); c != 0 {
				return c
			}
			return cmp.Compare(a.col.Name, b.col.Name)
		})
	}
	var out LiveRow
	for _, v := range cols {
		dropped, isDropped := o.Dropped[v.col.Name]
		gone := func(c *Cell, del int64) bool {
			return c.Timestamp <= del || isDropped && c.Timestamp <= dropped
		}
		counter := v.col.Type != nil && v.col.Type.Counter()
		if !isComplex(v.col) {
			var win *Cell
			for _, cd := range v.datas {
				for k := range cd.Cells {
					if c := &cd.Cells[k]; !gone(c, del) {
						win = reconcile(win, c, counter)
					}
				}
			}
			if win != nil && o.cellLive(win) {
				val := win.Value
				if val == nil {
					val = []byte{}
				}
				out.Columns = append(out.Columns, LiveColumn{Column: v.col, Value: val, Timestamp: win.Timestamp})
			}
			continue
		}
		cdel := del
		var cells []*Cell
		for _, cd := range v.datas {
			if cd.Deletion != nil {
				cdel = max(cdel, cd.Deletion.MarkedForDeleteAt)
			}
		}
		for _, cd := range v.datas {
			for k := range cd.Cells {
				if c := &cd.Cells[k]; !gone(c, cdel) {
					cells = append(cells, c)
				}
			}
		}
		pathType := v.col.Type.pathComparator()
		byPath := func(a, b *Cell) int { return pathType.Compare(a.Path, b.Path) }
		if len(v.datas) > 1 {
			slices.SortStableFunc(cells, byPath)
		}
		lc := LiveColumn{Column: v.col}
		for i := 0; i < len(cells); {
			win, j := cells[i], i+1
			for ; j < len(cells) && byPath(cells[i], cells[j]) == 0; j++ {
				win = reconcile(win, cells[j], counter)
			}
			if o.cellLive(win) {
				if len(lc.Elements) == 0 || win.Timestamp > lc.Timestamp {
					lc.Timestamp = win.Timestamp
				}
				lc.Elements = append(lc.Elements, Element{Path: win.Path, Value: win.Value})
			}
			i = j
		}
		if len(lc.Elements) > 0 {
			out.Columns = append(out.Columns, lc)
		}
	}
	return out, rowLive || len(out.Columns) > 0
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
func Merge(tables []*Table, opts MergeOptions, fn func(LivePartition) error) error {
	return MergeRange(tables, TokenRange{}, opts, fn)
}

// MergeRange is Merge restricted to the partitions whose token is in r.
// Each table is read from the first partition of the range, found in its
// partition index, in pieces of bounded size.
func MergeRange(tables []*Table, r TokenRange, opts MergeOptions, fn func(LivePartition) error) error {
	p, clustering, err := mergeSetup(tables)
	if err != nil || len(tables) == 0 {
		return err
	}
	type source struct {
		next func() (Partition, error, bool)
		stop func()
		cur  Partition
		key  PartitionKey
		ok   bool
	}
	srcs := make([]*source, len(tables))
	advance := func(s *source) error {
		part, err, ok := s.next()
		if err != nil {
			return err
		}
		s.cur, s.ok = part, ok
		if ok {
			s.key = p.Decorate(part.Key)
		}
		return nil
	}
	for i, t := range tables {
		next, stop := iter.Pull2(tablePartitions(t, p, r))
		srcs[i] = &source{next: next, stop: stop}
		defer stop()
		if err := advance(srcs[i]); err != nil {
			return err
		}
	}
	var parts []Partition
	for {
		var least *PartitionKey
		for _, s := range srcs {
			if s.ok && (least == nil || s.key.Compare(*least) < 0) {
				least = &s.key
			}
		}
		if least == nil {
			return nil
		}
		at := *least
		parts = parts[:0]
		for _, s := range srcs {
			if !s.ok || s.key.Compare(at) != 0 {
				continue
			}
			parts = append(parts, s.cur)
			if err := advance(s); err != nil {
				return err
			}
			if s.ok && s.key.Compare(at) <= 0 {
				return fmt.Errorf("%w: partition %x follows %x out of %s order", ErrCorrupt, s.key.Key, at.Key, p)
			}
		}
		if lp, ok := MergePartition(clustering, opts, parts); ok {
			if err := fn(lp); err != nil {
				return err
			}
		}
	}
}

// scanPiece is how many uncompressed bytes of a table a merge decodes at a
// time (a larger partition is read whole).
const scanPiece = 8 << 20

// tablePartitions yields the partitions of t in r, then an error if any.
func tablePartitions(t *Table, p Partitioner, r TokenRange) iter.Seq2[Partition, error] {
	return func(yield func(Partition, error) bool) {
		idx, err := t.Index()
		if err != nil {
			yield(Partition{}, err)
			return
		}
		from, to := indexSpan(idx, p, r)
		if from >= to {
			return
		}
		stop := errors.New("stop")
		for from < to {
			// Cut at the partition start nearest past a piece's worth.
			end := to
			if k := sort.Search(to, func(k int) bool { return idx[k].Offset >= idx[from].Offset+scanPiece }); k < to {
				end = k // > from: offsets increase
			}
			split := Split{From: idx[from].Offset, To: t.DataLength()}
			if end < len(idx) {
				split.To = idx[end].Offset
			}
			k := from
			err := t.Scan(split, func(part Partition) error {
				if k >= end {
					return fmt.Errorf("%w: %s: no entry for the partition at Data.db position %d", ErrCorrupt, t.indexFile(), part.Offset)
				}
				if err := t.checkEntry(k, idx[k], part); err != nil {
					return err
				}
				k++
				if !r.Contains(p.Token(part.Key)) {
					return nil
				}
				if !yield(part, nil) {
					return stop
				}
				return nil
			})
			if err == stop {
				return
			}
			if err == nil && k != end {
				err = fmt.Errorf("%w: %s: entry %d gives Data.db position %d inside the partition before it", ErrCorrupt, t.indexFile(), k, idx[k].Offset)
			}
			if err != nil {
				yield(Partition{}, err)
				return
			}
			from = end
		}
	}
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
