package stock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// unruly is an endpoint that misbehaves on purpose: its first requests
// get, in order, a 429 with Retry-After, a 500, no answer until the
// client gives up, and malformed JSON; then it answers, rejecting the
// assets in reject.
type unruly struct {
	reject map[string]bool

	mu        sync.Mutex
	arrivals  []time.Time
	abandoned bool // the client gave up on the slow request
	seen      map[string]map[string]string
}

func (u *unruly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	n := len(u.arrivals)
	u.arrivals = append(u.arrivals, time.Now())
	u.mu.Unlock()
	switch n {
	case 0:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	case 1:
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case 2:
		io.Copy(io.Discard, r.Body) // so the server notices the client leave
		select {
		case <-r.Context().Done():
			u.mu.Lock()
			u.abandoned = true
			u.mu.Unlock()
		case <-time.After(5 * time.Second):
			http.Error(w, "late", http.StatusServiceUnavailable)
		}
		return
	case 3:
		w.Write([]byte(`{"results": [{"id": `))
		return
	}
	var req struct{ Items []serviceItem }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out []serviceResult
	for _, it := range req.Items {
		u.mu.Lock()
		u.seen[it.ID] = it.Fields
		u.mu.Unlock()
		if u.reject[it.ID] {
			out = append(out, serviceResult{ID: it.ID, Status: 422, Error: "unreadable title"})
			continue
		}
		out = append(out, serviceResult{ID: it.ID, Facts: map[string]string{"label": "L-" + it.Fields["title"]}})
	}
	json.NewEncoder(w).Encode(map[string]any{"results": out})
}

// resolver hands every event the one transform.
type resolver struct{ t transform.Transform }

func (r resolver) Resolve(context.Context, events.Reprocess) (transform.Transform, error) {
	return r.t, nil
}

func TestServiceFactsOnRealCassandra(t *testing.T) {
	store := assetstest.Cassandra(t, "reprocess_stock_service_test", assets.DefaultLayout)
	ctx := context.Background()
	as := someAssets(60)
	u := &unruly{reject: map[string]bool{}, seen: map[string]map[string]string{}}
	for i, a := range as {
		if err := store.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			u.reject[a.ID.String()] = true
		}
	}
	srv := httptest.NewServer(u)
	defer srv.Close()
	const perSecond = 20
	s := newServiceFacts(1, job.Service{URL: srv.URL, Fields: []string{"title"}, Batch: 5, Rate: perSecond,
		Concurrency: 2, Timeout: 300 * time.Millisecond, Tries: 6})
	defer s.Close()
	h := &apply.Handler{Store: store, Transforms: resolver{s}}
	errs := make([]error, len(as))
	var wg sync.WaitGroup
	for i, a := range as {
		wg.Go(func() {
			_, errs[i] = h.Handle(ctx, events.Reprocess{JobID: "svc", AssetID: a.ID, Transform: "service_facts", Version: 1})
		})
	}
	wg.Wait()
	for i, a := range as {
		got, err := store.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u.reject[a.ID.String()] {
			if errs[i] == nil || apply.Retryable(errs[i]) || !strings.Contains(errs[i].Error(), "unreadable title") {
				t.Errorf("rejected asset %s: error %v, want a permanent one (dead-lettered at once) with the endpoint's reason", a.ID, errs[i])
			}
			if got.Transforms["service_facts"] != 0 {
				t.Errorf("rejected asset %s carries the marker", a.ID)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("asset %s: %v", a.ID, errs[i])
		} else if got.Facts["label"] != "L-"+a.Metadata["title"] || got.Transforms["service_facts"] != 1 {
			t.Errorf("asset %s: facts %v, transforms %v; want label L-%s and the marker", a.ID, got.Facts, got.Transforms, a.Metadata["title"])
		}
	}
	u.check(t, perSecond)
}

// check asserts what the endpoint saw: the Retry-After waited out, the
// slow request abandoned, requests never faster than the rate allows.
func (u *unruly) check(t *testing.T, perSecond float64) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.arrivals) < 5 {
		t.Fatalf("%d requests: the misbehaviour was not met", len(u.arrivals))
	}
	if gap := u.arrivals[1].Sub(u.arrivals[0]); gap < 950*time.Millisecond {
		t.Errorf("the request after a 429 with Retry-After: 1 came %s later", gap)
	}
	if !u.abandoned {
		t.Error("the request the endpoint never answered was not abandoned at the timeout")
	}
	// Any six requests span at least four periods: the rate with one
	// period of slack for the network's jitter.
	arr := slices.SortedFunc(slices.Values(u.arrivals), time.Time.Compare)
	floor := time.Duration(4 * float64(time.Second) / perSecond)
	for i := 5; i < len(arr); i++ {
		if span := arr[i].Sub(arr[i-5]); span < floor {
			t.Errorf("requests %d to %d came within %s: faster than %g per second", i-5, i, span, perSecond)
		}
	}
	for id, f := range u.seen {
		if len(f) != 1 || f["title"] == "" {
			t.Errorf("asset %s was sent with fields %v, want its title only", id, f)
		}
	}
}

// An endpoint's failures decide whether an asset is retried or
// dead-lettered at once.
func TestServiceFactsFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
		want      string
	}{
		{"batch rejected", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no such model", http.StatusBadRequest) }, true, "no such model"},
		{"always unavailable", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }, false, "2 tries"},
		{"no result for the asset", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"results": []}`)) }, false, "no result"},
		{"item failed, may pass", func(w http.ResponseWriter, r *http.Request) { echo(w, r, `"status": 503, "error": "busy"`) }, false, "503 busy"},
		{"fact with no name", func(w http.ResponseWriter, r *http.Request) { echo(w, r, `"facts": {"": "x"}`) }, true, "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			s := newServiceFacts(1, job.Service{URL: srv.URL, Fields: []string{"title"}, Tries: 2})
			defer s.Close()
			_, err := s.Apply(context.Background(), someAssets(1)[0])
			if err == nil || errors.Is(err, transform.ErrPermanent) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want permanent %t, mentioning %q", err, tc.permanent, tc.want)
			}
		})
	}
}

// echo answers each item with the result fields in result.
func echo(w http.ResponseWriter, r *http.Request, result string) {
	var req struct{ Items []serviceItem }
	json.NewDecoder(r.Body).Decode(&req)
	var parts []string
	for _, it := range req.Items {
		parts = append(parts, `{"id": "`+it.ID+`", `+result+`}`)
	}
	w.Write([]byte(`{"results": [` + strings.Join(parts, ",") + `]}`))
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"-4", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"soon", 0},
	} {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("Retry-After %q: %s, want %s", tc.header, got, tc.want)
		}
	}
}
