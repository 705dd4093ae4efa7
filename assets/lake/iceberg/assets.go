package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	ice "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/sstable"
)

// assetColumns are the columns of AssetSchema.
var assetColumns = []string{"asset_id", "asset_type", "created_at", "version", "metadata", "facts", "exported_at"}

// AssetSchema is the schema of assets in Iceberg: lake.Row's columns, the
// id a uuid and the times timestamptz.
func AssetSchema() *ice.Schema {
	strMap := func(k, v int) ice.Type {
		return &ice.MapType{KeyID: k, KeyType: ice.PrimitiveTypes.String, ValueID: v, ValueType: ice.PrimitiveTypes.String}
	}
	types := []ice.Type{ice.PrimitiveTypes.UUID, ice.PrimitiveTypes.String, ice.PrimitiveTypes.TimestampTz,
		ice.PrimitiveTypes.Int64, strMap(8, 9), strMap(10, 11), ice.PrimitiveTypes.TimestampTz}
	fields := make([]ice.NestedField, len(assetColumns))
	for i, c := range assetColumns {
		fields[i] = ice.NestedField{ID: i + 1, Name: c, Type: types[i]}
	}
	return ice.NewSchema(0, fields...)
}

// assetValues returns a row's values in AssetSchema's order, as the
// appenders take them; the map entries in key order.
func assetValues(r lake.Row) []any {
	strMap := func(m map[string]string) any {
		if m == nil {
			return nil
		}
		out := make(sstable.Map, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, sstable.MapEntry{Key: k, Value: m[k]})
		}
		return out
	}
	id, err := uuid.Parse(r.AssetID)
	var idv any = id
	if err != nil {
		idv = r.AssetID // fails the append, naming the value
	}
	return []any{idv, r.Type, sstable.Timestamp(r.CreatedAt.UnixMilli()), r.Version, strMap(r.Metadata),
		strMap(r.Facts), sstable.Timestamp(r.ExportedAt.UnixMilli())}
}

// AppendAssets appends rows to the table of opt in one commit that records
// source, unless the table holds a commit of source already: then it
// appends nothing and reports done false. A writer that may be cut short
// between committing and noting that it did (a crash) can so append the
// same rows again safely under the same source name.
func AppendAssets(ctx context.Context, opt Options, source string, rows []lake.Row) (done bool, err error) {
	each := func(ctx context.Context, fn func([]string, []any) error) error {
		for _, r := range rows {
			if err := fn(assetColumns, assetValues(r)); err != nil {
				return err
			}
		}
		return nil
	}
	_, err = commitRows(ctx, opt, write{sc: AssetSchema(), rows: each, props: ice.Properties{SourceProperty: source}})
	if errors.Is(err, ErrAlreadyExported) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("iceberg: append %s: %w", source, err)
	}
	return true, nil
}
