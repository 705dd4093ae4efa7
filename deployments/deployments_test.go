// Package deployments_test checks the files under deployments/ against the
// code: every metric the dashboard and the alert rules query is one the
// binary exports, and every file parses.
package deployments_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// exported lists the metric families the scan, worker and serve
// processes register, with histogram series suffixes.
func exported(t *testing.T) map[string]bool {
	reg := prometheus.NewRegistry()
	s, err := instrument.Wrap(assetstest.Embedded(t, assets.DefaultLayout), reg)
	if err != nil {
		t.Fatal(err)
	}
	s.Get(t.Context(), assets.NewID(time.Now())) // one observation, so the histogram is gathered
	log := slog.New(slog.DiscardHandler)
	kc, err := kafka.Start(kafka.DefaultConfig, log)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.EnsureTopics(t.Context()); err != nil {
		t.Fatal(err)
	}
	runJob(t, &run.Env{Store: s, Kafka: kc, Metrics: reg, Log: log, Layout: assets.DefaultLayout})
	sc := scan.New(scan.Config{Job: "j", Store: s}, nil, nil)
	if err := sc.Register(reg, throttle.NewLimiter(throttle.Config{Limit: 1}, time.Second), nil); err != nil {
		t.Fatal(err)
	}
	dlq, err := kc.NewDLQ("test")
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	w, err := worker.New(worker.Config{Apply: &apply.Handler{Store: s}, DLQ: dlq, Transform: "t", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(w)
	pub, err := kc.NewPublisher("test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Register(reg); err != nil {
		t.Fatal(err)
	}
	pub.Emit(t.Context(), []events.Reprocess{{JobID: "j", AssetID: assets.NewID(time.Now()), Transform: "t", Version: 1, Attempt: 1}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		if mf.GetType().String() == "HISTOGRAM" {
			names[n+"_bucket"], names[n+"_count"], names[n+"_sum"] = true, true, true
		}
	}
	return names
}

// runJob runs a sync job of one id to its end, for what a job's end
// leaves (reprocess_job_failed).
func runJob(t *testing.T, e *run.Env) {
	t.Helper()
	j, err := job.Read([]byte("name: one\nsource: {kind: ids, file: -}\ntransform: {name: t, version: 1, facts: {t: '\"x\"'}}\nmode: sync\n"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := scan.ReadIDs(strings.NewReader(assets.NewID(time.Now()).String()+"\n"), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Start(t.Context(), j, run.Options{Source: ids})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
}

var metricName = regexp.MustCompile(`\breprocess_[a-z_]+`)

func checkExprs(t *testing.T, file string, exprs []string, names map[string]bool) {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatalf("%s: no expressions found", file)
	}
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			if !names[m] {
				t.Errorf("%s queries %s, which the code does not export (expr: %s)", file, m, e)
			}
		}
	}
}

func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/reprocess.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/reprocess.json: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	checkExprs(t, "grafana/reprocess.json", exprs, exported(t))
}

func TestAlertRulesQueryExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
				Annotations map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(false)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("prometheus/alerts.yml: %v", err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q lacks a name or a summary", r.Expr)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	checkExprs(t, "prometheus/alerts.yml", exprs, exported(t))
}
