package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/cmd/internal/progress"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
)

// demoJob adds a resolution class to every asset; %s is created_from.
const demoJob = `name: demo-resolution-class
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

// expectedClass is the demo fact computed in Go, to check the pipeline.
func expectedClass(a assets.Asset) string {
	h, ok := a.Metadata["height"]
	if !ok {
		return "none"
	}
	if n, _ := strconv.Atoi(h); n >= 2160 {
		return "uhd"
	}
	return "hd"
}

func (a *app) demoCmd() *cobra.Command {
	var (
		count, days, workers int
		keep                 bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on a bare machine and verify it",
		Long: `Run the pipeline end to end with nothing installed: an in-process Kafka
broker and a fresh embedded store in a temporary directory. Seed --count
synthetic assets, then run a job whose CEL transform sets a resolution_class
fact: the scanner walks every (type, bucket, shard) partition and publishes
one event per asset, while --workers workers in one consumer group apply
the transform. Finally every asset is read back and checked against the
fact computed independently; the command exits non-zero if any is missing
or wrong.`,
		Example: `  reprocess demo
  reprocess demo --count 20000 --workers 2 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.Log.Level == "info" {
				// Keep the bars readable: lifecycle logs only with --log-level debug.
				c := a.cfg
				c.Log.Level = "warn"
				a.log = c.Logger()
			}
			return a.demo(cmd.Context(), count, days, workers, keep, cmd.OutOrStdout())
		},
	}
	cmd.Flags().IntVarP(&count, "count", "n", 100000, "assets to seed")
	cmd.Flags().IntVar(&days, "days", 30, "spread creation times over this many days")
	cmd.Flags().IntVar(&workers, "workers", 4, "workers in the consumer group")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary store directory")
	return cmd
}

func (a *app) demo(ctx context.Context, count, days, workers int, keep bool, out io.Writer) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "reprocess-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	d := *a // a fresh embedded store and the in-process broker
	d.cfg.Store.Backend, d.cfg.Store.Embedded, d.cfg.Kafka.Brokers = "embedded", embedded.Config{Dir: dir}, nil
	env, closeEnv, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer closeEnv()
	fmt.Fprintf(out, "embedded store in %s, in-process kafka at %v, %d workers\n", dir, env.Kafka.Brokers(), workers)
	// 1. Seed.
	span := time.Duration(days) * 24 * time.Hour
	bar := progress.One(os.Stderr, "seed", "assets", int64(count))
	seedStart := time.Now()
	n, err := synth.Seed(ctx, env.Store, synth.Config{Count: count, Span: span, Seed: 1, Concurrency: 8}, bar.Set)
	bar.Finish()
	if err != nil {
		return err
	}
	seedTime := time.Since(seedStart)

	// 2. Scan and apply at once: workers consume while the scanner emits.
	j, err := job.Read([]byte(fmt.Sprintf(demoJob, time.Now().Add(-span-time.Hour).UTC().Format(time.RFC3339))))
	if err != nil {
		return err
	}
	r, err := env.Start(ctx, j, run.Options{Takeover: true, Workers: workers})
	if err != nil {
		return err
	}
	if err := watch(ctx, r, j.Name, n, io.Discard); err != nil {
		return err
	}
	p := r.Progress(ctx)

	// 3. Verify every asset against the fact computed here.
	checked, wrong, err := verifyDemo(ctx, env.Store, a.cfg.Layout, j, out)
	if err != nil {
		return err
	}
	applied := p.Outcomes[apply.Applied]
	fmt.Fprintf(out, "seeded %d assets in %s (%.0f/s); scanned and emitted %d in %s (%.0f/s); applied %d in %s (%.0f/s) with %d workers\n",
		n, seedTime.Round(time.Millisecond), float64(n)/seedTime.Seconds(),
		p.Emitted, p.ScanTime.Round(time.Millisecond), float64(p.Emitted)/p.ScanTime.Seconds(),
		applied, p.Elapsed.Round(time.Millisecond), float64(applied)/p.Elapsed.Seconds(), workers)
	if checked != n || wrong > 0 {
		return fmt.Errorf("verification failed: %d assets found of %d seeded, %d without the right fact", checked, n, wrong)
	}
	fmt.Fprintf(out, "verified: all %d assets carry resolution_class v1 with the right value (%s in all)\n", checked, time.Since(start).Round(time.Millisecond))
	return nil
}

// verifyDemo reads back every asset of the job's partitions and counts
// those without the transform or the right fact, printing the first few.
func verifyDemo(ctx context.Context, s assets.Store, layout assets.Layout, j *job.Job, out io.Writer) (checked, wrong int64, err error) {
	for _, p := range layout.Partitions(j.Source.Types, j.Source.CreatedFrom, time.Now()) {
		err := assets.Walk(ctx, s, p, assets.ID{}, 1000, func(ids []assets.ID) error {
			for _, id := range ids {
				as, err := s.Get(ctx, id)
				if err != nil {
					return err
				}
				checked++
				if as.Transforms[j.Transform.Name] != j.Transform.Version || as.Facts["resolution_class"] != expectedClass(as) {
					wrong++
					if wrong <= 5 {
						fmt.Fprintf(out, "asset %s: resolution_class %q (want %q), transforms %v\n", id, as.Facts["resolution_class"], expectedClass(as), as.Transforms)
					}
				}
			}
			return nil
		})
		if err != nil {
			return checked, wrong, err
		}
	}
	return checked, wrong, nil
}
