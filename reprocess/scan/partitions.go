package scan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// Partitions is the cassandra source: every (type, bucket, shard)
// partition of the store's paging index whose bucket overlaps [From, To),
// one task each, walked newest first by timeuuid pages. Asset ids are
// timeuuids minted at creation, so an id's time is its asset's creation
// time: a walk starts below To and stops at the first id older than From.
type Partitions struct {
	Pager    assets.Pager
	Layout   assets.Layout
	Types    []string
	From, To time.Time
	PageSize int
}

var _ Source = (*Partitions)(nil)

// Tasks lists the partitions.
func (p *Partitions) Tasks(context.Context) ([]string, error) {
	ps := p.Layout.Partitions(p.Types, p.From, p.To)
	keys := make([]string, len(ps))
	for i, part := range ps {
		keys[i] = part.String()
	}
	return keys, nil
}

// Walk pages one partition below from (an asset id) or below To.
func (p *Partitions) Walk(ctx context.Context, task, from string, fn func(Batch) error) error {
	part, err := assets.ParsePartition(task)
	if err != nil {
		return err
	}
	after := assets.MinID(p.To)
	if from != "" {
		id, err := assets.ParseID(from)
		if err != nil {
			return fmt.Errorf("checkpoint of %s: %w", task, err)
		}
		after = id
	}
	errStop := errors.New("reached created_from")
	err = assets.Walk(ctx, p.Pager, part, after, p.PageSize, func(page []assets.ID) error {
		items := make([]Item, 0, len(page))
		for _, id := range page {
			if id.Time().Before(p.From) {
				break
			}
			items = append(items, Item{ID: id, Type: part.Type, Bucket: part.Bucket})
		}
		if len(items) > 0 {
			if err := fn(Batch{Items: items, Position: items[len(items)-1].ID.String()}); err != nil {
				return err
			}
		}
		if len(items) < len(page) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return nil
}
