package sstable_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets/sstable"
)

// JSONLineWriter must write what encoding/json's Encoder writes for the
// same rows, byte for byte: compact, with HTML characters and U+2028/9
// escaped in strings, also inside a map key that is not a string.
func TestJSONLineWriterMatchesEncoder(t *testing.T) {
	cols := []string{"k", "Mixed", "v"}
	tests := []struct {
		name string
		vals []any
	}{
		{"plain", []any{"a", int64(1), true}},
		{"nulls and zeros", []any{"", nil, false}},
		{"html", []any{"<a href=\"x\">&amp;</a>", "\u2028 \u2029 \u2027 \u00e2", "tab\tnl\n\x01"}},
		{"typed", []any{sstable.Timestamp(1724229360020), sstable.Date(-719162), sstable.Time(3723004005006)}},
		{"uuid and numbers", []any{uuid.MustParse("64a86540-5f98-11ef-b87d-8a199f01f4a1"), float32(1.5), big.NewInt(-7)}},
		{"collections", []any{
			[]any{"x<y", int64(2), []any{}},
			sstable.Map{{Key: "a&b", Value: "c>d"}, {Key: "e", Value: nil}},
			sstable.Map{{Key: []any{"p<q", int64(1)}, Value: int64(3)}, {Key: int64(4), Value: sstable.Blob{1, 2}}},
		}},
		{"udt", []any{sstable.UDT{{Name: "street", Value: "Main & 1st"}, {Name: "Zip", Value: nil}}, nil, sstable.Inet{127, 0, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The third row's columns are the same slice, renamed in place:
			// keys encoded once for the first rows must not be reused.
			renamed := slices.Clone(cols)
			rows := []sstable.CQLRow{{Columns: renamed, Values: tt.vals}, {Columns: renamed, Values: tt.vals}, {Columns: renamed, Values: tt.vals}}
			var want, got bytes.Buffer
			enc, w := json.NewEncoder(&want), sstable.NewJSONLineWriter(&got)
			for i, r := range rows {
				if i == 2 {
					renamed[0] = "Other<k>"
				}
				if err := enc.Encode(r); err != nil {
					t.Fatal(err)
				}
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("JSONLineWriter wrote\n%s\nencoding/json\n%s", got.String(), want.String())
			}
		})
	}
}
