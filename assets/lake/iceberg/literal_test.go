package iceberg

import (
	"math/big"
	"net/netip"
	"strings"
	"testing"

	ice "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets/sstable"
)

// TestLiteral: each partition key value becomes the literal of its
// column's Iceberg type, the value the export writes; a value no filter
// can select by is refused, naming its type.
func TestLiteral(t *testing.T) {
	id := uuid.MustParse("5f1c3a00-c4a1-11f0-8000-000000000001")
	for _, tc := range []struct {
		typ  ice.Type
		v    any
		want string // the literal's text, or an error's
	}{
		{ice.PrimitiveTypes.String, "owner-1", "owner-1"},
		{ice.PrimitiveTypes.String, netip.MustParseAddr("10.0.0.1"), "10.0.0.1"},
		{ice.PrimitiveTypes.Int32, int64(-7), "-7"},
		{ice.PrimitiveTypes.Int64, int64(1) << 40, "1099511627776"},
		{ice.PrimitiveTypes.Float32, float32(1.5), "1.5"},
		{ice.PrimitiveTypes.Float64, 2.25, "2.25"},
		{ice.PrimitiveTypes.Bool, true, "true"},
		{ice.PrimitiveTypes.Binary, sstable.Blob{0xca, 0xfe}, "\xca\xfe"},
		{ice.PrimitiveTypes.UUID, id, id.String()},
		{ice.PrimitiveTypes.TimestampTz, sstable.Timestamp(1_000), "1970-01-01 00:00:01.000000"},
		{ice.PrimitiveTypes.Date, sstable.Date(1), "1970-01-02"},
		{ice.PrimitiveTypes.Time, sstable.Time(1_000_000_999), "00:00:01"},
		{ice.DecimalTypeOf(38, 0), big.NewInt(12345), "12345"},
		{ice.DecimalTypeOf(38, 0), new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil), "error: *big.Int 100000000000000000000000000000000000000 does not fit an Iceberg decimal(38, 0)"},
		{ice.PrimitiveTypes.Int32, "7", "error: string 7 does not fit an Iceberg int"},
		{&ice.ListType{ElementID: 9, Element: ice.PrimitiveTypes.Int32}, []any{int64(1)}, "error: []interface {} [1] does not fit an Iceberg list<int>"},
	} {
		lit, err := literal(tc.typ, tc.v)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else if got = lit.String(); !bindsTo(lit, tc.typ) {
			t.Errorf("%s of %v: a literal of %s, which does not convert", tc.typ, tc.v, lit.Type())
		}
		if !strings.Contains(got, tc.want) || strings.HasPrefix(tc.want, "error: ") != (err != nil) {
			t.Errorf("%s of %v: %s, want %s", tc.typ, tc.v, got, tc.want)
		}
	}
}

// bindsTo reports whether a filter can compare lit with a column of type
// typ: it converts to typ.
func bindsTo(lit ice.Literal, typ ice.Type) bool {
	_, err := lit.To(typ)
	return err == nil
}
