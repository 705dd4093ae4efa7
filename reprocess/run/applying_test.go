package run_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// An async job scanned by a process that does not follow it is applying,
// not succeeded, until processors elsewhere report every event it
// emitted; then it has succeeded, with no process following it.
func TestScannedJobEndsWhenItsProcessorsDo(t *testing.T) {
	const n = 300
	ctx := context.Background()
	e := newEnv(t, n, nil)
	downableKafka(t, e) // a broker of its own address: no in-process workers
	j := spec(t, "elsewhere", "")
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.Store.Job(ctx, j.Name); rec.Status != control.Applying || rec.Counters["emitted"] != n {
		t.Fatalf("scanned job %s, emitted %d; want applying with %d emitted", rec.Status, rec.Counters["emitted"], n)
	}

	stop := runWorker(t, e, j)
	deadline := time.Now().Add(time.Minute)
	for {
		rec, err := e.Store.Job(ctx, j.Name)
		if err == nil && rec.Status == control.Succeeded {
			if handled := worker.HandledIn(rec.Counters); handled < n {
				t.Errorf("succeeded with %d of %d events handled", handled, n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s with counters %v a minute after its scan; want succeeded once the worker handled all %d", rec.Status, rec.Counters, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	rec, _ := e.Store.Job(ctx, j.Name)
	assetstest.Ledger(t, rec)
}

// A run following processors in other processes ends with their counts,
// not with what they had reported when their group's lag reached zero:
// they report every worker.ReportEvery, so the last events' dead letters
// arrive after the lag says all are handled. Nor does it pass before
// they are done: the progress shown while it scans reads the lag before
// the last events are sent, and a pass on that reading emits again what
// is still queued (failing events then dead-letter twice).
func TestFollowedJobEndsWithItsProcessorsCounts(t *testing.T) {
	const n = 300
	ctx := context.Background()
	e := newEnv(t, n, nil)
	downableKafka(t, e) // a broker of its own address: no in-process workers
	fact := "transform: {name: tag, version: 1, facts: {tag: 'string(int(asset.metadata.height) + 1)'}}"
	j := specOf(t, strings.Replace(spec(t, "followed", "budget: {max_dead_letters: 1000, max_ratio: 1}\n").Text,
		"transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}", fact, 1))

	stop := runWorker(t, e, j)
	r, err := e.Start(ctx, j, run.Options{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	shown := make(chan struct{})
	go func() { // as the progress display does
		defer close(shown)
		for r.Progress(ctx).Handled < n {
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	<-shown
	rec, _ := e.Store.Job(ctx, j.Name)
	if again := rec.Counters["reemitted"]; again != 0 {
		t.Errorf("the completeness pass emitted %d events again; want 0: it ran before the processors handled the first", again)
	}
	dead := rec.Counters[string(worker.DeadLettered)]
	if handled := worker.HandledIn(rec.Counters); rec.Status != control.Succeeded || handled != n || dead == 0 {
		t.Errorf("job %s with %d of %d events handled, %d dead letters, when run returned; want succeeded with all %d and their dead letters",
			rec.Status, handled, n, dead, n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// An async job whose events no processor consumes says so while it runs,
// naming the group and the worker to start; with a worker, it does not.
func TestJobWithoutProcessorsWarns(t *testing.T) {
	defer func(d time.Duration) { run.ConsumerCheck = d }(run.ConsumerCheck)
	run.ConsumerCheck = 100 * time.Millisecond
	ctx := context.Background()
	e := newEnv(t, 300, nil)
	downableKafka(t, e) // a broker of its own address: no in-process workers
	var logs strings.Builder
	e.Log = slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	for _, c := range []struct {
		name   string
		worker bool
	}{{"unconsumed", false}, {"consumed", true}} {
		logs.Reset()
		j := spec(t, c.name, "rate: {limit: 500}\n")
		if c.worker {
			defer runWorker(t, e, j)()
			group := events.Group(j.Transform.Name, j.Transform.Version)
			assetstest.Eventually(t, 30*time.Second, "the worker to join group "+group, func() bool {
				n, err := e.Kafka.Members(ctx, group)
				return err == nil && n > 0
			})
		}
		r, err := e.Start(ctx, j, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(ctx); err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(logs.String(), "no processor consumes") && strings.Contains(logs.String(), "reprocess worker --transform tag --version 1")
		if warned == c.worker {
			t.Errorf("%s: warned %v; want %v; log:\n%s", c.name, warned, !c.worker, logs.String())
		}
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// A worker serving every job applies each async job's events as a member
// of its transform's group, started when the job appears, so both jobs
// end succeeded with every asset applied, with no worker per transform.
func TestWorkJobsServesEveryJob(t *testing.T) {
	defer func(d time.Duration) { run.JobPoll = d }(run.JobPoll)
	run.JobPoll = 100 * time.Millisecond
	const n = 200
	ctx := context.Background()
	e := newEnv(t, n, nil)
	downableKafka(t, e) // a broker of its own address: no in-process workers
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.WorkJobs(wctx, worker.Config{Reports: e.Store}, kafka.ConsumerConfig{}) }()
	jobs := []*job.Job{spec(t, "first", ""),
		specOf(t, strings.Replace(spec(t, "second", "").Text, "transform: {name: tag,", "transform: {name: tag2,", 1))}
	const tag2 = `reprocess_apply_events_total{outcome="applied",transform="tag2",version="1"}`
	seen := make(chan map[string]float64, 1)
	go func() { // the members leave once the jobs end, which may be before a run returns
		deadline := time.Now().Add(time.Minute)
		m := series(t, e)
		for ; m[tag2] == 0 && time.Now().Before(deadline); m = series(t, e) {
			time.Sleep(20 * time.Millisecond)
		}
		seen <- m
	}()
	for _, j := range jobs {
		r, err := e.Start(ctx, j, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if m := <-seen; m[tag2] == 0 {
		t.Fatalf("no worker metrics for tag2 while it is served: %v", m)
	}
	deadline := time.Now().Add(time.Minute)
	for _, j := range jobs {
		for rec, _ := e.Store.Job(ctx, j.Name); rec.Status != control.Succeeded; rec, _ = e.Store.Job(ctx, j.Name) {
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %s with counters %v after a minute; want succeeded", j.Name, rec.Status, rec.Counters)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, id := range scope(t, e, jobs[0]) {
		if a, _ := e.Store.Get(ctx, id); a.Transforms["tag"] != 1 || a.Transforms["tag2"] != 1 {
			t.Fatalf("asset %s carries %v; want tag and tag2 applied", id, a.Transforms)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// runWorker runs a member of j's transform group, reporting to the env's
// store, until stop, which returns how it ended.
func runWorker(t *testing.T, e *run.Env, j *job.Job) (stop func() error) {
	t.Helper()
	dlq, err := e.Kafka.NewDLQ("test")
	if err != nil {
		t.Fatal(err)
	}
	w, closeW, err := e.Worker(dlq, worker.Config{Transform: j.Transform.Name, Version: j.Transform.Version, Reports: e.Store})
	if err != nil {
		dlq.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, e.Kafka, kafka.ConsumerConfig{Group: events.Group(j.Transform.Name, j.Transform.Version), Topics: []string{e.Kafka.Topic()}})
	}()
	return func() error {
		cancel()
		err := <-done
		closeW()
		dlq.Close()
		return err
	}
}
