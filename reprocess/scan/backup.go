package scan

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/reprocess/reprocess/assets/backup"
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
	if s := b.Snapshot.Schema; s != nil && !backup.HoldsAssets(b.Snapshot) {
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
		a, err := backup.AssetFromRow(r)
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
