package scan

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/sstable"
)

// Backup is the backup source: the assets table as of a snapshot, read
// from its SSTables with no load on the live cluster. A task is one token
// range of the merged snapshot; the position is how many rows of the range
// were handed out, which is stable because the snapshot never changes.
// Items carry the asset as the snapshot has it, so a filter needs no read
// of the live store.
type Backup struct {
	Snapshot  *sstable.Snapshot
	Splits    int
	AsOf      time.Time // zero: the snapshot's created_at
	BatchSize int

	ranges []sstable.TokenRange
}

var _ Source = (*Backup)(nil)

// Tasks names the token ranges "range-0003-of-0064".
func (b *Backup) Tasks(context.Context) ([]string, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	tasks := make([]string, len(b.ranges))
	for i := range tasks {
		tasks[i] = fmt.Sprintf("range-%04d-of-%04d", i, len(b.ranges))
	}
	return tasks, nil
}

func (b *Backup) init() error {
	if b.ranges != nil {
		return nil
	}
	if s := b.Snapshot.Schema; s != nil && (len(s.PartitionKey) != 1 || s.PartitionKey[0] != "asset_id") {
		return fmt.Errorf("backup source: the snapshot holds %s.%s (key %v), not the assets table (key asset_id)", s.Keyspace, s.Table, s.PartitionKey)
	}
	r, err := b.Snapshot.Ranges(max(1, b.Splits))
	if err != nil {
		return fmt.Errorf("backup source: %w", err)
	}
	b.ranges = r
	return nil
}

// Walk hands out the rows of one token range after position from.
func (b *Backup) Walk(ctx context.Context, task, from string, fn func(Batch) error) error {
	if err := b.init(); err != nil {
		return err
	}
	var i, n int
	if _, err := fmt.Sscanf(task, "range-%d-of-%d", &i, &n); err != nil || n != len(b.ranges) || i < 0 || i >= n {
		return fmt.Errorf("backup source: task %q is not one of this snapshot's %d ranges (was splits changed?)", task, len(b.ranges))
	}
	skip := 0
	if from != "" {
		var err error
		if skip, err = strconv.Atoi(from); err != nil || skip < 0 {
			return fmt.Errorf("backup source: checkpoint %q of %s: want a row count", from, task)
		}
	}
	size := max(1, b.BatchSize)
	seen := 0
	var items []Item
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		err := fn(Batch{Items: items, Position: strconv.Itoa(seen)})
		items = nil
		return err
	}
	err := b.Snapshot.ReadRange(b.ranges[i], sstable.ReadOptions{AsOf: b.AsOf}, func(r sstable.CQLRow) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		seen++
		if seen <= skip {
			return nil
		}
		a, err := AssetFromRow(r)
		if err != nil {
			return err
		}
		items = append(items, Item{ID: a.ID, Type: a.Type, Asset: &a})
		if len(items) == size {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup source: %s: %w", task, err)
	}
	return flush()
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
