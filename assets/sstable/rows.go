package sstable

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// CQLRow is one CQL row of a snapshot, as SELECT * returns it: every column
// of the table in schema order, nil for a null.
type CQLRow struct {
	Columns []string // shared by every row of a snapshot: do not modify
	Values  []any
}

// Get returns the value of the named column, nil when null or absent.
func (r CQLRow) Get(name string) any {
	for i, c := range r.Columns {
		if c == name {
			return r.Values[i]
		}
	}
	return nil
}

// MarshalJSON writes the row as SELECT JSON * does: every column in
// schema order, values in Cassandra's text forms, case-sensitive names
// quoted.
func (r CQLRow) MarshalJSON() ([]byte, error) {
	return r.appendJSON(make([]byte, 0, 64*len(r.Columns)), jsonSpaced, jsonSpaced.keys(r.Columns)), nil
}

// appendJSON appends the row as a JSON object, keys its columns' keys
// (jsonStyle.keys).
func (r CQLRow) appendJSON(b []byte, st jsonStyle, keys [][]byte) []byte {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, st.comma...)
		}
		b = st.value(append(b, k...), r.Values[i])
	}
	return append(b, '}')
}

// JSONLineWriter writes rows as JSON lines, byte for byte what
// encoding/json's Encoder writes for a CQLRow (MarshalJSON compacted, with
// HTML characters escaped), buffered.
type JSONLineWriter struct {
	w    *bufio.Writer
	line []byte
	cols []string // the columns of the rows written last, and their keys
	keys [][]byte
}

// NewJSONLineWriter returns a JSONLineWriter to w; Flush writes what is
// buffered.
func NewJSONLineWriter(w io.Writer) *JSONLineWriter {
	return &JSONLineWriter{w: bufio.NewWriterSize(w, 1<<16)}
}

// Write writes one row and a newline.
func (j *JSONLineWriter) Write(r CQLRow) error {
	if !slices.Equal(r.Columns, j.cols) {
		j.cols, j.keys = slices.Clone(r.Columns), jsonCompact.keys(r.Columns)
	}
	j.line = append(r.appendJSON(j.line[:0], jsonCompact, j.keys), '\n')
	_, err := j.w.Write(j.line)
	return err
}

// Flush writes the buffered lines to the underlying writer.
func (j *JSONLineWriter) Flush() error { return j.w.Flush() }

// ReadOptions tune reading a snapshot.
type ReadOptions struct {
	// AsOf is the moment TTLs are judged against; zero means the
	// snapshot's created_at, or now when the snapshot has no manifest.
	AsOf time.Time
	// Parallel is how many token ranges are read at once; 0 means as
	// Plan chooses from the snapshot's size, the cores and memory.
	Parallel int
	// Progress, if set, is called by Rows as token ranges finish, and
	// by ReadPartitions as each partition is reached.
	Progress func(done, total int)
}

// ParseReadOptions reads the options as the command line gives them: AsOf
// as an RFC 3339 time (empty: zero), Parallel 0 or more.
func ParseReadOptions(asOf string, parallel int) (ReadOptions, error) {
	o := ReadOptions{Parallel: parallel}
	if asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, asOf)
		if err != nil {
			return o, fmt.Errorf("--as-of: want an RFC 3339 time like 2026-11-20T00:00:00Z: %w", err)
		}
		o.AsOf = t
	}
	if parallel < 0 {
		return o, fmt.Errorf("--parallel: want 0 or more, got %d", parallel)
	}
	return o, nil
}

func (s *Snapshot) mergeOptions(o ReadOptions) MergeOptions {
	asOf := o.AsOf
	if asOf.IsZero() {
		asOf = s.CreatedAt
	}
	if asOf.IsZero() {
		asOf = time.Now()
	}
	m := MergeOptions{Now: asOf.Unix(), transient: true} // rows decode one by one
	if s.Schema != nil {
		m.Dropped = s.Schema.Dropped
	}
	return m
}

// Ranges splits the snapshot into n token ranges of similar size whose
// rows, read one range at a time, are exactly the snapshot's rows.
func (s *Snapshot) Ranges(n int) ([]TokenRange, error) { return MergeSplits(s.Tables, n) }

// ReadRange calls fn with every live row of one token range, in token
// and clustering order.
func (s *Snapshot) ReadRange(r TokenRange, o ReadOptions, fn func(CQLRow) error) error {
	l := s.layout()
	return MergeRange(s.Tables, r, s.mergeOptions(o), func(p *PartitionRows) error {
		return l.rows(p, fn)
	})
}

// Rows calls fn with every live row of the snapshot in token order,
// reading several token ranges at once. fn is called from one goroutine.
func (s *Snapshot) Rows(ctx context.Context, o ReadOptions, fn func(CQLRow) error) error {
	p := Plan(s, Budget{})
	par := o.Parallel
	if par <= 0 {
		par = p.Parallel
	}
	// More ranges than readers, so that a slow one does not hold up the rest.
	ranges, err := s.Ranges(max(p.Splits, 4*par))
	if err != nil {
		return err
	}
	// Rows go from a range's reader to fn in batches, 256 rows at most
	// on the way per range.
	outs := make([]chan []CQLRow, len(ranges))
	for i := range outs {
		outs[i] = make(chan []CQLRow, 256/rowBatch)
	}
	g, ctx := errgroup.WithContext(ctx)
	var done atomic.Int64
	g.Go(func() error {
		w, wctx := errgroup.WithContext(ctx)
		w.SetLimit(par)
		for i, r := range ranges {
			w.Go(func() error {
				defer close(outs[i])
				err := s.sendRange(wctx, r, o, outs[i])
				if err == nil && o.Progress != nil {
					o.Progress(int(done.Add(1)), len(ranges))
				}
				return err
			})
		}
		return w.Wait()
	})
	g.Go(func() error {
		for _, out := range outs {
			if err := receive(ctx, out, fn); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

// sendRange reads one token range into out in batches of rowBatch rows.
func (s *Snapshot) sendRange(ctx context.Context, r TokenRange, o ReadOptions, out chan<- []CQLRow) error {
	batch := make([]CQLRow, 0, rowBatch)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]CQLRow, 0, rowBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := s.ReadRange(r, o, func(row CQLRow) error {
		if batch = append(batch, row); len(batch) < rowBatch {
			return nil
		}
		return send()
	})
	if err == nil && len(batch) > 0 {
		err = send()
	}
	return err
}

// receive calls fn with every row of the batches from in until it is
// closed.
func receive(ctx context.Context, in <-chan []CQLRow, fn func(CQLRow) error) error {
	for {
		select {
		case rows, ok := <-in:
			if !ok {
				return nil
			}
			for _, row := range rows {
				if err := fn(row); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// rowBatch is how many rows a range's reader hands on at a time.
const rowBatch = 64

// layout maps merged partitions to rows: which column each value goes to.
type layout struct {
	columns    []string
	keyTypes   []*Type
	clustering []*Type
	index      map[string]int // regular and static column → position
	hasRows    bool           // the table has clustering columns
	slab       []any          // the values of the rows to come
}

// values returns room for one row's values, carved from a slab of
// rowBatch rows.
func (l *layout) values() []any {
	n := len(l.columns)
	if len(l.slab) < n {
		l.slab = make([]any, rowBatch*n)
	}
	v := l.slab[:n:n]
	l.slab = l.slab[n:]
	return v
}

func (s *Snapshot) layout() *layout {
	h := s.Tables[0].Header
	l := &layout{clustering: h.Clustering, index: map[string]int{}, hasRows: len(h.Clustering) > 0}
	l.keyTypes = []*Type{h.PartitionKey}
	if h.PartitionKey.Name == "CompositeType" {
		l.keyTypes = h.PartitionKey.Params
	}
	var keyNames, ckNames []string
	if s.Schema != nil {
		keyNames, ckNames = s.Schema.PartitionKey, s.Schema.Clustering
	}
	if len(keyNames) != len(l.keyTypes) || len(ckNames) != len(l.clustering) {
		keyNames, ckNames = defaultNames("key", len(l.keyTypes)), defaultNames("clustering", len(l.clustering))
	}
	l.columns = append(append(l.columns, keyNames...), ckNames...)
	if s.Schema != nil {
		for _, c := range s.Schema.Columns {
			if slices.Contains(keyNames, c.Name) || slices.Contains(ckNames, c.Name) {
				continue
			}
			l.index[c.Name] = len(l.columns)
			l.columns = append(l.columns, c.Name)
		}
		return l
	}
	for _, t := range s.Tables {
		for _, c := range append(append([]Column(nil), t.Header.StaticColumns...), t.Header.RegularColumns...) {
			if _, ok := l.index[c.Name]; !ok {
				l.index[c.Name] = len(l.columns)
				l.columns = append(l.columns, c.Name)
			}
		}
	}
	return l
}

func defaultNames(prefix string, n int) []string {
	if n == 1 && prefix == "key" {
		return []string{"key"}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// rows emits the CQL rows of one live partition as they are merged.
func (l *layout) rows(p *PartitionRows, fn func(CQLRow) error) error {
	base, err := l.base(p)
	if err != nil {
		return err
	}
	emitted := false
	for {
		r, ok, err := p.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		emitted = true
		vals := l.values()
		copy(vals, base)
		for i, c := range r.Clustering {
			if i >= len(l.clustering) {
				break
			}
			v, err := l.clustering[i].Decode(c)
			if err != nil {
				return fmt.Errorf("partition key %x: clustering %d: %w", p.Key, i, err)
			}
			vals[len(l.keyTypes)+i] = v
		}
		if err := l.fill(vals, &r); err != nil {
			return fmt.Errorf("partition key %x: %w", p.Key, err)
		}
		if err := fn(CQLRow{Columns: l.columns, Values: vals}); err != nil {
			return err
		}
	}
	if emitted || p.Static == nil || !l.hasRows {
		return nil
	}
	return fn(CQLRow{Columns: l.columns, Values: base})
}

// base is the values every row of a partition shares: its key's and its
// static row's.
func (l *layout) base(p *PartitionRows) ([]any, error) {
	base := make([]any, len(l.columns))
	comps := [][]byte{p.Key}
	if len(l.keyTypes) > 1 {
		var err error
		if comps, err = (&Type{Name: "CompositeType", Params: l.keyTypes}).Components(p.Key); err != nil {
			return nil, fmt.Errorf("partition key %x: %w", p.Key, err)
		}
	}
	if len(comps) != len(l.keyTypes) {
		return nil, fmt.Errorf("partition key %x: %d components, want %d", p.Key, len(comps), len(l.keyTypes))
	}
	for i, c := range comps {
		v, err := l.keyTypes[i].Decode(c)
		if err != nil {
			return nil, fmt.Errorf("partition key %x: %w", p.Key, err)
		}
		base[i] = v
	}
	if p.Static != nil {
		if err := l.fill(base, p.Static); err != nil {
			return nil, fmt.Errorf("partition key %x: static row: %w", p.Key, err)
		}
	}
	return base, nil
}

func (l *layout) fill(vals []any, r *LiveRow) error {
	for _, c := range r.Columns {
		i, ok := l.index[c.Column.Name]
		if !ok {
			continue // dropped, or not in the schema
		}
		v, err := c.decode()
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Column.Name, err)
		}
		vals[i] = v
	}
	return nil
}

// decode turns a live column into its CQL value.
func (c LiveColumn) decode() (any, error) {
	t := c.Column.Type
	switch {
	case t.Counter():
		return CounterValue(c.Value)
	case t.Complex():
		return t.DecodeComplex(c.Elements)
	}
	return t.Decode(c.Value)
}

// ValueKind is how an export stores a column: the plain kinds as
// themselves, everything else as its SELECT JSON text.
type ValueKind int

// Value kinds.
const (
	KindJSON ValueKind = iota
	KindText
	KindInt
	KindFloat
	KindBool
)

// ColumnKinds returns the columns of the snapshot's rows and their kinds.
func (s *Snapshot) ColumnKinds() ([]string, []ValueKind) {
	cols, types := s.ColumnTypes()
	kinds := make([]ValueKind, len(types))
	for i, t := range types {
		kinds[i] = kindOf(t)
	}
	return cols, kinds
}

// ColumnTypes returns the columns of the snapshot's rows and their types as
// the SSTables' headers name them; a type is nil when no SSTable holds the
// column.
func (s *Snapshot) ColumnTypes() ([]string, []*Type) {
	l := s.layout()
	types := make([]*Type, len(l.columns))
	copy(types, l.keyTypes)
	copy(types[len(l.keyTypes):], l.clustering)
	for _, t := range s.Tables {
		for _, c := range append(append([]Column(nil), t.Header.StaticColumns...), t.Header.RegularColumns...) {
			if i, ok := l.index[c.Name]; ok && types[i] == nil {
				types[i] = c.Type
			}
		}
	}
	return l.columns, types
}

func kindOf(t *Type) ValueKind {
	if t == nil {
		return KindJSON
	}
	switch t.Name {
	case "ReversedType":
		if len(t.Params) == 1 {
			return kindOf(t.Params[0])
		}
	case "UTF8Type", "AsciiType":
		return KindText
	case "Int32Type", "LongType", "ShortType", "ByteType", "CounterColumnType":
		return KindInt
	case "FloatType", "DoubleType":
		return KindFloat
	case "BooleanType":
		return KindBool
	}
	return KindJSON
}
