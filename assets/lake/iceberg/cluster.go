package iceberg

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
)

// A partitioner tells the partition of a row of a partitioned table, as a
// string: rows of one partition have one key, rows of two partitions two.
type partitioner struct {
	cols       []int // each partition field's source column, in the row
	names      []string
	types      []ice.Type
	transforms []ice.Transform
}

// newPartitioner is the partitioner of spec over the columns of sc, or nil
// when spec is unpartitioned.
func newPartitioner(spec ice.PartitionSpec, sc *ice.Schema) (*partitioner, error) {
	if spec.IsUnpartitioned() {
		return nil, nil
	}
	p := &partitioner{}
	fields := sc.Fields()
	for _, f := range spec.Fields() {
		i := -1
		for j, c := range fields {
			if c.ID == f.SourceID() {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("iceberg: partition field %s: the table has no column with id %d", f.Name, f.SourceID())
		}
		p.cols, p.names = append(p.cols, i), append(p.names, fields[i].Name)
		p.types, p.transforms = append(p.types, fields[i].Type), append(p.transforms, f.Transform)
	}
	return p, nil
}

// key is the partition of a row, vals in the table's column order: each
// field's transformed value, length-prefixed, or "-" for null.
func (p *partitioner) key(vals []any) (string, error) {
	var b strings.Builder
	for i, c := range p.cols {
		var out ice.Optional[ice.Literal]
		if vals[c] != nil {
			lit, err := literal(p.types[i], vals[c])
			if err != nil {
				return "", fmt.Errorf("column %s, partitioned by %s: %w", p.names[i], p.transforms[i], err)
			}
			out = p.transforms[i].Apply(ice.Optional[ice.Literal]{Valid: true, Val: lit})
		}
		if !out.Valid {
			b.WriteString("-")
			continue
		}
		s := out.Val.String()
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteString(":")
		b.WriteString(s)
	}
	return b.String(), nil
}

// spillRows is how many rows the builders of a partitioned write hold, all
// partitions together, before they are written to the spill file.
const spillRows = 64 << 10

// A spill groups the batches of a partitioned write by partition: each
// partition's rows are built apart and written, in batches, to an
// unlinked temporary Arrow IPC file (LZ4, the quickest to write and read
// back of its codecs); then every partition's batches are read back, one
// partition after another. Memory holds spillRows rows and one batch read
// back, whatever the rows' and partitions' number; the disk holds the
// rows, compressed.
type spill struct {
	schema   *arrow.Schema
	file     *os.File
	w        *ipc.FileWriter
	builders map[string]*array.RecordBuilder
	keys     []string         // in the order first seen
	batches  map[string][]int // the spill's batches of each partition
	n        int              // batches written
	pending  int              // rows in the builders
}

func newSpill(schema *arrow.Schema) (*spill, error) {
	f, err := os.CreateTemp("", "reprocess-iceberg-*.arrow")
	if err != nil {
		return nil, fmt.Errorf("iceberg: a spill file to group rows by partition: %w", err)
	}
	os.Remove(f.Name()) // gone with the process, however it ends
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(schema), ipc.WithLZ4())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &spill{schema: schema, file: f, w: w, builders: map[string]*array.RecordBuilder{}, batches: map[string][]int{}}, nil
}

// builder is the builder of partition key's rows; the caller appends one
// row to it, then calls added.
func (s *spill) builder(key string) *array.RecordBuilder {
	b := s.builders[key]
	if b == nil {
		b = array.NewRecordBuilder(memory.DefaultAllocator, s.schema)
		s.builders[key] = b
		s.keys = append(s.keys, key)
	}
	return b
}

// added writes key's builder out when it holds a batch, and every builder
// when they hold spillRows rows together.
func (s *spill) added(key string) error {
	s.pending++
	if b := s.builders[key]; b.Field(0).Len() >= batchRows {
		if err := s.write(key, b); err != nil {
			return err
		}
	}
	if s.pending < spillRows {
		return nil
	}
	for _, k := range s.keys {
		if err := s.write(k, s.builders[k]); err != nil {
			return err
		}
	}
	return nil
}

// write writes b's rows, if any, as a batch of partition key.
func (s *spill) write(key string, b *array.RecordBuilder) error {
	n := b.Field(0).Len()
	if n == 0 {
		return nil
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := s.w.Write(rec); err != nil {
		return fmt.Errorf("iceberg: write the spill file: %w", err)
	}
	s.batches[key] = append(s.batches[key], s.n)
	s.n++
	s.pending -= n
	return nil
}

// drain writes what the builders hold and sends every batch to out, one
// partition's after another's.
func (s *spill) drain(ctx context.Context, out chan<- arrow.RecordBatch) error {
	for _, k := range s.keys {
		if err := s.write(k, s.builders[k]); err != nil {
			return err
		}
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("iceberg: write the spill file: %w", err)
	}
	r, err := ipc.NewFileReader(s.file, ipc.WithSchema(s.schema))
	if err != nil {
		return fmt.Errorf("iceberg: read the spill file: %w", err)
	}
	defer r.Close()
	for _, k := range s.keys {
		for _, i := range s.batches[k] {
			rec, err := r.RecordBatchAt(i)
			if err != nil {
				return fmt.Errorf("iceberg: read the spill file: %w", err)
			}
			select {
			case out <- rec:
			case <-ctx.Done():
				rec.Release()
				return ctx.Err()
			}
		}
	}
	return nil
}

// close releases the builders and the file.
func (s *spill) close() {
	for _, b := range s.builders {
		b.Release()
	}
	s.file.Close()
}
