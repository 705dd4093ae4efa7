// Package deployments_test checks the files under deployments/ against the
// code with Prometheus's own parsers: the alert rules are valid as
// Prometheus loads them, every dashboard query parses, and every metric
// and label they use is one the binary exports.
package deployments_test

import (
	"encoding/json"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

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

// exported lists the series names the scan, worker and serve processes
// export (histograms with their suffixes), each with its label names.
func exported(t *testing.T) map[string]map[string]bool {
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
	names := map[string]map[string]bool{}
	for _, mf := range mfs {
		ls := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = true
			}
		}
		n := mf.GetName()
		names[n] = ls
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			names[n+"_bucket"] = maps.Clone(ls)
			names[n+"_bucket"]["le"] = true
			names[n+"_count"], names[n+"_sum"] = ls, ls
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

// targetLabels are set by Prometheus on every series it scrapes; a metric
// of the same label would have it renamed exported_job, exported_instance.
var targetLabels = []string{"job", "instance"}

func TestMetricsLeaveTargetLabelsToPrometheus(t *testing.T) {
	for name, ls := range exported(t) {
		for _, l := range targetLabels {
			if ls[l] {
				t.Errorf("%s has label %s, which Prometheus sets to the scrape target's", name, l)
			}
		}
	}
}

// query is a PromQL expression and the labels its display (legend or
// annotations) shows of the series it yields.
type query struct {
	where, expr string
	shows       []string
}

// checkQuery parses q with Prometheus's parser and checks that every
// metric it selects is exported, and that every label it matches on,
// groups by or shows is one of the metrics it applies to.
func checkQuery(t *testing.T, q query, names map[string]map[string]bool) {
	t.Helper()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q.expr)
	if err != nil {
		t.Errorf("%s: %v", q.where, err)
		return
	}
	has := func(n parser.Node, label, what string) {
		for _, vs := range selectors(n) {
			if ls := names[vs.Name]; ls != nil && !ls[label] {
				t.Errorf("%s %s %s, which %s does not have (expr: %s)", q.where, what, label, vs.Name, q.expr)
			}
		}
	}
	for _, vs := range selectors(expr) {
		if names[vs.Name] == nil {
			t.Errorf("%s queries %s, which the code does not export (expr: %s)", q.where, vs.Name, q.expr)
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel {
				has(vs, m.Name, "matches on")
			}
		}
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok && !a.Without {
			for _, l := range a.Grouping {
				has(a.Expr, l, "groups by")
			}
		}
		return nil
	})
	for _, l := range q.shows {
		has(expr, l, "shows")
	}
}

// selectors are the vector selectors under n.
func selectors(n parser.Node) []*parser.VectorSelector {
	var vss []*parser.VectorSelector
	parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vss = append(vss, vs)
		}
		return nil
	})
	return vss
}

// shown are the labels templates show, as re's first group.
func shown(re *regexp.Regexp, texts ...string) []string {
	var ls []string
	for _, text := range texts {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			ls = append(ls, m[1])
		}
	}
	slices.Sort(ls)
	return slices.Compact(ls)
}

var (
	legendLabel     = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)
	annotationLabel = regexp.MustCompile(`\$labels\.(\w+)`)
)

func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/reprocess.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr, LegendFormat string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/reprocess.json: %v", err)
	}
	names := exported(t)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			checkQuery(t, query{"grafana/reprocess.json panel " + p.Title, tg.Expr, shown(legendLabel, tg.LegendFormat)}, names)
			n++
		}
	}
	if n == 0 {
		t.Fatal("grafana/reprocess.json: no queries found")
	}
}

func TestAlertRulesQueryExportedMetrics(t *testing.T) {
	const file = "prometheus/alerts.yml"
	rgs, errs := rulefmt.ParseFile(file, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if rgs == nil {
		t.FailNow()
	}
	names := exported(t)
	n := 0
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: rule %q lacks a name or a summary", file, r.Expr)
			}
			checkQuery(t, query{file + " alert " + r.Alert, r.Expr, shown(annotationLabel, slices.Collect(maps.Values(r.Annotations))...)}, names)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("%s: no rules found", file)
	}
}

// TestAlertRulesWithPromtool checks the alert rules with Prometheus's own
// promtool: they load as Prometheus loads them (check rules), and on the
// synthetic series of prometheus/alerts_test.yml the failed-job and
// dead-letter alerts fire where they should and nowhere else (test rules).
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool := need.Tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
