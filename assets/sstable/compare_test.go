package sstable_test

import (
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

const mp = "org.apache.cassandra.db.marshal."

func mustType(t *testing.T, s string) *sstable.Type {
	t.Helper()
	typ, err := sstable.ParseType(s)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

// Every case here was also run through Cassandra 5.0.8's comparators
// (AbstractType.compare), which agree; "-" is the empty value.
func TestTypeCompare(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		a, b string
		want int
	}{
		{"Int32Type", "ffffffff", "00000001", -1},
		{"Int32Type", "7fffffff", "80000000", 1},
		{"Int32Type", "-", "80000000", -1}, // empty first
		{"LongType", "8000000000000000", "0000000000000000", -1},
		{"ShortType", "ff00", "0001", -1},
		{"ByteType", "80", "7f", -1},
		{"TimestampType", "ffffffffffffff00", "0000000000000001", -1}, // signed: before 1970 first
		{"SimpleDateType", "7fffffff", "80000000", -1},                // unsigned days
		{"TimeType", "0000000000000001", "0000000000000002", -1},
		{"IntegerType", "8000", "01", -1}, // -32768 < 1
		{"IntegerType", "00ff", "ff", 1},  // 255 > -1
		{"IntegerType", "0001", "01", 0},  // padding does not count
		{"IntegerType", "0001", "01ff0029", -1},
		{"DecimalType", "0000000101", "000000020a", 0},  // 0.1 = 0.10
		{"DecimalType", "00000000ff", "0000000300", -1}, // -1 < 0.000
		{"DecimalType", "fffffffd80", "fffffffd0180ff", -1},
		{"DecimalType", "7fffffff01", "8000000001", -1}, // 1e-(2^31-1) < 1e(2^31)
		{"FloatType", "80000000", "00000000", -1},       // -0 < +0
		{"FloatType", "7fc00000", "7f800000", 1},        // NaN after +Inf
		{"FloatType", "bf800000", "3f800000", -1},
		{"DoubleType", "bff0000000000000", "3ff0000000000000", -1},
		{"DoubleType", "7ff8000000000001", "0000000000000000", 1},
		{"BooleanType", "00", "02", -1},
		{"BooleanType", "01", "02", 0},
		{"UTF8Type", "61", "6100", -1},
		{"UTF8Type", "ff", "61", 1}, // unsigned bytes
		{"BytesType", "-", "00", -1},
		{"InetAddressType", "0a000001", "c0a80001", -1},
		// uuid: version first (4 < 1? no: 1 < 4), then time for v1, then unsigned lsb.
		{"UUIDType", "00000000000040000000000000000000", "ffffffffffff1fff0000000000000000", 1},
		{"UUIDType", "ffffffff000010000000000000000000", "00000000000110000000000000000000", -1}, // v1: time_low is least significant
		{"UUIDType", "00000000000010008000000000000000", "00000000000010007f00000000000000", 1},  // lsb unsigned
		{"UUIDType", "ff180100004e4000807f0101c7ffff01", "8000005400ff110001000080ff96807f", 1},
		// timeuuid: time, then lsb as signed bytes.
		{"TimeUUIDType", "ffffffff000010000000000000000000", "00000000000110000000000000000000", -1},
		{"TimeUUIDType", "00000000000010008000000000000000", "00000000000010007f00000000000000", -1},
		{"TimeUUIDType", "0000000000011000", "00000000000010000000000000000000", -1}, // not 16 bytes: first
		{"LexicalUUIDType", "7f7f7f00ffa180807fffff800096ff88", "98ff0195000101de0001ff008080f480", 1},
		{"ReversedType(" + mp + "Int32Type)", "00000001", "00000002", 1},
		{"ReversedType(" + mp + "Int32Type)", "-", "00000002", 1}, // empty last when reversed
		{"ReversedType(" + mp + "UTF8Type)", "61", "62", 1},
		// frozen collections: element by element, then size.
		{"FrozenType(" + mp + "ListType(" + mp + "Int32Type))", "00000001" + "00000004ffffffff", "00000001" + "0000000400000001", -1},
		{"FrozenType(" + mp + "ListType(" + mp + "Int32Type))", "00000001" + "0000000400000001", "00000002" + "0000000400000001" + "0000000400000000", -1},
		{"FrozenType(" + mp + "SetType(" + mp + "TimeUUIDType))", "00000000", "00000001" + "00000010" + "00000000000010000000000000000000", -1},
		{"FrozenType(" + mp + "MapType(" + mp + "UTF8Type," + mp + "Int32Type))", "00000001" + "0000000161" + "0000000480000000", "00000001" + "0000000161" + "0000000400000000", -1},
		{"FrozenType(" + mp + "MapType(" + mp + "UTF8Type," + mp + "Int32Type))", "00000001" + "0000000162" + "0000000480000000", "00000001" + "0000000161" + "0000000400000000", 1},
		// tuples: nulls first, missing trailing fields equal nulls.
		{"TupleType(" + mp + "Int32Type," + mp + "UTF8Type)", "ffffffff", "0000000480000000", -1},
		{"TupleType(" + mp + "Int32Type," + mp + "UTF8Type)", "0000000400000001", "0000000400000001ffffffff", 0},
		{"TupleType(" + mp + "Int32Type," + mp + "UTF8Type)", "0000000400000001", "000000040000000100000000", -1},
		{"TupleType(" + mp + "Int32Type," + mp + "UTF8Type)", "000000047fff010000000000", "0000000400008000", 1},
	} {
		typ := mustType(t, mp+tc.typ)
		a, b := unhexDash(t, tc.a), unhexDash(t, tc.b)
		if got := typ.Compare(a, b); got != tc.want {
			t.Errorf("%s: compare(%s, %s) = %d, want %d", tc.typ, tc.a, tc.b, got, tc.want)
		}
		if got := typ.Compare(b, a); got != -tc.want {
			t.Errorf("%s: compare(%s, %s) = %d, want %d", tc.typ, tc.b, tc.a, got, -tc.want)
		}
	}
}

func unhexDash(t *testing.T, s string) []byte {
	if s == "-" {
		return []byte{}
	}
	return hexBytes(t, s)
}

func TestComparePrefixes(t *testing.T) {
	types := []*sstable.Type{mustType(t, mp+"Int32Type"), mustType(t, mp+"ReversedType("+mp+"UTF8Type)")}
	i := func(v byte) []byte { return []byte{0, 0, 0, v} }
	row := func(a byte, b string) sstable.Prefix { return sstable.RowPrefix([][]byte{i(a), []byte(b)}) }
	bound := func(kind byte, vals ...[]byte) sstable.Prefix { return sstable.Prefix{Kind: kind, Values: vals} }
	// In clustering order; ck2 descending.
	order := []sstable.Prefix{
		bound(sstable.KindInclStartBound),     // bottom
		bound(sstable.KindExclEndBound, i(1)), // ..< 1
		row(1, "b"),
		row(1, "a"),                                       // b before a: DESC
		bound(sstable.KindInclEndExclStartBoundary, i(1)), // ..<= 1 | 1 <..
		bound(sstable.KindExclEndInclStartBoundary, i(2), []byte("z")),
		row(2, "z"),
		bound(sstable.KindInclEndBound, i(2), []byte("z")),
		row(2, ""), // empty is first ascending, so last descending
		row(3, "a"),
		bound(sstable.KindInclEndBound), // top
	}
	for a := range order {
		for b := range order {
			if got := sstable.ComparePrefixes(types, order[a], order[b]); got != cmpInt(a, b) {
				t.Errorf("compare(#%d %+v, #%d %+v) = %d, want %d", a, order[a], b, order[b], got, cmpInt(a, b))
			}
		}
	}
	if got := sstable.CompareClusterings(types, [][]byte{i(1), nil}, [][]byte{i(1), {}}); got != -1 {
		t.Errorf("null vs empty: %d, want -1 (null first)", got)
	}
}
