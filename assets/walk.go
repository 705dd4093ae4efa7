package assets

import (
	"context"
	"fmt"
)

// Pager is the part of a Store that pages a partition.
type Pager interface {
	Page(ctx context.Context, p Partition, after ID, limit int) ([]ID, error)
}

// Walk pages partition p from below after (zero: from the newest) to its
// end, size ids at a time, calling fn with each non-empty page in order.
// fn's error stops the walk and is returned.
func Walk(ctx context.Context, s Pager, p Partition, after ID, size int, fn func(page []ID) error) error {
	for {
		page, err := s.Page(ctx, p, after, size)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		after = page[len(page)-1]
	}
}
