package scan_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/expr"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

var (
	quiet  = slog.New(slog.DiscardHandler)
	layout = assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}
	end    = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

// env is one store and one Kafka, with seeded assets.
type env struct {
	name   string
	store  assets.Store
	kafka  *kafka.Cluster
	topic  string
	seeded []assets.Asset
}

// envMakers are the two setups the end-to-end tests run on: the embedded
// store with kfake, and real Cassandra with real Kafka (skipped outside CI
// when they are not configured, failed under CI).
var envMakers = map[string]func(*testing.T, int) *env{
	"embedded+kfake": embeddedEnv,
	"cassandra+kafka": func(t *testing.T, n int) *env {
		s := assetstest.Cassandra(t, "reprocess_scan_test", layout)
		brokers := need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
		return newEnv(t, "cassandra+kafka", s, brokers, n)
	},
}

// embeddedEnv is the embedded store with kfake.
func embeddedEnv(t *testing.T, n int) *env {
	t.Helper()
	return newEnv(t, "embedded+kfake", assetstest.Embedded(t, layout), nil, n)
}

func newEnv(t *testing.T, name string, s assets.Store, brokers []string, n int) *env {
	t.Helper()
	assetstest.LedgersAtEnd(t, s)
	e := &env{name: name, store: s, topic: fmt.Sprintf("test.scan.%x", rand.Uint32())}
	kcfg := kafka.DefaultConfig
	kcfg.Brokers, kcfg.Topic, kcfg.DLQTopic, kcfg.Partitions = brokers, e.topic, e.topic+".dlq", 4
	kc, err := kafka.Start(kcfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if err := kc.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.kafka = kc
	// Each env gets its own asset types, so a shared store serves many runs.
	suffix := fmt.Sprintf("_%08x", rand.Uint32())
	gen := synth.NewGenerator(synth.Config{Span: 10 * 24 * time.Hour, End: end, Seed: rand.Uint64()})
	for range n {
		a := gen.Next()
		a.Type += suffix
		if err := s.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		e.seeded = append(e.seeded, a)
	}
	return e
}

func (e *env) types(names ...string) []string {
	suffix := e.seeded[0].Type[len(e.seeded[0].Type)-9:]
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + suffix
	}
	return out
}

// expected lists the seeded assets of types created in [from, to) that keep.
func (e *env) expected(t *testing.T, types []string, from, to time.Time, keep func(assets.Asset) bool) map[assets.ID]bool {
	t.Helper()
	want := map[assets.ID]bool{}
	for _, a := range e.seeded {
		for _, typ := range types {
			if a.Type == typ && !a.CreatedAt.Before(from) && a.CreatedAt.Before(to) && (keep == nil || keep(a)) {
				want[a.ID] = true
			}
		}
	}
	if len(want) == 0 {
		t.Fatalf("no seeded asset of %v in [%s, %s): the test would prove nothing", types, from, to)
	}
	return want
}

// consume reads the topic until want events arrived and then a quiet
// half second, returning how often each asset id was seen.
func (e *env) consume(t *testing.T, want int) map[assets.ID]int {
	t.Helper()
	cl, err := e.kafka.NewClient(kgo.ConsumeTopics(e.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[assets.ID]int{}
	total := 0
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := events.Decode(r.Value)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if string(r.Key) != ev.AssetID.String() {
				t.Fatalf("record key %s != asset id %s", r.Key, ev.AssetID)
			}
			seen[ev.AssetID]++
			n++
		})
		total += n
		if n == 0 && total >= want {
			break
		}
	}
	return seen
}

func (e *env) source(types []string, from, to time.Time, pageSize int) *scan.Partitions {
	return &scan.Partitions{Pager: e.store, Layout: layout, Types: types, From: from, To: to, PageSize: pageSize}
}

func (e *env) publisher(t *testing.T) *kafka.Publisher {
	p, err := e.kafka.NewPublisher("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestEmitsEveryAssetInRangeOnce(t *testing.T) {
	for name, mk := range envMakers {
		t.Run(name, func(t *testing.T) {
			e := mk(t, 2000)
			types := e.types("image", "video")
			from, to := end.Add(-6*24*time.Hour-5*time.Hour), end.Add(-2*24*time.Hour+7*time.Hour)
			want := e.expected(t, types, from, to, nil)
			job := fmt.Sprintf("job-%x", rand.Uint32())
			sc := scan.New(scan.Config{Job: job, Transform: "t", Version: 1, Concurrency: 4, Store: e.store, Log: quiet},
				e.source(types, from, to, 37), e.publisher(t))
			if err := sc.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			seen := e.consume(t, len(want))
			for id := range want {
				if seen[id] != 1 {
					t.Errorf("asset %s in range emitted %d times, want 1", id, seen[id])
				}
			}
			for id := range seen {
				if !want[id] {
					t.Errorf("asset %s outside the range or types was emitted", id)
				}
			}
			if got := sc.Stats.Emitted.Load(); got != int64(len(want)) {
				t.Errorf("Stats.Emitted = %d, want %d", got, len(want))
			}
			t.Logf("%s: %d of %d seeded assets in range, each emitted once", e.name, len(want), len(e.seeded))
		})
	}
}

func TestFilterKeepsOnlyMatches(t *testing.T) {
	e := embeddedEnv(t, 1500)
	types := e.types("image", "video", "audio")
	f, err := expr.CompileFilter(`("codec" in asset.metadata && asset.metadata.codec in ["hevc", "av1"]) || asset.metadata[?"format"].orValue("") == "png"`, expr.DefaultCostLimit)
	if err != nil {
		t.Fatal(err)
	}
	keep := func(a assets.Asset) bool {
		c, fm := a.Metadata["codec"], a.Metadata["format"]
		return c == "hevc" || c == "av1" || fm == "png"
	}
	from, to := end.Add(-10*24*time.Hour), end
	want := e.expected(t, types, from, to, keep)
	sc := scan.New(scan.Config{Job: "filter", Transform: "t", Version: 1, Concurrency: 2, Filter: f, Store: e.store, Log: quiet},
		e.source(types, from, to, 50), e.publisher(t))
	if err := sc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := e.consume(t, len(want))
	if len(seen) != len(want) {
		t.Errorf("emitted %d assets, want the %d that match", len(seen), len(want))
	}
	for id := range seen {
		if !want[id] {
			t.Errorf("asset %s does not match the filter but was emitted", id)
		}
	}
	scanned := e.expected(t, types, from, to, nil)
	if sc.Stats.Filtered.Load() != int64(len(scanned)-len(want)) {
		t.Errorf("Filtered = %d, want %d", sc.Stats.Filtered.Load(), len(scanned)-len(want))
	}
}

// failingEmitter passes the first n batches and then fails, like a
// process dying mid-scan.
type failingEmitter struct {
	scan.Emitter
	mu sync.Mutex
	n  int
}

func (f *failingEmitter) Emit(ctx context.Context, evs []events.Reprocess) (int, error) {
	f.mu.Lock()
	f.n--
	fail := f.n < 0
	f.mu.Unlock()
	if fail {
		return 0, errors.New("injected crash")
	}
	return f.Emitter.Emit(ctx, evs)
}

// walkCounter records which tasks a source walks.
type walkCounter struct {
	scan.Source
	mu     sync.Mutex
	walked map[string]int
}

func (w *walkCounter) Walk(ctx context.Context, task, from string, fn func(scan.Batch) error) error {
	w.mu.Lock()
	w.walked[task]++
	w.mu.Unlock()
	return w.Source.Walk(ctx, task, from, fn)
}

func TestResumeAfterCrashSkipsNothingAndRewalksNoDoneTask(t *testing.T) {
	e := embeddedEnv(t, 3000)
	types := e.types("image", "video", "document")
	from, to := end.Add(-10*24*time.Hour), end
	want := e.expected(t, types, from, to, nil)
	const concurrency, page = 3, 20
	cfg := scan.Config{Job: "crashy", Transform: "t", Version: 1, Concurrency: concurrency, Store: e.store, Log: quiet}
	pub := e.publisher(t)

	first := scan.New(cfg, e.source(types, from, to, page), &failingEmitter{Emitter: pub, n: 40})
	if err := first.Run(context.Background()); err == nil {
		t.Fatal("the first run should fail at the injected crash")
	}
	cps, err := e.store.Checkpoints(context.Background(), "crashy")
	if err != nil {
		t.Fatal(err)
	}
	doneBefore := map[string]bool{}
	for _, c := range cps {
		if c.Done {
			doneBefore[c.Task] = true
		}
	}
	if len(doneBefore) == 0 {
		t.Fatal("no task finished before the crash; the test would prove nothing")
	}

	counter := &walkCounter{Source: e.source(types, from, to, page), walked: map[string]int{}}
	second := scan.New(cfg, counter, pub)
	if err := second.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for task := range doneBefore {
		if counter.walked[task] > 0 {
			t.Errorf("task %s was done before the crash but walked again", task)
		}
	}
	seen := e.consume(t, len(want))
	dups := 0
	for id := range want {
		switch n := seen[id]; {
		case n == 0:
			t.Errorf("asset %s was never emitted", id)
		case n > 1:
			dups += n - 1
		}
	}
	// Batches in flight at the crash: at most one per concurrent task.
	if dups > concurrency*page {
		t.Errorf("%d re-emitted events, more than the %d in-flight bound", dups, concurrency*page)
	}
	t.Logf("crash after 40 batches: %d tasks were done, %d events re-emitted (bound %d), all %d assets emitted",
		len(doneBefore), dups, concurrency*page, len(want))
}

// countingEmitter counts events; scan tasks emit concurrently.
type countingEmitter struct{ n atomic.Int64 }

func (c *countingEmitter) Emit(_ context.Context, evs []events.Reprocess) (int, error) {
	c.n.Add(int64(len(evs)))
	return len(evs), nil
}

func TestRateLimitHolds500PerSecond(t *testing.T) {
	e := embeddedEnv(t, 3000)
	types := e.types("image", "video", "document", "audio", "model3d")
	lim := throttle.NewLimiter(throttle.Config{Limit: 500}, time.Second)
	sc := scan.New(scan.Config{Job: "throttled", Transform: "t", Version: 1, Concurrency: 4, Limiter: lim, Store: e.store, Log: quiet},
		e.source(types, end.Add(-10*24*time.Hour), end, 25), e.publisher(t))
	start := time.Now()
	if err := sc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rate := float64(sc.Stats.Emitted.Load()) / time.Since(start).Seconds()
	t.Logf("emitted %d events at %.0f/s under a 500/s limit", sc.Stats.Emitted.Load(), rate)
	if rate < 450 || rate > 550 {
		t.Errorf("observed %.0f events/s, want 500 ± 10%%", rate)
	}
}

// slowPager adds latency to every page read, like a loaded cluster.
type slowPager struct {
	assets.Pager
	delay time.Duration
	obs   func(time.Duration)
}

func (s slowPager) Page(ctx context.Context, p assets.Partition, after assets.ID, limit int) ([]assets.ID, error) {
	start := time.Now()
	time.Sleep(s.delay)
	ids, err := s.Pager.Page(ctx, p, after, limit)
	s.obs(time.Since(start))
	return ids, err
}

func TestAdaptiveRateFallsWhenReadsSlowDown(t *testing.T) {
	e := embeddedEnv(t, 2000)
	types := e.types("image", "video", "document", "audio", "model3d")
	lim := throttle.NewLimiter(throttle.Config{Limit: 4000, Adaptive: true, TargetP99: 5 * time.Millisecond}, 0)
	src := e.source(types, end.Add(-10*24*time.Hour), end, 20)
	win := &throttle.Window{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go lim.Control(ctx, win, 100*time.Millisecond)
	src.Pager = slowPager{Pager: e.store, delay: 15 * time.Millisecond, obs: win.Observe}
	sc := scan.New(scan.Config{Job: "adaptive", Transform: "t", Version: 1, Concurrency: 4, Limiter: lim, Store: e.store, Log: quiet},
		src, &countingEmitter{})
	if err := sc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := lim.Status(); lim.Rate() >= 4000 || st.Signal < 15*time.Millisecond || st.Reason != throttle.ReasonLatency {
		t.Errorf("with 15ms reads over a 5ms target the rate stayed at %.0f/s (status %+v)", lim.Rate(), st)
	}
	t.Logf("adaptive limit fell from 4000/s to %.0f/s with p99 %s", lim.Rate(), lim.Status().Signal)
}

func TestLagGatePausesScanning(t *testing.T) {
	e := embeddedEnv(t, 1000)
	types := e.types("image", "video", "document", "audio", "model3d")
	group := events.Group("t", 1)
	gate := throttle.NewGate(50, func(ctx context.Context) (int64, error) { return e.kafka.Lag(ctx, group) }, time.Millisecond)
	sc := scan.New(scan.Config{Job: "gated", Transform: "t", Version: 1, Concurrency: 2, Gate: gate, Store: e.store, Log: quiet},
		e.source(types, end.Add(-10*24*time.Hour), end, 10), e.publisher(t))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := sc.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with no consumer the gated scan ended with %v, want it held until the deadline", err)
	}
	// Each of 2 tasks may pass the gate with a lag read just before the
	// other's batch landed: 50 + 2 batches of 10, plus the batch that crossed.
	if n := sc.Stats.Emitted.Load(); n > 50+3*2*10 {
		t.Errorf("emitted %d events past a lag bound of 50", n)
	}
	if gate.Lag() <= 50 {
		t.Errorf("gate saw lag %d, want over the bound", gate.Lag())
	}
}

func TestIDsSource(t *testing.T) {
	ok := assets.NewID(end).String()
	ids, err := scan.ReadIDs(strings.NewReader("# header comment\n"+ok+"\n\n"+assets.NewID(end).String()+"\n"), "", 1)
	if err != nil || ids.Len() != 2 {
		t.Fatalf("ReadIDs: %v, %v", ids, err)
	}
	var got []string
	err = ids.Walk(context.Background(), "ids", "1", func(b scan.Batch) error {
		got = append(got, b.Position)
		return nil
	})
	if err != nil || len(got) != 1 || got[0] != "2" {
		t.Errorf("Walk from 1: positions %v, %v", got, err)
	}
	for _, tc := range []struct {
		in, column string
		want       []string // in Error
		redacted   []string // in Redacted, which holds no text of the list
	}{
		{ok + "\nnot-an-id\n" + ok + "\n6ba7b810-9dad-41d1-80b4-00c04fd430c8\n", "", []string{"2 invalid", "line 2", "not-an-id", "line 4", "version 4"},
			[]string{"2 invalid", "line 2: not a timeuuid", "line 4: not a timeuuid"}},
		{"name,asset_id\na," + ok + "\nb,zzz\n", "asset_id", []string{"line 3", "zzz"}, []string{"line 3: not a timeuuid"}},
		{"name,id\na," + ok + "\n", "asset_id", []string{"no column \"asset_id\"", "[name id]"}, []string{`line 1: no column "asset_id" in the header`}},
		{"a," + ok + "\nb\n", "2", []string{"line 2", "no column 2"}, []string{"line 2: no column 2"}},
		{"\n# nothing\n", "", []string{"empty"}, []string{"empty"}},
		{strings.Repeat("secret\n", 25), "", []string{"25 invalid", "line 20", "... and 5 more bad lines"}, []string{"line 20: not a timeuuid", "... and 5 more bad lines"}},
		{"x,\"secret\n", "1", []string{"line 1", "extraneous or missing \""}, []string{"line 1"}},
	} {
		_, err := scan.ReadIDs(strings.NewReader(tc.in), tc.column, 10)
		var le *scan.ListError
		if !errors.As(err, &le) {
			t.Errorf("ReadIDs(%q): %v, want a ListError", tc.in, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(le.Error(), w) {
				t.Errorf("ReadIDs(%q, column %q): error %v does not mention %q", tc.in, tc.column, err, w)
			}
		}
		for _, w := range tc.redacted {
			if !strings.Contains(le.Redacted(), w) {
				t.Errorf("ReadIDs(%q, column %q): redacted %q does not mention %q", tc.in, tc.column, le.Redacted(), w)
			}
		}
		for _, text := range []string{"not-an-id", "zzz", "name", "6ba7b810", "secret", "line 21"} {
			if strings.Contains(le.Redacted(), text) {
				t.Errorf("ReadIDs(%q): redacted %q quotes %q", tc.in, le.Redacted(), text)
			}
		}
	}
}

// outage makes the store unreachable for its first failures page reads
// past a partition's first page: mid-task, after a checkpoint.
type outage struct {
	assets.Pager
	failures atomic.Int64
	mu       sync.Mutex
	read     map[assets.Partition]bool
}

func (o *outage) Page(ctx context.Context, p assets.Partition, after assets.ID, limit int) ([]assets.ID, error) {
	o.mu.Lock()
	again := o.read[p]
	o.read[p] = true
	o.mu.Unlock()
	if again && o.failures.Add(-1) >= 0 {
		return nil, fmt.Errorf("page %s: %w: connection refused", p, assets.ErrUnavailable)
	}
	return o.Pager.Page(ctx, p, after, limit)
}

// idSet collects emitted ids.
type idSet struct {
	mu  sync.Mutex
	ids map[assets.ID]int
}

func (s *idSet) Emit(_ context.Context, evs []events.Reprocess) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.ids[ev.AssetID]++
	}
	return len(evs), nil
}

// A store outage mid-task is waited out: the tasks it hit resume from
// their checkpoints, not from their start, and every asset is emitted
// once.
func TestStoreOutageIsWaitedOut(t *testing.T) {
	e := embeddedEnv(t, 800)
	types := e.types("image", "video", "document", "audio", "model3d")
	src := e.source(types, end.Add(-10*24*time.Hour), end, 25)
	down := &outage{Pager: e.store, read: map[assets.Partition]bool{}}
	down.failures.Store(6)
	src.Pager = down
	got := &idSet{ids: map[assets.ID]int{}}
	sc := scan.New(scan.Config{Job: "outage", Transform: "t", Version: 1, Concurrency: 4, Store: e.store, Log: quiet}, src, got)
	if err := sc.Run(context.Background()); err != nil {
		t.Fatalf("a scan through a store outage: %v", err)
	}
	if len(got.ids) != 800 {
		t.Errorf("emitted %d of 800 assets after the outage", len(got.ids))
	}
	if n := down.failures.Load(); n >= 0 {
		t.Errorf("the outage failed %d page reads, want 6: it did not hit mid-task", 6-n)
	}
	again := 0
	for _, n := range got.ids {
		again += n - 1
	}
	if again != 0 {
		t.Errorf("%d ids emitted again after the outage; a task resumes from its checkpoint", again)
	}
}

// Count counts the ids a scan has left in the paging index: every id in
// range, fewer by what a checkpoint passed, and an estimate of the same
// order from a sample of the partitions.
func TestCountLeft(t *testing.T) {
	for name, mk := range envMakers {
		t.Run(name, func(t *testing.T) {
			e := mk(t, 2000)
			types := e.types("image", "video")
			from, to := end.Add(-6*24*time.Hour-5*time.Hour), end.Add(-2*24*time.Hour+7*time.Hour)
			want := int64(len(e.expected(t, types, from, to, nil)))
			src := e.source(types, from, to, 7)
			tasks, _ := src.Tasks(context.Background())
			n, exact, err := src.Count(context.Background(), tasks, nil, 0)
			if err != nil || !exact || n != want {
				t.Errorf("Count of every partition = %d, exact %v, %v; want exactly %d", n, exact, err, want)
			}
			var first []string // the ids of a partition holding some, in walk order
			for _, task := range tasks {
				src.Walk(context.Background(), task, "", func(b scan.Batch) error {
					for _, it := range b.Items {
						first = append(first, it.ID.String())
					}
					return nil
				})
				if len(first) >= 3 {
					cp := map[string]string{task: first[1]} // a checkpoint past two ids
					if n, _, err := src.Count(context.Background(), tasks, cp, 0); err != nil || n != want-2 {
						t.Errorf("Count with a checkpoint past 2 ids = %d, %v; want %d", n, err, want-2)
					}
					break
				}
				first = nil
			}
			splitting := *src // a source that splits its partitions still counts them whole
			splitting.SplitAfter, splitting.SplitWays = 3, 4
			if n, _, err := splitting.Count(context.Background(), tasks, nil, 0); err != nil || n != want {
				t.Errorf("Count by a splitting source = %d, %v; want %d", n, err, want)
			}
			n, exact, err = src.Count(context.Background(), tasks, nil, len(tasks)/2)
			if err != nil || exact || n < want/2 || n > want*2 {
				t.Errorf("Count of half the partitions = %d, exact %v, %v; want an estimate near %d", n, exact, err, want)
			}
		})
	}
}
