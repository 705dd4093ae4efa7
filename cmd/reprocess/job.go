package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/jobctl"
)

func (a *app) jobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "List, inspect, pause, resume, cancel and rate-limit jobs",
		Long: `Jobs live in the store: pending -> running <-> paused -> succeeded |
failed | cancelled | incomplete. A job ends succeeded only when its
completeness pass, walking its scope in the store, finds every asset with
its result; else incomplete, with the count in its "lacking" counter
(job missing lists them). Pausing makes a running scan wait before its
next page (events already published are still applied); resuming lets it
go on from its checkpoints; cancelling stops it for good. A scan started again with the
same job name resumes from its checkpoints. While a process (run, scan,
serve, worker) holds the embedded store, these commands go through its
control socket, <data-dir>/control.sock.`,
		Example: "  reprocess job list\n  reprocess job status orient-v2 -o json\n  reprocess job pause orient-v2\n  reprocess job rate orient-v2 200",
	}
	var output string
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.AddCommand(a.jobListCmd(&output), a.jobStatusCmd(&output), a.jobRateCmd(),
		a.jobActCmd("pause", "Pause a running job: its scan waits before the next page"),
		a.jobActCmd("resume", "Resume a paused job from its checkpoints"),
		a.jobActCmd("cancel", "Cancel a job that has not ended: its scan stops for good"),
		a.jobMissingCmd(&output))
	return cmd
}

// printAs writes v as indented JSON (output "json") or as the table
// table writes (output "table").
func printAs(w io.Writer, output string, v any, table func(*tabwriter.Writer)) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return fmt.Errorf("--output: want table or json, got %q", output)
}

// jobCommand is a job command: run gets the store's Control, or that of
// the control socket of the process holding the embedded store.
func (a *app) jobCommand(use, short, example string, args cobra.PositionalArgs, run func(*cobra.Command, []string, jobctl.Control) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Example: example, Args: args, RunE: func(cmd *cobra.Command, args []string) error {
		c, done, err := jobctl.Open(cmd.Context(), func(ctx context.Context) (assets.Store, error) { return a.openStore(ctx, true) })
		if err != nil {
			return err
		}
		defer done()
		return run(cmd, args, c)
	}}
}

func (a *app) jobListCmd(output *string) *cobra.Command {
	return a.jobCommand("list", "List jobs with their state and counters", "  reprocess job list\n  reprocess --store cassandra job list -o json",
		cobra.NoArgs, func(cmd *cobra.Command, _ []string, c jobctl.Control) error {
			views, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), *output, views, func(tw *tabwriter.Writer) { jobctl.ListTable(tw, views) })
		})
}

func (a *app) jobStatusCmd(output *string) *cobra.Command {
	return a.jobCommand("status JOB", "Show one job: state, counters, partitions done, rate, error", "  reprocess job status resolution-class-v2 -o json",
		cobra.ExactArgs(1), func(cmd *cobra.Command, args []string, c jobctl.Control) error {
			v, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), *output, v, func(tw *tabwriter.Writer) { jobctl.StatusTable(tw, v) })
		})
}

// jobActCmd applies an operator's action to a job.
func (a *app) jobActCmd(use, short string) *cobra.Command {
	return a.jobCommand(use+" JOB", short, "  reprocess job "+use+" resolution-class-v2", cobra.ExactArgs(1),
		func(cmd *cobra.Command, args []string, c jobctl.Control) error {
			v, err := c.Act(cmd.Context(), args[0], use)
			if err != nil {
				return err
			}
			a.log.Info("job "+use, "job", v.ID)
			fmt.Fprintf(cmd.OutOrStdout(), "job %s is %s\n", v.ID, v.Status)
			return nil
		})
}

func (a *app) jobRateCmd() *cobra.Command {
	return a.jobCommand("rate JOB ASSETS_PER_SECOND", "Change the rate limit of a job that has not ended, while it runs",
		"  reprocess job rate resolution-class-v2 200", cobra.ExactArgs(2), func(cmd *cobra.Command, args []string, c jobctl.Control) error {
			rate, err := control.ParseRate(args[1])
			if err != nil {
				return err
			}
			v, err := c.SetRate(cmd.Context(), args[0], rate)
			if err != nil {
				return err
			}
			a.log.Info("job rate", "job", v.ID, "rate", rate)
			fmt.Fprintf(cmd.OutOrStdout(), "job %s is %s; its rate limit is %.0f/s: its scan and processors go at it within a second while it runs\n", v.ID, v.Status, rate)
			return nil
		})
}

// missingView is what job missing prints.
type missingView struct {
	Job     string      `json:"job_id"`
	Missing int64       `json:"missing"`
	Checked int64       `json:"checked"`
	Assets  []assets.ID `json:"asset_ids"`
}

func (a *app) jobMissingCmd(output *string) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "missing JOB",
		Short: "List the assets in a job's scope that lack its result, as its completeness pass finds them now",
		Long: `Walk the job's scope in the store, as its scan and its completeness pass do
(the filter applied), and list the assets that do not carry the job's
transform at its version (for a deleting job: that still exist). Dead
letters are left out: dlq list shows those. An incomplete job's "lacking"
counter is what its last pass found; this is what the store holds now.`,
		Example: "  reprocess job missing orient-v2\n  reprocess job missing orient-v2 --limit 0 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, closeEnv, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer closeEnv()
			ids, n, checked, err := env.Missing(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			v := missingView{Job: args[0], Missing: n, Checked: checked, Assets: ids}
			return printAs(cmd.OutOrStdout(), *output, v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "job %s: %d of %d assets checked lack its result\n", v.Job, v.Missing, v.Checked)
				for _, id := range ids {
					fmt.Fprintln(tw, id)
				}
				if int64(len(ids)) < n {
					fmt.Fprintf(tw, "... and %d more (--limit 0 lists all)\n", n-int64(len(ids)))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many (0: all)")
	return cmd
}
