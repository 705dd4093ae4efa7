package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
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
//
// A wide partition is split as it is walked: once one walk of it has read
// SplitAfter ids, the rest of it, from the last id emitted down to the
// start of its bucket (or From), is cut into SplitWays timeuuid ranges of
// equal time (assets.SplitBelow), which the scanner walks at once, each
// with its own checkpoint. Parts are named by their range and never split
// again.
type Partitions struct {
	Pager    assets.Pager
	Layout   assets.Layout
	Types    []string
	From, To time.Time
	PageSize int
	// SplitAfter is how many ids one walk of a partition reads before it
	// splits the rest; 0 never splits.
	SplitAfter int
	// SplitWays is how many ranges a split makes (fewer when the time
	// left is shorter than that many 100 ns ticks).
	SplitWays int
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

// Walk pages one partition, or one range of a split one, below from (an
// asset id) or from its top.
func (p *Partitions) Walk(ctx context.Context, task, from string, fn func(Batch) error) error {
	part, r, whole, err := parseTask(task)
	if err != nil {
		return err
	}
	var after assets.ID
	if whole {
		after = assets.MinID(p.To)
	}
	if from != "" {
		if after, err = assets.ParseID(from); err != nil {
			return fmt.Errorf("checkpoint of %s: %w", task, err)
		}
	}
	split := whole && p.SplitAfter > 0 && p.SplitWays > 1
	seen := 0
	errStop := errors.New("walk ended")
	err = assets.WalkRange(ctx, p.Pager, part, r, after, p.PageSize, func(page []assets.ID) error {
		items := make([]Item, 0, len(page))
		for _, id := range page {
			if id.Time().Before(p.From) {
				break
			}
			items = append(items, Item{ID: id, Type: part.Type, Bucket: part.Bucket})
		}
		if len(items) == 0 {
			return errStop
		}
		b := Batch{Items: items, Position: items[len(items)-1].ID.String()}
		seen += len(page)
		if split && seen >= p.SplitAfter && len(items) == len(page) {
			b.Split = p.parts(part, items[len(items)-1].ID)
		}
		if err := fn(b); err != nil {
			return err
		}
		if len(items) < len(page) || len(b.Split) > 0 {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return nil
}

// parts cuts the rest of part below cursor into ranges, named as
// Range.String does; nil when there is nothing to cut.
func (p *Partitions) parts(part assets.Partition, cursor assets.ID) []string {
	floor := part.Bucket
	if p.From.After(floor) {
		floor = p.From
	}
	var names []string
	for _, r := range assets.SplitBelow(cursor, floor, p.SplitWays) {
		names = append(names, r.String())
	}
	return names
}

// parseTask reads a task key: a partition, whole, or one range of it.
func parseTask(task string) (assets.Partition, assets.Range, bool, error) {
	key, part, isPart := strings.Cut(task, assets.SubtaskMark)
	p, err := assets.ParsePartition(key)
	if err != nil || !isPart {
		return p, assets.Range{}, true, err
	}
	r, err := assets.ParseRange(part)
	if err != nil {
		return p, r, false, fmt.Errorf("task %q: %w", task, err)
	}
	return p, r, false, nil
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
	whole := *p // a count walks each partition to its end, unsplit
	whole.SplitAfter = 0
	var count atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, task := range walk {
		g.Go(func() error {
			return whole.Walk(gctx, task, from[task], func(b Batch) error {
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
