package api_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/plan"
	"github.com/reprocess/reprocess/reprocess/run"
)

// planPost posts body to path with the bearer token tok.
func planPost(t *testing.T, srv *httptest.Server, path, tok, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
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

// POST /api/v1/plan answers a job's plan, and names what is wrong with a
// request it cannot plan.
func TestPlanRoute(t *testing.T) {
	ctx := context.Background()
	layout := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 2}
	end := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := assetstest.Embedded(t, layout)
	assetstest.LedgersAtEnd(t, s)
	if _, err := synth.Seed(ctx, s, synth.Config{Count: 120, Span: 48 * time.Hour, End: end, Seed: 5, Concurrency: 2}, nil); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	planner := &plan.Env{Store: s, Sources: run.Sources{Pager: s, Layout: layout, Log: quiet}, Log: quiet}
	srv := httptest.NewServer((&api.Server{Store: s, Planner: planner, Token: token, Log: quiet}).Handler())
	defer srv.Close()
	spec := fmt.Sprintf(`name: p
source: {kind: cassandra, types: [image], created_from: %s, created_to: %s}
transform: {name: %%s, version: 1, facts: {tag: '"x"'}}`, end.Add(-48*time.Hour).Format(time.RFC3339), end.Format(time.RFC3339))
	good := fmt.Sprintf(spec, "tag")
	for _, tc := range []struct {
		path, tok, body string
		code            int
		want            string
	}{
		{"/api/v1/plan", "wrong", good, 401, "bearer token"},
		{"/api/v1/plan?sample=0", token, good, 400, "sample: want 1 to 100"},
		{"/api/v1/plan?sample=x", token, good, 400, "sample: want 1 to 100"},
		{"/api/v1/plan?walk=0", token, good, 400, "walk: want a number of partitions"},
		{"/api/v1/plan?walk=2", token, good, 200, `"exact":false`},
		{"/api/v1/plan", token, "name: p\n", 400, "source.kind"},
		{"/api/v1/plan", token, strings.Replace(good, `tag, version: 1, facts: {tag: '"x"'}`, "ghost, version: 1", 1), 400, "transform ghost v1"},
		{"/api/v1/plan", token, "name: p\nsource: {kind: ids, file: /etc/passwd}\ntransform: {name: t, version: 1, facts: {t: '\"x\"'}}\n", 400, "does not read server files"},
		{"/api/v1/plan?sample=3", token, good, 200, `"exact":true`},
	} {
		code, body := planPost(t, srv, tc.path, tc.tok, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s: %d %s; want %d with %q", tc.path, code, body, tc.code, tc.want)
		}
	}
	_, body := planPost(t, srv, "/api/v1/plan?sample=3", token, good)
	var p plan.Plan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Scope.Types["image"] != p.Scope.Assets || p.Scope.Assets == 0 || len(p.Samples) != 3 || p.Samples[0].Added["tag"] != "x" {
		t.Errorf("plan %s; want every asset an image, 3 samples adding tag x", body)
	}
	if _, err := s.Job(ctx, "p"); err == nil {
		t.Error("the planned job was recorded")
	}

	noPlanner := httptest.NewServer((&api.Server{Store: s, Token: token, Log: quiet}).Handler())
	defer noPlanner.Close()
	if code, body := planPost(t, noPlanner, "/api/v1/plan", token, good); code != 503 || !strings.Contains(body, "planner") {
		t.Errorf("without a planner: %d %s; want 503", code, body)
	}
}

// The OpenAPI document describes the plan route and every field of a plan.
func TestOpenAPIDescribesPlan(t *testing.T) {
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
	if doc.Paths["/plan"]["post"] == nil {
		t.Error("openapi.yaml lacks post /plan")
	}
	full := plan.Plan{Filter: &plan.Filter{FirstError: "x"}, Notes: []string{"x"}, Transform: plan.Transform{Effect: "x"},
		Duration: plan.Duration{Seconds: 1, MinRate: 1, MaxSeconds: 1}}
	schemaFits(t, doc.Components.Schemas["Plan"].Properties, "Plan", full)
	schemaFits(t, doc.Components.Schemas["Scope"].Properties, "Scope", plan.Scope{Holding: 1, Types: map[string]int64{"x": 1}, Buckets: []plan.Bucket{{}}})
	schemaFits(t, doc.Components.Schemas["Selectivity"].Properties, "Selectivity", plan.Filter{FirstError: "x", Margin: 0.1})
	schemaFits(t, doc.Components.Schemas["Sample"].Properties, "Sample", plan.Sample{Added: map[string]string{"x": "y"},
		Changed: map[string]plan.Change{"x": {}}, Error: "x"})
}
