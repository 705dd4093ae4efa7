package run_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// A job ends only after its verification pass: assets in its scope that
// carry its marker over facts derived from other metadata (here, out of
// the filter, so no event reaches them) are re-applied and counted.
func TestVerificationPassReappliesStaleFacts(t *testing.T) {
	for _, source := range []string{"concurrency: 4}", "concurrency: 4, split_after: 4, split_ways: 2}"} {
		t.Run(source, func(t *testing.T) { verifyPass(t, source) })
	}
}

// verifyPass runs the verification test with the spec's source ending
// in source (splitting wide partitions, or not).
func verifyPass(t *testing.T, source string) {
	ctx := context.Background()
	e := newEnv(t, 300, nil)
	text := strings.Replace(spec(t, "verify", "mode: sync\nfilter: '!(\"hold\" in asset.metadata)'\n").Text, "concurrency: 4}", source, 1)
	j := specOf(t, strings.Replace(text,
		`transform: {name: tag, version: 1, facts: {tag: '"x"'}}`, `transform: {name: tag, version: 1, facts: {tag: 'asset.metadata.owner'}}`, 1))
	ids := scope(t, e, j)
	stale := 0
	for i, id := range ids {
		if i%3 != 0 {
			continue
		}
		u := assets.Update{Metadata: map[string]string{"hold": "1"}, Facts: map[string]string{"tag": "old", "tag.src": "0"}, Transforms: map[string]int{"tag": 1}}
		if err := e.Store.Update(ctx, id, u); err != nil {
			t.Fatal(err)
		}
		stale++
	}
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := e.Store.Job(ctx, j.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != control.Succeeded || rec.Counters["reapplied"] != int64(stale) || rec.Counters["applied"] != int64(len(ids)-stale) {
		t.Errorf("record %s %v; want succeeded, %d applied, %d reapplied", rec.Status, rec.Counters, len(ids)-stale, stale)
	}
	assetstest.Ledger(t, rec)
	if s := r.Progress(ctx).Summary(j.Name); !strings.Contains(s, fmt.Sprintf("reapplied %d", stale)) {
		t.Errorf("summary %q does not show the re-applications", s)
	}
	for _, id := range ids {
		a, err := e.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Facts["tag"] != a.Metadata["owner"] {
			t.Errorf("asset %s: fact tag %q, metadata owner %q", id, a.Facts["tag"], a.Metadata["owner"])
		}
	}
}

// scope is every asset id j's source walks, the parts of a split task
// included.
func scope(t *testing.T, e *run.Env, j *job.Job) []assets.ID {
	t.Helper()
	src, err := e.Source(context.Background(), j, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := src.Tasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []assets.ID
	for len(tasks) > 0 {
		task := tasks[0]
		tasks = tasks[1:]
		err := src.Walk(context.Background(), task, "", func(b scan.Batch) error {
			for _, it := range b.Items {
				ids = append(ids, it.ID)
			}
			for _, p := range b.Split {
				tasks = append(tasks, task+assets.SubtaskMark+p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}
