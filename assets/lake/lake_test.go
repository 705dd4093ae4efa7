package lake

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

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
		want any
		err  bool
	}{
		{nil, sstable.KindInt, nil, false},
		{"x", sstable.KindText, "x", false},
		{int64(3), sstable.KindInt, int64(3), false},
		{float32(0.5), sstable.KindFloat, 0.5, false},
		{true, sstable.KindBool, true, false},
		{"x", sstable.KindJSON, `"x"`, false},
		{sstable.Timestamp(0), sstable.KindJSON, `"1970-01-01 00:00:00.000Z"`, false},
		{[]any{"a", "b"}, sstable.KindJSON, `["a", "b"]`, false},
		{sstable.Timestamp(0), sstable.KindInt, nil, true},
		{float32(1), sstable.KindInt, nil, true},
	} {
		got, err := parquetValue(tc.v, tc.kind)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%v (%T) as kind %d: %v (%T), %v; want %v", tc.v, tc.v, tc.kind, got, got, err, tc.want)
		}
	}
}
