package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// esIndex creates an index of n asset documents on the real Elasticsearch
// and returns the ids of the ones whose format is heic.
func esIndex(t *testing.T, n int) (*elasticsearch.Client, string, map[assets.ID]bool) {
	t.Helper()
	urls := need.Service(t, "REPROCESS_TEST_ES_URL", "real Elasticsearch")
	es, err := elastic.NewClient(elastic.Config{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("assets-test-%08x", rand.Uint32())
	mapping := `{"settings": {"number_of_shards": 2, "number_of_replicas": 0},
	  "mappings": {"properties": {"asset_id": {"type": "keyword"}, "asset_type": {"type": "keyword"}, "format": {"type": "keyword"}}}}`
	res, err := es.Indices.Create(index, es.Indices.Create.WithBody(strings.NewReader(mapping)))
	if err != nil || res.IsError() {
		t.Fatalf("create index: %v %v", err, res)
	}
	res.Body.Close()
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	})
	var bulk bytes.Buffer
	heic := map[assets.ID]bool{}
	formats := []string{"heic", "jpeg", "png"}
	for i := range n {
		id := assets.NewID(time.Now().Add(-time.Duration(i) * time.Minute))
		f := formats[i%3]
		if f == "heic" {
			heic[id] = true
		}
		fmt.Fprintf(&bulk, `{"index": {"_index": %q, "_id": %q}}`+"\n", index, id)
		doc, _ := json.Marshal(map[string]string{"asset_id": id.String(), "asset_type": "image", "format": f})
		bulk.Write(append(doc, '\n'))
	}
	res, err = es.Bulk(&bulk, es.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	res.Body.Close()
	return es, index, heic
}

func TestElasticSourceOnRealElasticsearch(t *testing.T) {
	es, index, heic := esIndex(t, 600)
	for _, idField := range []string{"_id", "asset_id"} {
		t.Run("id_field="+idField, func(t *testing.T) {
			q := elastic.Query{Index: index, Query: map[string]any{"term": map[string]any{"format": "heic"}}, IDField: idField, PageSize: 37, KeepAlive: time.Minute}
			src := &scan.Elastic{Searcher: elastic.NewSearcher(es, q), Index: index}
			seen := map[assets.ID]int{}
			var positions []string
			stop := errors.New("crash")
			// Walk three batches, "crash", then resume from the last position.
			err := src.Walk(context.Background(), "t", "", func(b scan.Batch) error {
				for _, it := range b.Items {
					seen[it.ID]++
					if it.Type != "image" {
						t.Errorf("item %s has type %q, want image from the document", it.ID, it.Type)
					}
				}
				positions = append(positions, b.Position)
				if len(positions) == 3 {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Fatalf("first walk: %v", err)
			}
			err = src.Walk(context.Background(), "t", positions[2], func(b scan.Batch) error {
				for _, it := range b.Items {
					seen[it.ID]++
				}
				return nil
			})
			if err != nil {
				t.Fatalf("resumed walk: %v", err)
			}
			if len(seen) != len(heic) {
				t.Errorf("found %d assets, want the %d heic ones", len(seen), len(heic))
			}
			for id, n := range seen {
				if !heic[id] || n != 1 {
					t.Errorf("asset %s seen %d times (heic: %v)", id, n, heic[id])
				}
			}
		})
	}
}

func TestElasticCursorAfterPITExpiry(t *testing.T) {
	es, index, heic := esIndex(t, 300)
	q := elastic.Query{Index: index, Query: map[string]any{"term": map[string]any{"format": "heic"}}, PageSize: 25, KeepAlive: time.Minute}
	for _, tc := range []struct {
		idField string
		resumes bool
	}{{"asset_id", true}, {"_id", false}} {
		t.Run("id_field="+tc.idField, func(t *testing.T) {
			q.IDField = tc.idField
			s := elastic.NewSearcher(es, q)
			first, cur, err := s.Next(context.Background(), elastic.Cursor{})
			if err != nil || len(first) != 25 {
				t.Fatalf("first page: %d hits, %v", len(first), err)
			}
			// Expire the point in time under the cursor.
			if err := s.Close(context.Background(), cur); err != nil {
				t.Fatal(err)
			}
			seen := map[assets.ID]bool{}
			for _, h := range first {
				seen[h.ID] = true
			}
			for {
				hits, next, err := s.Next(context.Background(), cur)
				if !tc.resumes {
					if !errors.Is(err, elastic.ErrPITExpired) || !strings.Contains(err.Error(), "id_field") {
						t.Fatalf("resume after expiry with _id: %v, want ErrPITExpired with advice", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("resume after expiry: %v", err)
				}
				if len(hits) == 0 {
					s.Close(context.Background(), next)
					break
				}
				for _, h := range hits {
					if seen[h.ID] {
						t.Errorf("asset %s returned twice across the new point in time", h.ID)
					}
					seen[h.ID] = true
				}
				cur = next
			}
			if len(seen) != len(heic) {
				t.Errorf("after a PIT expiry found %d assets, want %d", len(seen), len(heic))
			}
		})
	}
}

func TestElasticBadIndexIsAClearError(t *testing.T) {
	urls := need.Service(t, "REPROCESS_TEST_ES_URL", "real Elasticsearch")
	es, err := elastic.NewClient(elastic.Config{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	s := elastic.NewSearcher(es, elastic.Query{Index: "no-such-index-x", IDField: "_id", PageSize: 10, KeepAlive: time.Minute})
	_, _, err = s.Next(context.Background(), elastic.Cursor{})
	if err == nil || !strings.Contains(err.Error(), "no-such-index-x") {
		t.Errorf("got %v, want an error naming the index", err)
	}
}
