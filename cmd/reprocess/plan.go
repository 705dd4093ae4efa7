package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/plan"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
)

func (a *app) planCmd() *cobra.Command {
	var (
		o      plan.Options
		output string
	)
	cmd := &cobra.Command{
		Use:   "plan JOB.yaml",
		Short: "Preview a job, writing nothing: its scope, filter selectivity, sample changes and duration",
		Long: `Show what running the job would do, writing nothing (no store row, Kafka
event, index or file): its source's assets per type and time bucket (exact
from the store's paging index or an id list; a stated estimate from
Elasticsearch's _count or SSTable indexes), its filter's selectivity on
--measure assets read at random, the real transform's changes on --sample
assets the filter keeps, and the time at rate.limit.`,
		Example: `  reprocess plan jobs/resolution-class.yaml
  reprocess --store cassandra plan --sample 10 job.yaml -o json | jq .scope.types`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output: want table or json, got %q", output)
			}
			j, err := job.Open(args[0])
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			o.Stdin = cmd.InOrStdin()
			p, err := a.planner(s).Make(cmd.Context(), j, o)
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), output, p, func(tw *tabwriter.Writer) { p.Write(tw) })
		},
	}
	cmd.Flags().IntVar(&o.Sample, "sample", plan.DefaultSample, "assets the filter keeps to show the transform's changes on")
	cmd.Flags().IntVar(&o.Measure, "measure", plan.DefaultMeasure, "assets read at random to measure the filter")
	cmd.Flags().IntVar(&o.Walk, "walk", 0, "cassandra source: walk only this many partitions, at random, and extrapolate (0: count them all)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table (text) or json")
	return cmd
}

// planner previews jobs on s; it only reads.
func (a *app) planner(s assets.Store) *plan.Env {
	return &plan.Env{Store: s, Sources: run.Sources{Pager: s, Layout: a.cfg.Layout, Elastic: a.cfg.Elasticsearch, Backup: a.cfg.Backup, Log: a.log},
		Transforms: transform.NewRegistry(orientation.All()...), Log: a.log}
}
