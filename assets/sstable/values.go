package sstable

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Decoded values. Decode returns, per CQL type:
//
//	text, varchar, ascii           string
//	int, bigint, smallint, tinyint int64 (counter too, given its 8-byte total)
//	boolean                        bool
//	float, double                  float32, float64; nil for NaN and ±Inf
//	varint                         *big.Int
//	decimal                        Decimal
//	timestamp, date, time          Timestamp, Date, Time
//	uuid, timeuuid                 uuid.UUID
//	blob                           Blob
//	inet                           Inet
//	duration                       Duration
//	list, set, tuple, vector       []any
//	map                            Map
//	user type                      UDT
//
// Their encoding/json output is what Cassandra's SELECT JSON prints for the
// value, up to insignificant whitespace and the spelling of numbers; JSON
// gives Cassandra's exact text.

// Timestamp is a CQL timestamp: milliseconds since the Unix epoch.
type Timestamp int64

// Time converts the timestamp to a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(int64(t)).UTC() }

// String formats the timestamp as SELECT JSON does: 2024-01-02 03:04:05.678Z,
// with the year of era (no sign before year 1, + past 9999).
func (t Timestamp) String() string { return string(t.appendText(nil)) }

func (t Timestamp) appendText(dst []byte) []byte {
	tt := t.Time()
	y, mo, d := tt.Date()
	h, mi, s := tt.Clock()
	if y <= 0 {
		y = 1 - y
	}
	dst = appendYear(dst, y)
	dst = appendPadded(append(dst, '-'), int64(mo), 2)
	dst = appendPadded(append(dst, '-'), int64(d), 2)
	dst = appendPadded(append(dst, ' '), int64(h), 2)
	dst = appendPadded(append(dst, ':'), int64(mi), 2)
	dst = appendPadded(append(dst, ':'), int64(s), 2)
	dst = appendPadded(append(dst, '.'), int64(tt.Nanosecond()/1e6), 3)
	return append(dst, 'Z')
}

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) { return JSON(t), nil }

// Date is a CQL date: days since 1970-01-01 (stored as days + 2^31).
type Date int32

// Time converts the date to midnight UTC of that day.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String formats the date as SELECT JSON does: 2024-01-02, with a signed
// proleptic year (-0006, +10000).
func (d Date) String() string { return string(d.appendText(nil)) }

func (d Date) appendText(dst []byte) []byte {
	y, mo, day := d.Time().Date()
	if y < 0 {
		dst = appendPadded(append(dst, '-'), int64(-y), 4)
	} else {
		dst = appendYear(dst, y)
	}
	dst = appendPadded(append(dst, '-'), int64(mo), 2)
	return appendPadded(append(dst, '-'), int64(day), 2)
}

// MarshalJSON implements json.Marshaler.
func (d Date) MarshalJSON() ([]byte, error) { return JSON(d), nil }

// appendYear pads a non-negative year to four digits and signs one past
// 9999, as java.time does for a yyyy pattern.
func appendYear(dst []byte, y int) []byte {
	if y > 9999 {
		dst = append(dst, '+')
	}
	return appendPadded(dst, int64(y), 4)
}

// appendPadded appends the non-negative v in decimal, zero-padded to at
// least width digits.
func appendPadded(dst []byte, v int64, width int) []byte {
	var b [20]byte
	i := len(b)
	for v >= 10 || len(b)-i < width-1 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	b[i] = byte('0' + v)
	return append(dst, b[i:]...)
}

// Time is a CQL time: nanoseconds since midnight.
type Time int64

// String formats the time as SELECT JSON does: 03:04:05.123456789.
func (t Time) String() string { return string(t.appendText(nil)) }

func (t Time) appendText(dst []byte) []byte {
	n := int64(t)
	dst = appendPadded(dst, n/3600e9, 2)
	dst = appendPadded(append(dst, ':'), n/60e9%60, 2)
	dst = appendPadded(append(dst, ':'), n/1e9%60, 2)
	return appendPadded(append(dst, '.'), n%1e9, 9)
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) { return JSON(t), nil }

// Blob is a CQL blob; it formats as 0x and lowercase hex.
type Blob []byte

func (b Blob) String() string { return "0x" + hex.EncodeToString(b) }

// MarshalJSON implements json.Marshaler.
func (b Blob) MarshalJSON() ([]byte, error) { return JSON(b), nil }

// Inet is a CQL inet address: 4 or 16 bytes.
type Inet []byte

// String formats the address as Java's getHostAddress: dotted IPv4 (also
// for IPv4-mapped IPv6), else eight uncompressed lowercase hex groups.
func (a Inet) String() string {
	if len(a) == 16 && string(a[:12]) == "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff" {
		a = a[12:]
	}
	if len(a) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3])
	}
	var sb strings.Builder
	for i := 0; i+1 < len(a); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(binary.BigEndian.Uint16(a[i:])), 16))
	}
	return sb.String()
}

// MarshalJSON implements json.Marshaler.
func (a Inet) MarshalJSON() ([]byte, error) { return JSON(a), nil }

// Duration is a CQL duration.
type Duration struct {
	Months, Days int32
	Nanos        int64
}

// String formats the duration as Cassandra does: 1y2mo3d4h5m6s7ms8us9ns,
// units that are zero left out, one leading - when any part is negative.
func (d Duration) String() string {
	var sb strings.Builder
	if d.Months < 0 || d.Days < 0 || d.Nanos < 0 {
		sb.WriteByte('-')
	}
	unit := func(v, per uint64, name string) uint64 {
		if v == 0 || v < per {
			return v
		}
		sb.WriteString(strconv.FormatUint(v/per, 10) + name)
		return v % per
	}
	unit(unit(absU(int64(d.Months)), 12, "y"), 1, "mo")
	unit(absU(int64(d.Days)), 1, "d")
	if d.Nanos != 0 {
		v := unit(absU(d.Nanos), 3600e9, "h")
		v = unit(v, 60e9, "m")
		v = unit(v, 1e9, "s")
		v = unit(v, 1e6, "ms")
		v = unit(v, 1e3, "us")
		unit(v, 1, "ns")
	}
	return sb.String()
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return JSON(d), nil }

// Decimal is a CQL decimal: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled *big.Int
	Scale    int32
}

// String formats the decimal as Java's BigDecimal.toString: plain unless
// the scale is negative or the exponent is below -6 (1E+3, 1E-7).
func (d Decimal) String() string {
	u := d.Unscaled
	if u == nil {
		u = new(big.Int)
	}
	digits := new(big.Int).Abs(u).String()
	sign := ""
	if u.Sign() < 0 {
		sign = "-"
	}
	scale := int64(d.Scale)
	adjusted := -scale + int64(len(digits)-1)
	switch {
	case scale == 0:
		return sign + digits
	case scale > 0 && adjusted >= -6:
		if n := int64(len(digits)); n > scale {
			return sign + digits[:n-scale] + "." + digits[n-scale:]
		}
		return sign + "0." + strings.Repeat("0", int(scale)-len(digits)) + digits
	}
	s := sign + digits[:1]
	if len(digits) > 1 {
		s += "." + digits[1:]
	}
	s += "E"
	if adjusted > 0 {
		s += "+"
	}
	return s + strconv.FormatInt(adjusted, 10)
}

// MarshalJSON implements json.Marshaler: a JSON number.
func (d Decimal) MarshalJSON() ([]byte, error) { return JSON(d), nil }

// Map is a decoded CQL map: its entries in the order stored, which is the
// key type's order.
type Map []MapEntry

// MapEntry is one key and value of a Map.
type MapEntry struct {
	Key, Value any
}

// MarshalJSON implements json.Marshaler: an object whose keys are the key
// values' JSON, itself when a string, else its text as a string.
func (m Map) MarshalJSON() ([]byte, error) { return JSON(m), nil }

// UDT is a decoded user-defined type value: its fields in declaration order.
type UDT []UDTField

// UDTField is one field of a UDT; Value is nil when the field is null.
type UDTField struct {
	Name  string
	Value any
}

// MarshalJSON implements json.Marshaler: an object keyed by field name,
// double-quoted when not all lower case, as Cassandra prints it.
func (u UDT) MarshalJSON() ([]byte, error) { return JSON(u), nil }

// JSON renders a decoded value exactly as Cassandra's SELECT JSON prints it
// (Java number formats, a space after , and :). encoding/json gives the
// same JSON value, compacted.
func JSON(v any) []byte { return appendJSON(nil, v) }

// AppendJSON appends the JSON text of v to dst and returns it.
func AppendJSON(dst []byte, v any) []byte { return appendJSON(dst, v) }

func appendJSON(dst []byte, v any) []byte { return jsonSpaced.value(dst, v) }

// jsonStyle is how values are written: spaced as Cassandra prints them,
// or compact as encoding/json's Encoder writes a json.Marshaler's output
// (no space after , and :, and <, >, &, U+2028 and U+2029 escaped in
// strings).
type jsonStyle struct {
	comma, colon string
	safe         *[256]bool // the bytes a string holds unescaped
}

var (
	jsonSpaced  = jsonStyle{comma: ", ", colon: ": ", safe: &jacksonSafe}
	jsonCompact = jsonStyle{comma: ",", colon: ":", safe: &htmlSafe}
)

// jacksonSafe and htmlSafe are the bytes Jackson, and encoding/json's
// HTML-escaping compaction of its output, leave as they are.
var jacksonSafe, htmlSafe = func() (j, h [256]bool) {
	for c := 0x20; c < 256; c++ {
		j[c] = c != '"' && c != '\\'
		h[c] = j[c] && c != '<' && c != '>' && c != '&' && c != 0xE2
	}
	return j, h
}()

func (st jsonStyle) value(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return st.quote(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case float32:
		return append(dst, javaFloat(float64(v), 32)...)
	case float64:
		return append(dst, javaFloat(v, 64)...)
	case *big.Int:
		if v == nil {
			return append(dst, "null"...)
		}
		return v.Append(dst, 10)
	case Decimal:
		return append(dst, v.String()...)
	case uuid.UUID:
		return append(appendUUID(append(dst, '"'), v), '"')
	case Timestamp:
		return append(v.appendText(append(dst, '"')), '"')
	case Date:
		return append(v.appendText(append(dst, '"')), '"')
	case Time:
		return append(v.appendText(append(dst, '"')), '"')
	case fmt.Stringer: // Blob, Inet, Duration
		return st.quote(dst, v.String())
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, st.comma...)
			}
			dst = st.value(dst, e)
		}
		return append(dst, ']')
	case Map:
		return st.mapValue(dst, v)
	case UDT:
		dst = append(dst, '{')
		for i, f := range v {
			if i > 0 {
				dst = append(dst, st.comma...)
			}
			dst = append(st.name(dst, f.Name), st.colon...)
			dst = st.value(dst, f.Value)
		}
		return append(dst, '}')
	}
	return st.quote(dst, fmt.Sprint(v))
}

// mapValue writes an object whose keys are the key values' JSON, itself
// when a string, else its (spaced) text as a string.
func (st jsonStyle) mapValue(dst []byte, m Map) []byte {
	dst = append(dst, '{')
	for i, e := range m {
		if i > 0 {
			dst = append(dst, st.comma...)
		}
		if k, ok := e.Key.(string); ok {
			dst = st.quote(dst, k)
		} else if k := jsonSpaced.value(nil, e.Key); len(k) > 0 && k[0] == '"' {
			dst = st.value(dst, e.Key)
		} else {
			dst = st.quote(dst, string(k))
		}
		dst = append(dst, st.colon...)
		dst = st.value(dst, e.Value)
	}
	return append(dst, '}')
}

// keys is each column's name as a JSON object key, the colon included.
func (st jsonStyle) keys(cols []string) [][]byte {
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		keys[i] = append(st.name(nil, c), st.colon...)
	}
	return keys
}

// name writes a column or field name as Cassandra does: double-quoted
// inside the JSON string when not all lower case.
func (st jsonStyle) name(dst []byte, name string) []byte {
	if name != strings.ToLower(name) {
		name = `"` + name + `"`
	}
	return st.quote(dst, name)
}

// quote quotes s as Cassandra's JSON writer (Jackson) does: only ", \ and
// control characters are escaped; the compact style escapes as
// encoding/json's compaction does too.
func (st jsonStyle) quote(dst []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	dst = append(dst, '"')
	start := 0 // s[start:i] needs no escape: copied in one go
	for i := 0; i < len(s); i++ {
		c := s[i]
		if st.safe[c] {
			continue
		}
		if c == 0xE2 && !(i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8) {
			continue // not U+2028 or U+2029
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, `\b`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\r':
			dst = append(dst, `\r`...)
		case 0xE2:
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
			start = i + 3
			i += 2
		case '<', '>', '&': // the compact style: lowercase, as encoding/json
			dst = append(dst, '\\', 'u', '0', '0', '0'+c>>4, "0123456789abcdef"[c&15])
		default: // a control character
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendUUID appends u in its canonical form,
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, lowercase.
func appendUUID(dst []byte, u uuid.UUID) []byte {
	const hexDigits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

// javaFloat formats f as Java's Float/Double.toString: plain with at least
// one fraction digit in [1e-3, 1e7), else d.dddE±n.
func javaFloat(f float64, bitSize int) string {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return "null" // as Cassandra prints them
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	s := strconv.FormatFloat(f, 'e', -1, bitSize)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		if exp < 0 {
			return sign + "0." + strings.Repeat("0", -exp-1) + digits
		}
		for len(digits) <= exp {
			digits += "0"
		}
		frac := digits[exp+1:]
		if frac == "" {
			frac = "0"
		}
		return sign + digits[:exp+1] + "." + frac
	}
	frac := digits[1:]
	if frac == "" {
		frac = "0"
	}
	return sign + digits[:1] + "." + frac + "E" + strconv.Itoa(exp)
}

var cqlNames = map[string]string{
	"AsciiType": "ascii", "LongType": "bigint", "BytesType": "blob", "BooleanType": "boolean",
	"CounterColumnType": "counter", "DecimalType": "decimal", "DoubleType": "double",
	"DurationType": "duration", "FloatType": "float", "InetAddressType": "inet",
	"Int32Type": "int", "ShortType": "smallint", "UTF8Type": "text", "TimeType": "time",
	"TimestampType": "timestamp", "DateType": "timestamp", "TimeUUIDType": "timeuuid",
	"ByteType": "tinyint", "UUIDType": "uuid", "IntegerType": "varint",
	"SimpleDateType": "date", "EmptyType": "empty",
}

var unquotedIdent = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// reservedKeywords are the CQL words an identifier must be quoted to use
// (Cassandra's cql3/reserved_keywords.txt).
var reservedKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`add allow alter and apply asc authorize batch begin by
		columnfamily create delete desc describe drop entries execute from full grant if in
		index infinity insert into is keyspace limit materialized modify nan norecursive not
		null of on or order primary rename revoke schema select set table to token truncate
		unlogged update use using view where with`) {
		m[w] = true
	}
	return m
}()

// quoteIdent quotes a CQL identifier when needed, as CQL output does.
func quoteIdent(s string) string {
	if unquotedIdent.MatchString(s) && !reservedKeywords[s] {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// CQL returns the type's CQL name as Cassandra prints it: text,
// map<text, int>, frozen<list<int>>, frozen<tuple<int, text>>, a user
// type's name; reversed types as their base type; other types as a quoted
// class name.
func (t *Type) CQL() string { return t.cql(false) }

func (t *Type) cql(frozen bool) string {
	if n, ok := cqlNames[t.Name]; ok {
		return n
	}
	params := func() string {
		s := make([]string, len(t.Params))
		for i, p := range t.Params {
			s[i] = p.cql(true)
		}
		return strings.Join(s, ", ")
	}
	wrap := func(s string) string {
		if frozen {
			return "frozen<" + s + ">"
		}
		return s
	}
	switch {
	case (t.Name == "ReversedType" || t.Name == "FrozenType") && len(t.Params) == 1:
		return t.Params[0].cql(frozen || t.Name == "FrozenType")
	case t.Name == "ListType" && len(t.Params) == 1:
		return wrap("list<" + params() + ">")
	case t.Name == "SetType" && len(t.Params) == 1:
		return wrap("set<" + params() + ">")
	case t.Name == "MapType" && len(t.Params) == 2:
		return wrap("map<" + params() + ">")
	case t.Name == "TupleType":
		return "frozen<tuple<" + params() + ">>"
	case t.Name == "UserType":
		return wrap(quoteIdent(t.UDTName))
	case t.Name == "VectorType" && len(t.Params) == 1:
		return "vector<" + params() + ", " + strconv.Itoa(t.Dimension) + ">"
	}
	raw := t.Raw
	if !strings.Contains(raw, ".") {
		raw = marshalPkg + raw
	}
	return "'" + raw + "'"
}

// corrupt is an error about a malformed value of type t.
func (t *Type) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s value: %s", ErrCorrupt, t.CQL(), fmt.Sprintf(format, args...))
}

// base strips ReversedType and FrozenType wrappers.
func (t *Type) base() *Type {
	for (t.Name == "ReversedType" || t.Name == "FrozenType") && len(t.Params) == 1 {
		t = t.Params[0]
	}
	return t
}

// Decode decodes one serialized value — a simple cell's value, a frozen
// value, a clustering or partition key component — into the Go value
// listed above. An empty value is "" for text and ascii, an empty Blob for
// blob and nil (CQL null) for every other type. Collections and user types
// are read in their frozen form; see DecodeComplex for multi-cell columns.
// Counter columns take the 8-byte total, not a counter context.
func (t *Type) Decode(b []byte) (any, error) {
	t = t.base()
	if len(b) == 0 {
		switch t.Name {
		case "UTF8Type", "AsciiType":
			return "", nil
		case "BytesType":
			return Blob{}, nil
		}
		return nil, nil
	}
	switch t.Name {
	case "UTF8Type":
		if !utf8.Valid(b) {
			return nil, t.corrupt("invalid UTF-8")
		}
		return string(b), nil
	case "AsciiType":
		for _, c := range b {
			if c >= 0x80 {
				return nil, t.corrupt("non-ASCII byte %#x", c)
			}
		}
		return string(b), nil
	case "BytesType":
		return Blob(append([]byte(nil), b...)), nil
	case "BooleanType":
		if err := t.size(b, 1); err != nil {
			return nil, err
		}
		return b[0] != 0, nil
	case "ByteType":
		if err := t.size(b, 1); err != nil {
			return nil, err
		}
		return int64(int8(b[0])), nil
	case "ShortType":
		if err := t.size(b, 2); err != nil {
			return nil, err
		}
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case "Int32Type":
		if err := t.size(b, 4); err != nil {
			return nil, err
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case "LongType", "CounterColumnType":
		if err := t.size(b, 8); err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	case "FloatType":
		if err := t.size(b, 4); err != nil {
			return nil, err
		}
		f := math.Float32frombits(binary.BigEndian.Uint32(b))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, nil // SELECT JSON prints null
		}
		return f, nil
	case "DoubleType":
		if err := t.size(b, 8); err != nil {
			return nil, err
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, nil
		}
		return f, nil
	case "TimestampType", "DateType":
		if err := t.size(b, 8); err != nil {
			return nil, err
		}
		return Timestamp(binary.BigEndian.Uint64(b)), nil
	case "SimpleDateType":
		if err := t.size(b, 4); err != nil {
			return nil, err
		}
		return Date(int32(binary.BigEndian.Uint32(b) ^ 1<<31)), nil
	case "TimeType":
		if err := t.size(b, 8); err != nil {
			return nil, err
		}
		n := int64(binary.BigEndian.Uint64(b))
		if n < 0 || n >= 86400e9 {
			return nil, t.corrupt("%d nanoseconds is not a time of day", n)
		}
		return Time(n), nil
	case "UUIDType", "TimeUUIDType", "LexicalUUIDType":
		if err := t.size(b, 16); err != nil {
			return nil, err
		}
		return uuid.UUID(b), nil
	case "InetAddressType":
		if len(b) != 4 && len(b) != 16 {
			return nil, t.corrupt("want 4 or 16 bytes, have %d", len(b))
		}
		return Inet(append([]byte(nil), b...)), nil
	case "IntegerType":
		return decodeVarint(b), nil
	case "DecimalType":
		if len(b) < 5 {
			return nil, t.corrupt("want a 4-byte scale and an unscaled value, have %d bytes", len(b))
		}
		return Decimal{Unscaled: decodeVarint(b[4:]), Scale: int32(binary.BigEndian.Uint32(b))}, nil
	case "DurationType":
		return t.duration(b)
	case "ListType", "SetType":
		return t.decodeList(b)
	case "MapType":
		return t.decodeMap(b)
	case "TupleType", "UserType":
		return t.decodeTuple(b)
	case "VectorType":
		return t.decodeVector(b)
	case "CompositeType":
		comps, err := t.Components(b)
		if err != nil {
			return nil, err
		}
		return t.decodeAll(comps)
	case "EmptyType":
		return nil, t.corrupt("%d bytes in an empty value", len(b))
	}
	return nil, fmt.Errorf("sstable: decoding %s values is not supported", t.CQL())
}

// size checks a fixed-size value's length.
func (t *Type) size(b []byte, n int) error {
	if len(b) != n {
		return t.corrupt("want %d bytes, have %d", n, len(b))
	}
	return nil
}

// decodeVarint decodes a big-endian two's complement integer.
func decodeVarint(b []byte) *big.Int {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return v
}

// readUvint decodes an unsigned vint at the start of b and its length.
func readUvint(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n := bits.LeadingZeros8(^b[0])
	if len(b) < 1+n {
		return 0, 0, false
	}
	v := uint64(b[0] & (0xFF >> n))
	for i := 1; i <= n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, 1 + n, true
}

func (t *Type) duration(b []byte) (any, error) {
	var v [3]int64
	for i := range v {
		u, n, ok := readUvint(b)
		if !ok {
			return nil, t.corrupt("truncated vint %d of 3", i+1)
		}
		b = b[n:]
		v[i] = int64(u>>1) ^ -int64(u&1) // zigzag
	}
	if len(b) > 0 {
		return nil, t.corrupt("%d bytes after the nanoseconds", len(b))
	}
	if v[0] != int64(int32(v[0])) || v[1] != int64(int32(v[1])) {
		return nil, t.corrupt("months %d or days %d out of 32-bit range", v[0], v[1])
	}
	return Duration{Months: int32(v[0]), Days: int32(v[1]), Nanos: v[2]}, nil
}

// valueReader reads the i32-length-prefixed parts of frozen values.
type valueReader struct {
	t *Type
	b []byte
	s string // when set, the whole value as a string: text elements are its substrings
}

// newValueReader reads b, a value of t; texts, when t has text elements,
// share one string.
func newValueReader(t *Type, b []byte) *valueReader {
	r := &valueReader{t: t, b: b}
	if slices.ContainsFunc(t.Params, (*Type).isText) {
		r.s = string(b)
	}
	return r
}

// part names a part of a value in an error: "key 3", "field name",
// "element count". It is formatted only for an error.
type part struct {
	kind string
	i    int // the index, when name is "" and i >= 0
	name string
}

func (p part) String() string {
	switch {
	case p.name != "":
		return p.kind + " " + p.name
	case p.i >= 0:
		return p.kind + " " + strconv.Itoa(p.i)
	}
	return p.kind
}

// i32 reads an i32, the length of what when length is set.
func (r *valueReader) i32(what part, length bool) (int32, error) {
	if len(r.b) < 4 {
		if length {
			return 0, r.t.corrupt("truncated %s length: %d bytes left", what, len(r.b))
		}
		return 0, r.t.corrupt("truncated %s: %d bytes left", what, len(r.b))
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v, nil
}

// value reads an i32 length and that many bytes; a length of -1 is null.
func (r *valueReader) value(what part) (v []byte, null bool, err error) {
	n, err := r.i32(what, true)
	switch {
	case err != nil:
		return nil, false, err
	case n == -1:
		return nil, true, nil
	case n < 0 || int(n) > len(r.b):
		return nil, false, r.t.corrupt("%s of %d bytes, %d left", what, n, len(r.b))
	}
	v = r.b[:n:n]
	r.b = r.b[n:]
	return v, false, nil
}

// count reads an element count that the bytes left could hold.
func (r *valueReader) count(per int) (int, error) {
	n, err := r.i32(part{kind: "element count", i: -1}, false)
	if err != nil {
		return 0, err
	}
	if n < 0 || int(n) > len(r.b)/per {
		return 0, r.t.corrupt("%d elements in %d bytes", n, len(r.b))
	}
	return int(n), nil
}

func (r *valueReader) end() error {
	if len(r.b) > 0 {
		return r.t.corrupt("%d bytes after the value", len(r.b))
	}
	return nil
}

// element decodes a collection element; a null (negative length) one is nil.
func (r *valueReader) element(typ *Type, what part) (any, error) {
	v, null, err := r.value(what)
	if err != nil || null {
		return nil, err
	}
	if r.s != "" && len(v) > 0 && typ.isText() {
		end := len(r.s) - len(r.b)
		if s := r.s[end-len(v) : end]; utf8.ValidString(s) && (typ.base().Name != "AsciiType" || isASCII(s)) {
			return s, nil
		}
	}
	d, err := typ.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.t.CQL(), what, err)
	}
	return d, nil
}

func (t *Type) decodeList(b []byte) (any, error) {
	if len(t.Params) != 1 {
		return nil, t.corrupt("want 1 element type, have %d", len(t.Params))
	}
	r := newValueReader(t, b)
	n, err := r.count(4)
	if err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := range out {
		if out[i], err = r.element(t.Params[0], part{kind: "element", i: i}); err != nil {
			return nil, err
		}
	}
	return out, r.end()
}

func (t *Type) decodeMap(b []byte) (any, error) {
	if len(t.Params) != 2 {
		return nil, t.corrupt("want key and value types, have %d", len(t.Params))
	}
	r := newValueReader(t, b)
	n, err := r.count(8)
	if err != nil {
		return nil, err
	}
	out := make(Map, n)
	for i := range out {
		if out[i].Key, err = r.element(t.Params[0], part{kind: "key", i: i}); err != nil {
			return nil, err
		}
		if out[i].Value, err = r.element(t.Params[1], part{kind: "value", i: i}); err != nil {
			return nil, err
		}
	}
	return out, r.end()
}

// decodeTuple decodes a tuple or a frozen user type: i32-length fields,
// -1 for null; trailing fields may be left out (null).
func (t *Type) decodeTuple(b []byte) (any, error) {
	r := newValueReader(t, b)
	vals := make([]any, len(t.Params))
	for i, p := range t.Params {
		if len(r.b) == 0 {
			break
		}
		var err error
		what := part{kind: "field", i: i}
		if t.Name == "UserType" && i < len(t.Fields) {
			what.name = t.Fields[i]
		}
		if vals[i], err = r.element(p, what); err != nil {
			return nil, err
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return t.fields(vals), nil
}

func (t *Type) fieldName(i int) string {
	if t.Name == "UserType" && i < len(t.Fields) {
		return t.Fields[i]
	}
	return strconv.Itoa(i)
}

// fields shapes field values as a UDT for a user type, else a tuple.
func (t *Type) fields(vals []any) any {
	if t.Name != "UserType" {
		return vals
	}
	u := make(UDT, len(vals))
	for i, v := range vals {
		u[i] = UDTField{Name: t.fieldName(i), Value: v}
	}
	return u
}

// decodeVector decodes n elements: back to back when fixed-length, else
// each after a uvint length.
func (t *Type) decodeVector(b []byte) (any, error) {
	if len(t.Params) != 1 {
		return nil, t.corrupt("want 1 element type, have %d", len(t.Params))
	}
	elem := t.Params[0]
	if size := elem.fixedLength(); size >= 0 {
		if size == 0 || len(b) != size*t.Dimension {
			return nil, t.corrupt("want %d bytes, have %d", size*t.Dimension, len(b))
		}
		out := make([]any, t.Dimension)
		for i := range out {
			v, err := elem.Decode(b[i*size : (i+1)*size])
			if err != nil {
				return nil, fmt.Errorf("%s element %d: %w", t.CQL(), i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	if t.Dimension > len(b) {
		return nil, t.corrupt("%d elements in %d bytes", t.Dimension, len(b))
	}
	out := make([]any, t.Dimension)
	for i := range out {
		n, k, ok := readUvint(b)
		if !ok || n > uint64(len(b)-k) {
			return nil, t.corrupt("truncated element %d", i)
		}
		v, err := elem.Decode(b[k : k+int(n)])
		if err != nil {
			return nil, fmt.Errorf("%s element %d: %w", t.CQL(), i, err)
		}
		out[i] = v
		b = b[k+int(n):]
	}
	if len(b) > 0 {
		return nil, t.corrupt("%d bytes after the last element", len(b))
	}
	return out, nil
}

// decodeAll decodes one value per parameter type.
func (t *Type) decodeAll(parts [][]byte) ([]any, error) {
	out := make([]any, len(parts))
	for i, p := range parts {
		v, err := t.Params[i].Decode(p)
		if err != nil {
			return nil, fmt.Errorf("%s component %d: %w", t.CQL(), i, err)
		}
		out[i] = v
	}
	return out, nil
}

// textRun is the text keys and values of a collection's elements joined
// into one string, taken in order as substrings: one allocation for all.
type textRun struct {
	s   string
	off int
}

// isText reports whether t decodes to a string.
func (t *Type) isText() bool {
	t = t.base()
	return t.Name == "UTF8Type" || t.Name == "AsciiType"
}

// joinText joins the text parts of a list's, set's or map's elements in
// the order DecodeComplex decodes them.
func (t *Type) joinText(elems []Element) *textRun {
	keyText, valText := false, false
	switch t.Name {
	case "ListType":
		valText = t.Params[0].isText()
	case "SetType":
		keyText = t.Params[0].isText()
	case "MapType":
		keyText, valText = t.Params[0].isText(), t.Params[1].isText()
	}
	if !keyText && !valText {
		return &textRun{}
	}
	n := 0
	for _, e := range elems {
		n += len(e.Path)*b2i(keyText) + len(e.Value)*b2i(valText)
	}
	b := make([]byte, 0, n)
	for _, e := range elems {
		if keyText {
			b = append(b, e.Path...)
		}
		if valText {
			b = append(b, e.Value...)
		}
	}
	return &textRun{s: string(b)}
}

// decode decodes b as typ does, a text value as the next substring of the
// run.
func (r *textRun) decode(typ *Type, b []byte) (any, error) {
	end := r.off + len(b)
	if len(b) == 0 || end > len(r.s) || r.s[r.off:end] != string(b) || !typ.isText() {
		return typ.Decode(b)
	}
	v := r.s[r.off:end]
	if typ.base().Name == "AsciiType" && !isASCII(v) || !utf8.ValidString(v) {
		return typ.Decode(b) // the error
	}
	r.off = end
	return v, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Components splits a partition key into its serialized components: for
// a CompositeType each is a u16 length, the bytes and an end-of-component
// byte; any other key is its own single component.
func (t *Type) Components(key []byte) ([][]byte, error) {
	t = t.base()
	if t.Name != "CompositeType" {
		return [][]byte{key}, nil
	}
	var out [][]byte
	for rest := key; len(rest) > 0; {
		if len(rest) < 2 {
			return nil, t.corrupt("truncated length of component %d", len(out))
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 3+n {
			return nil, t.corrupt("component %d of %d bytes, %d left", len(out), n, len(rest)-2)
		}
		if len(out) == len(t.Params) {
			return nil, t.corrupt("more than %d components", len(t.Params))
		}
		out = append(out, rest[2:2+n:2+n])
		rest = rest[3+n:]
	}
	if len(out) != len(t.Params) {
		return nil, t.corrupt("%d components, want %d", len(out), len(t.Params))
	}
	return out, nil
}

// DecodeComplex decodes the live elements of a multi-cell column: a list's
// values in path order, a set's paths, a map's path → value entries, or a
// user type's fields (the path is the 2-byte field index), fields without
// a cell null. No elements is nil: an empty collection is null in CQL.
func (t *Type) DecodeComplex(elems []Element) (any, error) {
	if !t.Complex() {
		return nil, fmt.Errorf("sstable: %s is not a multi-cell type", t.CQL())
	}
	if len(elems) == 0 {
		return nil, nil
	}
	want := 1
	if t.Name == "MapType" {
		want = 2
	}
	if t.Name != "UserType" && len(t.Params) != want {
		return nil, t.corrupt("want %d parameter types, have %d", want, len(t.Params))
	}
	text := t.joinText(elems)
	elem := func(typ *Type, b []byte, what string, i int) (any, error) {
		v, err := text.decode(typ, b)
		if err != nil {
			return nil, fmt.Errorf("%s %s %d: %w", t.CQL(), what, i, err)
		}
		return v, nil
	}
	switch t.Name {
	case "ListType", "SetType":
		out := make([]any, len(elems))
		for i, e := range elems {
			b := e.Value
			if t.Name == "SetType" {
				b = e.Path
			}
			var err error
			if out[i], err = elem(t.Params[0], b, "element", i); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "MapType":
		out := make(Map, len(elems))
		for i, e := range elems {
			var err error
			if out[i].Key, err = elem(t.Params[0], e.Path, "key", i); err != nil {
				return nil, err
			}
			if out[i].Value, err = elem(t.Params[1], e.Value, "value", i); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return t.decodeFields(elems, elem)
}

// decodeFields decodes the cells of a multi-cell user type, each path a
// 2-byte field index, with elem.
func (t *Type) decodeFields(elems []Element, elem func(*Type, []byte, string, int) (any, error)) (any, error) {
	vals := make([]any, len(t.Params))
	for i, e := range elems {
		if len(e.Path) != 2 {
			return nil, t.corrupt("field path %d of %d bytes, want 2", i, len(e.Path))
		}
		f := int(binary.BigEndian.Uint16(e.Path))
		if f >= len(t.Params) {
			return nil, t.corrupt("field %d of %d", f, len(t.Params))
		}
		var err error
		if vals[f], err = elem(t.Params[f], e.Value, "field", f); err != nil {
			return nil, err
		}
	}
	return t.fields(vals), nil
}
