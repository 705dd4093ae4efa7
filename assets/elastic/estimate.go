package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Count is how many documents the query matches now (_count): what a walk
// started now would find, give or take the writes until then.
func (s *Searcher) Count(ctx context.Context) (int64, error) {
	body, err := json.Marshal(map[string]any{"query": s.query()})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", s.q.Index, err)
	}
	res, err := s.es.Count(s.es.Count.WithContext(ctx), s.es.Count.WithIndex(s.q.Index), s.es.Count.WithBody(bytes.NewReader(body)))
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", s.q.Index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return 0, fmt.Errorf("count %s: %s", s.q.Index, errorText(res))
	}
	var out struct {
		Count *int64 `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Count == nil {
		return 0, fmt.Errorf("count %s: no count in the answer (%v)", s.q.Index, err)
	}
	return *out.Count, nil
}

// Sample returns up to n hits of the query drawn at random (a
// random_score ordering seeded by seed), with no point in time.
func (s *Searcher) Sample(ctx context.Context, n int, seed int64) ([]Hit, error) {
	source := []string{"asset_type"}
	if s.q.IDField != "_id" {
		source = append(source, s.q.IDField)
	}
	req := map[string]any{
		"size":    n,
		"_source": source,
		"query": map[string]any{"function_score": map[string]any{
			"query":        s.query(),
			"random_score": map[string]any{"seed": seed, "field": "_seq_no"},
			"boost_mode":   "replace",
		}},
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", s.q.Index, err)
	}
	res, err := s.es.Search(s.es.Search.WithContext(ctx), s.es.Search.WithIndex(s.q.Index), s.es.Search.WithBody(bytes.NewReader(body)))
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", s.q.Index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, fmt.Errorf("sample %s: %s", s.q.Index, errorText(res))
	}
	var out struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("sample %s: decode: %w", s.q.Index, err)
	}
	hits := make([]Hit, 0, len(out.Hits.Hits))
	for _, h := range out.Hits.Hits {
		hit, err := s.hit(h.ID, h.Source)
		if err != nil {
			return nil, err
		}
		hits = append(hits, hit)
	}
	return hits, nil
}

// query is the query DSL, match_all when none was given.
func (s *Searcher) query() map[string]any {
	if s.q.Query == nil {
		return map[string]any{"match_all": map[string]any{}}
	}
	return s.q.Query
}
