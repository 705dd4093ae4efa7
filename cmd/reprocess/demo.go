package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/worker"
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

func (a *app) demo(ctx context.Context, count, days, workers int, keep bool, out interface{ Write([]byte) (int, error) }) error {
	start := time.Now()
	kcfg := a.cfg.Kafka
	kcfg.Brokers = nil
	kc, err := kafka.Start(kcfg, a.log)
	if err != nil {
		return err
	}
	defer kc.Close()
	if err := kc.EnsureTopics(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "reprocess-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	s, err := embedded.Open(embedded.Config{Dir: dir}, a.cfg.Layout)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(out, "embedded store in %s, in-process kafka at %v, %d workers\n", dir, kc.Brokers(), workers)

	// 1. Seed.
	span := time.Duration(days) * 24 * time.Hour
	bar := newProgress(os.Stderr, "seed", "assets", int64(count))
	seedStart := time.Now()
	n, err := synth.Seed(ctx, s, synth.Config{Count: count, Span: span, Seed: 1, Concurrency: 8}, bar.Set)
	bar.Finish()
	if err != nil {
		return err
	}
	seedTime := time.Since(seedStart)

	// 2. The job: saved, so workers can compile its CEL transform.
	spec, err := job.Parse([]byte(fmt.Sprintf(demoJob, time.Now().Add(-span-time.Hour).UTC().Format(time.RFC3339))))
	if err != nil {
		return err
	}
	j, err := job.Compile(spec)
	if err != nil {
		return err
	}
	if _, err := control.Start(ctx, s, j.Name, j.Text, true); err != nil {
		return err
	}

	// 3. Scan and apply at once: workers consume while the scanner emits.
	dlq, err := kc.NewDLQ("demo")
	if err != nil {
		return err
	}
	defer dlq.Close()
	pub, err := kc.NewPublisher("reprocess/demo")
	if err != nil {
		return err
	}
	defer pub.Close()
	ws := make([]*worker.Worker, workers)
	for i := range ws {
		var closeStock func() error
		ws[i], closeStock = a.newWorker(s, dlq, worker.Config{Transform: j.Transform.Name, Version: j.Transform.Version})
		defer closeStock()
	}
	handled := func() (applied, total int64) {
		for _, w := range ws {
			applied += w.Count(apply.Applied)
			total += w.Count(apply.Applied) + w.Count(apply.Skipped) + w.Count(apply.Missing) + w.Count(worker.DeadLettered)
		}
		return applied, total
	}
	src := &scan.Partitions{Pager: s, Layout: a.cfg.Layout, Types: j.Source.Types, From: j.Source.CreatedFrom, To: time.Now(), PageSize: j.Source.PageSize}
	sc := scan.New(scan.Config{Job: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version,
		Concurrency: j.Source.Concurrency, Store: s, Log: a.log}, src, pub)

	d := newDisplay(os.Stderr)
	scanBar := d.add("scan ", "ids", n, func() string {
		return fmt.Sprintf("partitions %d/%d", sc.Stats.TasksDone.Load(), sc.Stats.Tasks.Load())
	})
	applyBar := d.add("apply", "assets", n, func() string {
		var dl int64
		for _, w := range ws {
			dl += w.Count(worker.DeadLettered)
		}
		return fmt.Sprintf("dead letters %d", dl)
	})
	runStart := time.Now()
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	g, gctx := errgroup.WithContext(wctx)
	for _, w := range ws {
		g.Go(func() error {
			return w.Run(gctx, kc, kafka.ConsumerConfig{Group: events.Group(j.Transform.Name, j.Transform.Version),
				Topics: []string{kcfg.Topic}, Concurrency: 8})
		})
	}
	scanErr := make(chan error, 1)
	go func() { scanErr <- sc.Run(ctx) }()
	var scanTime time.Duration
	scanDone := false
	for {
		select {
		case err := <-scanErr:
			if err != nil {
				stopWorkers()
				d.wait()
				return err
			}
			scanDone, scanTime = true, time.Since(runStart)
		case <-gctx.Done():
			d.wait()
			if err := g.Wait(); err != nil {
				return err
			}
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		scanBar.Set(sc.Stats.Emitted.Load())
		_, total := handled()
		applyBar.Set(total)
		if scanDone && total >= sc.Stats.Emitted.Load() {
			break
		}
	}
	applyTime := time.Since(runStart)
	stopWorkers()
	if err := g.Wait(); err != nil {
		d.wait()
		return err
	}
	d.wait()

	// 4. Verify every asset against the fact computed here.
	wrong, checked := 0, 0
	for _, p := range a.cfg.Layout.Partitions(j.Source.Types, j.Source.CreatedFrom, time.Now()) {
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
			return err
		}
	}
	applied, _ := handled()
	fmt.Fprintf(out, "seeded %d assets in %s (%.0f/s); scanned and emitted %d in %s (%.0f/s); applied %d in %s (%.0f/s) with %d workers\n",
		n, seedTime.Round(time.Millisecond), float64(n)/seedTime.Seconds(),
		sc.Stats.Emitted.Load(), scanTime.Round(time.Millisecond), float64(sc.Stats.Emitted.Load())/scanTime.Seconds(),
		applied, applyTime.Round(time.Millisecond), float64(applied)/applyTime.Seconds(), workers)
	if checked != int(n) || wrong > 0 {
		return fmt.Errorf("verification failed: %d assets found of %d seeded, %d without the right fact", checked, n, wrong)
	}
	fmt.Fprintf(out, "verified: all %d assets carry resolution_class v1 with the right value (%s in all)\n", checked, time.Since(start).Round(time.Millisecond))
	return nil
}
