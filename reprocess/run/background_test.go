package run_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/run"
)

// A serve that stops leaves its jobs interrupted, and the next serve
// resumes them; a job a CLI run left interrupted is its user's to rerun.
// Each process's run is in the job's history.
func TestServeResumesItsInterruptedJobs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 300, nil)
	served := spec(t, "served", "mode: sync\nrate: {limit: 50}\n")
	mine := spec(t, "mine", "mode: sync\nrate: {limit: 50}\n")

	first := run.NewBackground(e)
	if err := first.Start(served); err != nil {
		t.Fatal(err)
	}
	r, err := e.Start(ctx, mine, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); r.Run(cctx) }()
	// Ctrl-C once both jobs are under way: the served one has recorded
	// some of its work.
	assetstest.Eventually(t, 30*time.Second, "both jobs under way", func() bool {
		rec, _ := e.Store.Job(ctx, "served")
		return r.Progress(ctx).Emitted > 0 && rec.Counters["emitted"] > 0
	})
	stop()
	<-ran
	first.Stop()
	for _, name := range []string{"served", "mine"} {
		if rec, _ := e.Store.Job(ctx, name); rec.Status != control.Interrupted {
			t.Fatalf("job %s is %s (%s) after its process stopped; want interrupted", name, rec.Status, rec.Error)
		}
	}

	second := run.NewBackground(e)
	defer second.Stop()
	names, err := second.Resume(ctx)
	if err != nil || !slices.Equal(names, []string{"served"}) {
		t.Fatalf("resumed %v (%v); want [served]", names, err)
	}
	deadline := time.Now().Add(time.Minute)
	for rec, _ := e.Store.Job(ctx, "served"); rec.Status != control.Succeeded; rec, _ = e.Store.Job(ctx, "served") {
		if time.Now().After(deadline) {
			t.Fatalf("resumed job %s after a minute; want succeeded", rec.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	second.Stop()
	runs, err := e.Store.Runs(ctx, "served")
	want := []assets.Run{{N: 1, Owner: "serve", Status: control.Interrupted}, {N: 2, Owner: "serve", Status: control.Succeeded}}
	if err != nil || len(runs) != len(want) {
		t.Fatalf("runs of served: %+v (%v); want %+v", runs, err, want)
	}
	var emitted int64
	for i, w := range want {
		g := runs[i]
		if g.N != w.N || g.Owner != w.Owner || g.Status != w.Status || g.StartedAt.IsZero() || g.EndedAt.Before(g.StartedAt) {
			t.Errorf("run %d: %+v; want %+v with its times", i+1, g, w)
		}
		emitted += g.Counters["emitted"]
	}

	if emitted < 300 || runs[0].Counters["emitted"] == 0 {
		t.Errorf("the runs emitted %d and %d; want some in the first and every asset over both", runs[0].Counters["emitted"], runs[1].Counters["emitted"])
	}
	if rec, _ := e.Store.Job(ctx, "mine"); rec.Status != control.Interrupted {
		t.Errorf("the CLI's job is %s; want left interrupted", rec.Status)
	}
}

// A run whose process was killed (its entry still running) is recorded
// abandoned when the job runs again, not left running forever.
func TestKilledRunIsAbandoned(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 50, nil)
	j := spec(t, "killed", "mode: sync\n")
	started := time.Now().Add(-time.Hour).UTC()
	if err := e.Store.SaveJob(ctx, assets.Job{ID: j.Name, Spec: j.Text, Status: control.Running, CreatedAt: started, StartedAt: started, UpdatedAt: started}); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.SaveRun(ctx, assets.Run{Job: j.Name, N: 1, Owner: "run", Status: control.Running, StartedAt: started}); err != nil {
		t.Fatal(err)
	}
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Store.Runs(ctx, j.Name)
	if err != nil || len(runs) != 2 || runs[0].Status != run.Abandoned || runs[1].Status != control.Succeeded {
		t.Fatalf("runs %+v (%v); want the killed one abandoned and the second succeeded", runs, err)
	}
}
