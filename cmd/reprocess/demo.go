package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/events/kafka"
)

func (a *app) demoCmd() *cobra.Command {
	var (
		count, days int
		keep        bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Seed a fresh embedded store, walk every partition and verify",
		Long: `Run the pipeline's first half on a bare machine: start the in-process
Kafka broker and create the topics, seed --count synthetic assets into a new
embedded store in a temporary directory, walk every (type, bucket, shard)
partition page by page, and check that the walk finds exactly the assets
written. Exits non-zero if it does not.`,
		Example: `  reprocess demo
  reprocess demo --count 100000 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			start := time.Now()
			out := cmd.OutOrStdout()

			kcfg := a.cfg.Kafka
			kcfg.Brokers = nil
			kc, err := kafka.Start(kcfg, a.log)
			if err != nil {
				return err
			}
			defer kc.Close()
			if err := kc.Ping(ctx); err != nil {
				return err
			}
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
			fmt.Fprintf(out, "embedded store in %s, in-process kafka at %v, layout: %s buckets x %d shards\n",
				dir, kc.Brokers(), a.cfg.Layout.BucketWidth, a.cfg.Layout.Shards)

			scfg := synth.Config{Count: count, Span: time.Duration(days) * 24 * time.Hour, Seed: 1, Concurrency: 8}
			bar := newProgress(os.Stderr, "seed", "assets", int64(count))
			seedStart := time.Now()
			n, err := synth.Seed(ctx, s, scfg, bar.Set)
			bar.Finish()
			if err != nil {
				return err
			}
			seedTime := time.Since(seedStart)

			now := time.Now()
			ps := a.cfg.Layout.Partitions(synth.TypeNames(), now.Add(-scfg.Span), now.Add(time.Second))
			walkStart := time.Now()
			counts, err := countPartitions(ctx, s, ps, 500, 4)
			if err != nil {
				return err
			}
			walkTime := time.Since(walkStart)

			type stat struct{ parts, ids, lo, hi int }
			byType := map[string]*stat{}
			total := 0
			for _, c := range counts {
				st := byType[c.Type]
				if st == nil {
					st = &stat{lo: c.Count}
					byType[c.Type] = st
				}
				st.parts++
				st.ids += c.Count
				st.lo, st.hi = min(st.lo, c.Count), max(st.hi, c.Count)
				total += c.Count
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "TYPE\tPARTITIONS\tIDS\tMIN/PARTITION\tMAX/PARTITION\t")
			for _, typ := range synth.TypeNames() {
				if st := byType[typ]; st != nil {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", typ, st.parts, st.ids, st.lo, st.hi)
				}
			}
			tw.Flush()
			fmt.Fprintf(out, "seeded %d assets in %s (%.0f assets/s); walked %d partitions in %s (%.0f ids/s)\n",
				n, seedTime.Round(time.Millisecond), float64(n)/seedTime.Seconds(),
				len(ps), walkTime.Round(time.Millisecond), float64(total)/walkTime.Seconds())
			if total != int(n) {
				return fmt.Errorf("verification failed: the walk found %d ids, %d were written", total, n)
			}
			fmt.Fprintf(out, "verified: every one of the %d assets was found exactly once by paging (%s in all)\n", total, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().IntVarP(&count, "count", "n", 100000, "assets to seed")
	cmd.Flags().IntVar(&days, "days", 30, "spread creation times over this many days")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary store directory")
	return cmd
}
