package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/cmd/internal/progress"
	"github.com/reprocess/reprocess/reprocess/advise"
)

func (a *app) partitionsCmd() *cobra.Command {
	var (
		types                    []string
		days, pageSize, parallel int
		output                   string
		adviseLayout             bool
		targetMiB                float64
	)
	cmd := &cobra.Command{
		Use:   "partitions",
		Short: "Count asset ids per (type, time bucket, shard) partition, or advise a layout",
		Long: `Walk every paging partition of the given types whose time bucket overlaps the
last --days days, page by page exactly as a scan does, and print how many ids
each holds (empty ones left out); or, with --advise, the size distribution and
a bucket width and shard count for --target-mib partitions (new buckets only).`,
		Example: `  reprocess partitions --type image --days 7
  reprocess partitions -o json | jq '.[] | select(.count > 1000)'
  reprocess partitions --advise --target-mib 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output: want table or json, got %q", output)
			}
			s, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			now := time.Now()
			ps := a.cfg.Layout.Partitions(types, now.Add(-time.Duration(days)*24*time.Hour), now)
			bar := progress.One(os.Stderr, "partitions", "partitions", int64(len(ps)))
			if adviseLayout {
				r, err := advise.Build(cmd.Context(), s, ps, a.cfg.Layout, int64(targetMiB*(1<<20)), pageSize, parallel, bar.Set)
				bar.Finish()
				if err != nil {
					return err
				}
				return printAs(cmd.OutOrStdout(), output, r, func(tw *tabwriter.Writer) { r.Table(tw) })
			}
			counts, err := assets.Count(cmd.Context(), s, ps, pageSize, parallel, bar.Set)
			bar.Finish()
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), output, counts, func(tw *tabwriter.Writer) { advise.CountsTable(tw, counts) })
		},
	}
	cmd.Flags().StringSliceVarP(&types, "type", "t", synth.TypeNames(), "asset types")
	cmd.Flags().IntVar(&days, "days", 30, "how many days back from now")
	cmd.Flags().IntVar(&pageSize, "page-size", 1000, "ids per page")
	cmd.Flags().IntVar(&parallel, "concurrency", 8, "partitions walked at once")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().BoolVar(&adviseLayout, "advise", false, "print the partition size distribution and a recommended layout")
	cmd.Flags().Float64Var(&targetMiB, "target-mib", 8, "with --advise: the partition size to aim at, in MiB (2 to 10 is usual)")
	return cmd
}
