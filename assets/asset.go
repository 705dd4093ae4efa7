package assets

import (
	"maps"
	"time"
)

// Asset is one asset's row: identity, production metadata and what the
// pipeline derived from it.
type Asset struct {
	ID        ID        `json:"asset_id"`
	Type      string    `json:"asset_type"`
	CreatedAt time.Time `json:"created_at"`
	// Metadata is production's: field name to value, written by field.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Facts are derived by transforms: fact name to value.
	Facts map[string]string `json:"facts,omitempty"`
	// Transforms maps a transform name to the version last applied.
	Transforms map[string]int `json:"transforms,omitempty"`
	// Version changes with every write; see Store.UpdateIf.
	Version int64 `json:"version"`
}

// Clone returns a deep copy.
func (a Asset) Clone() Asset {
	a.Metadata = maps.Clone(a.Metadata)
	a.Facts = maps.Clone(a.Facts)
	a.Transforms = maps.Clone(a.Transforms)
	return a
}

// Update names the cells one write sets. Entries not named are left alone,
// whoever wrote them.
type Update struct {
	Metadata   map[string]string // metadata fields to set
	Facts      map[string]string // facts to set
	Transforms map[string]int    // transform versions to record
}

// Empty reports whether the update sets nothing.
func (u Update) Empty() bool {
	return len(u.Metadata) == 0 && len(u.Facts) == 0 && len(u.Transforms) == 0
}

// Apply sets u's entries on a (a copy-free helper for stores that keep rows
// as values).
func (u Update) Apply(a *Asset) {
	a.Metadata = setAll(a.Metadata, u.Metadata)
	a.Facts = setAll(a.Facts, u.Facts)
	a.Transforms = setAll(a.Transforms, u.Transforms)
}

func setAll[V any](dst, src map[string]V) map[string]V {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]V, len(src))
	}
	maps.Copy(dst, src)
	return dst
}

// NextVersion returns the version a write made at now stores over prev: the
// write time in microseconds, or prev+1 when the clock has not moved past
// prev. Stores use it so versions from different writers stay comparable.
func NextVersion(prev int64, now time.Time) int64 {
	v := now.UnixMicro()
	if v <= prev {
		v = prev + 1
	}
	return v
}
