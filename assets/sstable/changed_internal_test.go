package sstable

import (
	"math/big"
	"testing"
)

// A point range holds its token and, where the partitioner allows,
// nothing before it; a ByteOrdered one at least holds its token.
func TestPointRange(t *testing.T) {
	long := func(v int64) Token { return Token{Partitioner: Murmur3Partitioner, Long: v} }
	bigT := func(v int64) Token { return Token{Partitioner: RandomPartitioner, Big: big.NewInt(v)} }
	bytesT := func(b ...byte) Token { return Token{Partitioner: ByteOrderedPartitioner, Bytes: b} }
	for _, tc := range []struct {
		name    string
		tok     Token
		outside []Token // just before the token: not in the range
		inside  []Token // other tokens the range may hold
	}{
		{"murmur3", long(42), []Token{long(41), long(43)}, nil},
		{"murmur3 min", long(minLong), []Token{long(minLong + 1)}, nil},
		{"murmur3 max", long(1<<63 - 1), []Token{long(1<<63 - 2)}, nil},
		{"random", bigT(1000), []Token{bigT(999), bigT(1001)}, nil},
		{"random empty key", bigT(-1), []Token{bigT(-2), bigT(0)}, nil},
		{"bytes", bytesT(1, 2, 3), []Token{bytesT(1, 2, 2), bytesT(1, 2), bytesT(1, 2, 3, 0)}, []Token{bytesT(1, 2, 2, 9)}},
		{"bytes ending in 0", bytesT(1, 0), []Token{bytesT(1), bytesT(0, 255), bytesT(1, 0, 0)}, nil},
		{"bytes empty", bytesT(), []Token{bytesT(0)}, nil},
	} {
		r := pointRange(tc.tok)
		if !r.Contains(tc.tok) {
			t.Errorf("%s: %s does not hold %s", tc.name, r, tc.tok)
		}
		for _, o := range tc.outside {
			if r.Contains(o) {
				t.Errorf("%s: %s holds %s", tc.name, r, o)
			}
		}
		for _, o := range tc.inside {
			if !r.Contains(o) {
				t.Errorf("%s: %s does not hold %s, which sorts between its bounds", tc.name, r, o)
			}
		}
	}
}
