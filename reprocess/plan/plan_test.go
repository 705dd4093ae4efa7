package plan_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/plan"
	"github.com/reprocess/reprocess/reprocess/run"
)

var (
	layout = assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}
	end    = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	quiet  = slog.New(slog.DiscardHandler)
)

// backend is a store and a Kafka to plan and run on, with full dumps of
// both: every row of the store, every topic's end offsets and every
// committed offset of the jobs' groups.
type backend struct {
	kc    *kafka.Cluster
	store func(t *testing.T) assets.Store // a handle, open until release
	// release ends the handle's use before a dump (the embedded store's
	// dump opens its directory itself).
	release func(assets.Store)
	dump    func(t *testing.T) []string
}

// embeddedBackend is a fresh embedded store with the in-process Kafka.
func embeddedBackend(t *testing.T, kc *kafka.Cluster) backend {
	dir := t.TempDir()
	return backend{
		kc: kc,
		store: func(t *testing.T) assets.Store {
			s, err := embedded.Open(embedded.Config{Dir: dir}, layout)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		release: func(s assets.Store) { s.Close() },
		dump:    func(t *testing.T) []string { return dumpPebble(t, dir) },
	}
}

// dumpPebble lists every key and value of the closed store in dir.
func dumpPebble(t *testing.T, dir string) []string {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Logger: silent{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var rows []string
	for it.First(); it.Valid(); it.Next() {
		rows = append(rows, hex.EncodeToString(it.Key())+"="+hex.EncodeToString(it.Value()))
	}
	return rows
}

type silent struct{}

func (silent) Infof(string, ...any)  {}
func (silent) Errorf(string, ...any) {}
func (silent) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// cassandraBackend is a fresh keyspace on the real Cassandra with the
// real Kafka.
func cassandraBackend(t *testing.T, kc *kafka.Cluster, keyspace string) backend {
	s := assetstest.Cassandra(t, keyspace, layout)
	hosts := need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra")
	sess, err := gocql.NewCluster(hosts...).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sess.Query("DROP KEYSPACE IF EXISTS " + keyspace).Exec()
		sess.Close()
	})
	return backend{
		kc:      kc,
		store:   func(*testing.T) assets.Store { return s },
		release: func(assets.Store) {},
		dump:    func(t *testing.T) []string { return dumpKeyspace(t, sess, keyspace) },
	}
}

// dumpKeyspace lists every row of every table of keyspace, sorted.
func dumpKeyspace(t *testing.T, sess *gocql.Session, keyspace string) []string {
	t.Helper()
	var tables []string
	it := sess.Query("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", keyspace).Iter()
	for name := ""; it.Scan(&name); {
		tables = append(tables, name)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, table := range tables {
		it := sess.Query(fmt.Sprintf("SELECT * FROM %s.%s", keyspace, table)).Consistency(gocql.All).Iter()
		for row := map[string]any{}; it.MapScan(row); row = map[string]any{} {
			rows = append(rows, fmt.Sprintf("%s %v", table, row))
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(rows)
	return rows
}

// dumpKafka lists the end offsets of every partition of topics and the
// committed offsets of groups.
func dumpKafka(t *testing.T, kc *kafka.Cluster, topics, groups []string) []string {
	t.Helper()
	ctx := context.Background()
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var out []string
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		out = append(out, fmt.Sprintf("end %s/%d=%d %v", o.Topic, o.Partition, o.Offset, o.Err))
	})
	for _, g := range groups {
		offs, err := adm.FetchOffsets(ctx, g)
		if errors.Is(err, kerr.GroupIDNotFound) {
			out = append(out, "group "+g+" absent")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		offs.Each(func(o kadm.OffsetResponse) {
			out = append(out, fmt.Sprintf("group %s %s/%d=%d", g, o.Topic, o.Partition, o.At))
		})
	}
	slices.Sort(out)
	return out
}

// env is a run env on s and kc.
func env(t *testing.T, s assets.Store, kc *kafka.Cluster) *run.Env {
	t.Helper()
	reg := prometheus.NewRegistry()
	timed, err := instrument.Wrap(s, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &run.Env{Store: timed, Kafka: kc, Metrics: reg, Log: quiet, Layout: layout}
}

func planner(s assets.Store) *plan.Env {
	return &plan.Env{Store: s, Sources: run.Sources{Pager: s, Layout: layout, Log: quiet}, Log: quiet}
}

// spec is a job over the last two days before end, of three of the five
// types, setting the fact tag, with extra lines.
func spec(t *testing.T, name, transform, fact, extra string) *job.Job {
	t.Helper()
	j, err := job.Read(fmt.Appendf(nil, `name: %s
source: {kind: cassandra, types: [image, video, document], created_from: %s, created_to: %s, page_size: 25, concurrency: 4}
transform: {name: %s, version: 1, facts: {tag: '%s'}}
%s`, name, end.Add(-48*time.Hour).Format(time.RFC3339), end.Format(time.RFC3339), transform, fact, extra))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// runJob runs j to its end with two in-process workers and returns its
// record's counters.
func runJob(t *testing.T, s assets.Store, kc *kafka.Cluster, j *job.Job) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	e := env(t, s, kc)
	r, err := e.Start(ctx, j, run.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Job(ctx, j.Name)
	if err != nil {
		t.Fatal(err)
	}
	assetstest.Ledger(t, rec)
	return rec.Counters
}

// marked counts, per type, the assets of the seeded span carrying
// transform's marker, and returns their facts by id.
func marked(t *testing.T, s assets.Store, transform string) (map[string]int64, map[string]map[string]string) {
	t.Helper()
	ctx := context.Background()
	counts, facts := map[string]int64{}, map[string]map[string]string{}
	for _, p := range layout.Partitions(synth.TypeNames(), end.Add(-100*time.Hour), end) {
		err := assets.Walk(ctx, s, p, assets.ID{}, 500, func(page []assets.ID) error {
			for _, id := range page {
				a, err := s.Get(ctx, id)
				if err != nil {
					return err
				}
				if a.Transforms[transform] == 1 {
					counts[a.Type]++
					facts[id.String()] = a.Facts
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return counts, facts
}

// A plan writes nothing (a full dump of the store and of the Kafka
// topics and groups is the same before and after it), and what it counts
// is what running the job then processes: the scope's assets and their
// types, the assets the filter keeps, and the facts its samples show.
func TestPlanWritesNothingAndCountsWhatARunDoes(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		checkPlan(t, embeddedBackend(t, startKafka(t, kafka.DefaultConfig)))
	})
	t.Run("cassandra+kafka", func(t *testing.T) {
		cfg := kafka.DefaultConfig
		cfg.Brokers = need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
		sfx := fmt.Sprintf("%x", rand.Uint32())
		cfg.Topic, cfg.DLQTopic, cfg.TasksTopic, cfg.Partitions = "plan.assets."+sfx, "plan.dlq."+sfx, "plan.tasks."+sfx, 3
		kc := startKafka(t, cfg)
		t.Cleanup(func() { deleteTopics(t, kc, cfg.Topic, cfg.DLQTopic, cfg.TasksTopic) })
		checkPlan(t, cassandraBackend(t, kc, "plan_"+sfx))
	})
}

// deleteTopics removes the test's topics from the shared Kafka.
func deleteTopics(t *testing.T, kc *kafka.Cluster, topics ...string) {
	cl, err := kc.NewClient()
	if err != nil {
		t.Log(err)
		return
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).DeleteTopics(context.Background(), topics...); err != nil {
		t.Logf("delete topics %v: %v", topics, err)
	}
}

func startKafka(t *testing.T, cfg kafka.Config) *kafka.Cluster {
	t.Helper()
	kc, err := kafka.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if err := kc.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	return kc
}

func checkPlan(t *testing.T, b backend) {
	ctx := context.Background()
	sfx := fmt.Sprintf("%x", rand.Uint32())
	s := b.store(t)
	// 600 assets over four days: half of them outside the jobs' two.
	if _, err := synth.Seed(ctx, s, synth.Config{Count: 600, Span: 96 * time.Hour, End: end, Seed: 3, Concurrency: 4}, nil); err != nil {
		t.Fatal(err)
	}
	// A job ran before: its record, checkpoints, events and committed
	// offsets are part of what a plan must leave alone.
	warm := spec(t, "warm-"+sfx, "warm_"+sfx, `"warm"`, "")
	runJob(t, s, b.kc, warm)
	b.release(s)

	tag := `asset.type + "-" + string(size(asset.metadata))`
	all := spec(t, "all-"+sfx, "all_"+sfx, tag, "")
	some := spec(t, "some-"+sfx, "some_"+sfx, tag, `filter: 'asset.metadata.owner == "marketing" || asset.type == "video"'`)
	topics := []string{b.kc.Topic(), b.kc.DLQTopic(), b.kc.TasksTopic()}
	var groups []string
	for _, j := range []*job.Job{warm, all, some} {
		groups = append(groups, events.Group(j.Transform.Name, 1))
	}
	store, offsets := b.dump(t), dumpKafka(t, b.kc, topics, groups)
	if len(store) < 600 || !slices.ContainsFunc(offsets, func(o string) bool { return strings.HasPrefix(o, "group "+groups[0]+" "+topics[0]) }) {
		t.Fatalf("the dumps miss what the job before wrote: %d store rows, kafka %v", len(store), offsets)
	}

	s = b.store(t)
	plans := map[string]*plan.Plan{}
	for _, j := range []*job.Job{all, some} {
		p, err := planner(s).Make(ctx, j, plan.Options{Sample: 5, Measure: 10_000, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		plans[j.Name] = p
	}
	b.release(s)
	if after := b.dump(t); !slices.Equal(store, after) {
		t.Errorf("the plans changed the store: %d rows before, %d after; first difference %s", len(store), len(after), firstDiff(store, after))
	}
	if after := dumpKafka(t, b.kc, topics, groups); !slices.Equal(offsets, after) {
		t.Errorf("the plans changed Kafka:\nbefore %v\nafter  %v", offsets, after)
	}

	s = b.store(t)
	defer b.release(s)
	checkCounts(t, s, b.kc, all, plans[all.Name])
	p, counters := plans[some.Name], runJob(t, s, b.kc, some)
	if p.Filter == nil || !p.Filter.Exact || int64(p.Filter.Matched) != counters["emitted"] || p.Duration.Assets != counters["emitted"] {
		t.Errorf("plan of the filtered job %+v, %d to emit; the run emitted %d", p.Filter, p.Duration.Assets, counters["emitted"])
	}
}

// checkCounts runs j and compares what it processed with plan p of it.
func checkCounts(t *testing.T, s assets.Store, kc *kafka.Cluster, j *job.Job, p *plan.Plan) {
	t.Helper()
	counters := runJob(t, s, kc, j)
	types, facts := marked(t, s, j.Transform.Name)
	if !p.Scope.Exact || p.Scope.Assets != counters["scanned"] || p.Scope.Assets == 0 {
		t.Errorf("plan counted %d assets (exact %t); the run scanned %d", p.Scope.Assets, p.Scope.Exact, counters["scanned"])
	}
	if !p.Scope.TypesExact || !maps.Equal(p.Scope.Types, types) {
		t.Errorf("plan counted types %v; the run applied %v", p.Scope.Types, types)
	}
	if len(p.Samples) != 5 {
		t.Fatalf("%d samples, want 5", len(p.Samples))
	}
	for _, smp := range p.Samples {
		// The job before set tag to "warm": the sample changes it and
		// adds its inputs' digest.
		if smp.Outcome != "applied" || smp.Marker != (plan.Change{Before: "", After: "1"}) || len(smp.Added) != 1 ||
			len(smp.Changed) != 1 || smp.Changed["tag"].Before != "warm" {
			t.Errorf("sample %+v: want applied, marker - -> 1, tag changed from warm, a digest added", smp)
		}
		for k, v := range smp.Added {
			if got := facts[smp.ID][k]; got != v {
				t.Errorf("asset %s: the plan showed %s = %q, the run wrote %q", smp.ID, k, v, got)
			}
		}
		if got := facts[smp.ID]["tag"]; got != smp.Changed["tag"].After {
			t.Errorf("asset %s: the plan showed tag -> %q, the run wrote %q", smp.ID, smp.Changed["tag"].After, got)
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%q / %q", a[i], b[i])
		}
	}
	return "in the length"
}
