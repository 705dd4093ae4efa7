package run_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
)

// lossyStore acknowledges, without writing, the first writes to every
// asset whose id ends in a byte below cut, times times: a write lost
// after the processor counted it.
type lossyStore struct {
	assets.Store
	cut, times int
	mu         sync.Mutex
	lost       map[assets.ID]int
}

func (s *lossyStore) loses(id assets.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if int(id[len(id)-1]) >= s.cut || s.lost[id] >= s.times {
		return false
	}
	s.lost[id]++
	return true
}

func (s *lossyStore) Update(ctx context.Context, id assets.ID, u assets.Update) error {
	if s.loses(id) {
		return nil
	}
	return s.Store.Update(ctx, id, u)
}

func (s *lossyStore) UpdateIf(ctx context.Context, id assets.ID, version int64, u assets.Update) (bool, error) {
	if s.loses(id) {
		return true, nil
	}
	return s.Store.UpdateIf(ctx, id, version, u)
}

// lacking counts the assets in the spec's scope without transform tf v1.
func lacking(t *testing.T, e *run.Env, tf string) int {
	t.Helper()
	n := 0
	for _, id := range scope(t, e, spec(t, "scope", "")) {
		a, err := e.Store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Transforms[tf] < 1 {
			n++
		}
	}
	return n
}

// The completeness pass, not the counts, decides that a job is done:
// writes the processors counted as applied but the store lost are found
// by walking the scope, emitted again and applied, in sync mode and with
// in-process workers; writes lost every time end the job incomplete with
// the exact count of assets without the result.
func TestCompletenessPassJudgesByTheStore(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, mode string
		workers    int
	}{{"sync", "mode: sync\n", 0}, {"async", "", 2}, {"split", "mode: sync\n", 0}} {
		t.Run(c.name, func(t *testing.T) {
			var lossy *lossyStore
			e := newEnv(t, 400, func(s assets.Store) assets.Store {
				lossy = &lossyStore{Store: s, cut: 32, times: 1, lost: map[assets.ID]int{}}
				return lossy
			})
			specOf := func(t *testing.T, text string) *job.Job {
				if c.name == "split" { // wide partitions split into parts: the pass walks them
					text = strings.Replace(text, "concurrency: 4}", "concurrency: 4, split_after: 4, split_ways: 2}", 1)
				}
				return specOf(t, text)
			}
			r, err := e.Start(ctx, specOf(t, spec(t, "heal-"+c.name, c.mode).Text), run.Options{Workers: c.workers})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Run(ctx); err != nil {
				t.Fatal(err)
			}
			rec, _ := e.Store.Job(ctx, "heal-"+c.name)
			assetstest.Ledger(t, rec)
			if n := lacking(t, e, "tag"); n != 0 || rec.Status != control.Succeeded {
				t.Errorf("job %s with %d assets lacking the result; want succeeded with none", rec.Status, n)
			}
			if rec.Counters["reemitted"] != int64(len(lossy.lost)) || len(lossy.lost) == 0 || rec.Counters["lacking"] != 0 {
				t.Errorf("counters %v; want reemitted = the %d lost writes, lacking 0", rec.Counters, len(lossy.lost))
			}

			lossy.mu.Lock()
			lossy.times, lossy.lost = 1<<30, map[assets.ID]int{}
			lossy.mu.Unlock()
			name := "lost-" + c.name
			r, err = e.Start(ctx, specOf(t, strings.Replace(spec(t, name, c.mode).Text, "name: tag,", "name: tag2,", 1)), run.Options{Workers: c.workers})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Run(ctx)
			var ie *run.IncompleteError
			rec, _ = e.Store.Job(ctx, name)
			assetstest.Ledger(t, rec)
			want := int64(lacking(t, e, "tag2"))
			if !errors.As(err, &ie) || ie.Missing != want || want != int64(len(lossy.lost)) || want == 0 ||
				rec.Status != control.Incomplete || rec.Counters["lacking"] != want {
				t.Errorf("writes always lost: %v; job %s, lacking %d; want incomplete with the %d assets lacking", err, rec.Status, rec.Counters["lacking"], want)
			}

			// Run again once the store keeps writes: the scan is done, the
			// pass applies what is missing.
			lossy.mu.Lock()
			lossy.cut = 0
			lossy.mu.Unlock()
			r, err = e.Start(ctx, specOf(t, strings.Replace(spec(t, name, c.mode).Text, "name: tag,", "name: tag2,", 1)), run.Options{Workers: c.workers})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Run(ctx)
			rec, _ = e.Store.Job(ctx, name)
			assetstest.Ledger(t, rec)
			if n := lacking(t, e, "tag2"); err != nil || n != 0 || rec.Status != control.Succeeded || rec.Counters["lacking"] != 0 {
				t.Errorf("incomplete job run again: %v; job %s, %d lacking, lacking counter %d; want succeeded with none", err, rec.Status, n, rec.Counters["lacking"])
			}
		})
	}
}

// slowWrites makes every write take delay: processors fall behind the scan.
type slowWrites struct {
	assets.Store
	delay time.Duration
}

func (s slowWrites) Update(ctx context.Context, id assets.ID, u assets.Update) error {
	time.Sleep(s.delay)
	return s.Store.Update(ctx, id, u)
}

func (s slowWrites) UpdateIf(ctx context.Context, id assets.ID, version int64, u assets.Update) (bool, error) {
	time.Sleep(s.delay)
	return s.Store.UpdateIf(ctx, id, version, u)
}

// An async job interrupted while its in-process workers lag behind its
// scan leaves events queued; the resumed run's workers drain those before
// this run's, so its own handled count reaches its emitted count early.
// The job still ends with every asset in scope carrying the result.
func TestResumedJobWithEventsStillQueued(t *testing.T) {
	e := newEnv(t, 600, func(s assets.Store) assets.Store { return slowWrites{s, 20 * time.Millisecond} })
	j := spec(t, "queued", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(time.Second, cancel)
	r, err := e.Start(ctx, j, run.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v (%+v)", err, r.Progress(ctx))
	}
	if rec, _ := e.Store.Job(context.Background(), "queued"); rec.Status != control.Interrupted {
		t.Errorf("after the stop the job is %s; want interrupted", rec.Status)
	}
	queued := lacking(t, e, "tag")
	r, err = e.Start(context.Background(), j, run.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, _ := e.Store.Job(context.Background(), "queued")
	assetstest.Ledger(t, rec)
	if n := lacking(t, e, "tag"); n != 0 || rec.Status != control.Succeeded || queued == 0 {
		t.Errorf("job %s with %d assets lacking the result (%d lacked it after the stop); want succeeded with none", rec.Status, n, queued)
	}
}

// An async job that processors elsewhere end (applying) gets the pass
// too, from the process that ends it: writes the store lost are emitted
// again and the job waits for them; writes lost every time end it
// incomplete.
func TestApplyingJobEndsByTheStore(t *testing.T) {
	ctx := context.Background()
	var lossy *lossyStore
	e := newEnv(t, 300, func(s assets.Store) assets.Store {
		lossy = &lossyStore{Store: s, cut: 32, times: 1, lost: map[assets.ID]int{}}
		return lossy
	})
	downableKafka(t, e) // a broker of its own address: no in-process workers
	for _, c := range []struct {
		name, transform string
		times           int
		status          string
	}{{"heals", "tag", 1, control.Succeeded}, {"lost", "tag2", 1 << 30, control.Incomplete}} {
		lossy.mu.Lock()
		lossy.times, lossy.lost = c.times, map[assets.ID]int{}
		lossy.mu.Unlock()
		j := specOf(t, strings.Replace(spec(t, c.name, "").Text, "name: tag,", "name: "+c.transform+",", 1))
		r, err := e.Start(ctx, j, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(ctx); err != nil {
			t.Fatal(err)
		}
		stop := runWorker(t, e, j)
		var rec assets.Job
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if rec, err = e.Store.Job(ctx, j.Name); err == nil && rec.Status != control.Applying {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: job %s with counters %v a minute after its scan", c.name, rec.Status, rec.Counters)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		rec, _ = e.Store.Job(ctx, j.Name) // the worker's last report
		assetstest.Ledger(t, rec)
		n := int64(lacking(t, e, c.transform))
		want := int64(0)
		if c.status == control.Incomplete {
			want = int64(len(lossy.lost))
		}
		if rec.Status != c.status || n != want || rec.Counters["lacking"] != want || len(lossy.lost) == 0 {
			t.Errorf("%s: job %s, %d assets lacking the result, lacking counter %d (%d writes lost); want %s with %d", c.name, rec.Status, n, rec.Counters["lacking"], len(lossy.lost), c.status, want)
		}
	}
}
