package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/synth"
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
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			now := time.Now()
			ps := a.cfg.Layout.Partitions(types, now.Add(-time.Duration(days)*24*time.Hour), now)
			counts, err := countPartitions(cmd.Context(), s, ps, pageSize, concurrency)
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

type partitionCount struct {
	assets.Partition
	Count int `json:"count"`
}

// countPartitions walks ps, concurrency at a time, with a progress display.
func countPartitions(ctx context.Context, s assets.Pager, ps []assets.Partition, pageSize, concurrency int) ([]partitionCount, error) {
	if pageSize < 1 || concurrency < 1 {
		return nil, fmt.Errorf("page size and concurrency must be positive, got %d and %d", pageSize, concurrency)
	}
	bar := newProgress(os.Stderr, "partitions", "partitions", int64(len(ps)))
	defer bar.Finish()
	var (
		mu     sync.Mutex
		counts []partitionCount
		done   int64
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, p := range ps {
		g.Go(func() error {
			n := 0
			err := assets.Walk(ctx, s, p, assets.ID{}, pageSize, func(page []assets.ID) error {
				n += len(page)
				return nil
			})
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if n > 0 {
				counts = append(counts, partitionCount{p, n})
			}
			done++
			bar.Set(done)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(counts, func(a, b partitionCount) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), a.Bucket.Compare(b.Bucket), cmp.Compare(a.Shard, b.Shard))
	})
	return counts, nil
}

func printCounts(w io.Writer, counts []partitionCount, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(counts)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TYPE\tBUCKET\tSHARD\tIDS\t")
	total := 0
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", c.Type, c.Bucket.Format(time.RFC3339), c.Shard, c.Count)
		total += c.Count
	}
	fmt.Fprintf(tw, "total\t%d partitions\t\t%d\t\n", len(counts), total)
	return tw.Flush()
}
