package iceberg

import (
	"fmt"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	ice "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets/sstable"
)

// appender appends one decoded value (nil for null) to an Arrow builder of
// its Iceberg type.
type appender func(b array.Builder, v any) error

// counts are what converting values changed, for the export's report.
type counts struct {
	TimesTruncated int64 // time values with nanoseconds below a microsecond
}

// maxDecimal38 is 10^38, the first value a decimal(38, 0) cannot hold.
var maxDecimal38 = new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)

// appenderFor returns the appender of values of type t.
func appenderFor(t ice.Type, c *counts) appender {
	switch t := t.(type) {
	case *ice.ListType:
		elem := appenderFor(t.Element, c)
		return nonNull(func(b array.Builder, v any) error { return appendList(b.(*array.ListBuilder), elem, v) })
	case *ice.MapType:
		key, val := appenderFor(t.KeyType, c), appenderFor(t.ValueType, c)
		return nonNull(func(b array.Builder, v any) error { return appendMap(b.(*array.MapBuilder), key, val, v) })
	case *ice.StructType:
		fields := make([]appender, len(t.FieldList))
		for i, f := range t.FieldList {
			fields[i] = appenderFor(f.Type, c)
		}
		return nonNull(func(b array.Builder, v any) error { return appendStruct(b.(*array.StructBuilder), t, fields, v) })
	}
	return nonNull(func(b array.Builder, v any) error { return appendPrimitive(b, v, c) })
}

// nonNull wraps an appender of non-null values.
func nonNull(f appender) appender {
	return func(b array.Builder, v any) error {
		if v == nil {
			b.AppendNull()
			return nil
		}
		return f(b, v)
	}
}

func appendList(b *array.ListBuilder, elem appender, v any) error {
	items, ok := v.([]any)
	if !ok {
		return fmt.Errorf("%T is not a list", v)
	}
	b.Append(true)
	for _, e := range items {
		if err := elem(b.ValueBuilder(), e); err != nil {
			return err
		}
	}
	return nil
}

func appendMap(b *array.MapBuilder, key, val appender, v any) error {
	m, ok := v.(sstable.Map)
	if !ok {
		return fmt.Errorf("%T is not a map", v)
	}
	b.Append(true)
	for _, e := range m {
		if err := key(b.KeyBuilder(), e.Key); err != nil {
			return err
		}
		if err := val(b.ItemBuilder(), e.Value); err != nil {
			return err
		}
	}
	return nil
}

// appendStruct appends a user type value (fields by name) or a tuple
// (fields by position); a field the value lacks is null.
func appendStruct(b *array.StructBuilder, t *ice.StructType, fields []appender, v any) error {
	vals := make([]any, len(fields))
	switch x := v.(type) {
	case sstable.UDT:
		for _, f := range x {
			for i, tf := range t.FieldList {
				if tf.Name == f.Name {
					vals[i] = f.Value
				}
			}
		}
	case []any:
		copy(vals, x)
	default:
		return fmt.Errorf("%T is not a user type or tuple", v)
	}
	b.Append(true)
	for i, f := range fields {
		if err := f(b.FieldBuilder(i), vals[i]); err != nil {
			return fmt.Errorf("field %s: %w", t.FieldList[i].Name, err)
		}
	}
	return nil
}

// appendPrimitive appends a non-null value of a primitive type, the
// builder's type telling which.
func appendPrimitive(b array.Builder, v any, c *counts) error {
	ok := true
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(text(v))
	case *array.Int32Builder:
		var n int64
		n, ok = v.(int64)
		b.Append(int32(n))
	case *array.Int64Builder:
		var n int64
		n, ok = v.(int64)
		b.Append(n)
	case *array.Float32Builder:
		var f float32
		f, ok = v.(float32)
		b.Append(f)
	case *array.Float64Builder:
		var f float64
		f, ok = v.(float64)
		b.Append(f)
	case *array.BooleanBuilder:
		var x bool
		x, ok = v.(bool)
		b.Append(x)
	case *array.BinaryBuilder:
		var x sstable.Blob
		x, ok = v.(sstable.Blob)
		b.Append(x)
	case *extensions.UUIDBuilder:
		var x uuid.UUID
		x, ok = v.(uuid.UUID)
		b.Append(x)
	default:
		return appendTemporal(b, v, c)
	}
	if !ok {
		return fmt.Errorf("%T does not fit an Iceberg %s", v, b.Type())
	}
	return nil
}

// appendTemporal appends timestamps, dates, times and varints.
func appendTemporal(b array.Builder, v any, c *counts) error {
	switch b := b.(type) {
	case *array.TimestampBuilder:
		ms, ok := v.(sstable.Timestamp)
		if !ok {
			break
		}
		if int64(ms) > maxMillis || int64(ms) < -maxMillis {
			return fmt.Errorf("timestamp %s is beyond Iceberg's microsecond range", ms)
		}
		b.Append(arrow.Timestamp(int64(ms) * 1000))
		return nil
	case *array.Date32Builder:
		if d, ok := v.(sstable.Date); ok {
			b.Append(arrow.Date32(d))
			return nil
		}
	case *array.Time64Builder:
		if ns, ok := v.(sstable.Time); ok {
			if ns%1000 != 0 {
				c.TimesTruncated++
			}
			b.Append(arrow.Time64(int64(ns) / 1000))
			return nil
		}
	case *array.Decimal128Builder:
		n, ok := v.(*big.Int)
		if !ok {
			break
		}
		if new(big.Int).Abs(n).Cmp(maxDecimal38) >= 0 {
			return fmt.Errorf("varint %s has more than the 38 digits of an Iceberg decimal(38, 0)", n)
		}
		b.Append(decimal128.FromBigInt(n))
		return nil
	}
	return fmt.Errorf("%T does not fit an Iceberg %s", v, b.Type())
}

// maxMillis is the largest millisecond count whose microseconds fit int64.
const maxMillis = (1<<63 - 1) / 1000

// text is a value's string form: a string itself, else its Cassandra text
// (inet, duration, decimal), else its SELECT JSON text.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return string(sstable.JSON(v))
}
