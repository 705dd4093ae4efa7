package plan_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/plan"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
)

// Each kind of transform is previewed as the processor would apply it,
// and the text says what the plan shows.
func TestSampleOutcomes(t *testing.T) {
	ctx := context.Background()
	s, all := seeded(t, 1)
	a := all[0]
	if err := s.Update(ctx, a.ID, assets.Update{Facts: map[string]string{"tag": "old"}, Transforms: map[string]int{"done": 2, "reindex": 2}}); err != nil {
		t.Fatal(err)
	}
	before, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	e := planner(s)
	e.Transforms = transform.NewRegistry(orientation.All()...)
	for _, tc := range []struct {
		name, transform string
		kind, outcome   string
		added           string // fact=value added, "" for none
		changed         string // fact: before -> after, "" for none
		marker          string // before -> after
		text            string // a line of the text
	}{
		{"cel", "{name: tag, version: 1, facts: {tag: '\"new\"'}}", "cel", "applied", "tag.src", "tag: old -> new", " -> 1", `~ tag: "old" -> "new"`},
		{"go", "{name: orientation, version: 1}", "go", "applied", "orientation", "", " -> 1", "orientation v1 (go)"},
		// Marked, but with no digest of its inputs: a processor applies it again.
		{"marked, inputs unknown", "{name: done, version: 2, facts: {tag: '\"x\"'}}", "cel", "applied", "done.src", "tag: old -> x", "2 -> 2", `~ tag: "old" -> "x"`},
		{"newer applied", "{name: done, version: 1, facts: {tag: '\"x\"'}}", "cel", "skipped", "", "", "2 -> 2", "skipped"},
		{"already applied", "{name: reindex, version: 2, index: docs, mapping_version: 3}", "reindex", "skipped", "", "", "2 -> 2", "skipped"},
		{"delete dry run", "{name: delete, version: 1}", "delete", "would_delete", "", "", " -> ", "would_delete"},
		{"delete", "{name: delete, version: 1, dry_run: false}", "delete", "deleted", "", "", " -> ", ": deleted"},
		{"reindex", "{name: reindex, version: 3, index: docs, mapping_version: 3}", "reindex", "applied", "", "", "2 -> 3", "Elasticsearch index docs"},
		{"export", "{name: export, version: 1, dir: /nowhere, format: jsonl}", "export", "applied", "", "", " -> 1", "jsonl files under /nowhere"},
		{"service facts", "{name: service_facts, version: 1, service: {url: 'http://127.0.0.1:1/facts', fields: [title]}}", "service_facts", "applied", "", "", " -> 1", "asks an HTTP endpoint"},
		{"reverse index", "{name: reverse_index, version: 1, reverse_index: {field: owner}}", "reverse_index", "applied", "", "", " -> 1", "reverse-index table"},
		{"workflow", "{name: workflow, version: 1, workflow: {name: thumbnail, topic: thumbs}}", "workflow", "applied", "", "", " -> 1", "CloudEvent per asset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := read(t, fmt.Sprintf(`name: outcome
source: {kind: ids, ids: [%q]}
transform: %s`, a.ID, tc.transform))
			p, err := e.Make(ctx, j, plan.Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Samples) != 1 {
				t.Fatalf("%d samples, want 1", len(p.Samples))
			}
			smp := p.Samples[0]
			added, changed := describe(smp)
			if p.Transform.Kind != tc.kind || smp.Outcome != tc.outcome || !strings.HasPrefix(added, tc.added) || (tc.added == "") != (added == "") ||
				changed != tc.changed || smp.Marker.Before+" -> "+smp.Marker.After != tc.marker {
				t.Errorf("kind %s, sample %+v; want %s, %s, added %q, changed %q, marker %q", p.Transform.Kind, smp, tc.kind, tc.outcome, tc.added, tc.changed, tc.marker)
			}
			var text strings.Builder
			if err := p.Write(&text); err != nil || !strings.Contains(text.String(), tc.text) {
				t.Errorf("text lacks %q:\n%s", tc.text, text.String())
			}
		})
	}
	// Nothing the previews showed was written, deletes included.
	if after, err := s.Get(ctx, a.ID); err != nil || after.Version != before.Version {
		t.Errorf("the asset after the plans: %+v, %v; want it as it was", after, err)
	}
}

// describe names a sample's one added fact and its one change.
func describe(smp plan.Sample) (added, changed string) {
	for k := range smp.Added {
		added = k
	}
	for k, c := range smp.Changed {
		changed = fmt.Sprintf("%s: %s -> %s", k, c.Before, c.After)
	}
	return added, changed
}

// A transform no processor has is refused as run refuses it.
func TestUnknownTransformIsInvalid(t *testing.T) {
	s, all := seeded(t, 1)
	j := read(t, fmt.Sprintf("name: ghost\nsource: {kind: ids, ids: [%q]}\ntransform: {name: ghost, version: 1}\n", all[0].ID))
	if _, err := planner(s).Make(context.Background(), j, plan.Options{}); !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), "ghost v1") {
		t.Errorf("plan of an unknown transform: %v; want ErrInvalid naming it", err)
	}
}

// The duration is the expected assets at rate.limit, and for an adaptive
// rate also at its floor; an unlimited rate has no estimate.
func TestDuration(t *testing.T) {
	s, all := seeded(t, 20)
	var ids []string
	for _, a := range all {
		ids = append(ids, fmt.Sprintf("%q", a.ID))
	}
	for _, tc := range []struct {
		rate     string
		seconds  float64
		max      float64
		contains string
	}{
		{"{}", 0, 0, "unlimited rate"},
		{"{limit: 4}", 5, 0, "20 assets at 4/s: 5s"},
		{"{limit: 4, adaptive: true, min: 1}", 5, 20, "up to 20s at its floor of 1/s"},
		{"{limit: 40, adaptive: true}", 0.5, 10, "up to 10s at its floor of 2/s"},
	} {
		j := read(t, fmt.Sprintf("name: d\nsource: {kind: ids, ids: [%s]}\ntransform: {name: t, version: 1, facts: {t: '\"x\"'}}\nrate: %s\n", strings.Join(ids, ","), tc.rate))
		p, err := planner(s).Make(context.Background(), j, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Duration; d.Assets != 20 || d.Seconds != tc.seconds || d.MaxSeconds != tc.max || !strings.Contains(d.String(), tc.contains) {
			t.Errorf("rate %s: %+v %q; want %gs, at most %gs, saying %q", tc.rate, d, d, tc.seconds, tc.max, tc.contains)
		}
	}
}
