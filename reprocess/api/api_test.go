package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/dlq"
)

const token = "test-token"

// deadLetters holds job-a's dead letters; it fails for job "broken".
type deadLetters struct{ replays []string }

func (d *deadLetters) List(_ context.Context, job string) ([]dlq.Entry, error) {
	switch job {
	case "job-a":
		return []dlq.Entry{{Job: "job-a", AssetID: "a1", Transform: "orientation", Version: 2, Attempts: "3", Error: "boom",
			FailedAt: "2026-01-02T03:04:05Z", Origin: "events/2@7", Offset: 11, Partition: 1}}, nil
	case "broken":
		return nil, errors.New("kafka is down")
	}
	return nil, nil
}

func (d *deadLetters) Replay(_ context.Context, job string) (int, error) {
	d.replays = append(d.replays, job)
	switch job {
	case "job-a":
		return 1, nil
	case "broken":
		return 4, errors.New("kafka is down")
	}
	return 0, nil
}

func serve(t *testing.T, dl api.DeadLetters) *httptest.Server {
	t.Helper()
	s := &api.Server{Token: token, DeadLetters: dl, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func call(t *testing.T, srv *httptest.Server, method, path, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(raw)
}

func TestDeadLetterRoutes(t *testing.T) {
	fake := &deadLetters{}
	srv := serve(t, fake)
	long := strings.Repeat("j", 200)
	hostile := "<script>x</script>"
	for _, tc := range []struct {
		method, path, tok string
		code              int
		want              string // the whole body, or a part of an error
	}{
		{"GET", "/api/v1/jobs/job-a/dead-letters", "", 401, "bearer token"},
		{"POST", "/api/v1/jobs/job-a/dead-letters/replay", "wrong", 401, "bearer token"},
		{"GET", "/api/v1/jobs/job-a/dead-letters", token, 200, `[{"job_id":"job-a","asset_id":"a1","transform":"orientation","version":2,"attempts":"3","error":"boom","failed_at":"2026-01-02T03:04:05Z","origin":"events/2@7","dlq_offset":11,"dlq_partition":1}]` + "\n"},
		{"GET", "/api/v1/jobs/job-b/dead-letters", token, 200, "[]\n"},
		{"GET", "/api/v1/jobs/" + long + "/dead-letters", token, 200, "[]\n"},
		{"GET", "/api/v1/jobs/broken/dead-letters", token, 503, "kafka is down"},
		{"POST", "/api/v1/jobs/job-a/dead-letters/replay", token, 200, `{"replayed":1}` + "\n"},
		{"POST", "/api/v1/jobs/job-b/dead-letters/replay", token, 200, `{"replayed":0}` + "\n"},
		{"POST", "/api/v1/jobs/broken/dead-letters/replay", token, 503, `{"error":"kafka is down","replayed":4}` + "\n"},
		{"GET", "/api/v1/jobs/" + long + "j/dead-letters", token, 400, "id: want 1 to 200"},
		{"GET", "/api/v1/jobs/a%20b/dead-letters", token, 400, "id: want"},
		{"GET", "/api/v1/jobs//dead-letters", token, 307, ""}, // an empty id: ServeMux redirects to the clean path
		{"POST", "/api/v1/jobs/a%2Fb/dead-letters/replay", token, 400, "id: want"},
		{"POST", "/api/v1/jobs/%3Cscript%3Ex%3C%2Fscript%3E/dead-letters/replay", token, 400, "id: want"},
		{"POST", "/api/v1/jobs/j%C3%B6b/dead-letters/replay", token, 400, "id: want"},
		{"POST", "/api/v1/jobs/job-a/dead-letters", token, 404, "no action"}, // the pause|resume|cancel route
		{"GET", "/api/v1/jobs/job-a/dead-letters/replay", token, 405, ""},
	} {
		code, body := call(t, srv, tc.method, tc.path, tc.tok)
		if code != tc.code || !strings.Contains(body, tc.want) || (code == 200 && body != tc.want) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.path, code, body, tc.code, tc.want)
		}
		if strings.Contains(body, hostile) || strings.Contains(body, long) {
			t.Errorf("%s %s: the answer echoes the id: %s", tc.method, tc.path, body)
		}
	}
	// Only valid ids reached the DLQ, each once.
	if got := strings.Join(fake.replays, ","); got != "job-a,job-b,broken" {
		t.Errorf("replays %s, want job-a,job-b,broken", got)
	}
}

func TestDeadLetterRoutesWithoutKafka(t *testing.T) {
	srv := serve(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/jobs/job-a/dead-letters"},
		{"POST", "/api/v1/jobs/job-a/dead-letters/replay"},
	} {
		code, body := call(t, srv, tc.method, tc.path, token)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != 503 || !strings.Contains(e.Error, "kafka.brokers") {
			t.Errorf("%s %s without Kafka: %d %s; want 503 naming kafka.brokers", tc.method, tc.path, code, body)
		}
	}
}

// The OpenAPI document describes the dead-letter routes, and every field
// of a dead letter, a job (its pace included), a run, a throttle and a
// ledger.
func TestOpenAPIDescribesViews(t *testing.T) {
	code, body := call(t, serve(t, nil), "GET", "/api/v1/openapi.yaml", token)
	var doc struct {
		Paths      map[string]map[string]any
		Components struct {
			Schemas map[string]struct{ Properties map[string]any }
		}
	}
	if err := yaml.Unmarshal([]byte(body), &doc); code != 200 || err != nil {
		t.Fatalf("openapi.yaml: %d %v", code, err)
	}
	for path, method := range map[string]string{"/jobs/{id}/dead-letters": "get", "/jobs/{id}/dead-letters/replay": "post"} {
		if doc.Paths[path][method] == nil {
			t.Errorf("openapi.yaml lacks %s %s", method, path)
		}
	}
	schemaFits(t, doc.Components.Schemas["DeadLetter"].Properties, "DeadLetter", dlq.Entry{Superseded: "s"})
	schemaFits(t, doc.Components.Schemas["Throttle"].Properties, "Throttle", api.ThrottleView{BaselineSeconds: 0.01})
	one := 1.0
	run := assets.Run{Counters: map[string]int64{"scanned": 1}, EndedAt: time.Now()}
	j := api.JobView{View: control.View{Job: assets.Job{Counters: run.Counters, Error: "e", StartedAt: run.EndedAt, EndedAt: run.EndedAt},
		Runs: []assets.Run{run}}, Pace: api.Pace{RatePerSecond: &one, RateOf: "scanned", RateOverSeconds: 1, ETASeconds: &one},
		Throttle: &api.ThrottleView{}, RateLimit: 5}
	schemaFits(t, doc.Components.Schemas["Job"].Properties, "Job", j)
	schemaFits(t, doc.Components.Schemas["Run"].Properties, "Run", run)
	schemaFits(t, doc.Components.Schemas["Ledger"].Properties, "Ledger", api.LedgerOf(run.Counters))
}

// schemaFits checks that a schema documents every field v has in JSON,
// and no other.
func schemaFits(t *testing.T, documented map[string]any, name string, v any) {
	t.Helper()
	raw, _ := json.Marshal(v)
	var fields map[string]any
	json.Unmarshal(raw, &fields)
	for f := range fields {
		if _, ok := documented[f]; !ok {
			t.Errorf("schema %s lacks %s", name, f)
		}
	}
	if len(documented) != len(fields) {
		t.Errorf("schema %s has %d properties, the value %d fields", name, len(documented), len(fields))
	}
}

// A job's view counts as handled every outcome that finishes an event,
// from the counters the workers reported, and nothing else.
func TestJobViewCountsHandledEvents(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	j := assets.Job{ID: "tally", Status: "running", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := s.SaveJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{"scanned": 100, "emitted": 90, "applied": 50, "skipped": 20, "missing": 1, "dlq": 4, "would_delete": 2, "ignored": 7}
	if err := s.AddJobCounters(ctx, j.ID, counts); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&api.Server{Store: s, Token: token, Log: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	code, body := call(t, srv, "GET", "/api/v1/jobs/tally", token)
	var v api.JobView
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v.Handled != 50+20+1+4+2 || v.Throttle != nil {
		t.Errorf("GET job: %d %s; want handled %d, no throttle", code, body, 50+20+1+4+2)
	}
	th := assets.Throttle{Rate: 120, Signal: 30 * time.Millisecond, Target: 24 * time.Millisecond, Reason: "latency", UpdatedAt: time.Now().UTC()}
	if err := s.SetThrottle(ctx, j.ID, th); err != nil {
		t.Fatal(err)
	}
	code, body = call(t, srv, "GET", "/api/v1/jobs/tally", token)
	v = api.JobView{}
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v.Throttle == nil ||
		v.Throttle.Rate != 120 || v.Throttle.SignalSeconds != 0.03 || v.Throttle.TargetSeconds != 0.024 || v.Throttle.Reason != "latency" {
		t.Errorf("GET job with a throttle: %d %s; want rate 120, signal 0.03s against 0.024s, reason latency", code, body)
	}
}

// The page asks for the token in a form and keeps it for the session, never
// in a prompt; it shows the job fields it is meant to.
func TestPageAsksTokenInAForm(t *testing.T) {
	code, body := call(t, serve(t, nil), "GET", "/", "")
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	for _, want := range []string{`<form id="auth"`, `<input id="token" name="token" type="password"`, "sessionStorage.setItem('reprocess-token'",
		"rate_per_second", "rate_of", "eta_seconds", "started_at", "ended_at", "c.dlq", "j.runs", "j.spec", "j.throttle"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, banned := range []string{"prompt(", "localStorage", "<script src", "<link"} {
		if strings.Contains(body, banned) {
			t.Errorf("the page has %s", banned)
		}
	}
}
