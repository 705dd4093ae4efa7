package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/cmd/internal/progress"
)

func (a *app) partitionsCmd() *cobra.Command {
	var (
		types       []string
		days        int
		pageSize    int
		concurrency int
		output      string
	)
	cmd := &cobra.Command{
		Use:   "partitions",
		Short: "Count asset ids per (type, time bucket, shard) partition",
		Long: `Walk every paging partition of the given types whose time bucket overlaps
the last --days days, page by page exactly as a scan does, and print how
many ids each holds. Empty partitions are left out.`,
		Example: `  reprocess partitions --type image --days 7
  reprocess partitions -o json | jq '.[] | select(.count > 1000)'`,
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
			counts, err := assets.Count(cmd.Context(), s, ps, pageSize, concurrency, bar.Set)
			bar.Finish()
			if err != nil {
				return err
			}
			return printCounts(cmd.OutOrStdout(), counts, output)
		},
	}
	cmd.Flags().StringSliceVarP(&types, "type", "t", synth.TypeNames(), "asset types")
	cmd.Flags().IntVar(&days, "days", 30, "how many days back from now")
	cmd.Flags().IntVar(&pageSize, "page-size", 1000, "ids per page")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "partitions walked at once")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func printCounts(w io.Writer, counts []assets.PartitionCount, output string) error {
	return printAs(w, output, counts, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "TYPE\tBUCKET\tSHARD\tIDS")
		total := 0
		for _, c := range counts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", c.Type, c.Bucket.Format(time.RFC3339), c.Shard, c.Count)
			total += c.Count
		}
		fmt.Fprintf(tw, "total\t%d partitions\t\t%d\n", len(counts), total)
	})
}
