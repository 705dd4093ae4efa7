package sstable

import (
	"errors"
	"testing"
)

// Text elements of a multi-cell collection are decoded as substrings of
// one joined string: each must still be its own element's bytes, in
// order, and checked as Decode checks them.
func TestDecodeComplexText(t *testing.T) {
	el := func(path, value string) Element { return Element{Path: []byte(path), Value: []byte(value)} }
	tests := []struct {
		typ   string
		elems []Element
		want  string // the JSON, or "" for ErrCorrupt
	}{
		{"MapType(UTF8Type,UTF8Type)", []Element{el("a", "xyz"), el("bc", ""), el("d", "é")}, `{"a": "xyz", "bc": "", "d": "é"}`},
		{"MapType(AsciiType,Int32Type)", []Element{el("k1", "\x00\x00\x00\x07"), el("k2", "\x00\x00\x00\x08")}, `{"k1": 7, "k2": 8}`},
		{"MapType(Int32Type,UTF8Type)", []Element{el("\x00\x00\x00\x01", "v1"), el("\x00\x00\x00\x02", "v2")}, `{"1": "v1", "2": "v2"}`},
		{"SetType(UTF8Type)", []Element{el("p", ""), el("q", "")}, `["p", "q"]`},
		{"ListType(AsciiType)", []Element{el("\x01", "one"), el("\x02", "two")}, `["one", "two"]`},
		{"MapType(UTF8Type,UTF8Type)", []Element{el("a", "ok"), el("b", "\xff")}, ""},
		{"MapType(UTF8Type,UTF8Type)", []Element{el("\xc3", "x")}, ""},
		{"SetType(AsciiType)", []Element{el("abc", ""), el("é", "")}, ""},
		{"ListType(AsciiType)", []Element{el("\x01", "\x80")}, ""},
	}
	for _, tt := range tests {
		ty, err := ParseType(valLong(tt.typ))
		if err != nil {
			t.Fatal(err)
		}
		v, err := ty.DecodeComplex(tt.elems)
		switch {
		case tt.want == "" && !errors.Is(err, ErrCorrupt):
			t.Errorf("%s %q: %v, %v; want ErrCorrupt", tt.typ, tt.elems, v, err)
		case tt.want != "" && (err != nil || string(JSON(v)) != tt.want):
			t.Errorf("%s %q: %s, %v; want %s", tt.typ, tt.elems, JSON(v), err, tt.want)
		}
	}
}
