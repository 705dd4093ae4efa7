package stock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Reindex writes assets into an Elasticsearch index and, when its spec
// names an alias, switches the alias to the index once the job succeeded.
type Reindex struct {
	version int
	index   string
	mapping int
	alias   string // "": none to switch
	es      *elasticsearch.Client
	bulk    esutil.BulkIndexer
}

func newReindex(es *elasticsearch.Client, version int, index string, mapping int) (*Reindex, error) {
	bulk, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client: es, Index: index, NumWorkers: 2, FlushBytes: 1 << 20, FlushInterval: 50 * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("reindex into %s: %w", index, err)
	}
	return &Reindex{version: version, index: index, mapping: mapping, es: es, bulk: bulk}, nil
}

func (r *Reindex) Name() string { return "reindex" }
func (r *Reindex) Version() int { return r.version }

// Document is what reindex writes for an asset.
type Document struct {
	AssetID        string            `json:"asset_id"`
	Type           string            `json:"asset_type"`
	CreatedAt      time.Time         `json:"created_at"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Facts          map[string]string `json:"facts,omitempty"`
	MappingVersion int               `json:"mapping_version"`
}

// Apply indexes a and waits for Elasticsearch's answer. A version conflict
// means the index already holds this version or a newer one: done.
func (r *Reindex) Apply(ctx context.Context, a assets.Asset) (transform.Result, error) {
	body, err := json.Marshal(Document{AssetID: a.ID.String(), Type: a.Type, CreatedAt: a.CreatedAt, Metadata: a.Metadata, Facts: a.Facts, MappingVersion: r.mapping})
	if err != nil {
		return transform.Result{}, err
	}
	version := a.Version
	done := make(chan error, 1)
	err = r.bulk.Add(ctx, esutil.BulkIndexerItem{
		Action: "index", DocumentID: a.ID.String(), Body: bytes.NewReader(body),
		Version: &version, VersionType: "external",
		OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { done <- nil },
		OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
			switch {
			case err != nil:
				done <- err
			case res.Status == 409:
				done <- nil // a newer (or the same) version is already indexed
			case res.Status >= 400 && res.Status < 500 && res.Status != 429:
				done <- transform.Permanent(fmt.Errorf("index %s: %d %s: %s", r.index, res.Status, res.Error.Type, res.Error.Reason))
			default:
				done <- fmt.Errorf("index %s: %d %s: %s", r.index, res.Status, res.Error.Type, res.Error.Reason)
			}
		},
	})
	if err != nil {
		return transform.Result{}, fmt.Errorf("reindex asset %s: %w", a.ID, err)
	}
	select {
	case err := <-done:
		return transform.Result{}, err
	case <-ctx.Done():
		return transform.Result{}, ctx.Err()
	}
}

// Finish implements transform.Finisher: it points the alias, if any, at
// the index alone (switchAlias).
func (r *Reindex) Finish(ctx context.Context) error {
	if r.alias == "" {
		return nil
	}
	return switchAlias(ctx, r.es, r.alias, r.index)
}

// Close flushes the bulk indexer.
func (r *Reindex) Close() error { return r.bulk.Close(context.Background()) }
