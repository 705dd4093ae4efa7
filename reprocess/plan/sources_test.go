package plan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/plan"
)

// seeded is an embedded store holding n synthetic assets of the two days
// before end, and those assets.
func seeded(t *testing.T, n int) (assets.Store, []assets.Asset) {
	t.Helper()
	s := assetstest.Embedded(t, layout)
	gen := synth.NewGenerator(synth.Config{Span: 48 * time.Hour, End: end, Seed: 11})
	all := make([]assets.Asset, n)
	for i := range all {
		all[i] = gen.Next()
		if err := s.Put(context.Background(), all[i]); err != nil {
			t.Fatal(err)
		}
	}
	return s, all
}

func read(t testing.TB, text string) *job.Job {
	t.Helper()
	j, err := job.Read([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// An id list is counted exactly, line by line; ids whose asset is gone
// count as missing, and types read from a sample of every id are exact.
func TestPlanOfAnIDList(t *testing.T) {
	s, all := seeded(t, 60)
	var ids []string
	types := map[string]int64{"(missing)": 3}
	for _, a := range all[:40] {
		ids = append(ids, `"`+a.ID.String()+`"`)
		types[a.Type]++
	}
	for range 3 {
		ids = append(ids, `"`+assets.NewID(end).String()+`"`)
	}
	j := read(t, `name: ids
source: {kind: ids, ids: [`+strings.Join(ids, ", ")+`]}
filter: 'asset.type == "image"'
transform: {name: tag, version: 1, facts: {tag: '"x"'}}
rate: {limit: 10}`)
	p, err := planner(s).Make(context.Background(), j, plan.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	f := p.Filter
	if !p.Scope.Exact || p.Scope.Assets != 43 || p.Scope.Tasks != 1 || f.Sampled != 43 || f.Missing != 3 || !f.Exact {
		t.Errorf("scope %+v, filter %+v; want 43 ids counted exactly, all read, 3 missing", p.Scope, f)
	}
	if !p.Scope.TypesExact || fmt.Sprint(p.Scope.Types) != fmt.Sprint(types) {
		t.Errorf("types %v (exact %t); want %v, exact", p.Scope.Types, p.Scope.TypesExact, types)
	}
	if d := p.Duration; d.Assets != types["image"] || d.Seconds != float64(types["image"])/10 || f.Margin != 0 {
		t.Errorf("duration %+v, margin %g; want the %d images at 10/s, exactly", d, f.Margin, types["image"])
	}
	// Measured on 10 of the 43, the selectivity is an estimate with its margin.
	p, err = planner(s).Make(context.Background(), j, plan.Options{Measure: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	f = p.Filter
	if want := 1.96 * math.Sqrt(f.Selectivity*(1-f.Selectivity)/10); f.Exact || f.Sampled != 10 || p.Scope.TypesExact || f.Margin != want {
		t.Errorf("filter %+v, types exact %t; want 10 read, an estimate with margin %g", f, p.Scope.TypesExact, want)
	}
}

// An Elasticsearch query is estimated with _count, says so, and its
// sample is drawn from its hits.
func TestPlanOfAnElasticsearchQuery(t *testing.T) {
	urls := need.Service(t, "REPROCESS_TEST_ES_URL", "real Elasticsearch")
	s, all := seeded(t, 90)
	index := fmt.Sprintf("plan-test-%08x", rand.Uint32())
	es, err := elastic.NewClient(elastic.Config{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	})
	var bulk bytes.Buffer
	videos := map[string]bool{}
	for _, a := range all {
		fmt.Fprintf(&bulk, `{"index": {"_index": %q, "_id": %q}}`+"\n", index, a.ID)
		doc, _ := json.Marshal(map[string]string{"asset_id": a.ID.String(), "asset_type": a.Type})
		bulk.Write(append(doc, '\n'))
		if a.Type == "video" {
			videos[a.ID.String()] = true
		}
	}
	res, err := es.Bulk(&bulk, es.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	res.Body.Close()
	j := read(t, `name: es
source: {kind: elasticsearch, index: `+index+`, query: {term: {asset_type.keyword: video}}}
transform: {name: tag, version: 1, facts: {tag: '"x"'}}`)
	e := planner(s)
	e.Sources.Elastic = elastic.Config{URLs: urls}
	p, err := e.Make(context.Background(), j, plan.Options{Sample: 50, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Scope.Exact || !strings.Contains(p.Scope.Method, "_count") || p.Scope.Assets != int64(len(videos)) {
		t.Errorf("scope %+v; want an estimate from _count of %d videos", p.Scope, len(videos))
	}
	if p.Scope.Types["video"] != int64(len(videos)) || len(p.Scope.Types) != 1 || len(p.Samples) != len(videos) {
		t.Errorf("types %v, %d samples; want %d videos, each sampled", p.Scope.Types, len(p.Samples), len(videos))
	}
	seen := map[string]bool{}
	for _, smp := range p.Samples {
		if !videos[smp.ID] || seen[smp.ID] {
			t.Errorf("sample %s: not a hit of the query, or drawn twice", smp.ID)
		}
		seen[smp.ID] = true
	}
}

// A snapshot is estimated from its SSTables' index entries, at least the
// live assets the backup job then scans; reading every split, the sample
// counts them exactly.
func TestPlanOfABackup(t *testing.T) {
	ks := sstabletest.Keyspace(t, "plan_backup")
	s := assetstest.Cassandra(t, ks, layout)
	ctx := context.Background()
	gen := synth.NewGenerator(synth.Config{Span: 48 * time.Hour, End: end, Seed: 13})
	var all []assets.Asset
	for i := range 300 {
		all = append(all, gen.Next())
		if err := s.Put(ctx, all[i]); err != nil {
			t.Fatal(err)
		}
		if i == 150 {
			sstabletest.Flush(t, ks, "assets")
		}
	}
	for _, a := range all[:30] {
		if err := s.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	dir := sstabletest.Snapshot(t, ks, "assets", nil)
	j := read(t, `name: backup
source: {kind: backup, snapshots: [`+dir+`], splits: 4}
mode: sync
transform: {name: tag, version: 1, facts: {tag: '"x"'}}`)
	p, err := planner(s).Make(ctx, j, plan.Options{Measure: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Scope.Exact || p.Scope.Tasks != 4 || p.Scope.Assets < 270 || !strings.Contains(p.Scope.Method, "SSTables") {
		t.Errorf("scope %+v; want an estimate of at least 270 assets from the SSTable indexes, 4 splits", p.Scope)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "4 of 4 splits at random: 270 live assets") {
		t.Errorf("notes %q; want every split read, 270 live assets", p.Notes)
	}
	counters := runJob(t, s, startKafka(t, kafka.DefaultConfig), j)
	if counters["scanned"] != 270 || counters["scanned"] > p.Scope.Assets {
		t.Errorf("the run scanned %d; want the 270 live assets, at most the plan's %d", counters["scanned"], p.Scope.Assets)
	}
}

// Walking some of the partitions at random estimates the scope from them,
// per type, and says so; asked to walk as many as there are, it counts.
func TestPlanWalksSomePartitions(t *testing.T) {
	s, _ := seeded(t, 3000)
	j := read(t, fmt.Sprintf(`name: some
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, created_to: %s}
transform: {name: tag, version: 1, facts: {tag: '"x"'}}`, end.Add(-48*time.Hour).Format(time.RFC3339), end.Format(time.RFC3339)))
	exact, err := planner(s).Make(context.Background(), j, plan.Options{Walk: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !exact.Scope.Exact || exact.Scope.Assets != 3000 {
		t.Fatalf("walking every partition: %+v; want 3000 counted", exact.Scope)
	}
	some, err := planner(s).Make(context.Background(), j, plan.Options{Walk: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	sc := some.Scope
	if sc.Exact || sc.TypesExact || sc.Tasks != exact.Scope.Tasks || !strings.Contains(sc.Method, fmt.Sprintf("20 of the %d partitions", sc.Tasks)) {
		t.Errorf("scope %+v; want an estimate from 20 of the %d partitions that says so", sc, exact.Scope.Tasks)
	}
	// Synthetic assets spread evenly over time and shards: the estimate
	// of the hot type is close to its count.
	if got, want := float64(sc.Types["image"]), float64(exact.Scope.Types["image"]); math.Abs(got-want) > 0.35*want {
		t.Errorf("images estimated %v from 20 partitions; counted %v", got, want)
	}
}
