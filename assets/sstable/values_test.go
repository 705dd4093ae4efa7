package sstable

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"net"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"gopkg.in/inf.v0"
)

// valLong expands short class names (Int32Type) to full type strings.
func valLong(s string) string {
	return regexp.MustCompile(`\b([A-Z][A-Za-z0-9]*Type)\b`).ReplaceAllString(s, marshalPkg+"$1")
}

const valUDT = "UserType(ks,61646472,737472656574:UTF8Type,4e616d65:Int32Type,7a6970:FrozenType(ListType(Int32Type)))"

// valUnfreeze drops FrozenType wrappers, which gocql does not parse.
func valUnfreeze(typ string) string {
	for {
		i := strings.Index(typ, "FrozenType(")
		if i < 0 {
			return typ
		}
		depth, j := 0, i+len("FrozenType(")
		for ; j < len(typ); j++ {
			if typ[j] == '(' {
				depth++
			} else if typ[j] == ')' {
				if depth == 0 {
					break
				}
				depth--
			}
		}
		typ = typ[:i] + typ[i+len("FrozenType("):j] + typ[j+1:]
	}
}

// valMarshal encodes v as typ with gocql, an independent encoder.
func valMarshal(t *testing.T, typ string, v any) []byte {
	t.Helper()
	b, err := gocql.Marshal(gocql.NewNativeType(4, gocql.TypeCustom, valLong(valUnfreeze(typ))), v)
	if err != nil {
		t.Fatalf("gocql marshal %s %v: %v", typ, v, err)
	}
	return b
}

func valHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// valCheck decodes b as typ and wants Cassandra's SELECT JSON text from
// JSON and the same JSON value from encoding/json.
func valCheck(t *testing.T, typ string, b []byte, want string) {
	t.Helper()
	ty, err := ParseType(valLong(typ))
	if err != nil {
		t.Fatalf("parse %s: %v", typ, err)
	}
	v, err := ty.Decode(b)
	if err != nil {
		t.Fatalf("%s %x: %v", typ, b, err)
	}
	if got := string(JSON(v)); got != want {
		t.Errorf("%s %x: JSON = %s, want %s", typ, b, got, want)
	}
	std, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: json.Marshal: %v", typ, err)
	}
	var a, w any
	if err := json.Unmarshal(std, &a); err != nil {
		t.Fatalf("%s: json.Marshal gave %s: %v", typ, std, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(a, w) {
		t.Errorf("%s %x: json.Marshal = %s, want the value of %s", typ, b, std, want)
	}
}

// The want texts below are what Cassandra 5.0.8's AbstractType.toJSONString
// printed for the same bytes.
func TestDecodeGocql(t *testing.T) {
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		typ  string
		val  any
		want string
	}{
		{"UTF8Type", "héllo \"q\"\n", `"héllo \"q\"\n"`},
		{"AsciiType", "abc", `"abc"`},
		{"Int32Type", int32(-5), `-5`},
		{"LongType", int64(math.MaxInt64), `9223372036854775807`},
		{"ShortType", int16(-300), `-300`},
		{"ByteType", int8(-128), `-128`},
		{"BooleanType", true, `true`},
		{"BooleanType", false, `false`},
		{"DoubleType", 1.5, `1.5`},
		{"DoubleType", 1e20, `1.0E20`},
		{"DoubleType", -0.000123, `-1.23E-4`},
		{"FloatType", float32(1.1), `1.1`},
		{"FloatType", float32(1234567), `1234567.0`},
		{"TimestampType", day.Add(3*time.Hour + 4*time.Minute + 5678*time.Millisecond), `"2024-01-02 03:04:05.678Z"`},
		{"TimestampType", time.UnixMilli(-1).UTC(), `"1969-12-31 23:59:59.999Z"`},
		{"SimpleDateType", day, `"2024-01-02"`},
		{"TimeType", 3*time.Hour + 4*time.Minute + 5*time.Second + 123456789, `"03:04:05.123456789"`},
		{"UUIDType", "550E8400-E29B-41D4-A716-446655440000", `"550e8400-e29b-41d4-a716-446655440000"`},
		{"TimeUUIDType", "fe2b4360-28c6-11e2-81c1-0800200c9a66", `"fe2b4360-28c6-11e2-81c1-0800200c9a66"`},
		{"BytesType", []byte{0xca, 0xfe, 0x01}, `"0xcafe01"`},
		{"DecimalType", inf.NewDec(-123, 2), `-1.23`},
		{"DecimalType", inf.NewDec(1, -3), `1E+3`},
		{"DecimalType", inf.NewDec(5, 9), `5E-9`},
		{"IntegerType", new(big.Int).Lsh(big.NewInt(-1), 80), `-1208925819614629174706176`},
		{"IntegerType", big.NewInt(255), `255`},
		{"InetAddressType", net.ParseIP("127.0.0.1").To4(), `"127.0.0.1"`},
		{"InetAddressType", net.ParseIP("2001:db8::1"), `"2001:db8:0:0:0:0:0:1"`},
		{"InetAddressType", net.ParseIP("::1"), `"0:0:0:0:0:0:0:1"`},
		{"DurationType", gocql.Duration{Months: 14, Days: 3, Nanoseconds: 3723004005006}, `"1y2mo3d1h2m3s4ms5us6ns"`},
		{"DurationType", gocql.Duration{Months: -1, Days: -2, Nanoseconds: -1}, `"-1mo2d1ns"`},
		{"DurationType", gocql.Duration{Days: 7}, `"7d"`},
		{"FrozenType(ListType(Int32Type))", []int{3, 1, 2}, `[3, 1, 2]`},
		{"FrozenType(SetType(UTF8Type))", []string{"a", "b"}, `["a", "b"]`},
		{"FrozenType(MapType(UTF8Type,Int32Type))", map[string]int{"k": 1}, `{"k": 1}`},
		{"FrozenType(MapType(Int32Type,UTF8Type))", map[int]string{7: "v"}, `{"7": "v"}`},
		{"FrozenType(MapType(TimestampType,BooleanType))", map[time.Time]bool{day: true}, `{"2024-01-02 00:00:00.000Z": true}`},
		{"FrozenType(MapType(FrozenType(ListType(UTF8Type)),Int32Type))", map[string]int{}, `{}`},
		{"FrozenType(ListType(FrozenType(MapType(Int32Type,FrozenType(SetType(DoubleType))))))",
			[]map[int][]float64{{1: {0.5, 2}}}, `[{"1": [0.5, 2.0]}]`},
		{"FrozenType(ListType(FrozenType(ListType(Int32Type))))", [][]int{{1}, {}, {2, 3}}, `[[1], [], [2, 3]]`},
		{"TupleType(Int32Type,UTF8Type,FrozenType(ListType(BooleanType)))", []any{1, "x", []bool{true}}, `[1, "x", [true]]`},
		{"TupleType(Int32Type,UTF8Type)", []any{nil, "x"}, `[null, "x"]`},
		{"FrozenType(" + valUDT + ")", map[string]any{"street": "Main", "Name": 7, "zip": []int{5}},
			`{"street": "Main", "\"Name\"": 7, "zip": [5]}`},
		{"FrozenType(" + valUDT + ")", map[string]any{"street": "Main"}, `{"street": "Main", "\"Name\"": null, "zip": null}`},
		{"VectorType(FloatType,3)", []float32{1, 2.5, -3}, `[1.0, 2.5, -3.0]`},
	}
	for _, tt := range tests {
		valCheck(t, tt.typ, valMarshal(t, tt.typ, tt.val), tt.want)
	}
}

// Hand-made bytes for what gocql does not write: empty values, several map
// entries in key order, left-out tuple fields, edge values.
func TestDecodeBytes(t *testing.T) {
	tests := []struct {
		typ, hex, want string
	}{
		{"Int32Type", "", `null`},
		{"TimestampType", "", `null`},
		{"FrozenType(ListType(Int32Type))", "", `null`},
		{"UTF8Type", "", `""`},
		{"AsciiType", "", `""`},
		{"BytesType", "", `"0x"`},
		{"BooleanType", "02", `true`},
		{"FloatType", "7fc00000", `null`},
		{"DoubleType", "fff0000000000000", `null`},
		{"DoubleType", "8000000000000000", `-0.0`},
		{"TimestampType", "8000000000000000", `"+292275056-05-16 16:47:04.192Z"`},
		{"TimestampType", "0000e677d21fdc00", `"+10000-01-01 00:00:00.000Z"`},
		{"TimestampType", "ffffc6c7ba9a7a00", `"0025-05-04 11:52:46.848Z"`},
		{"DateType", "0000000000000000", `"1970-01-01 00:00:00.000Z"`},
		{"SimpleDateType", "00000000", `"-5877641-06-23"`},
		{"SimpleDateType", "ffffffff", `"+5881580-07-11"`},
		{"SimpleDateType", "7ff4fd48", `"-0006-05-08"`},
		{"TimeType", "00004e94914effff", `"23:59:59.999999999"`},
		{"InetAddressType", "00000000000000000000ffff01020304", `"1.2.3.4"`},
		{"InetAddressType", "fe800000000000000000000000000001", `"fe80:0:0:0:0:0:0:1"`},
		{"DecimalType", "0000000701", `1E-7`},
		{"DecimalType", "0000000601", `0.000001`},
		{"DecimalType", "ffffffff00", `0E+1`},
		{"IntegerType", "ff", `-1`},
		{"IntegerType", "00ff", `255`},
		{"DurationType", "000000", `""`},
		{"LexicalUUIDType", "0123456789ABCDEF0123456789abcdef", `"01234567-89ab-cdef-0123-456789abcdef"`},
		{"FrozenType(MapType(Int32Type,UTF8Type))", "00000002 00000004 00000001 00000001 61 00000004 00000002 00000001 62", `{"1": "a", "2": "b"}`},
		{"FrozenType(MapType(DoubleType,Int32Type))", "00000001 00000008 fff0000000000000 00000004 00000001", `{"null": 1}`},
		{"FrozenType(MapType(FrozenType(ListType(UTF8Type)),Int32Type))",
			"00000001 0000000d 00000001 00000005 2261225c0a 00000004 00000001", `{"[\"\\\"a\\\"\\\\\\n\"]": 1}`},
		{"FrozenType(MapType(FrozenType(" + valUDT + "),Int32Type))", "00000001 00000005 0000000161 00000004 0000000a",
			`{"{\"street\": \"a\", \"\\\"Name\\\"\": null, \"zip\": null}": 10}`},
		{"FrozenType(MapType(FrozenType(ListType(DoubleType)),Int32Type))", "00000001 00000010 00000001 00000008 3ff0000000000000 00000004 00000001", `{"[1.0]": 1}`},
		{"FrozenType(ListType(Int32Type))", "00000001 ffffffff", `[null]`},
		{"FrozenType(MapType(UTF8Type,UTF8Type))", "00000002 00000001 61 00000002 c3a9 00000001 62 00000000", `{"a": "é", "b": ""}`},
		{"FrozenType(ListType(AsciiType))", "00000003 00000001 61 ffffffff 00000002 6263", `["a", null, "bc"]`},
		{"FrozenType(ListType(Int32Type))", "00000000", `[]`},
		{"TupleType(Int32Type,UTF8Type)", "00000004 000000ff", `[255, null]`},
		{"FrozenType(" + valUDT + ")", "0000000161 ffffffff", `{"street": "a", "\"Name\"": null, "zip": null}`},
		{"VectorType(UTF8Type,2)", "0161 0162", `["a", "b"]`},
		{"VectorType(ShortType,2)", "020001 0200ff", `[1, 255]`},
		{"ReversedType(Int32Type)", "00000001", `1`},
		{"CounterColumnType", "0000000000000007", `7`},
		{"CompositeType(Int32Type,UTF8Type)", "0004 00000001 00 0001 61 00", `[1, "a"]`},
	}
	for _, tt := range tests {
		valCheck(t, tt.typ, valHex(t, tt.hex), tt.want)
	}
}

func TestDecodeComplex(t *testing.T) {
	el := func(path, value []byte) Element { return Element{Path: path, Value: value} }
	i32 := func(v int32) []byte { return valMarshal(t, "Int32Type", v) }
	txt := func(s string) []byte { return []byte(s) }
	tu1 := valMarshal(t, "TimeUUIDType", "fe2b4360-28c6-11e2-81c1-0800200c9a66")
	tu2 := valMarshal(t, "TimeUUIDType", "fe2b4361-28c6-11e2-81c1-0800200c9a66")
	field := func(i uint16) []byte { return []byte{byte(i >> 8), byte(i)} }
	tests := []struct {
		typ   string
		elems []Element
		want  string
	}{
		{"ListType(UTF8Type)", []Element{el(tu1, txt("b")), el(tu2, txt("a"))}, `["b", "a"]`},
		{"SetType(Int32Type)", []Element{el(i32(1), nil), el(i32(5), nil)}, `[1, 5]`},
		{"MapType(Int32Type,UTF8Type)", []Element{el(i32(1), txt("x")), el(i32(2), nil)}, `{"1": "x", "2": ""}`},
		{"MapType(UTF8Type,FrozenType(ListType(Int32Type)))",
			[]Element{el(txt("k"), valMarshal(t, "FrozenType(ListType(Int32Type))", []int{1, 2}))}, `{"k": [1, 2]}`},
		{valUDT, []Element{el(field(0), txt("Main")), el(field(2), valMarshal(t, "FrozenType(ListType(Int32Type))", []int{9}))},
			`{"street": "Main", "\"Name\"": null, "zip": [9]}`},
		{valUDT, []Element{el(field(1), i32(3))}, `{"street": null, "\"Name\"": 3, "zip": null}`},
		{"ListType(Int32Type)", nil, `null`},
		{"MapType(Int32Type,Int32Type)", []Element{}, `null`},
	}
	for _, tt := range tests {
		ty, err := ParseType(valLong(tt.typ))
		if err != nil {
			t.Fatal(err)
		}
		v, err := ty.DecodeComplex(tt.elems)
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		if got := string(JSON(v)); got != tt.want {
			t.Errorf("%s: JSON = %s, want %s", tt.typ, got, tt.want)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Errorf("%s: json.Marshal: %v", tt.typ, err)
		}
	}

	bad := []struct {
		typ   string
		elems []Element
	}{
		{valUDT, []Element{el(field(3), i32(1))}},             // no field 3
		{valUDT, []Element{el([]byte{0}, i32(1))}},            // 1-byte path
		{valUDT, []Element{el(field(1), []byte{1, 2})}},       // short int
		{"SetType(Int32Type)", []Element{el([]byte{1}, nil)}}, // short element
		{"FrozenType(SetType(Int32Type))", []Element{el(i32(1), nil)}},
		{"Int32Type", []Element{el(nil, i32(1))}},
	}
	for _, tt := range bad {
		ty, err := ParseType(valLong(tt.typ))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := ty.DecodeComplex(tt.elems); err == nil {
			t.Errorf("%s %v: got %v, want an error", tt.typ, tt.elems, v)
		}
	}
}

// Every value cut short, and other malformed bytes, is an ErrCorrupt that
// names the type.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		typ, hex string
	}{
		{"Int32Type", "000001"},
		{"LongType", "00000000000001"},
		{"ShortType", "000001"},
		{"ByteType", "0001"},
		{"BooleanType", "0001"},
		{"FloatType", "3f8000"},
		{"DoubleType", "3ff00000000000"},
		{"TimestampType", "00000000000001"},
		{"SimpleDateType", "800000"},
		{"TimeType", "00000000000001"},
		{"TimeType", "00004e94914f0000"}, // 24:00
		{"UUIDType", "0123456789abcdef0123456789abcd"},
		{"TimeUUIDType", "01"},
		{"InetAddressType", "7f0000"},
		{"DecimalType", "00000001"},
		{"DurationType", "0204"},
		{"DurationType", "020406 00"},
		{"DurationType", "f1ffffffff 00 00"}, // months beyond 32 bits
		{"UTF8Type", "ff61"},
		{"AsciiType", "80"},
		{"EmptyType", "00"},
		{"FrozenType(ListType(Int32Type))", "000000"},
		{"FrozenType(ListType(Int32Type))", "00000002 00000004 00000001"},
		{"FrozenType(ListType(Int32Type))", "00000001 00000004 000001"},
		{"FrozenType(ListType(Int32Type))", "00000001 00000003 000001"},
		{"FrozenType(ListType(Int32Type))", "00000001 fffffffe"},
		{"FrozenType(ListType(Int32Type))", "ffffffff"},
		{"FrozenType(ListType(Int32Type))", "7fffffff 00000000"},
		{"FrozenType(ListType(Int32Type))", "00000000 00"},
		{"FrozenType(MapType(Int32Type,UTF8Type))", "00000001 00000004 00000001"},
		{"FrozenType(MapType(UTF8Type,UTF8Type))", "00000001 00000001 61 00000001 ff"},
		{"FrozenType(MapType(UTF8Type,UTF8Type))", "00000001 00000002 c328 00000001 61"},
		{"FrozenType(ListType(AsciiType))", "00000002 00000001 61 00000001 80"},
		{"FrozenType(SetType(FrozenType(ListType(Int32Type))))", "00000001 00000008 00000001 000000"},
		{"TupleType(Int32Type,UTF8Type)", "00000004 000000"},
		{"TupleType(Int32Type,UTF8Type)", "00000004 00000001 00000001 61 00"},
		{"FrozenType(" + valUDT + ")", "00000002 61"},
		{"VectorType(FloatType,2)", "3f800000 400000"},
		{"VectorType(UTF8Type,2)", "0161 02"},
		{"VectorType(UTF8Type,2)", "0161 0162 00"},
		{"CompositeType(Int32Type,UTF8Type)", "0004 00000001 00 0001"},
	}
	for _, tt := range tests {
		ty, err := ParseType(valLong(tt.typ))
		if err != nil {
			t.Fatal(err)
		}
		v, err := ty.Decode(valHex(t, tt.hex))
		if err == nil {
			t.Errorf("%s %s: got %v, want an error", tt.typ, tt.hex, v)
			continue
		}
		if name := ty.base().CQL(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s %s: error %q does not wrap ErrCorrupt or name %s", tt.typ, tt.hex, err, name)
		}
	}
}

func TestComponents(t *testing.T) {
	comp, err := ParseType(valLong("CompositeType(Int32Type,UTF8Type)"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := comp.Components(valHex(t, "0004 00000001 00 0002 6162 00"))
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]byte{{0, 0, 0, 1}, []byte("ab")}; !reflect.DeepEqual(got, want) {
		t.Errorf("components = %x, want %x", got, want)
	}
	for _, bad := range []string{"0004 000000", "0004 00000001", "00", "0004 00000001 00", "0004 00000001 00 0000 00 0000 00"} {
		if c, err := comp.Components(valHex(t, bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("components of %s = %x, %v; want ErrCorrupt", bad, c, err)
		}
	}
	single, err := ParseType(valLong("UTF8Type"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := single.Components([]byte("k")); err != nil || len(got) != 1 || string(got[0]) != "k" {
		t.Errorf("single components = %q, %v", got, err)
	}
}

// The CQL names are what Cassandra 5.0.8's asCQL3Type prints.
func TestCQL(t *testing.T) {
	tests := []struct{ typ, want string }{
		{"UTF8Type", "text"},
		{"Int32Type", "int"},
		{"ReversedType(TimestampType)", "timestamp"},
		{"DateType", "timestamp"},
		{"SimpleDateType", "date"},
		{"MapType(UTF8Type,Int32Type)", "map<text, int>"},
		{"FrozenType(ListType(Int32Type))", "frozen<list<int>>"},
		{"FrozenType(ListType(ListType(Int32Type)))", "frozen<list<frozen<list<int>>>>"},
		{"ListType(FrozenType(ListType(Int32Type)))", "list<frozen<list<int>>>"},
		{"ReversedType(FrozenType(SetType(UTF8Type)))", "frozen<set<text>>"},
		{"TupleType(Int32Type,UTF8Type)", "frozen<tuple<int, text>>"},
		{"ListType(TupleType(Int32Type,FrozenType(ListType(Int32Type))))", "list<frozen<tuple<int, frozen<list<int>>>>>"},
		{valUDT, "addr"},
		{"FrozenType(" + valUDT + ")", "frozen<addr>"},
		{"UserType(ks,4164647220,6b:UTF8Type)", `"Addr "`},
		{"UserType(ks,73656c656374,6b:UTF8Type)", `"select"`},
		{"VectorType(FloatType,3)", "vector<float, 3>"},
		{"LexicalUUIDType", "'org.apache.cassandra.db.marshal.LexicalUUIDType'"},
	}
	for _, tt := range tests {
		ty, err := ParseType(valLong(tt.typ))
		if err != nil {
			t.Fatal(err)
		}
		if got := ty.CQL(); got != tt.want {
			t.Errorf("CQL(%s) = %s, want %s", tt.typ, got, tt.want)
		}
	}
}

func TestParseTypeParams(t *testing.T) {
	ty, err := ParseType(valLong("FrozenType(" + valUDT + ")"))
	if err != nil {
		t.Fatal(err)
	}
	u := ty.Params[0]
	if u.Keyspace != "ks" || u.UDTName != "addr" || !reflect.DeepEqual(u.Fields, []string{"street", "Name", "zip"}) || len(u.Params) != 3 ||
		u.Params[1].Name != "Int32Type" || u.Params[2].Name != "FrozenType" {
		t.Errorf("user type = %+v", u)
	}
	v, err := ParseType(valLong("VectorType(DoubleType, 4)"))
	if err != nil || v.Dimension != 4 || len(v.Params) != 1 || v.Params[0].Name != "DoubleType" {
		t.Errorf("vector = %+v, %v", v, err)
	}
	for _, bad := range []string{
		"UserType(ks,zz,6b:UTF8Type)", // name not hex
		"UserType(ks,6b,zz:UTF8Type)", // field name not hex
		"UserType(ks,6b,UTF8Type)",    // field without a name
		"VectorType(FloatType,x)",     // dimension not a number
		"VectorType(FloatType,0)",     // no elements
		"VectorType(FloatType)",       // no dimension
		"ListType(Int32Type",          // unbalanced
		"MapType(Int32Type,)",         // empty name
		"Int32Type)",                  // trailing
	} {
		if got, err := ParseType(valLong(bad)); err == nil {
			t.Errorf("ParseType(%s) = %+v, want an error", bad, got)
		}
	}
}

// fixedLength follows Cassandra 5.0.8's valueLengthIfFixed.
func TestFixedLength(t *testing.T) {
	tests := []struct {
		typ  string
		want int
	}{
		{"BooleanType", 1}, {"Int32Type", 4}, {"FloatType", 4}, {"LongType", 8}, {"DoubleType", 8},
		{"TimestampType", 8}, {"DateType", 8}, {"UUIDType", 16}, {"TimeUUIDType", 16},
		{"LexicalUUIDType", 16}, {"EmptyType", 0}, {"ReversedType(Int32Type)", 4},
		{"VectorType(FloatType,2)", 8}, {"VectorType(UTF8Type,2)", -1},
		{"ShortType", -1}, {"ByteType", -1}, {"SimpleDateType", -1}, {"TimeType", -1},
		{"DurationType", -1}, {"CounterColumnType", -1}, {"InetAddressType", -1},
		{"DecimalType", -1}, {"IntegerType", -1}, {"UTF8Type", -1}, {"BytesType", -1},
		{"FrozenType(ListType(Int32Type))", -1}, {"TupleType(Int32Type)", -1}, {valUDT, -1},
	}
	for _, tt := range tests {
		ty, err := ParseType(valLong(tt.typ))
		if err != nil {
			t.Fatal(err)
		}
		if got := ty.fixedLength(); got != tt.want {
			t.Errorf("fixedLength(%s) = %d, want %d", tt.typ, got, tt.want)
		}
	}
}

// FuzzDecode decodes random bytes as a handful of types: never a panic,
// and whatever decodes renders as valid JSON both ways.
func FuzzDecode(f *testing.F) {
	types := []string{
		"Int32Type", "DecimalType", "DurationType", "InetAddressType", "TimestampType", "SimpleDateType",
		"FrozenType(MapType(FrozenType(ListType(DoubleType)),UTF8Type))",
		"TupleType(Int32Type,FrozenType(SetType(IntegerType)),TimeUUIDType)",
		"FrozenType(" + valUDT + ")",
		"VectorType(UTF8Type,3)",
		"CompositeType(Int32Type,BytesType)",
	}
	parsed := make([]*Type, len(types))
	for i, s := range types {
		ty, err := ParseType(valLong(s))
		if err != nil {
			f.Fatal(err)
		}
		parsed[i] = ty
	}
	for i := range types {
		f.Add(uint8(i), []byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1})
	}
	f.Add(uint8(6), []byte{0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 8, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x61})
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		ty := parsed[int(which)%len(parsed)]
		v, err := ty.Decode(b)
		if err != nil {
			return
		}
		if j := JSON(v); !json.Valid(j) {
			t.Fatalf("%s %x: invalid JSON %s", ty.CQL(), b, j)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("%s %x: json.Marshal: %v", ty.CQL(), b, err)
		}
	})
}
