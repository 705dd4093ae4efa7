package assets

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Pager is the part of a Store that pages a partition.
type Pager interface {
	Page(ctx context.Context, p Partition, after ID, limit int) ([]ID, error)
}

// Walk pages partition p from below after (zero: from the newest) to its
// end, size ids at a time, calling fn with each non-empty page in order.
// fn's error stops the walk and is returned.
func Walk(ctx context.Context, s Pager, p Partition, after ID, size int, fn func(page []ID) error) error {
	return WalkRange(ctx, s, p, Range{}, after, size, fn)
}

// WalkRange is Walk over the ids of p in r: it starts below after, or
// below r.Hi when after is zero, and ends at the first id below r.Lo.
func WalkRange(ctx context.Context, s Pager, p Partition, r Range, after ID, size int, fn func(page []ID) error) error {
	if after.IsZero() {
		after = r.Hi
	}
	for {
		page, err := s.Page(ctx, p, after, size)
		if err != nil {
			return err
		}
		end := len(page)
		for end > 0 && !r.Contains(page[end-1]) {
			end--
		}
		if end > 0 {
			if err := fn(page[:end]); err != nil {
				return fmt.Errorf("walk %s: %w", p, err)
			}
		}
		if end < len(page) || len(page) == 0 {
			return nil
		}
		after = page[len(page)-1]
	}
}

// PartitionCount is how many ids a partition holds.
type PartitionCount struct {
	Partition
	Count int `json:"count"`
}

// Count walks ps, concurrency at a time, size ids a page, and returns the
// non-empty ones with their id counts in (type, bucket, shard) order.
// done, if not nil, is called with how many partitions were walked.
func Count(ctx context.Context, s Pager, ps []Partition, size, concurrency int, done func(int64)) ([]PartitionCount, error) {
	if size < 1 || concurrency < 1 {
		return nil, fmt.Errorf("page size and concurrency must be positive, got %d and %d", size, concurrency)
	}
	var (
		mu     sync.Mutex
		counts []PartitionCount
		walked int64
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, p := range ps {
		g.Go(func() error {
			n := 0
			if err := Walk(ctx, s, p, ID{}, size, func(page []ID) error { n += len(page); return nil }); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if n > 0 {
				counts = append(counts, PartitionCount{p, n})
			}
			walked++
			if done != nil {
				done(walked)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(counts, func(a, b PartitionCount) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), a.Bucket.Compare(b.Bucket), cmp.Compare(a.Shard, b.Shard))
	})
	return counts, nil
}
