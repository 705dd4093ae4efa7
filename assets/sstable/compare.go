package sstable

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"math/big"
)

// Clustering prefix kinds: Marker.Kind, and KindClustering for rows. The
// names are Cassandra's ClusteringPrefix.Kind.
const (
	KindExclEndBound             = 0
	KindInclStartBound           = 1
	KindExclEndInclStartBoundary = 2
	KindStaticClustering         = 3
	KindClustering               = 4
	KindInclEndExclStartBoundary = 5
	KindInclEndBound             = 6
	KindExclStartBound           = 7
)

// kindOrder is each kind's place among prefixes of equal values and length,
// and kindSide where a shorter prefix goes relative to the longer
// clusterings it is a prefix of (Kind's comparisonOrder and
// comparedToClustering).
var (
	kindOrder = [8]int{0, 0, 0, 1, 2, 3, 3, 3}
	kindSide  = [8]int{-1, -1, -1, -1, 0, 1, 1, 1}
)

// Prefix is a clustering prefix with its kind: a row's clustering
// (KindClustering, every value) or a range tombstone bound, which may have
// fewer values than there are clustering columns. A nil value is null.
type Prefix struct {
	Kind   byte
	Values [][]byte
}

// RowPrefix is the prefix of a row with this clustering.
func RowPrefix(clustering [][]byte) Prefix { return Prefix{Kind: KindClustering, Values: clustering} }

// Prefix is the marker's bound as a prefix.
func (m *Marker) Prefix() Prefix { return Prefix{Kind: m.Kind, Values: m.Bound} }

// CompareClusterings orders two rows' clusterings by the clustering column
// types, left to right.
func CompareClusterings(types []*Type, a, b [][]byte) int {
	return ComparePrefixes(types, RowPrefix(a), RowPrefix(b))
}

// ComparePrefixes orders clustering prefixes as Cassandra's
// ClusteringComparator: values left to right (null first), then by kind
// when the lengths are equal, else the shorter one goes before or after
// what it prefixes according to its kind (a start bound before the rows it
// opens on, an end bound after the rows it closes on).
func ComparePrefixes(types []*Type, a, b Prefix) int {
	n := min(len(a.Values), len(b.Values))
	for i := range n {
		var t *Type
		if i < len(types) {
			t = types[i]
		}
		va, vb := a.Values[i], b.Values[i]
		if va == nil || vb == nil {
			if c := cmp.Compare(b2i(va != nil), b2i(vb != nil)); c != 0 {
				return c
			}
			continue
		}
		if c := t.Compare(va, vb); c != 0 {
			return c
		}
	}
	switch {
	case len(a.Values) == len(b.Values):
		return cmp.Compare(kindAt(kindOrder, a.Kind), kindAt(kindOrder, b.Kind))
	case len(a.Values) < len(b.Values):
		return kindAt(kindSide, a.Kind)
	}
	return -kindAt(kindSide, b.Kind)
}

func kindAt(table [8]int, k byte) int {
	if int(k) < len(table) {
		return table[k]
	}
	return table[KindClustering]
}

// Compare orders two values of the type as Cassandra's comparator for it:
// integers, varint, decimal, float and double numerically, boolean false
// first, uuid by version then time (v1) or bytes, timeuuid by time then
// signed bytes, lexicaluuid as signed longs, timestamp signed, frozen
// collections, tuples and user types element by element, ReversedType
// inverted, and text, ascii, blob, inet, date, time and anything unknown
// as unsigned bytes. An empty value goes before any other. A nil *Type
// compares bytes.
func (t *Type) Compare(a, b []byte) int {
	if t == nil {
		return bytes.Compare(a, b)
	}
	switch t.Name {
	case "ReversedType":
		return t.param(0).Compare(b, a)
	case "FrozenType":
		return t.param(0).Compare(a, b)
	}
	if len(a) == 0 || len(b) == 0 {
		return cmp.Compare(len(a), len(b)) // one is empty: it goes first
	}
	switch t.Name {
	case "Int32Type", "LongType", "ShortType", "ByteType", "TimestampType", "DateType", "CounterColumnType":
		return compareSignedBytes(a, b)
	case "IntegerType":
		return varint(a).Cmp(varint(b))
	case "DecimalType":
		return compareDecimal(a, b)
	case "FloatType":
		if len(a) == 4 && len(b) == 4 {
			return compareFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(a))), float64(math.Float32frombits(binary.BigEndian.Uint32(b))))
		}
	case "DoubleType":
		if len(a) == 8 && len(b) == 8 {
			return compareFloat(math.Float64frombits(binary.BigEndian.Uint64(a)), math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case "BooleanType":
		return cmp.Compare(b2i(a[0] != 0), b2i(b[0] != 0))
	case "UUIDType":
		return compareUUID(a, b)
	case "TimeUUIDType":
		return compareTimeUUID(a, b)
	case "LexicalUUIDType":
		if len(a) == 16 && len(b) == 16 {
			if c := cmp.Compare(int64(binary.BigEndian.Uint64(a)), int64(binary.BigEndian.Uint64(b))); c != 0 {
				return c
			}
			return cmp.Compare(int64(binary.BigEndian.Uint64(a[8:])), int64(binary.BigEndian.Uint64(b[8:])))
		}
	case "ListType", "SetType":
		return compareFrozenCollection(t.param(0), nil, a, b)
	case "MapType":
		return compareFrozenCollection(t.param(0), t.param(1), a, b)
	case "TupleType", "UserType":
		return compareTuple(t.Params, a, b)
	case "CompositeType":
		return compareComposite(t.Params, a, b)
	case "VectorType":
		return compareVector(t, a, b)
	}
	return bytes.Compare(a, b)
}

// param is the i-th type parameter, nil (bytes order) when missing.
func (t *Type) param(i int) *Type {
	if t == nil || i >= len(t.Params) {
		return nil
	}
	return t.Params[i]
}

// pathComparator is the comparator of a complex column's cell paths:
// timeuuid for lists, the element type for sets, the key type for maps,
// and a short (the field index) for user types.
func (t *Type) pathComparator() *Type {
	switch t.Name {
	case "ListType":
		return &Type{Name: "TimeUUIDType"}
	case "SetType", "MapType":
		return t.param(0)
	case "UserType":
		return &Type{Name: "ShortType"}
	}
	return nil
}

// compareSignedBytes compares two's complement big-endian numbers of equal
// length: first byte signed, the rest unsigned.
func compareSignedBytes(a, b []byte) int {
	if c := cmp.Compare(int8(a[0]), int8(b[0])); c != 0 {
		return c
	}
	return bytes.Compare(a[1:], b[1:])
}

// varint decodes a big-endian two's complement integer.
func varint(b []byte) *big.Int {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

// compareDecimal compares decimals (i32 scale, varint unscaled value)
// numerically, as BigDecimal.compareTo: 1.0 equals 1.00.
func compareDecimal(a, b []byte) int {
	if len(a) < 4 || len(b) < 4 {
		return bytes.Compare(a, b)
	}
	sa, sb := int64(int32(binary.BigEndian.Uint32(a))), int64(int32(binary.BigEndian.Uint32(b)))
	ua, ub := varint(a[4:]), varint(b[4:])
	if c := cmp.Compare(ua.Sign(), ub.Sign()); c != 0 || ua.Sign() == 0 {
		return c
	}
	sign := ua.Sign()
	// Orders of magnitude first, so that huge scales cost nothing.
	ea := int64(len(new(big.Int).Abs(ua).String())) - sa
	eb := int64(len(new(big.Int).Abs(ub).String())) - sb
	if ea != eb {
		return sign * cmp.Compare(ea, eb)
	}
	// Same magnitude: the scales differ by at most the digits' difference.
	ten := big.NewInt(10)
	if sa > sb {
		ub = new(big.Int).Mul(ub, new(big.Int).Exp(ten, big.NewInt(sa-sb), nil))
	} else if sb > sa {
		ua = new(big.Int).Mul(ua, new(big.Int).Exp(ten, big.NewInt(sb-sa), nil))
	}
	return ua.Cmp(ub)
}

// compareFloat is Java's Float.compare / Double.compare: -0 before +0,
// NaN after everything.
func compareFloat(x, y float64) int {
	if xn, yn := math.IsNaN(x), math.IsNaN(y); xn || yn {
		return cmp.Compare(b2i(xn), b2i(yn))
	}
	if c := cmp.Compare(x, y); c != 0 {
		return c
	}
	return cmp.Compare(b2i(!math.Signbit(x)), b2i(!math.Signbit(y)))
}

// reorderTimestamp moves a v1 UUID's most significant long into time
// order: version and time_hi, time_mid, time_low.
func reorderTimestamp(msb uint64) uint64 {
	return msb<<48 | (msb<<16)&0xFFFF00000000 | msb>>32
}

// compareUUID is UUIDType's order: version, then the time for version 1 or
// the unsigned most significant long otherwise, then the unsigned least
// significant long.
func compareUUID(a, b []byte) int {
	if len(a) != 16 || len(b) != 16 {
		return cmp.Compare(b2i(len(a) == 16), b2i(len(b) == 16))
	}
	ma, mb := binary.BigEndian.Uint64(a), binary.BigEndian.Uint64(b)
	va, vb := ma>>12&0xf, mb>>12&0xf
	if va != vb {
		return cmp.Compare(va, vb)
	}
	if va == 1 {
		ma, mb = reorderTimestamp(ma), reorderTimestamp(mb)
	}
	if c := cmp.Compare(ma, mb); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
}

// compareTimeUUID is TimeUUIDType's order: by timestamp, then the least
// significant bytes compared as signed bytes.
func compareTimeUUID(a, b []byte) int {
	if len(a) != 16 || len(b) != 16 {
		return cmp.Compare(b2i(len(a) == 16), b2i(len(b) == 16))
	}
	ma, mb := int64(reorderTimestamp(binary.BigEndian.Uint64(a))), int64(reorderTimestamp(binary.BigEndian.Uint64(b)))
	if c := cmp.Compare(ma, mb); c != 0 {
		return c
	}
	for i := 8; i < 16; i++ {
		if c := cmp.Compare(int8(a[i]), int8(b[i])); c != 0 {
			return c
		}
	}
	return 0
}

// frozenReader reads the i32-length-prefixed values of frozen collections
// and tuples; a negative length is null (nil).
type frozenReader struct {
	b   []byte
	bad bool
}

func (r *frozenReader) int32() (int32, bool) {
	if len(r.b) < 4 {
		r.bad = true
		return 0, false
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v, true
}

func (r *frozenReader) value() []byte {
	n, ok := r.int32()
	switch {
	case !ok:
		return nil
	case n < 0:
		return nil
	case int(n) > len(r.b):
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// compareNullable orders a null (nil) value before any other.
func compareNullable(t *Type, a, b []byte) int {
	if a == nil || b == nil {
		return cmp.Compare(b2i(a != nil), b2i(b != nil))
	}
	return t.Compare(a, b)
}

// compareFrozenCollection compares frozen lists and sets (values nil) or
// maps element by element, then by size.
func compareFrozenCollection(keys, values *Type, a, b []byte) int {
	ra, rb := &frozenReader{b: a}, &frozenReader{b: b}
	na, _ := ra.int32()
	nb, _ := rb.int32()
	for i := int32(0); i < min(na, nb) && !ra.bad && !rb.bad; i++ {
		if c := compareNullable(keys, ra.value(), rb.value()); c != 0 {
			return c
		}
		if values == nil {
			continue
		}
		if c := compareNullable(values, ra.value(), rb.value()); c != 0 {
			return c
		}
	}
	if ra.bad || rb.bad {
		return bytes.Compare(a, b)
	}
	return cmp.Compare(na, nb)
}

// compareTuple compares tuples and frozen user types field by field; null
// fields go first, and missing trailing fields equal null ones.
func compareTuple(types []*Type, a, b []byte) int {
	ra, rb := &frozenReader{b: a}, &frozenReader{b: b}
	for i := 0; len(ra.b) > 0 && len(rb.b) > 0 && i < len(types); i++ {
		va, vb := ra.value(), rb.value()
		if ra.bad || rb.bad {
			return bytes.Compare(a, b)
		}
		if c := compareNullable(types[i], va, vb); c != 0 {
			return c
		}
	}
	restA, restB := allNull(ra.b), allNull(rb.b)
	switch {
	case restA && restB:
		return 0
	case len(ra.b) == 0:
		return -1
	case restA:
		return 0
	}
	return 1
}

// allNull reports whether the rest of a tuple holds only null fields.
func allNull(b []byte) bool {
	for len(b) >= 4 {
		if int32(binary.BigEndian.Uint32(b)) >= 0 {
			return false
		}
		b = b[4:]
	}
	return len(b) == 0
}

// compareComposite compares CompositeType values: per component a u16
// length, the value and an end-of-component byte.
func compareComposite(types []*Type, a, b []byte) int {
	for i := 0; len(a) > 0 && len(b) > 0; i++ {
		if len(a) < 3 || len(b) < 3 {
			return bytes.Compare(a, b)
		}
		na, nb := int(binary.BigEndian.Uint16(a)), int(binary.BigEndian.Uint16(b))
		if len(a) < 3+na || len(b) < 3+nb {
			return bytes.Compare(a, b)
		}
		var t *Type
		if i < len(types) {
			t = types[i]
		}
		if c := t.Compare(a[2:2+na], b[2:2+nb]); c != 0 {
			return c
		}
		if c := cmp.Compare(int8(a[2+na]), int8(b[2+nb])); c != 0 {
			return c
		}
		a, b = a[3+na:], b[3+nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// compareVector compares vectors of fixed-size elements element by
// element; others as bytes.
func compareVector(t *Type, a, b []byte) int {
	elem := t.param(0)
	n := elem.fixedLength()
	if n <= 0 || len(a) != len(b) || len(a)%n != 0 {
		return bytes.Compare(a, b)
	}
	for i := 0; i < len(a); i += n {
		if c := elem.Compare(a[i:i+n], b[i:i+n]); c != 0 {
			return c
		}
	}
	return 0
}
