package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/assets/traffic"
)

func (a *app) trafficCmd() *cobra.Command {
	cfg := traffic.Config{Field: "bytes"}
	var types []string
	var days, ids int
	var every time.Duration
	var jsonLines bool
	cmd := &cobra.Command{
		Use:   "traffic",
		Short: "Send production-like reads and writes to the assets table and measure their latency",
		Long: `Play production's side of the assets table at fixed rates, to rehearse a
backfill against staging: run it alone for a baseline, then during the job.
Reads get a random asset of up to --ids ids sampled from the partitions of
--type over the last --days days. Writes read one and set its "bytes" field
to the value plus one: --write-style plain updates unconditionally, lwt only
if the version is still the one read, re-reading on conflict. Open-loop:
request i is due at start + i/rate whether or not earlier ones finished, and
its latency counts from then, so a slow store shows as latency (queueing
included), never as fewer requests. Every --every and at the end it prints
count, errors, LWT conflicts and p50/p90/p99/p99.9/max of reads and writes
(--json: JSON lines, durations in nanoseconds).`,
		Example: `  reprocess traffic --reads 500 --writes 50 --duration 60s
  reprocess --store cassandra --cassandra-hosts 10.0.0.5:9042 traffic --writes 200 --write-style lwt --duration 10m --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("traffic flags: %w", err)
			}
			s, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			now := time.Now()
			sample, err := traffic.Sample(cmd.Context(), s, a.cfg.Layout.Partitions(types, now.AddDate(0, 0, -days), now), ids)
			if err != nil || len(sample) == 0 {
				return fmt.Errorf("no asset ids of %v in the last %d days to send requests for (seed some with 'reprocess seed'): %v", types, days, err)
			}
			show := func(r traffic.Report) { fmt.Fprintln(cmd.OutOrStdout(), r) }
			if enc := json.NewEncoder(cmd.OutOrStdout()); jsonLines {
				show = func(r traffic.Report) { _ = enc.Encode(r) }
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d asset ids sampled; %v reads/s, %v %s writes/s for %s\n", len(sample), cfg.Reads, cfg.Writes, cfg.WriteStyle, cfg.Duration)
			r, err := traffic.Run(cmd.Context(), s, sample, cfg, every, show)
			show(r)
			return err
		},
	}
	f := cmd.Flags()
	f.Float64Var(&cfg.Reads, "reads", 100, "reads per second")
	f.Float64Var(&cfg.Writes, "writes", 10, "writes per second")
	f.DurationVar(&cfg.Duration, "duration", time.Minute, "how long to send requests")
	f.StringVar(&cfg.WriteStyle, "write-style", traffic.Plain, "plain (unconditional update) or lwt (conditional on the version read)")
	f.IntVar(&cfg.Concurrency, "concurrency", 1024, "requests in flight at most (large enough not to throttle)")
	f.StringSliceVarP(&types, "type", "t", synth.TypeNames(), "asset types to sample ids of")
	f.IntVar(&days, "days", 30, "sample ids created in this many days before now")
	f.IntVar(&ids, "ids", 10000, "asset ids to sample")
	f.DurationVar(&every, "every", 5*time.Second, "print the interval's figures this often")
	f.BoolVar(&jsonLines, "json", false, "print JSON lines instead of text")
	return cmd
}
