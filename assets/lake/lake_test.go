package lake

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/sstable"
)

func TestAssetWriterFormats(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var want []Row
	for i := range 2500 { // more than one batch
		a := assets.Asset{ID: assets.ID(uuid.New()), Type: "image", CreatedAt: at.Add(time.Duration(i) * time.Minute), Version: int64(i),
			Metadata: map[string]string{"title": "t"}, Facts: map[string]string{"n": "1"}}
		want = append(want, AssetRow(a, at))
	}
	for _, tc := range []struct {
		format Format
		read   func([]byte) ([]Row, error)
	}{
		{Parquet, func(b []byte) ([]Row, error) { return parquet.Read[Row](bytes.NewReader(b), int64(len(b))) }},
		{JSONL, func(b []byte) ([]Row, error) {
			var rows []Row
			for line := range strings.Lines(string(b)) {
				var r Row
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					return nil, err
				}
				rows = append(rows, r)
			}
			return rows, nil
		}},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewAssetWriter(&buf, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range want {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := tc.read(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back %d rows, want the %d written", len(got), len(want))
			}
		})
	}
	if _, err := NewAssetWriter(new(bytes.Buffer), "csv"); err == nil || !strings.Contains(err.Error(), "want parquet or jsonl") {
		t.Errorf("format csv: error %v", err)
	}
}

func TestParquetValue(t *testing.T) {
	for _, tc := range []struct {
		v    any
		kind sstable.ValueKind
		want parquet.Value
		err  bool
	}{
		{nil, sstable.KindInt, parquet.NullValue(), false},
		{"x", sstable.KindText, parquet.ByteArrayValue([]byte("x")), false},
		{"", sstable.KindText, parquet.ByteArrayValue([]byte{}), false},
		{int64(3), sstable.KindInt, parquet.Int64Value(3), false},
		{int64(0), sstable.KindInt, parquet.Int64Value(0), false},
		{float32(0.5), sstable.KindFloat, parquet.DoubleValue(0.5), false},
		{true, sstable.KindBool, parquet.BooleanValue(true), false},
		{false, sstable.KindBool, parquet.BooleanValue(false), false},
		{"x", sstable.KindJSON, parquet.ByteArrayValue([]byte(`"x"`)), false},
		{sstable.Timestamp(0), sstable.KindJSON, parquet.ByteArrayValue([]byte(`"1970-01-01 00:00:00.000Z"`)), false},
		{[]any{"a", "b"}, sstable.KindJSON, parquet.ByteArrayValue([]byte(`["a", "b"]`)), false},
		{sstable.Timestamp(0), sstable.KindInt, parquet.Value{}, true},
		{float32(1), sstable.KindInt, parquet.Value{}, true},
	} {
		got, err := parquetValue(tc.v, tc.kind)
		if (err != nil) != tc.err || !parquet.Equal(got, tc.want) || got.IsNull() != tc.want.IsNull() {
			t.Errorf("%v (%T) as kind %d: %v, %v; want %v", tc.v, tc.v, tc.kind, got, err, tc.want)
		}
	}
}

// zeroRows are table rows whose values are the zero values of their
// kinds, then nulls, then other values.
var (
	zeroCols  = []string{"k", "t", "i", "d", "b", "j"}
	zeroKinds = []sstable.ValueKind{sstable.KindInt, sstable.KindText, sstable.KindInt, sstable.KindFloat, sstable.KindBool, sstable.KindJSON}
	zeroRows  = [][]any{
		{int64(0), "", int64(0), 0.0, false, []any{}},
		{int64(1), nil, nil, nil, nil, nil},
		{int64(2), "x", int64(-5), 1.5, true, []any{"a"}},
	}
	// zeroWant is each row as pyarrow's to_pylist gives it (JSON text stays text).
	zeroWant = `[{"b":false,"d":0.0,"i":0,"j":"[]","k":0,"t":""},` +
		`{"b":null,"d":null,"i":null,"j":null,"k":1,"t":null},` +
		`{"b":true,"d":1.5,"i":-5,"j":"[\"a\"]","k":2,"t":"x"}]`
)

// TestTableParquetKeepsZeroValues writes 0, "", false and an empty list,
// then nulls, then other values, and checks the file below the row API:
// per column the definition levels (1 for a value, 0 for a null), the
// null counts of the statistics, and the zstd codec; then reads it with
// pyarrow when there is a Python with it.
func TestTableParquetKeepsZeroValues(t *testing.T) {
	var buf bytes.Buffer
	w, err := newTableWriter(&buf, Parquet, zeroCols, zeroKinds)
	if err != nil {
		t.Fatal(err)
	}
	for _, vals := range zeroRows {
		if err := w.Write(sstable.CQLRow{Columns: zeroCols, Values: vals}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for i, chunk := range f.RowGroups()[0].ColumnChunks() {
		name := f.Schema().Columns()[i][0]
		col := slices.Index(zeroCols, name)
		var levels []int
		pages := chunk.Pages()
		for {
			p, err := pages.ReadPage()
			if err != nil {
				break
			}
			vals := make([]parquet.Value, p.NumValues())
			n, _ := p.Values().ReadValues(vals)
			for _, v := range vals[:n] {
				levels = append(levels, v.DefinitionLevel())
			}
		}
		pages.Close()
		var want []int
		nulls := int64(0)
		for _, r := range zeroRows {
			want = append(want, b2i(r[col] != nil))
			nulls += int64(1 - b2i(r[col] != nil))
		}
		if !slices.Equal(levels, want) {
			t.Errorf("column %s: definition levels %v, want %v", name, levels, want)
		}
		meta := f.Metadata().RowGroups[0].Columns[i].MetaData
		if meta.Statistics.NullCount != nulls || meta.Codec != format.Zstd {
			t.Errorf("column %s: %d nulls, codec %v; want %d, zstd", name, meta.Statistics.NullCount, meta.Codec, nulls)
		}
	}
	t.Run("pyarrow", func(t *testing.T) { readWithPyarrow(t, buf.Bytes(), zeroWant) })
}

// readWithPyarrow reads a Parquet file with pyarrow, from the Python of
// REPROCESS_TEST_PYTHON or else python3, and compares its rows (as JSON)
// with want (need.Python says when it skips).
func readWithPyarrow(t *testing.T, file []byte, want string) {
	py := need.Python(t, "pyarrow")
	path := filepath.Join(t.TempDir(), "rows.parquet")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps(t.to_pylist(), sort_keys=True, separators=(",", ":")))`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("pyarrow: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("pyarrow reads\n %s\nwant\n %s", got, want)
	}
}

// TestParquetRowGroupsAreBounded: the Parquet writer holds a row group in
// memory until it is complete, so a long export must be cut into row
// groups of at most rowGroupRows rows, by both writers.
func TestParquetRowGroupsAreBounded(t *testing.T) {
	n := 2*rowGroupRows + 5
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var tables, assetRows bytes.Buffer
	tw, err := newTableWriter(&tables, Parquet, []string{"k"}, []sstable.ValueKind{sstable.KindInt})
	if err != nil {
		t.Fatal(err)
	}
	aw, err := NewAssetWriter(&assetRows, Parquet)
	if err != nil {
		t.Fatal(err)
	}
	row := AssetRow(assets.Asset{ID: assets.ID(uuid.New()), Type: "image", CreatedAt: at}, at)
	for i := range n {
		if err := tw.Write(sstable.CQLRow{Columns: []string{"k"}, Values: []any{int64(i)}}); err != nil {
			t.Fatal(err)
		}
		if err := aw.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), aw.Close()); err != nil {
		t.Fatal(err)
	}
	for name, buf := range map[string]*bytes.Buffer{"table": &tables, "assets": &assetRows} {
		f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(name, err)
		}
		if f.NumRows() != int64(n) || len(f.RowGroups()) != 3 {
			t.Errorf("%s writer: %d rows in %d row groups, want %d in 3", name, f.NumRows(), len(f.RowGroups()), n)
		}
	}
}
