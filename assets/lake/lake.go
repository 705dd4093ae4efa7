// Package lake writes exports for the data lake, as Parquet files or JSON
// lines, in two shapes. An asset is a Row whichever way it was read: the
// export transform (from the live store) and `reprocess sstable export` of
// a snapshot of the assets table write the same columns, of the same
// types. The rows of a snapshot of any other table keep the table's
// columns: text, integers, floating point and booleans as themselves,
// every other type as its SELECT JSON text.
package lake

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/sstable"
)

// Format is a file format of the lake.
type Format string

// Formats.
const (
	Parquet Format = "parquet"
	JSONL   Format = "jsonl" // one JSON object per line
)

// Row is one asset in the lake.
type Row struct {
	AssetID    string            `json:"asset_id" parquet:"asset_id"`
	Type       string            `json:"asset_type" parquet:"asset_type"`
	CreatedAt  time.Time         `json:"created_at" parquet:"created_at,timestamp(millisecond)"`
	Version    int64             `json:"version" parquet:"version"`
	Metadata   map[string]string `json:"metadata" parquet:"metadata"`
	Facts      map[string]string `json:"facts" parquet:"facts"`
	ExportedAt time.Time         `json:"exported_at" parquet:"exported_at,timestamp(millisecond)"`
}

// AssetRow returns the row of a, exported at the given time.
func AssetRow(a assets.Asset, exportedAt time.Time) Row {
	return Row{AssetID: a.ID.String(), Type: a.Type, CreatedAt: a.CreatedAt, Version: a.Version,
		Metadata: a.Metadata, Facts: a.Facts, ExportedAt: exportedAt}
}

// Writer writes rows to one file. Close writes what is buffered and ends
// the file; it does not close the underlying io.Writer.
type Writer[T any] interface {
	Write(T) error
	Close() error
}

// NewAssetWriter returns a writer of asset rows to w in format f.
func NewAssetWriter(w io.Writer, f Format) (Writer[Row], error) {
	return newWriter(w, f, func(r Row) (Row, error) { return r, nil })
}

// NewSnapshotWriter returns a writer of the rows of s to w in format f: as
// assets exported at exportedAt when s holds the assets table
// (backup.HoldsAssets), else as the table's own columns.
func NewSnapshotWriter(w io.Writer, f Format, s *sstable.Snapshot, exportedAt time.Time) (Writer[sstable.CQLRow], error) {
	if backup.HoldsAssets(s) {
		aw, err := NewAssetWriter(w, f)
		if err != nil {
			return nil, err
		}
		return assetRows{aw, exportedAt}, nil
	}
	cols, kinds := s.ColumnKinds()
	return newTableWriter(w, f, cols, kinds)
}

// newTableWriter writes rows of the columns cols, of kinds kinds: every
// column optional, null only for a null value (a zero is a value).
func newTableWriter(w io.Writer, f Format, cols []string, kinds []sstable.ValueKind) (Writer[sstable.CQLRow], error) {
	switch f {
	case JSONL:
		return jsonLines{sstable.NewJSONLineWriter(w)}, nil
	case Parquet:
	default:
		return nil, fmt.Errorf("lake: format %q: want parquet or jsonl", f)
	}
	group := parquet.Group{}
	for i, c := range cols {
		var n parquet.Node
		switch kinds[i] {
		case sstable.KindText:
			n = parquet.String()
		case sstable.KindInt:
			n = parquet.Int(64)
		case sstable.KindFloat:
			n = parquet.Leaf(parquet.DoubleType)
		case sstable.KindBool:
			n = parquet.Leaf(parquet.BooleanType)
		default:
			n = parquet.JSON()
		}
		group[c] = parquet.Optional(n)
	}
	schema := parquet.NewSchema("row", group)
	t := &tableWriter{pw: parquet.NewWriter(w, schema, parquet.Compression(zstdFastest), parquet.MaxRowsPerRowGroup(rowGroupRows)), kinds: kinds,
		leaf: make([]int, len(cols)), values: make([]parquet.Value, 0, tableBatch*len(cols)), text: make([]byte, 0, 1<<20)}
	for i, c := range cols {
		l, _ := schema.Lookup(c)
		t.leaf[i] = l.ColumnIndex
	}
	return t, nil
}

// jsonLines writes rows as JSON lines, as encoding/json's Encoder does.
type jsonLines struct{ *sstable.JSONLineWriter }

func (j jsonLines) Close() error { return j.Flush() }

// zstdFastest compresses Parquet pages at zstd's fastest level: on
// snapshot rows it takes half the CPU time of the default level for a
// file 0.6% larger.
var zstdFastest = &zstd.Codec{Level: zstd.SpeedFastest}

// rowGroupRows bounds a Parquet row group: the writer holds a row group's
// pages in memory until it is complete, so without a bound an export's
// memory grows with the whole file.
const rowGroupRows = 128 << 10

// tableBatch is how many rows a tableWriter hands the Parquet writer at a
// time.
const tableBatch = 1024

// rowWriteCloser is a Parquet writer of rows of a schema.
type rowWriteCloser interface {
	parquet.RowWriter
	io.Closer
}

// tableWriter writes rows of a table to Parquet in batches, their values
// and JSON texts held in memory reused for every batch (the Parquet
// writer copies what it is given).
type tableWriter struct {
	pw     rowWriteCloser
	kinds  []sstable.ValueKind
	leaf   []int // column → its leaf index in the schema
	rows   []parquet.Row
	values []parquet.Value // the rows' values, back to back
	text   []byte          // the JSON texts of the batch's values
}

func (t *tableWriter) Write(r sstable.CQLRow) error {
	start := len(t.values)
	t.values = t.values[:start+len(t.leaf)]
	row := parquet.Row(t.values[start : start+len(t.leaf) : start+len(t.leaf)])
	for i, v := range r.Values {
		var pv parquet.Value
		var err error
		if pv, t.text, err = appendParquetValue(t.text, v, t.kinds[i]); err != nil {
			return fmt.Errorf("column %s: %w", r.Columns[i], err)
		}
		row[t.leaf[i]] = pv.Level(0, b2i(!pv.IsNull()), t.leaf[i])
	}
	if t.rows = append(t.rows, row); len(t.rows) == tableBatch {
		return t.flush()
	}
	return nil
}

func (t *tableWriter) flush() error {
	if len(t.rows) == 0 {
		return nil
	}
	_, err := t.pw.WriteRows(t.rows)
	clear(t.rows)
	t.rows, t.values, t.text = t.rows[:0], t.values[:0], t.text[:0]
	return err
}

func (t *tableWriter) Close() error {
	if err := t.flush(); err != nil {
		return err
	}
	return t.pw.Close()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// assetRows writes rows of the assets table as assets.
type assetRows struct {
	Writer[Row]
	exportedAt time.Time
}

func (w assetRows) Write(r sstable.CQLRow) error {
	a, err := backup.AssetFromRow(r)
	if err != nil {
		return err
	}
	return w.Writer.Write(AssetRow(a, w.exportedAt))
}

// parquetValue converts a row value to the column's Parquet kind; values
// of other types are stored as their SELECT JSON text. nil is the null
// value.
func parquetValue(v any, kind sstable.ValueKind) (parquet.Value, error) {
	pv, _, err := appendParquetValue(nil, v, kind)
	return pv, err
}

// appendParquetValue is parquetValue with the bytes of a text or JSON
// value appended to text (returned) for the value to point into.
func appendParquetValue(text []byte, v any, kind sstable.ValueKind) (parquet.Value, []byte, error) {
	if text == nil {
		text = make([]byte, 0, 64) // an empty value is not a nil slice
	}
	switch x := v.(type) {
	case nil:
		return parquet.NullValue(), text, nil
	case string:
		if kind == sstable.KindText {
			start := len(text)
			text = append(text, x...)
			return parquet.ByteArrayValue(text[start:len(text):len(text)]), text, nil
		}
	case int64:
		if kind == sstable.KindInt {
			return parquet.Int64Value(x), text, nil
		}
	case float32:
		if kind == sstable.KindFloat {
			return parquet.DoubleValue(float64(x)), text, nil
		}
	case float64:
		if kind == sstable.KindFloat {
			return parquet.DoubleValue(x), text, nil
		}
	case bool:
		if kind == sstable.KindBool {
			return parquet.BooleanValue(x), text, nil
		}
	}
	if kind != sstable.KindJSON {
		return parquet.Value{}, text, fmt.Errorf("value %v (%T) does not fit the column's kind", v, v)
	}
	start := len(text)
	text = sstable.AppendJSON(text, v)
	return parquet.ByteArrayValue(text[start:len(text):len(text)]), text, nil
}

// writer writes rows of type T: in JSON lines as encoding/json writes
// them, in Parquet (zstd-compressed) converted to P, by P's parquet tags.
type writer[T, P any] struct {
	buf     *bufio.Writer
	enc     *json.Encoder
	pw      *parquet.GenericWriter[P]
	convert func(T) (P, error)
	batch   []P
}

func newWriter[T, P any](w io.Writer, f Format, convert func(T) (P, error)) (Writer[T], error) {
	switch f {
	case JSONL:
		buf := bufio.NewWriterSize(w, 1<<16)
		return &writer[T, P]{buf: buf, enc: json.NewEncoder(buf)}, nil
	case Parquet:
		pw := parquet.NewGenericWriter[P](w, parquet.Compression(zstdFastest), parquet.MaxRowsPerRowGroup(rowGroupRows))
		return &writer[T, P]{pw: pw, convert: convert, batch: make([]P, 0, 1024)}, nil
	}
	return nil, fmt.Errorf("lake: format %q: want parquet or jsonl", f)
}

func (w *writer[T, P]) Write(r T) error {
	if w.enc != nil {
		return w.enc.Encode(r)
	}
	p, err := w.convert(r)
	if err != nil {
		return err
	}
	w.batch = append(w.batch, p)
	if len(w.batch) == cap(w.batch) {
		return w.flush()
	}
	return nil
}

func (w *writer[T, P]) flush() error {
	if len(w.batch) == 0 {
		return nil
	}
	_, err := w.pw.Write(w.batch)
	clear(w.batch)
	w.batch = w.batch[:0]
	return err
}

func (w *writer[T, P]) Close() error {
	if w.enc != nil {
		return w.buf.Flush()
	}
	if err := w.flush(); err != nil {
		return err
	}
	return w.pw.Close()
}

// ExportSnapshot writes the snapshot's live rows, read with o, to the file
// path in format f: first to path.part, fsynced, then renamed, so path
// exists only complete. It returns how many rows it wrote.
func ExportSnapshot(ctx context.Context, s *sstable.Snapshot, o sstable.ReadOptions, path string, f Format) (int64, error) {
	part := path + ".part"
	file, err := os.Create(part)
	if err != nil {
		return 0, err
	}
	defer os.Remove(part)
	defer file.Close()
	w, err := NewSnapshotWriter(file, f, s, time.Now().UTC())
	if err != nil {
		return 0, err
	}
	var rows atomic.Int64
	err = s.Rows(ctx, o, func(r sstable.CQLRow) error { rows.Add(1); return w.Write(r) })
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = file.Sync()
	}
	if err == nil {
		err = os.Rename(part, path)
	}
	return rows.Load(), err
}
