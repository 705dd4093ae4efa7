package backup

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/sstable"
)

// HoldsAssets reports whether s is a snapshot of the assets table, whose
// partition key is asset_id. Without a schema.cql it cannot tell: false.
func HoldsAssets(s *sstable.Snapshot) bool {
	return s.Schema != nil && len(s.Schema.PartitionKey) == 1 && s.Schema.PartitionKey[0] == "asset_id"
}

// AssetFromRow reads an asset from a row of the assets table, by the
// Go types its columns decode to.
func AssetFromRow(r sstable.CQLRow) (assets.Asset, error) {
	var a assets.Asset
	var errs []error
	get := func(col string, ok bool) {
		if !ok && r.Get(col) != nil {
			errs = append(errs, fmt.Errorf("%s: %v (%T) is not an assets-table value", col, r.Get(col), r.Get(col)))
		}
	}
	id, ok := r.Get("asset_id").(uuid.UUID)
	get("asset_id", ok)
	a.ID = assets.ID(id)
	a.Type, ok = r.Get("asset_type").(string)
	get("asset_type", ok)
	created, ok := r.Get("created_at").(sstable.Timestamp)
	get("created_at", ok)
	if ok {
		a.CreatedAt = created.Time()
	}
	a.Version, ok = r.Get("version").(int64)
	get("version", ok)
	a.Metadata, ok = textMap[string](r.Get("metadata"))
	get("metadata", ok)
	a.Facts, ok = textMap[string](r.Get("facts"))
	get("facts", ok)
	versions, ok := textMap[int64](r.Get("transforms"))
	get("transforms", ok)
	for k, v := range versions {
		if a.Transforms == nil {
			a.Transforms = map[string]int{}
		}
		a.Transforms[k] = int(v)
	}
	if r.Get("asset_id") == nil {
		errs = append(errs, errors.New("asset_id: missing"))
	}
	if err := errors.Join(errs...); err != nil {
		return assets.Asset{}, fmt.Errorf("row is not an asset: %w", err)
	}
	return a, nil
}

// textMap converts a decoded map<text, V>; nil (an empty map) gives nil.
func textMap[V any](v any) (map[string]V, bool) {
	m, ok := v.(sstable.Map)
	if !ok || len(m) == 0 {
		return nil, ok
	}
	out := make(map[string]V, len(m))
	for _, e := range m {
		k, kok := e.Key.(string)
		val, vok := e.Value.(V)
		if !kok || !vok {
			return nil, false
		}
		out[k] = val
	}
	return out, true
}
