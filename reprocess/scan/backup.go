package scan

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/sstable"
)

// Backup is the backup source: the assets table as of a snapshot, read
// from its SSTables with no load on the live cluster. A task is one token
// range of the merged snapshot; the position is how many rows of the range
// were handed out, which is stable because the snapshot never changes.
// Items carry the asset as the snapshot has it, so a filter needs no read
// of the live store.
//
// With Changes (the partitions changed since an older snapshot, see
// sstable.ChangedSince), a range hands out only the assets of its changed
// partitions, re-merged across the whole snapshot, and an asset the
// snapshot has deleted since as an item marked Deleted with no Asset: a
// filter drops it as it drops an asset gone from the store; without a
// filter its event reaches the workers, whose read of the live store finds
// the asset gone (outcome missing) or, if it was written again since the
// snapshot, as it is now.
type Backup struct {
	Snapshot *sstable.Snapshot
	// Splits is how many token ranges (tasks) the snapshot is cut into;
	// 0 sizes them from the snapshot's data, SplitBytes a range (see
	// sstable.Plan), so the same snapshot always gives the same tasks.
	Splits     int
	SplitBytes int64     // 0: sstable.DefaultSplitBytes
	AsOf       time.Time // zero: the snapshot's created_at
	BatchSize  int
	Changes    *sstable.Changes

	ranges  []sstable.TokenRange
	changed [][]sstable.PartitionKey // per range, its changed partitions
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
	if s := b.Snapshot.Schema; s != nil && !backup.HoldsAssets(b.Snapshot) {
		return fmt.Errorf("backup source: the snapshot holds %s.%s (key %v), not the assets table (key asset_id)", s.Keyspace, s.Table, s.PartitionKey)
	}
	n := b.Splits
	if n <= 0 {
		n = sstable.Plan(b.Snapshot, sstable.Budget{SplitBytes: b.SplitBytes}).Splits
	}
	r, err := b.Snapshot.Ranges(n)
	if err != nil {
		return fmt.Errorf("backup source: %w", err)
	}
	b.ranges = r
	if b.Changes != nil {
		b.changed = make([][]sstable.PartitionKey, len(r))
		for _, k := range b.Changes.Keys {
			i := sort.Search(len(r), func(i int) bool { return r[i].End == nil || k.Token.Compare(*r[i].End) <= 0 })
			b.changed[i] = append(b.changed[i], k)
		}
	}
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
	add := func(it Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if seen++; seen <= skip {
			return nil
		}
		if items = append(items, it); len(items) == size {
			return flush()
		}
		return nil
	}
	if err := b.read(i, add); err != nil {
		return fmt.Errorf("backup source: %s: %w", task, err)
	}
	return flush()
}

// read calls add with each item of range i: every asset, or with Changes
// those of the changed partitions, deleted ones included.
func (b *Backup) read(i int, add func(Item) error) error {
	o := sstable.ReadOptions{AsOf: b.AsOf}
	if b.Changes == nil {
		return b.Snapshot.ReadRange(b.ranges[i], o, func(r sstable.CQLRow) error {
			a, err := backup.AssetFromRow(r)
			if err != nil {
				return err
			}
			return add(Item{ID: a.ID, Type: a.Type, Asset: &a})
		})
	}
	key := b.Snapshot.Tables[0].Header.PartitionKey
	return b.Snapshot.ReadPartitions(b.changed[i], o, func(k sstable.PartitionKey, r *sstable.CQLRow) error {
		if r == nil {
			id, err := key.Decode(k.Key)
			u, ok := id.(uuid.UUID)
			if err != nil || !ok {
				return fmt.Errorf("deleted partition %x: not an asset id (%v)", k.Key, err)
			}
			return add(Item{ID: assets.ID(u), Deleted: true})
		}
		a, err := backup.AssetFromRow(*r)
		if err != nil {
			return err
		}
		return add(Item{ID: a.ID, Type: a.Type, Asset: &a})
	})
}
