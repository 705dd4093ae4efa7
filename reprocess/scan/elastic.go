package scan

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/reprocess/reprocess/assets/elastic"
)

// Elastic is the elasticsearch source: one task, the query, paged with a
// point in time and search_after; the position is the cursor as JSON.
type Elastic struct {
	Searcher *elastic.Searcher
	Index    string
}

var _ Source = (*Elastic)(nil)

// Tasks is the one task "elasticsearch/INDEX".
func (e *Elastic) Tasks(context.Context) ([]string, error) {
	return []string{"elasticsearch/" + e.Index}, nil
}

// Walk pages the query after the cursor from, and releases the point in
// time at the end.
func (e *Elastic) Walk(ctx context.Context, task, from string, fn func(Batch) error) error {
	var cur elastic.Cursor
	if from != "" {
		if err := json.Unmarshal([]byte(from), &cur); err != nil {
			return fmt.Errorf("checkpoint of %s: %w", task, err)
		}
	}
	for {
		hits, next, err := e.Searcher.Next(ctx, cur)
		if err != nil {
			return err
		}
		if len(hits) == 0 {
			return e.Searcher.Close(ctx, next)
		}
		pos, err := json.Marshal(next)
		if err != nil {
			return err
		}
		items := make([]Item, len(hits))
		for i, h := range hits {
			items[i] = Item{ID: h.ID, Type: h.Type}
		}
		if err := fn(Batch{Items: items, Position: string(pos)}); err != nil {
			return err
		}
		cur = next
	}
}
