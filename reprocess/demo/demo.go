// Package demo is the demo job: synthetic assets seeded into a store, a
// CEL transform that sets a resolution_class fact applied to every one,
// and every asset read back and checked against the fact computed here in
// Go. The CLI's demo command wires it to a fresh embedded store, the
// in-process broker and progress bars.
package demo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
)

// spec adds a resolution class to every asset; %s is created_from.
const spec = `name: demo-resolution-class
source:
  kind: cassandra
  types: [image, video, document, audio, model3d]
  created_from: %s
  page_size: 500
  concurrency: 8
transform:
  name: resolution_class
  version: 1
  facts:
    resolution_class: '!("height" in asset.metadata) ? "none" : int(asset.metadata.height) >= 2160 ? "uhd" : "hd"'
`

// Config says how big the demo is and how it shows its progress.
type Config struct {
	Count   int           // assets to seed
	Span    time.Duration // creation times spread over this span
	Workers int           // consumer-group members in this process
	// Seeded, if not nil, is called with the running total while seeding.
	Seeded func(done int64)
	// Watch runs the job (showing its progress); nil runs it plainly.
	Watch func(ctx context.Context, r *run.Job, name string, total run.Total) error
}

// Result is what the demo did and found.
type Result struct {
	Seeded, Checked, Wrong int64
	Workers                int
	SeedTime               time.Duration
	Progress               run.Progress
	Examples               []string // the first few wrong assets
}

// Run seeds cfg.Count assets into env's store, runs the demo job on it
// with cfg.Workers workers, and checks every asset. A Result whose Err is
// not nil is a pipeline that lost or mangled assets.
func Run(ctx context.Context, env *run.Env, cfg Config) (Result, error) {
	res := Result{Workers: cfg.Workers}
	start := time.Now()
	n, err := synth.Seed(ctx, env.Store, synth.Config{Count: cfg.Count, Span: cfg.Span, Seed: 1, Concurrency: 8}, cfg.Seeded)
	res.Seeded, res.SeedTime = n, time.Since(start)
	if err != nil {
		return res, err
	}
	j, err := job.Read(fmt.Appendf(nil, spec, time.Now().Add(-cfg.Span-time.Hour).UTC().Format(time.RFC3339)))
	if err != nil {
		return res, err
	}
	r, err := env.Start(ctx, j, run.Options{Takeover: true, Workers: cfg.Workers})
	if err != nil {
		return res, err
	}
	watch := cfg.Watch
	if watch == nil {
		watch = func(ctx context.Context, r *run.Job, _ string, _ run.Total) error { return r.Run(ctx) }
	}
	if err := watch(ctx, r, j.Name, run.Total{IDs: n}); err != nil {
		return res, err
	}
	res.Progress = r.Progress(ctx)
	return res, res.verify(ctx, env.Store, env.Layout, j)
}

// expected is the demo fact computed in Go, to check the pipeline.
func expected(a assets.Asset) string {
	h, ok := a.Metadata["height"]
	if !ok {
		return "none"
	}
	if n, _ := strconv.Atoi(h); n >= 2160 {
		return "uhd"
	}
	return "hd"
}

// verify reads back every asset of the job's partitions and counts those
// without the transform or the right fact, keeping the first few.
func (res *Result) verify(ctx context.Context, s assets.Store, layout assets.Layout, j *job.Job) error {
	for _, p := range layout.Partitions(j.Source.Types, j.Source.CreatedFrom, time.Now()) {
		err := assets.Walk(ctx, s, p, assets.ID{}, 1000, func(ids []assets.ID) error {
			for _, id := range ids {
				a, err := s.Get(ctx, id)
				if err != nil {
					return err
				}
				res.Checked++
				if a.Transforms[j.Transform.Name] == j.Transform.Version && a.Facts["resolution_class"] == expected(a) {
					continue
				}
				if res.Wrong++; res.Wrong <= 5 {
					res.Examples = append(res.Examples, fmt.Sprintf("asset %s: resolution_class %q (want %q), transforms %v",
						id, a.Facts["resolution_class"], expected(a), a.Transforms))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Err says whether any seeded asset is missing or wrong.
func (res Result) Err() error {
	if res.Checked != res.Seeded || res.Wrong > 0 {
		return fmt.Errorf("verification failed: %d assets found of %d seeded, %d without the right fact", res.Checked, res.Seeded, res.Wrong)
	}
	return nil
}

// Summary is the demo's rates in a line.
func (res Result) Summary() string {
	p, n, st := res.Progress, res.Seeded, res.SeedTime
	applied := p.Outcomes[apply.Applied]
	return fmt.Sprintf("seeded %d assets in %s (%.0f/s); scanned and emitted %d in %s (%.0f/s); applied %d in %s (%.0f/s) with %d workers",
		n, st.Round(time.Millisecond), float64(n)/st.Seconds(),
		p.Emitted, p.ScanTime.Round(time.Millisecond), float64(p.Emitted)/p.ScanTime.Seconds(),
		applied, p.Elapsed.Round(time.Millisecond), float64(applied)/p.Elapsed.Seconds(), res.Workers)
}
