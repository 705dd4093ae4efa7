// Package elastic finds assets through Elasticsearch: a query DSL filter
// over an index of assets, paged with a point in time (PIT) and
// search_after, so the walk sees one consistent snapshot and can resume
// from a cursor.
//
// With IDField naming a document field that holds the asset id (a keyword
// field), hits sort by that field, and a cursor survives the expiry of its
// point in time: the walk opens a new one and continues after the last id.
// With IDField "_id" hits sort by _shard_doc, which only means something
// inside one point in time, so an expired cursor is an error that says so.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/reprocess/reprocess/assets"
)

// Config is the Elasticsearch connection (keys under elasticsearch).
type Config struct {
	URLs     []string `mapstructure:"urls"`
	Username string   `mapstructure:"username"`
	Password string   `mapstructure:"password"`
}

// DefaultConfig is a local node.
var DefaultConfig = Config{URLs: []string{"http://127.0.0.1:9200"}}

// Validate reports bad settings with their keys.
func (c Config) Validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("elasticsearch.urls: at least one URL is required"))
	}
	for _, u := range c.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("elasticsearch.urls: %q: want an http:// or https:// URL", u))
		}
	}
	return errors.Join(errs...)
}

// NewClient returns a go-elasticsearch client for cfg.
func NewClient(cfg Config) (*elasticsearch.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: cfg.URLs, Username: cfg.Username, Password: cfg.Password})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client for %v: %w", cfg.URLs, err)
	}
	return es, nil
}

// Query is what to find.
type Query struct {
	Index     string
	Query     map[string]any // query DSL; nil matches every document
	IDField   string         // "_id" or a keyword field holding the asset id
	PageSize  int
	KeepAlive time.Duration
}

// ErrPITExpired is returned when a cursor's point in time is gone and the
// walk cannot carry its position over to a new one.
var ErrPITExpired = errors.New("elastic: point in time expired")

// Cursor is a resume position; its zero value is the start.
type Cursor struct {
	PIT   string `json:"pit,omitempty"`
	After []any  `json:"search_after,omitempty"`
}

// Hit is one asset found.
type Hit struct {
	ID   assets.ID
	Type string // from the document's asset_type field, if any
}

// Searcher pages a query.
type Searcher struct {
	es *elasticsearch.Client
	q  Query
}

// NewSearcher returns a searcher for q.
func NewSearcher(es *elasticsearch.Client, q Query) *Searcher { return &Searcher{es: es, q: q} }

func (s *Searcher) keepAlive() string { return fmt.Sprintf("%ds", int(s.q.KeepAlive.Seconds())) }

// Next returns the page after cur and the cursor after it; no hits means
// the walk is complete. A cursor without a point in time opens one.
func (s *Searcher) Next(ctx context.Context, cur Cursor) ([]Hit, Cursor, error) {
	if cur.PIT == "" {
		pit, err := s.open(ctx)
		if err != nil {
			return nil, cur, err
		}
		cur.PIT = pit
	}
	hits, next, err := s.search(ctx, cur)
	if errors.Is(err, errMissingPIT) {
		if s.q.IDField == "_id" {
			return nil, cur, fmt.Errorf("%w (keep_alive %s, index %s): hits sorted by _shard_doc cannot resume in a new one; "+
				"set source.id_field to a keyword field holding the asset id for a safe resume, or rerun the job under a new name",
				ErrPITExpired, s.q.KeepAlive, s.q.Index)
		}
		pit, oerr := s.open(ctx)
		if oerr != nil {
			return nil, cur, oerr
		}
		cur.PIT = pit
		hits, next, err = s.search(ctx, cur)
	}
	return hits, next, err
}

// Close releases the cursor's point in time.
func (s *Searcher) Close(ctx context.Context, cur Cursor) error {
	if cur.PIT == "" {
		return nil
	}
	body, _ := json.Marshal(map[string]string{"id": cur.PIT})
	res, err := s.es.ClosePointInTime(s.es.ClosePointInTime.WithContext(ctx), s.es.ClosePointInTime.WithBody(bytes.NewReader(body)))
	if err != nil {
		return fmt.Errorf("close point in time: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() && res.StatusCode != 404 {
		return fmt.Errorf("close point in time: %s", res.String())
	}
	return nil
}

func (s *Searcher) open(ctx context.Context) (string, error) {
	res, err := s.es.OpenPointInTime([]string{s.q.Index}, s.keepAlive(), s.es.OpenPointInTime.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("open point in time on %s: %w", s.q.Index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return "", fmt.Errorf("open point in time on %s: %s", s.q.Index, errorText(res))
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.ID == "" {
		return "", fmt.Errorf("open point in time on %s: no id in the answer (%v)", s.q.Index, err)
	}
	return out.ID, nil
}

var errMissingPIT = errors.New("point in time missing")

func (s *Searcher) search(ctx context.Context, cur Cursor) ([]Hit, Cursor, error) {
	sortBy := []any{map[string]string{"_shard_doc": "asc"}}
	source := []string{"asset_type"}
	if s.q.IDField != "_id" {
		sortBy = []any{map[string]string{s.q.IDField: "asc"}}
		source = append(source, s.q.IDField)
	}
	req := map[string]any{
		"size":             s.q.PageSize,
		"sort":             sortBy,
		"_source":          source,
		"pit":              map[string]string{"id": cur.PIT, "keep_alive": s.keepAlive()},
		"track_total_hits": false,
	}
	if s.q.Query != nil {
		req["query"] = s.q.Query
	}
	if len(cur.After) > 0 {
		req["search_after"] = cur.After
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, cur, fmt.Errorf("search %s: %w", s.q.Index, err)
	}
	res, err := s.es.Search(s.es.Search.WithContext(ctx), s.es.Search.WithBody(bytes.NewReader(body)))
	if err != nil {
		return nil, cur, fmt.Errorf("search %s: %w", s.q.Index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		text := errorText(res)
		if res.StatusCode == 404 && strings.Contains(text, "search_context_missing") {
			return nil, cur, fmt.Errorf("%w: %s", errMissingPIT, text)
		}
		return nil, cur, fmt.Errorf("search %s: %s", s.q.Index, text)
	}
	var out struct {
		PIT  string `json:"pit_id"`
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
				Sort   []any           `json:"sort"`
			} `json:"hits"`
		} `json:"hits"`
	}
	dec := json.NewDecoder(res.Body)
	dec.UseNumber() // search_after values must go back exactly
	if err := dec.Decode(&out); err != nil {
		return nil, cur, fmt.Errorf("search %s: decode: %w", s.q.Index, err)
	}
	next := cur
	if out.PIT != "" {
		next.PIT = out.PIT
	}
	hits := make([]Hit, 0, len(out.Hits.Hits))
	for _, h := range out.Hits.Hits {
		hit, err := s.hit(h.ID, h.Source)
		if err != nil {
			return nil, cur, err
		}
		hits = append(hits, hit)
		next.After = h.Sort
	}
	return hits, next, nil
}

// hit reads the asset id (from _id or the id field) and type of a document.
func (s *Searcher) hit(docID string, source json.RawMessage) (Hit, error) {
	var src map[string]any
	_ = json.Unmarshal(source, &src)
	raw := docID
	if s.q.IDField != "_id" {
		raw, _ = src[s.q.IDField].(string)
	}
	id, err := assets.ParseID(raw)
	if err != nil {
		return Hit{}, fmt.Errorf("index %s, document %s, field %s: %w", s.q.Index, docID, s.q.IDField, err)
	}
	typ, _ := src["asset_type"].(string)
	return Hit{ID: id, Type: typ}, nil
}

func errorText(res *esapi.Response) string {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return fmt.Sprintf("%s: %s", res.Status(), b)
}
