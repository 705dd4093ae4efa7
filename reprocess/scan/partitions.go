package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

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

// Count counts the ids left in tasks by walking the paging index as Walk
// does, each task from its position in from (its checkpoint; absent: its
// start). With sample > 0 and fewer than the tasks, it walks sample of
// them taken at random and extrapolates by the number of tasks: an
// estimate (exact false).
func (p *Partitions) Count(ctx context.Context, tasks []string, from map[string]string, sample int) (n int64, exact bool, err error) {
	walk, exact := tasks, sample <= 0 || sample >= len(tasks)
	if !exact {
		walk = make([]string, sample)
		for i, x := range rand.Perm(len(tasks))[:sample] {
			walk[i] = tasks[x]
		}
	}
	var count atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, task := range walk {
		g.Go(func() error {
			return p.Walk(gctx, task, from[task], func(b Batch) error {
				count.Add(int64(len(b.Items)))
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return 0, false, fmt.Errorf("count the ids left: %w", err)
	}
	if exact {
		return count.Load(), true, nil
	}
	return count.Load() * int64(len(tasks)) / int64(sample), false, nil
}
