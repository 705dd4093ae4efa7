package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/cmd/internal/progress"
)

func (a *app) seedCmd() *cobra.Command {
	var (
		count, concurrency int
		days               int
		seed               uint64
	)
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Write synthetic assets into the configured store",
		Long: `Generate assets that look like a media library's (image, video, document,
audio, model3d; images are half of them, the hot type that fills every shard)
with creation times spread over the last --days days, and write them into the
configured store with parallel writers, showing progress and the rate.`,
		Example: `  reprocess seed --count 100000 --days 30
  reprocess --store cassandra --cassandra-hosts 127.0.0.1:9042 seed --count 1000000 --concurrency 128`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg := synth.Config{Count: count, Span: time.Duration(days) * 24 * time.Hour, Seed: seed, Concurrency: concurrency}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("seed flags: %w", err)
			}
			bar := progress.One(os.Stderr, "seed", "assets", int64(count))
			start := time.Now()
			n, err := synth.Seed(cmd.Context(), s, cfg, bar.Set)
			bar.Finish()
			el := time.Since(start)
			a.log.Info("seeded", "assets", n, "elapsed", el.Round(time.Millisecond), "assets_per_s", int(float64(n)/el.Seconds()))
			fmt.Fprintf(cmd.OutOrStdout(), "seeded %d assets in %s (%.0f assets/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
			return err
		},
	}
	cmd.Flags().IntVarP(&count, "count", "n", 10000, "assets to write")
	cmd.Flags().IntVar(&days, "days", 30, "spread creation times over this many days before now")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed for types and metadata")
	cmd.Flags().IntVar(&concurrency, "concurrency", 32, "parallel writers")
	return cmd
}
