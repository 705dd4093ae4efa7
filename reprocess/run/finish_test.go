package run_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// finishing is a Go transform with an on-success step that counts how
// often it was taken and how many assets were applied by then.
type finishing struct {
	failApply bool
	finishErr error

	applied  atomic.Int64
	finished atomic.Int64
	atFinish atomic.Int64
}

func (f *finishing) Name() string { return "finishing" }
func (f *finishing) Version() int { return 1 }
func (f *finishing) Apply(context.Context, assets.Asset) (transform.Result, error) {
	if f.failApply {
		return transform.Result{}, transform.Permanent(errors.New("no"))
	}
	f.applied.Add(1)
	return transform.Result{Facts: map[string]string{"f": "x"}}, nil
}

func (f *finishing) Finish(context.Context) error {
	f.finished.Add(1)
	f.atFinish.Store(f.applied.Load())
	return f.finishErr
}

// A transform's on-success step is taken once, after every asset was
// handled, when the job succeeds, and never when it fails, is cancelled
// or is stopped; when the step fails, the job fails saying so.
func TestOnSuccessStep(t *testing.T) {
	cancelSoon := func(e *run.Env, name string, stop context.CancelFunc) {
		time.Sleep(300 * time.Millisecond)
		if _, err := control.Act(context.Background(), e.Store, name, "cancel"); err != nil {
			t.Error(err)
		}
	}
	interruptSoon := func(_ *run.Env, _ string, stop context.CancelFunc) { time.Sleep(300 * time.Millisecond); stop() }
	for _, tc := range []struct {
		name     string
		extra    string
		opts     run.Options
		f        *finishing
		stop     func(e *run.Env, name string, stop context.CancelFunc)
		status   string
		finished int64
	}{
		{"sync succeeds", "mode: sync\n", run.Options{}, &finishing{}, nil, control.Succeeded, 1},
		{"async with workers succeeds", "", run.Options{Workers: 2}, &finishing{}, nil, control.Succeeded, 1},
		{"over budget", "mode: sync\n", run.Options{}, &finishing{failApply: true}, nil, control.Failed, 0},
		{"cancelled", "mode: sync\nrate: {limit: 100}\n", run.Options{}, &finishing{}, cancelSoon, control.Cancelled, 0},
		{"interrupted", "mode: sync\nrate: {limit: 100}\n", run.Options{}, &finishing{}, interruptSoon, control.Interrupted, 0},
		{"step fails", "mode: sync\n", run.Options{}, &finishing{finishErr: errors.New("alias not switched")}, nil, control.Failed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 200, nil)
			e.Transforms = transform.NewRegistry(tc.f)
			name := strings.ReplaceAll(tc.name, " ", "-")
			j := specOf(t, strings.Replace(spec(t, name, tc.extra).Text, "transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}", "transform: {name: finishing, version: 1}", 1))
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			r, err := e.Start(ctx, j, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.stop != nil {
				go tc.stop(e, name, stop)
			}
			runErr := r.Run(ctx)
			rec, err := e.Store.Job(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != tc.status {
				t.Fatalf("job %s (%v, %q); want %s", rec.Status, runErr, rec.Error, tc.status)
			}
			if n := tc.f.finished.Load(); n != tc.finished {
				t.Errorf("on-success step taken %d times; want %d", n, tc.finished)
			}
			if tc.status == control.Succeeded {
				assetstest.Ledger(t, rec)
			}
			if tc.status == control.Succeeded && tc.f.atFinish.Load() != 200 {
				t.Errorf("on-success step taken with %d of 200 assets applied", tc.f.atFinish.Load())
			}
			if want := fmt.Sprint(tc.f.finishErr); tc.f.finishErr != nil && !strings.Contains(rec.Error, "on success: "+want) {
				t.Errorf("job error %q; want it to say the on-success step failed: %s", rec.Error, want)
			}
		})
	}
}

// A zero-downtime reindex run as a job switches its alias to the new
// index when, and only when, the job succeeds.
func TestReindexJobSwitchesItsAlias(t *testing.T) {
	urls := need.Service(t, "REPROCESS_TEST_ES_URL", "real Elasticsearch")
	es, err := elastic.NewClient(elastic.Config{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	x := fmt.Sprintf("%08x", rand.Uint32())
	index, alias := "run-zdr-"+x, "run-zdr-alias-"+x
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	})
	ctx := context.Background()
	e := newEnv(t, 100, nil)
	e.Elastic = elastic.Config{URLs: urls}
	reindex := fmt.Sprintf("transform: {name: reindex, version: 1, index: %s, mapping_version: 1, alias: %s, mapping: {settings: {number_of_replicas: 0}}}", index, alias)
	for _, tc := range []struct {
		name, extra string
		switched    bool
	}{
		{"zdr-over-budget", "mode: sync\nfilter: 'int(asset.metadata.owner) > 1'\n", false},
		{"zdr", "mode: sync\n", true},
	} {
		j := specOf(t, strings.Replace(spec(t, tc.name, tc.extra).Text, "transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}", reindex, 1))
		r, err := e.Start(ctx, j, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		runErr := r.Run(ctx)
		res, err := es.Indices.GetAlias(es.Indices.GetAlias.WithName(alias))
		if err != nil {
			t.Fatal(err)
		}
		var named map[string]any
		if res.StatusCode != 404 { // 404: the alias names no index
			json.NewDecoder(res.Body).Decode(&named)
		}
		res.Body.Close()
		if _, ok := named[index]; ok != tc.switched || (tc.switched && len(named) != 1) {
			t.Errorf("job %s (%v): the alias names %v; want it switched to %s: %t", tc.name, runErr, slices.Collect(maps.Keys(named)), index, tc.switched)
		}
	}
}
