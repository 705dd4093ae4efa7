package run_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/dlq"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// TestMain fails the package's tests if any goroutine outlives them, but
// an Elasticsearch client's idle keep-alive connections, which may.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}

var (
	layout = assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}
	end    = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
)

// slowStore makes every page read take delay, like a loaded cluster.
type slowStore struct {
	assets.Store
	delay time.Duration
}

func (s slowStore) Page(ctx context.Context, p assets.Partition, after assets.ID, limit int) ([]assets.ID, error) {
	time.Sleep(s.delay)
	return s.Store.Page(ctx, p, after, limit)
}

// newEnv seeds n assets over the two days before end into an embedded
// store (behind wrap, if not nil) and starts an in-process Kafka.
func newEnv(t *testing.T, n int, wrap func(assets.Store) assets.Store) *run.Env {
	t.Helper()
	return newEnvOn(t, assetstest.Embedded(t, layout), n, wrap)
}

// newEnvOn is newEnv on store s.
func newEnvOn(t *testing.T, s assets.Store, n int, wrap func(assets.Store) assets.Store) *run.Env {
	t.Helper()
	if _, err := synth.Seed(context.Background(), s, synth.Config{Count: n, Span: 48 * time.Hour, End: end, Seed: 7, Concurrency: 4}, nil); err != nil {
		t.Fatal(err)
	}
	assetstest.LedgersAtEnd(t, s)
	if wrap != nil {
		s = wrap(s)
	}
	reg := prometheus.NewRegistry()
	timed, err := instrument.Wrap(s, reg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	kc, err := kafka.Start(kafka.DefaultConfig, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if err := kc.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &run.Env{Store: timed, Kafka: kc, Metrics: reg, Log: log, Layout: layout}
}

// spec is a job over the env's assets, pages of 20 ids, 4 partitions at
// a time, with extra lines.
func spec(t *testing.T, name, extra string) *job.Job {
	t.Helper()
	return specOf(t, fmt.Sprintf(`name: %s
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, created_to: %s, page_size: 20, concurrency: 4}
transform: {name: tag, version: 1, facts: {tag: '"x"'}}
%s`, name, end.Add(-72*time.Hour).Format(time.RFC3339), end.Format(time.RFC3339), extra))
}

func specOf(t *testing.T, text string) *job.Job {
	t.Helper()
	j, err := job.Read([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// series reads the env's counters and gauges, keyed as PromQL selects
// them: name{label="value",...}; safe from any goroutine.
func series(t *testing.T, e *run.Env) map[string]float64 {
	t.Helper()
	mfs, err := e.Metrics.Gather()
	if err != nil {
		t.Error(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			got[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return got
}

// ofRun keeps the series of a run of job name: labelled job_name=name,
// but reprocess_job_failed, which outlives runs.
func ofRun(m map[string]float64, name string) map[string]float64 {
	maps.DeleteFunc(m, func(k string, _ float64) bool {
		return !strings.Contains(k, fmt.Sprintf("job_name=%q", name)) || strings.HasPrefix(k, "reprocess_job_failed{")
	})
	return m
}

// probe is a job's source that, each time a task's walk ends, reads the
// env's metrics and the job's progress; with one task at a time nothing
// moves in between.
type probe struct {
	scan.Source
	t       *testing.T
	env     *run.Env
	job     *run.Job // set once started
	samples []sample
}

type sample struct {
	metrics  map[string]float64
	progress run.Progress
}

func (p *probe) Walk(ctx context.Context, task, from string, fn func(scan.Batch) error) error {
	err := p.Source.Walk(ctx, task, from, fn)
	p.samples = append(p.samples, sample{series(p.t, p.env), p.job.Progress(ctx)})
	return err
}

// start starts j on a probe of its source, as a restart (a rerun may
// change the spec).
func start(t *testing.T, e *run.Env, j *job.Job) (*run.Job, *probe) {
	t.Helper()
	src, err := e.Source(context.Background(), j, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{Source: src, t: t, env: e}
	if p.job, err = e.Start(context.Background(), j, run.Options{Source: p, Restart: true}); err != nil {
		t.Fatal(err)
	}
	return p.job, p
}

// oneAtATime is spec with one partition walked at a time.
func oneAtATime(t *testing.T, name, extra string) *job.Job {
	return specOf(t, strings.Replace(spec(t, name, extra).Text, "concurrency: 4", "concurrency: 1", 1))
}

// The store's own timing feeds the throttle: slow page reads, measured
// once by the timed store, bring the adaptive limit down.
func TestAdaptiveRateWatchesTheTimedStore(t *testing.T) {
	e := newEnv(t, 600, func(s assets.Store) assets.Store { return slowStore{s, 15 * time.Millisecond} })
	// One partition at a time, so the scan lasts past the limiter's first
	// one-second interval.
	r, p := start(t, e, oneAtATime(t, "adaptive", "rate: {limit: 4000, adaptive: true, target_p99: 5ms}\n"))
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := p.samples[len(p.samples)-1].metrics
	if rate := last[`reprocess_throttle_rate{job_name="adaptive"}`]; rate >= 4000 {
		t.Errorf("with 15ms page reads over a 5ms target the limit stayed at %.0f/s", rate)
	} else {
		t.Logf("adaptive limit fell from 4000/s to %.0f/s", rate)
	}
	if sig, target := last[`reprocess_throttle_signal_seconds{job_name="adaptive"}`], last[`reprocess_throttle_target_seconds{job_name="adaptive"}`]; sig < 0.015 || target != 0.005 {
		t.Errorf("signal gauge %vs, target gauge %vs; want >= 0.015 and 0.005", sig, target)
	}
	// The state is shared through the store, for the job's processors.
	th, err := e.Store.Throttle(context.Background(), "adaptive")
	if err != nil || th.Rate >= 4000 || th.Signal < 15*time.Millisecond || th.Target != 5*time.Millisecond || th.Reason != throttle.ReasonLatency {
		t.Errorf("recorded throttle %+v, %v; want a rate under 4000, the >= 15ms signal, the 5ms target, reason %q", th, err, throttle.ReasonLatency)
	}
	if note := r.Progress(context.Background()).ThrottleNote(); !strings.Contains(note, "slowed: latency") {
		t.Errorf("progress note %q does not say the job is slowed by latency", note)
	}
}

// The cassandra and probe signals read Cassandra: on another store the
// spec is refused, naming the field, before anything is recorded.
func TestCassandraSignalNeedsCassandra(t *testing.T) {
	e := newEnv(t, 100, nil) // every type of the spec
	for _, sig := range []string{"signal: cassandra", "signal: probe, probe: 'SELECT now() FROM system.local'"} {
		j := spec(t, "cass-signal", "rate: {limit: 100, adaptive: true, "+sig+"}\n")
		if _, err := e.Start(context.Background(), j, run.Options{}); !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), "rate.signal") {
			t.Errorf("%s on the embedded store: %v; want ErrInvalid naming rate.signal", sig, err)
		}
	}
	if _, err := e.Store.Job(context.Background(), "cass-signal"); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("the refused job was recorded: %v", err)
	}
}

// A sync job applies in-process and records its outcomes; a job whose
// scan fails is recorded failed with the error; a cancelled job stops.
func TestSyncJobEnds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 300, nil)
	r, err := e.Start(ctx, spec(t, "sync-ok", "mode: sync\n"), run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	p := r.Progress(ctx)
	rec, err := e.Store.Job(ctx, "sync-ok")
	if err != nil {
		t.Fatal(err)
	}
	assetstest.Ledger(t, rec)
	if p.Emitted != 300 || p.Outcomes[apply.Applied] != 300 || p.Handled != 300 {
		t.Errorf("progress %+v; want 300 emitted and applied", p)
	}
	if rec.Status != control.Succeeded || rec.Counters["applied"] != 300 || rec.Counters["emitted"] != 300 {
		t.Errorf("record %s %v; want succeeded with 300 applied", rec.Status, rec.Counters)
	}
	if !strings.Contains(p.Summary("sync-ok"), "applied 300, skipped 0") {
		t.Errorf("summary %q", p.Summary("sync-ok"))
	}

	// The filter fails on every asset: the scan fails and says why.
	r, err = e.Start(ctx, spec(t, "sync-bad", "mode: sync\nfilter: 'int(asset.metadata.owner) > 1'\n"), run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err == nil {
		t.Fatal("a filter failing on every asset ran without error")
	}
	if rec, _ := e.Store.Job(ctx, "sync-bad"); rec.Status != control.Failed || !strings.Contains(rec.Error, "filter") {
		t.Errorf("record %s %q; want failed naming the filter", rec.Status, rec.Error)
	}
}

// While a job runs its heartbeat touches its record, so another process
// sees it alive (control.Start refuses it) and not just at the start.
func TestHeartbeatKeepsTheJobClaimed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 900, nil)
	j := spec(t, "beat", "rate: {limit: 100}\n") // about 9s
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	// Past three heartbeats after the start, the record must still be fresh.
	time.Sleep(3*control.Heartbeat + time.Second)
	_, busy := control.Start(ctx, e.Store, j.Name, j.Text, false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(busy, control.ErrBusy) {
		t.Errorf("another start %v seconds in: %v; want ErrBusy while the job runs", (3*control.Heartbeat + time.Second).Seconds(), busy)
	}
}

// In-process workers (the demo, a served job on the in-process broker)
// apply what the scan publishes before Run returns.
func TestAsyncJobWithInProcessWorkers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 400, nil)
	r, err := e.Start(ctx, spec(t, "async", ""), run.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	p := r.Progress(ctx)
	if p.Emitted != 400 || p.Outcomes[apply.Applied] != 400 || p.Outcomes[worker.DeadLettered] != 0 {
		t.Errorf("progress %+v; want 400 emitted and applied", p)
	}
	rec, _ := e.Store.Job(ctx, "async")
	assetstest.Ledger(t, rec)
}

// A transform that is neither declared by facts, stock, nor registered is
// refused before anything is recorded. The store holds every type the
// spec names, so only the transform's guard can refuse it.
func TestUnknownTransformIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 100, nil)
	if known, err := e.Store.Types(ctx); err != nil || len(known) != 5 {
		t.Fatalf("the store holds types %v (%v); the test needs all five the spec names", known, err)
	}
	j := specOf(t, strings.Replace(spec(t, "unknown-transform", "").Text, "transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}", "transform: {name: ghost, version: 1}", 1))
	if _, err := e.Start(ctx, j, run.Options{}); !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), "transform ghost") {
		t.Fatalf("Start of an unknown transform: %v; want ErrInvalid naming it", err)
	}
	if _, err := e.Store.Job(ctx, "unknown-transform"); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("the refused job was recorded: %v", err)
	}
}

// On the embedded store, which no other process can hold, a job left
// running by a process killed a moment ago is taken over at once, with no
// --takeover; one that runs in this process is still refused.
func TestKilledHolderIsTakenOverOnTheEmbeddedStore(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 50, nil)
	j := spec(t, "killed", "mode: sync\n")
	now := time.Now().UTC()
	left := assets.Job{ID: j.Name, Spec: j.Text, Status: control.Running, CreatedAt: now, StartedAt: now, UpdatedAt: now}
	if err := e.Store.SaveJob(ctx, left); err != nil { // as the killed process last wrote it
		t.Fatal(err)
	}
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatalf("a job its killed process left running: %v; want it taken over", err)
	}
	if _, err := e.Start(ctx, j, run.Options{}); !errors.Is(err, control.ErrBusy) {
		t.Errorf("a second start while it runs here: %v; want ErrBusy", err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.Store.Job(ctx, j.Name); rec.Status != control.Succeeded {
		t.Errorf("job %s after its run; want succeeded", rec.Status)
	}
}

// A job over a store that holds no asset (a mistyped data directory
// makes a new, empty one) is refused, not "succeeded" with nothing
// scanned, through a run and a distributed scan alike.
func TestEmptyStoreIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0, nil)
	j := spec(t, "empty", "")
	_, err := e.Start(ctx, j, run.Options{})
	_, _, derr := e.Distribute(ctx, j, false)
	for _, err := range []error{err, derr} {
		if !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), "holds no assets") || !strings.Contains(err.Error(), "--data-dir") {
			t.Errorf("a job over an empty store: %v; want ErrInvalid saying the store is empty", err)
		}
	}
	if _, err := e.Store.Job(ctx, "empty"); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("the refused job was recorded: %v", err)
	}
}

// A mistyped asset type is refused before anything starts, naming the
// types the store holds, through a run and a distributed scan alike.
func TestUnknownTypeIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 10, nil)
	j := specOf(t, strings.Replace(spec(t, "typo", "").Text, "types: [image, video, document, audio, model3d]", "types: [video, imag]", 1))
	_, err := e.Start(ctx, j, run.Options{})
	_, _, derr := e.Distribute(ctx, j, false)
	for _, err := range []error{err, derr} {
		if !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), `"imag"`) || !strings.Contains(err.Error(), "image") {
			t.Errorf("a job over type imag: %v; want ErrInvalid naming it and the known types", err)
		}
	}
	if _, err := e.Store.Job(ctx, "typo"); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("the refused job was recorded: %v", err)
	}
}

// An async job on the in-process broker is applied in this process, not
// published into a broker that is gone when the process exits.
func TestAsyncOnTheInProcessBrokerIsApplied(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 200, nil)
	r, err := e.Start(ctx, spec(t, "inproc", ""), run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if p := r.Progress(ctx); p.Emitted != 200 || p.Outcomes[apply.Applied] != 200 {
		t.Errorf("progress %+v; want all 200 applied here", p)
	}
}

// A job whose fact fails on many assets stops and fails over its error
// budget, with the counts and the first errors; a budget that allows
// them lets the job succeed.
func TestErrorBudget(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 600, nil)
	fact := "transform: {name: tag, version: 1, facts: {tag: 'string(int(asset.metadata.height) + 1)'}}"
	over := specOf(t, strings.Replace(spec(t, "over", "mode: sync\n").Text, "transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}", fact, 1))
	r, err := e.Start(ctx, over, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Run(ctx)
	rec, _ := e.Store.Job(ctx, "over")
	if !errors.Is(err, run.ErrOverBudget) || rec.Status != control.Failed || !strings.Contains(rec.Error, "dead letters") || !strings.Contains(rec.Error, "first errors") {
		t.Fatalf("over budget: %v; record %s %q; want failed with the counts and first errors", err, rec.Status, rec.Error)
	}
	if p := r.Progress(ctx); p.Emitted >= 600 {
		t.Errorf("the job went on to emit all %d events over its budget", p.Emitted)
	}

	allowed := specOf(t, strings.Replace(spec(t, "allowed", "mode: sync\nbudget: {max_dead_letters: 600, max_ratio: 1}\n").Text,
		"transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}", strings.Replace(fact, "tag,", "tag2,", 1), 1))
	r, err = e.Start(ctx, allowed, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("within budget: %v", err)
	}
	rec, _ = e.Store.Job(ctx, "allowed")
	assetstest.Ledger(t, rec)
	if p := r.Progress(ctx); p.Outcomes[worker.DeadLettered] == 0 || p.Outcomes[apply.Applied] == 0 {
		t.Errorf("outcomes %v; want some applied and some dead-lettered", p.Outcomes)
	}
}

// An async job stopped over its budget, its workers still holding
// failing events, says the count of dead letters its record keeps and
// the dead-letter topic holds (those that count), not the count when the
// budget tripped.
func TestOverBudgetSaysTheDeadLettersThatCount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 600, nil)
	fact := "transform: {name: tag, version: 1, facts: {tag: 'string(int(asset.metadata.height) + 1)'}}"
	j := specOf(t, strings.Replace(spec(t, "overa", "budget: {max_dead_letters: 20, max_ratio: 1}\n").Text, "transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}", fact, 1))
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Run(ctx)
	m := regexp.MustCompile(`(\d+) dead letters, over`).FindStringSubmatch(fmt.Sprint(err))
	if !errors.Is(err, run.ErrOverBudget) || m == nil {
		t.Fatalf("over budget: %v; want it to say its dead letters", err)
	}
	es, err := (&dlq.DLQ{Kafka: e.Kafka}).List(ctx, "overa")
	if err != nil {
		t.Fatal(err)
	}
	assetsDead := map[string]bool{}
	for _, e := range es {
		assetsDead[e.AssetID] = true
	}
	rec, _ := e.Store.Job(ctx, "overa")
	if n := len(assetsDead); m[1] != fmt.Sprint(n) || rec.Counters["dlq"] != int64(n) || n <= 20 {
		t.Errorf("the error says %s dead letters, the record %d, the topic %d assets in %d events; want one count, over 20", m[1], rec.Counters["dlq"], n, len(es))
	}
}

// A run stopped by its context (Ctrl-C, SIGTERM) leaves the job
// interrupted, and running it again resumes it to the end.
func TestInterruptedJobResumes(t *testing.T) {
	e := newEnv(t, 600, nil)
	j := spec(t, "stopme", "mode: sync\nrate: {limit: 300}\n")
	ctx, cancel := context.WithCancel(context.Background()) // as Ctrl-C does
	defer cancel()
	time.AfterFunc(700*time.Millisecond, cancel)
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v", err)
	}
	rec, _ := e.Store.Job(context.Background(), "stopme")
	if rec.Status != control.Interrupted {
		t.Fatalf("after the stop the job is %s; want interrupted", rec.Status)
	}
	first := r.Progress(context.Background()).Emitted
	r, err = e.Start(context.Background(), j, run.Options{})
	if err != nil {
		t.Fatalf("run the interrupted job again: %v", err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	started := rec.StartedAt
	rec, _ = e.Store.Job(context.Background(), "stopme")
	assetstest.Ledger(t, rec)
	second := r.Progress(context.Background()).Emitted
	if rec.Status != control.Succeeded || first+second < 600 || first == 0 {
		t.Errorf("resumed: %s after %d then %d events; want succeeded with all 600", rec.Status, first, second)
	}
	// The record counts the assets, settled by the store (the runs'
	// events repeat the batch in flight at the stop), and the job
	// started with the first run.
	if rec.Counters["emitted"] != 600 || !rec.StartedAt.Equal(started) {
		t.Errorf("record: emitted %d, started %s; want the 600 assets (the runs emitted %d events), started %s", rec.Counters["emitted"], rec.StartedAt, first+second, started)
	}
}

// A job's metrics leave the registry when its run ends, so a rerun in the
// same process (a served job run again) shows its own live progress, not
// the first run's frozen values; a sync job's apply counts are labelled
// with its transform version.
func TestRerunMetricsAreLive(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 300, nil)
	// The first run fails on its first batch: the filter fails on every asset.
	r, err := e.Start(ctx, oneAtATime(t, "rerun", "mode: sync\nfilter: 'int(asset.metadata.owner) > 1'\n"), run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err == nil {
		t.Fatal("a filter failing on every asset ran without error")
	}
	if m := ofRun(series(t, e), "rerun"); len(m) > 0 {
		t.Errorf("after the first run ended its metrics remain: %v", m)
	}

	r, p := start(t, e, oneAtATime(t, "rerun", "mode: sync\n"))
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.samples) == 0 {
		t.Fatal("the rerun walked no task")
	}
	for i, s := range p.samples {
		pr := s.progress
		want := map[string]float64{`reprocess_scan_tasks{job_name="rerun"}`: float64(pr.Tasks),
			`reprocess_scan_tasks_done{job_name="rerun"}`:    float64(pr.TasksDone),
			`reprocess_scan_scanned_total{job_name="rerun"}`: float64(pr.Scanned),
			`reprocess_scan_emitted_total{job_name="rerun"}`: float64(pr.Emitted),
			// the rerun's worker, labelled with the job's transform version
			`reprocess_apply_events_total{outcome="applied",transform="tag",version="1"}`: float64(pr.Outcomes[apply.Applied])}
		for name, v := range want {
			if s.metrics[name] != v {
				t.Errorf("after task %d of the rerun %s = %v; the rerun's own value is %v", i+1, name, s.metrics[name], v)
			}
		}
	}
	if m := ofRun(series(t, e), "rerun"); len(m) > 0 {
		t.Errorf("after the rerun ended its metrics remain: %v", m)
	}
}

// reprocess_job_failed says whether a job's last run in this process
// failed, from its end until the job starts again.
func TestJobFailedMetric(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 100, nil)
	const key = `reprocess_job_failed{job_name="flaky"}`
	for i, step := range []struct {
		extra   string
		fails   bool
		started float64 // the gauge once the run started
		ended   float64 // and once it ended
	}{
		{extra: "filter: 'int(asset.metadata.owner) > 1'\n", fails: true, started: 0, ended: 1},
		{extra: "filter: 'int(asset.metadata.owner) > 1'\n", fails: true, started: 0, ended: 1},
		{started: 0, ended: 0},
	} {
		// The last run's spec lost the failing filter: a restart.
		r, err := e.Start(ctx, spec(t, "flaky", "mode: sync\n"+step.extra), run.Options{Restart: step.extra == ""})
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := series(t, e)[key]; !ok || got != step.started {
			t.Errorf("run %d started: %s = %v (present %v); want %v", i+1, key, got, ok, step.started)
		}
		if err := r.Run(ctx); (err != nil) != step.fails {
			t.Fatalf("run %d: %v; want failing %v", i+1, err, step.fails)
		}
		if got, ok := series(t, e)[key]; !ok || got != step.ended {
			t.Errorf("run %d ended: %s = %v (present %v); want %v", i+1, key, got, ok, step.ended)
		}
	}
}

// A job's name runs one spec: running it again with a spec that does
// other work is refused (its done tasks would be skipped), unless the run
// restarts, forgetting the checkpoints; a new rate is the same spec.
func TestRerunWithAnotherSpec(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 200, nil)
	first := spec(t, "same-name", "mode: sync\n")
	r, err := e.Start(ctx, first, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := e.Start(ctx, spec(t, "same-name", "mode: sync\nrate: {limit: 5000}\n"), run.Options{}); err != nil {
		t.Errorf("a rerun with only a new rate: %v", err)
	} else if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Another fact under the same transform version would reach no asset
	// (each carries tag v1): refused, restart or not, saying to raise it.
	changed := specOf(t, strings.Replace(first.Text, `tag: '"x"'`, `tag: '"y"'`, 1))
	for _, restart := range []bool{false, true} {
		if _, err := e.Start(ctx, changed, run.Options{Restart: restart}); !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), "transform.version") {
			t.Fatalf("a rerun with another fact under the same version (restart %v): %v; want ErrInvalid saying to raise transform.version", restart, err)
		}
	}
	// Another filter: the name's done tasks would be skipped.
	refiltered := specOf(t, first.Text+"filter: 'true'\n")
	if _, err := e.Start(ctx, refiltered, run.Options{}); !errors.Is(err, run.ErrSpecChanged) || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("a rerun with another filter: %v; want ErrSpecChanged saying what to do", err)
	}
	bumped := specOf(t, strings.Replace(changed.Text, "version: 1", "version: 2", 1))
	r, err = e.Start(ctx, bumped, run.Options{Restart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Restarted, the job walked everything again: each asset now has "y".
	if p := r.Progress(ctx); p.Emitted != 200 {
		t.Errorf("the restarted job emitted %d of 200", p.Emitted)
	}
	for _, id := range scope(t, e, first) {
		if a, err := e.Store.Get(ctx, id); err != nil || a.Facts["tag"] != "y" || a.Transforms["tag"] != 2 {
			t.Fatalf("asset %s after the restart: facts %v, transforms %v (%v); want tag y from tag v2", id, a.Facts, a.Transforms, err)
		}
	}
}

func TestThrottleNote(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		th   assets.Throttle
		want string
	}{
		{assets.Throttle{}, ""},
		{assets.Throttle{UpdatedAt: now}, "limit none"},
		{assets.Throttle{Rate: 500, Signal: 12340 * time.Microsecond, Target: 20 * time.Millisecond, UpdatedAt: now}, "limit 500/s, p99 12.3ms / 20ms"},
		{assets.Throttle{Rate: 500, Signal: 12 * time.Millisecond, Target: 12 * time.Millisecond, Baseline: 10 * time.Millisecond, UpdatedAt: now}, "limit 500/s, p99 12ms / 12ms (1.2 x baseline)"},
		{assets.Throttle{Rate: 25, Signal: 40 * time.Millisecond, Target: 20 * time.Millisecond, Reason: "latency", UpdatedAt: now}, "limit 25/s, p99 40ms / 20ms, slowed: latency"},
		{assets.Throttle{Rate: 25, Reason: "signal missing", UpdatedAt: now}, "limit 25/s, slowed: signal missing"},
		{assets.Throttle{Rate: 50, Signal: 3 * time.Millisecond, Reason: "measuring baseline", UpdatedAt: now}, "limit 50/s, p99 3ms, slowed: measuring baseline"},
	} {
		if got := (run.Progress{Throttle: tc.th}).ThrottleNote(); got != tc.want {
			t.Errorf("ThrottleNote(%+v) = %q, want %q", tc.th, got, tc.want)
		}
	}
}
