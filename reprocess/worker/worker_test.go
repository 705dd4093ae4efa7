package worker_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/worker"
)

var (
	quiet  = slog.New(slog.DiscardHandler)
	layout = assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}
	end    = time.Now().UTC().Truncate(time.Hour)
)

// env is a store with seeded assets and a Kafka with fresh topics.
type env struct {
	name   string
	store  assets.Store
	lwt    assets.Store   // the store whose Update bumps version by a lightweight transaction
	cql    *gocql.Session // the real Cassandra, for the test's own reads; nil on embedded
	kc     *kafka.Cluster
	kcfg   kafka.Config
	apply  assets.Store // what the workers' handler writes through (nil: store)
	types  []string
	ids    []assets.ID
	seeded []string // the metadata bytes each of ids was seeded with
}

func embeddedEnv(t testing.TB, n int) *env {
	t.Helper()
	e := newEnv(t, "embedded+kfake", assetstest.Embedded(t, layout), nil, n)
	e.lwt = e.store // embedded writes are serialised: Update is as strict as an LWT
	return e
}

const keyspace = "reprocess_worker_test"

func realEnv(t testing.TB, n int) *env {
	t.Helper()
	s := assetstest.Cassandra(t, keyspace, layout)
	brokers := need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
	e := newEnv(t, "cassandra+kafka", s, brokers, n)
	cfg := cassandra.DefaultConfig
	cfg.Hosts = need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra")
	cfg.Keyspace, cfg.Consistency, cfg.LWTUpdates = keyspace, "ONE", true
	lwt, err := cassandra.Open(context.Background(), cfg, layout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lwt.Close() })
	e.lwt = lwt
	cc := gocql.NewCluster(cfg.Hosts...)
	cc.Consistency = gocql.One
	if e.cql, err = cc.CreateSession(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cql.Close)
	return e
}

// envMakers are the two setups every end-to-end test runs on.
var envMakers = map[string]func(testing.TB, int) *env{"embedded+kfake": embeddedEnv, "cassandra+kafka": realEnv}

func newEnv(t testing.TB, name string, s assets.Store, brokers []string, n int) *env {
	t.Helper()
	assetstest.LedgersAtEnd(t, s)
	e := &env{name: name, store: s}
	topic := fmt.Sprintf("test.worker.%08x", rand.Uint32())
	e.kcfg = kafka.DefaultConfig
	e.kcfg.Brokers, e.kcfg.Topic, e.kcfg.DLQTopic, e.kcfg.Partitions = brokers, topic, topic+".dlq", 6
	kc, err := kafka.Start(e.kcfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if err := kc.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.kc = kc
	suffix := fmt.Sprintf("_%08x", rand.Uint32())
	for _, typ := range []string{"image", "video"} {
		e.types = append(e.types, typ+suffix)
	}
	gen := synth.NewGenerator(synth.Config{Span: 3 * 24 * time.Hour, End: end, Seed: rand.Uint64()})
	var mu sync.Mutex
	_, err = synth.SeedFrom(context.Background(), s, n, 32, func() assets.Asset {
		a := gen.Next()
		a.Type = e.types[len(e.ids)%2]
		mu.Lock()
		e.ids = append(e.ids, a.ID)
		e.seeded = append(e.seeded, a.Metadata["bytes"])
		mu.Unlock()
		return a
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// spec returns a compiled job over the env's assets.
func (e *env) spec(t testing.TB, name, body string) *job.Job {
	t.Helper()
	// Job names carry the env's suffix: the real store outlives test runs.
	name += strings.ReplaceAll(e.types[0][strings.LastIndex(e.types[0], "_"):], "_", "-")
	text := fmt.Sprintf("name: %s\nsource: {kind: cassandra, types: [%s, %s], created_from: %s, page_size: 200, concurrency: 4}\n%s",
		name, e.types[0], e.types[1], end.Add(-4*24*time.Hour).Format(time.RFC3339), body)
	s, err := job.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	j, err := job.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := e.store.SaveJob(context.Background(), assets.Job{ID: j.Name, Spec: j.Text, Status: "running", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return j
}

// scan emits the job's events to the topic and returns how many.
func (e *env) scan(t testing.TB, j *job.Job) int64 {
	t.Helper()
	pub, err := e.kc.NewPublisher("test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	src := &scan.Partitions{Pager: e.store, Layout: layout, Types: j.Source.Types, From: j.Source.CreatedFrom, To: time.Now(), PageSize: j.Source.PageSize}
	sc := scan.New(scan.Config{Job: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version, Concurrency: 4, Store: e.store}, src, pub)
	if err := sc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sc.Stats.Emitted.Load()
}

// worker is a member of j's group; reports, if not nil, receives its
// per-job counts.
func (e *env) worker(t testing.TB, reg *transform.Registry, j *job.Job, dlq worker.DeadLetters, reports assets.JobStore) *worker.Worker {
	t.Helper()
	return e.workerCounting(t, reg, j, dlq, reports, nil)
}

// workerCounting is worker counting into counts (nil: its own).
func (e *env) workerCounting(t testing.TB, reg *transform.Registry, j *job.Job, dlq worker.DeadLetters, reports assets.JobStore, counts *worker.Counts) *worker.Worker {
	t.Helper()
	store := e.store
	if e.apply != nil {
		store = e.apply
	}
	w, err := worker.New(worker.Config{
		Counts:    counts,
		Apply:     &apply.Handler{Store: store, Transforms: &apply.Resolve{Registry: reg, Jobs: e.store}},
		Policy:    apply.Policy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond},
		DLQ:       dlq,
		Log:       quiet,
		Transform: j.Transform.Name, Version: j.Transform.Version,
		Reports: reports,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// drain runs n worker members of the job's group until every one of want
// events got an outcome, then stops them gracefully.
func (e *env) drain(t testing.TB, j *job.Job, ws []*worker.Worker, want int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range ws {
		g.Go(func() error {
			return w.Run(gctx, e.kc, kafka.ConsumerConfig{Group: events.Group(j.Transform.Name, j.Transform.Version), Topics: []string{e.kcfg.Topic}, Concurrency: 8})
		})
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var got int64
		for _, w := range ws {
			got += w.Handled()
		}
		if got >= want {
			break
		}
		if time.Now().After(deadline) || gctx.Err() != nil {
			cancel()
			t.Fatalf("workers handled %d of %d events (%v)", got, want, g.Wait())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func sum(ws []*worker.Worker, o apply.Outcome) int64 {
	var n int64
	for _, w := range ws {
		n += w.Count(o)
	}
	return n
}

func (e *env) dlq(t testing.TB) *kafka.DLQ {
	d, err := e.kc.NewDLQ("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// countingFacts is transform tally at a version: src is the input it
// read, half a function of it, and applies counts the applications that
// set its marker (re-applications over changed inputs find it set).
const countingFacts = `transform:
  name: tally
  version: %d
  facts:
    owner_class: 'asset.metadata.owner.startsWith("studio") ? "studio" : "other"'
    src: 'asset.metadata.bytes'
    half: 'string(int(asset.metadata.bytes) / 2)'
    applies: 'asset.transforms[?"tally"].orValue(0) >= %d ? asset.facts[?"applies"].orValue("0") : string(int(asset.facts[?"applies"].orValue("0")) + 1)'
`

func TestRedeliveryRerunAndVersionBump(t *testing.T) {
	for name, mk := range envMakers {
		t.Run(name, func(t *testing.T) {
			e := mk(t, 1500)
			v1 := e.spec(t, "tally-v1", fmt.Sprintf(countingFacts, 1, 1))
			n := e.scan(t, v1)
			if n != int64(len(e.ids)) {
				t.Fatalf("scan emitted %d, want %d", n, len(e.ids))
			}
			ws := []*worker.Worker{e.worker(t, nil, v1, e.dlq(t), e.store)}
			e.drain(t, v1, ws, n)
			if got := sum(ws, apply.Applied); got != n {
				t.Fatalf("first pass applied %d of %d", got, n)
			}
			if rec, err := e.store.Job(context.Background(), v1.Name); err != nil || rec.Counters["applied"] != n {
				t.Errorf("job record after the first pass: counters %v, %v; want applied %d reported by the worker", rec.Counters, err, n)
			}
			before := e.versions(t)

			// The same events again (a second job, same transform version):
			// every one is a no-op and no asset is written.
			again := e.spec(t, "tally-v1-again", fmt.Sprintf(countingFacts, 1, 1))
			e.scan(t, again)
			ws2 := []*worker.Worker{e.worker(t, nil, again, e.dlq(t), nil)}
			e.drain(t, again, ws2, n)
			if sum(ws2, apply.Skipped) != n || sum(ws2, apply.Applied) != 0 {
				t.Errorf("redelivery: skipped %d, applied %d; want %d skipped", sum(ws2, apply.Skipped), sum(ws2, apply.Applied), n)
			}
			if after := e.versions(t); !equalMaps(before, after) {
				t.Error("redelivered events changed assets")
			}
			// Re-running the finished job emits nothing.
			if got := e.scan(t, v1); got != 0 {
				t.Errorf("re-running the finished job emitted %d events", got)
			}
			// Version 2 reprocesses every asset once.
			v2 := e.spec(t, "tally-v2", fmt.Sprintf(countingFacts, 2, 2))
			e.scan(t, v2)
			ws3 := []*worker.Worker{e.worker(t, nil, v2, e.dlq(t), nil)}
			e.drain(t, v2, ws3, n)
			if sum(ws3, apply.Applied) != n {
				t.Errorf("version 2 applied %d of %d", sum(ws3, apply.Applied), n)
			}
			for _, id := range e.ids {
				a, err := e.store.Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if a.Transforms["tally"] != 2 || a.Facts["owner_class"] == "" {
					t.Fatalf("asset %s after v2: transforms %v facts %v", id, a.Transforms, a.Facts)
				}
			}
		})
	}
}

func (e *env) versions(t testing.TB) map[assets.ID]int64 {
	m := map[assets.ID]int64{}
	for _, id := range e.ids {
		a, err := e.store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		m[id] = a.Version
	}
	return m
}

func equalMaps(a, b map[assets.ID]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestProductionKeepsWriting runs a job over 6,000 assets with two
// workers while production rewrites metadata bytes, the field the
// guarded transform reads, on random assets, half of the writes plain
// (read version, unconditional write: what a Cassandra LWT cannot see)
// and half through a lightweight transaction. When the workers are done
// production stops, the job's verification pass runs, and on every asset:
// the transform set its marker exactly once; its facts were derived from
// the bytes in force when they were written (on Cassandra, read
// independently: the fact cell's WRITETIME against the writers' log of
// acknowledged writes and their WRITETIMEs) and from the bytes there now;
// every acknowledged production write is there; and the guard did meet
// production (conflicts > 0).
func TestProductionKeepsWriting(t *testing.T) {
	for name, mk := range envMakers {
		t.Run(name, func(t *testing.T) {
			e := mk(t, 6000)
			j := e.spec(t, "tally-prod", fmt.Sprintf(countingFacts, 1, 1))
			prod := &production{e: e, t: t, writers: 4}
			ctx, stopProd := context.WithCancel(context.Background())
			pg := prod.start(ctx)
			e.apply = &racing{Store: e.store, p: prod}
			n := e.scan(t, j)
			cs := []*worker.Counts{{}, {}, {}} // the two workers', the pass's
			ws := []*worker.Worker{e.workerCounting(t, nil, j, e.dlq(t), nil, cs[0]), e.workerCounting(t, nil, j, e.dlq(t), nil, cs[1])}
			e.drain(t, j, ws, n)
			stopProd()
			if err := pg.Wait(); err != nil {
				t.Fatal(err)
			}
			reapplied, changing, err := e.verify(j, cs[2]).Run(context.Background())
			if err != nil || changing != 0 {
				t.Fatalf("verification: %v, %d assets still changing after production stopped", err, changing)
			}
			if sum(ws, apply.Applied) != n || sum(ws, worker.DeadLettered) != 0 {
				t.Errorf("applied %d, dead-lettered %d of %d", sum(ws, apply.Applied), sum(ws, worker.DeadLettered), n)
			}
			noted := func(x apply.Note) (n int64) {
				for _, c := range cs {
					n += c.Noted(j.Name, x)
				}
				return n
			}
			if noted(apply.Conflict) < prod.slipped.Load() || prod.slipped.Load() == 0 {
				t.Errorf("%d conflicts noted, but %d production writes slipped between a read and its conditional write", noted(apply.Conflict), prod.slipped.Load())
			}
			prod.check(j)
			t.Logf("%s: %d assets transformed by 2 workers while production made %d writes (every one kept; %d slipped before a conditional write, %d landed after one with an older timestamp); %d conflicts, %d re-applied after the write, %d by the verification pass",
				e.name, n, prod.writes.Load(), prod.slipped.Load(), prod.late.Load(), noted(apply.Conflict), noted(apply.Reapplied)-reapplied, reapplied)
		})
	}
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// flaky fails for the assets in bad until fixed.
type flaky struct {
	mu    sync.Mutex
	bad   map[assets.ID]bool
	fixed bool
}

func (f *flaky) Name() string { return "flaky" }
func (f *flaky) Version() int { return 1 }
func (f *flaky) Apply(_ context.Context, a assets.Asset) (transform.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bad[a.ID] && !f.fixed {
		return transform.Result{}, transform.Permanent(fmt.Errorf("asset %s is poison", a.ID))
	}
	return transform.Result{Facts: map[string]string{"flaky": "ok"}}, nil
}

func TestPoisonEventsGoToTheDLQAndReplay(t *testing.T) {
	e := embeddedEnv(t, 1200)
	f := &flaky{bad: map[assets.ID]bool{}}
	for i, id := range e.ids {
		if i%97 == 0 {
			f.bad[id] = true
		}
	}
	reg := transform.NewRegistry(f)
	j := e.spec(t, "flaky-job", "transform: {name: flaky, version: 1}\n")
	n := e.scan(t, j)
	ws := []*worker.Worker{e.worker(t, reg, j, e.dlq(t), nil)}
	e.drain(t, j, ws, n)
	if got := sum(ws, worker.DeadLettered); got != int64(len(f.bad)) {
		t.Errorf("dead-lettered %d, want the %d poison assets", got, len(f.bad))
	}
	if got := sum(ws, apply.Applied); got != n-int64(len(f.bad)) {
		t.Errorf("applied %d, want every other asset (%d)", got, n-int64(len(f.bad)))
	}
	inDLQ := map[assets.ID]bool{}
	err := e.kc.ReadAll(context.Background(), e.kcfg.DLQTopic, func(m events.Message) error {
		ev, err := events.Decode(m.Value)
		if err != nil {
			return err
		}
		inDLQ[ev.AssetID] = true
		if m.Header(kafka.HeaderDLQError) == "" || m.Header(kafka.HeaderDLQAttempts) != "1" || m.Header("ce_type") != events.TypeReprocess {
			t.Errorf("DLQ record of %s lacks the error, the attempt count (1: permanent) or the original headers", ev.AssetID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inDLQ) != len(f.bad) {
		t.Errorf("DLQ holds %d assets, want %d", len(inDLQ), len(f.bad))
	}
	for id := range f.bad {
		if !inDLQ[id] {
			t.Errorf("poison asset %s is not in the DLQ", id)
		}
	}

	// Fix the transform, replay the dead letters, run the worker again.
	f.mu.Lock()
	f.fixed = true
	f.mu.Unlock()
	pub, err := e.kc.NewPublisher("replay")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	replayed := 0
	err = e.kc.Replay(context.Background(), "replay-test", func(m events.Message) error {
		ev, err := events.Decode(m.Value)
		if err != nil {
			return err
		}
		ev.Attempt++
		replayed++
		_, err = pub.Emit(context.Background(), []events.Reprocess{ev})
		return err
	})
	if err != nil || replayed != len(f.bad) {
		t.Fatalf("replay: %d events, %v", replayed, err)
	}
	ws2 := []*worker.Worker{e.worker(t, reg, j, e.dlq(t), nil)}
	e.drain(t, j, ws2, int64(replayed))
	if got := sum(ws2, apply.Applied); got != int64(len(f.bad)) {
		t.Errorf("after the fix and replay applied %d, want %d", got, len(f.bad))
	}
	for _, id := range e.ids {
		a, err := e.store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Facts["flaky"] != "ok" {
			t.Fatalf("asset %s never got the transform", id)
		}
	}
	// A second replay finds nothing new.
	again := 0
	if err := e.kc.Replay(context.Background(), "replay-test", func(events.Message) error { again++; return nil }); err != nil || again != 0 {
		t.Errorf("a second replay saw %d records (%v), want none", again, err)
	}
}

func TestMalformedRecordIsDeadLetteredNotBlocking(t *testing.T) {
	e := embeddedEnv(t, 50)
	j := e.spec(t, "orient", "transform: {name: tally, version: 1, facts: {x: '\"y\"'}}\n")
	// A garbage record and a future major version, on every partition's way.
	for _, v := range []string{`{not json`, `{"schema_version":"9.0","job_id":"x"}`} {
		if err := e.kc.Produce(context.Background(), e.kcfg.Topic, events.Message{Key: []byte("k"), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	n := e.scan(t, j)
	ws := []*worker.Worker{e.worker(t, nil, j, e.dlq(t), nil)}
	e.drain(t, j, ws, n+2)
	if sum(ws, worker.DeadLettered) != 2 || sum(ws, apply.Applied) != n {
		t.Errorf("dead-lettered %d (want 2), applied %d (want %d)", sum(ws, worker.DeadLettered), sum(ws, apply.Applied), n)
	}
}
