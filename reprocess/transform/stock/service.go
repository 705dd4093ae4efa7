package stock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// ServiceFacts asks an HTTP endpoint for each asset's facts. Concurrent
// Applies are gathered into batches (up to service.batch assets, or what
// arrives within serviceLinger) and posted as
//
//	{"items": [{"id": "<asset id>", "type": "image", "fields": {"title": "..."}}]}
//
// The endpoint answers 200 with a result per item:
//
//	{"results": [{"id": "...", "facts": {"k": "v"}}, {"id": "...", "status": 422, "error": "why"}]}
//
// A batch is posted again on a timeout, a transport error, a malformed
// answer, 408, 429 or 5xx: after what Retry-After says (every request of
// the transform waits it out: the limit is the endpoint's), else after an
// exponential backoff with jitter, up to service.tries requests; then its
// assets fail retryably (the processor retries them, then dead-letters
// them). The endpoint rejects an asset for good, and it is dead-lettered
// at once, with another 4xx answer to its batch or a 4xx status in its
// item; an item with no result is retried. Requests are paced at
// service.rate per second, service.concurrency at a time.
type ServiceFacts struct {
	version int
	cfg     job.Service
	client  *http.Client
	limit   *rate.Limiter // nil: the endpoint's 429s are the only limit
	slots   chan struct{} // batches in flight
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	pending []*serviceCall
	timer   *time.Timer
	hold    time.Time // no request before: a Retry-After
	closed  bool
}

// serviceLinger is how long a batch waits for more assets.
const serviceLinger = 20 * time.Millisecond

// maxRetryAfter bounds how long one Retry-After holds requests.
const maxRetryAfter = 5 * time.Minute

type serviceItem struct {
	ID     string            `json:"id"`
	Type   string            `json:"type"`
	Fields map[string]string `json:"fields"`
}

type serviceResult struct {
	ID     string            `json:"id"`
	Facts  map[string]string `json:"facts"`
	Status int               `json:"status"`
	Error  string            `json:"error"`
}

type serviceCall struct {
	item serviceItem
	done chan serviceAnswer
}

type serviceAnswer struct {
	facts map[string]string
	err   error
}

func newServiceFacts(version int, cfg job.Service) *ServiceFacts {
	cfg = cfg.WithDefaults()
	s := &ServiceFacts{version: version, cfg: cfg, client: &http.Client{}, slots: make(chan struct{}, cfg.Concurrency)}
	if cfg.Rate > 0 {
		s.limit = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

func (s *ServiceFacts) Name() string          { return "service_facts" }
func (s *ServiceFacts) Version() int          { return s.version }
func (s *ServiceFacts) ReadsProduction() bool { return true } // it sends metadata

// MetadataKeys implements transform.Inputs: the fields sent.
func (s *ServiceFacts) MetadataKeys() ([]string, bool) { return s.cfg.Fields, true }

// Apply adds a to the next batch and returns the facts the endpoint
// answered for it.
func (s *ServiceFacts) Apply(ctx context.Context, a assets.Asset) (transform.Result, error) {
	c := &serviceCall{item: serviceItem{ID: a.ID.String(), Type: a.Type, Fields: map[string]string{}}, done: make(chan serviceAnswer, 1)}
	for _, k := range s.cfg.Fields {
		if v, ok := a.Metadata[k]; ok {
			c.item.Fields[k] = v
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return transform.Result{}, errors.New("service_facts: closed")
	}
	s.pending = append(s.pending, c)
	switch {
	case len(s.pending) >= s.cfg.Batch:
		s.flushLocked()
	case s.timer == nil:
		s.timer = time.AfterFunc(serviceLinger, s.flush)
	}
	s.mu.Unlock()
	select {
	case ans := <-c.done:
		if ans.err != nil {
			return transform.Result{}, fmt.Errorf("service %s: asset %s: %w", s.cfg.URL, a.ID, ans.err)
		}
		return transform.Result{Facts: ans.facts}, nil
	case <-ctx.Done():
		return transform.Result{}, ctx.Err()
	}
}

func (s *ServiceFacts) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

// flushLocked sends the pending assets as a batch.
func (s *ServiceFacts) flushLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if len(s.pending) == 0 {
		return
	}
	batch := s.pending
	s.pending = nil
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.send(batch)
	}()
}

func (s *ServiceFacts) send(batch []*serviceCall) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-s.ctx.Done():
		for _, c := range batch {
			c.done <- serviceAnswer{err: s.ctx.Err()}
		}
		return
	}
	items := make([]serviceItem, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	results, err := s.post(items)
	for _, c := range batch {
		c.done <- answer(results[c.item.ID], err)
	}
}

// answer is an item's facts or why it has none.
func answer(r *serviceResult, batchErr error) serviceAnswer {
	switch {
	case batchErr != nil:
		return serviceAnswer{err: batchErr}
	case r == nil:
		return serviceAnswer{err: errors.New("the answer has no result for it")}
	case r.Status >= 400 && !retryStatus(r.Status):
		return serviceAnswer{err: transform.Permanent(fmt.Errorf("rejected: %d %s", r.Status, r.Error))}
	case r.Status >= 400:
		return serviceAnswer{err: fmt.Errorf("failed: %d %s", r.Status, r.Error)}
	case r.Error != "":
		return serviceAnswer{err: transform.Permanent(fmt.Errorf("rejected: %s", r.Error))}
	}
	if _, ok := r.Facts[""]; ok {
		return serviceAnswer{err: transform.Permanent(errors.New("the answer has a fact with no name"))}
	}
	return serviceAnswer{facts: r.Facts}
}

func retryStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// post sends a batch, trying again what may pass on a retry.
func (s *ServiceFacts) post(items []serviceItem) (map[string]*serviceResult, error) {
	body, err := json.Marshal(map[string]any{"items": items})
	if err != nil {
		return nil, err
	}
	var last error
	for try := 1; ; try++ {
		if err := s.wait(); err != nil {
			return nil, errors.Join(last, err)
		}
		results, retryAfter, err := s.once(body)
		if err == nil || errors.Is(err, transform.ErrPermanent) {
			return results, err
		}
		last = err
		if try >= s.cfg.Tries {
			return nil, fmt.Errorf("%d tries: %w", try, last)
		}
		if retryAfter > 0 {
			s.holdFor(retryAfter)
			continue
		}
		backoff := min(10*time.Second, 200*time.Millisecond<<min(try-1, 10))
		if err := sleep(s.ctx, time.Duration(rand.Int64N(int64(backoff)+1))); err != nil {
			return nil, errors.Join(last, err)
		}
	}
}

// wait holds until no Retry-After holds requests and the rate allows one.
func (s *ServiceFacts) wait() error {
	for {
		s.mu.Lock()
		until := time.Until(s.hold)
		s.mu.Unlock()
		if until > 0 {
			if err := sleep(s.ctx, until); err != nil {
				return err
			}
			continue
		}
		if s.limit == nil {
			return nil
		}
		if err := s.limit.Wait(s.ctx); err != nil {
			return err
		}
		s.mu.Lock()
		held := time.Now().Before(s.hold) // set while this waited for the rate
		s.mu.Unlock()
		if !held {
			return nil
		}
	}
}

func (s *ServiceFacts) holdFor(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until := time.Now().Add(min(d, maxRetryAfter)); until.After(s.hold) {
		s.hold = until
	}
}

// once posts body once. A failure that may pass on a retry comes with
// the Retry-After the endpoint asked for, if any.
func (s *ServiceFacts) once(body []byte) (map[string]*serviceResult, time.Duration, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, 0, transform.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("read the answer: %w", err)
	}
	switch {
	case retryStatus(res.StatusCode):
		return nil, retryAfter(res.Header.Get("Retry-After"), time.Now()), fmt.Errorf("%s: %s", res.Status, excerpt(data))
	case res.StatusCode != http.StatusOK:
		return nil, 0, transform.Permanent(fmt.Errorf("rejected the batch: %s: %s", res.Status, excerpt(data)))
	}
	var ans struct{ Results []serviceResult }
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, 0, fmt.Errorf("malformed answer (%w): %s", err, excerpt(data))
	}
	results := make(map[string]*serviceResult, len(ans.Results))
	for i := range ans.Results {
		results[ans.Results[i].ID] = &ans.Results[i]
	}
	return results, 0, nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 if
// absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil {
		return max(0, time.Duration(secs)*time.Second)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}

func excerpt(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops sending: requests in flight are abandoned (their assets
// were not answered, so they are applied again later).
func (s *ServiceFacts) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.cancel()
	for _, c := range pending {
		c.done <- serviceAnswer{err: errors.New("service_facts: closed")}
	}
	s.wg.Wait()
	return nil
}
