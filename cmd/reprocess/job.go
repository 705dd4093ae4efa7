package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/reprocess/control"
)

func (a *app) jobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "List, inspect, pause, resume and cancel jobs",
		Long: `Jobs live in the store: pending -> running <-> paused -> succeeded |
failed | cancelled. Pausing makes a running scan wait before its next page
(events already published are still applied); resuming lets it go on from
its checkpoints; cancelling stops it for good. A scan started again with the
same job name resumes from its checkpoints.`,
		Example: "  reprocess job list\n  reprocess job status orient-v2 -o json\n  reprocess job pause orient-v2",
	}
	var output string
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.AddCommand(a.jobListCmd(&output), a.jobStatusCmd(&output),
		a.jobActCmd("pause", "Pause a running job: its scan waits before the next page"),
		a.jobActCmd("resume", "Resume a paused job from its checkpoints"),
		a.jobActCmd("cancel", "Cancel a job that has not ended: its scan stops for good"))
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

func (a *app) jobListCmd(output *string) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List jobs with their state and counters",
		Example: "  reprocess job list\n  reprocess --store cassandra job list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			jobs, err := s.Jobs(cmd.Context())
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), *output, jobs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "JOB\tSTATUS\tSTARTED\tUPDATED\tCOUNTERS")
				for _, j := range jobs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.ID, j.Status, when(j.StartedAt), when(j.UpdatedAt), counters(j.Counters))
				}
			})
		},
	}
}

func (a *app) jobStatusCmd(output *string) *cobra.Command {
	return &cobra.Command{
		Use:     "status JOB",
		Short:   "Show one job: state, counters, partitions done, error",
		Example: "  reprocess job status resolution-class-v2 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			j, err := s.Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			v, err := control.Show(cmd.Context(), s, j)
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), *output, v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "job\t%s\nstatus\t%s\nstarted\t%s\nended\t%s\ntasks\t%d started, %d done\ncounters\t%s\n",
					j.ID, j.Status, when(j.StartedAt), when(j.EndedAt), v.TasksStarted, v.TasksDone, counters(j.Counters))
				if j.Error != "" {
					fmt.Fprintf(tw, "error\t%s\n", j.Error)
				}
			})
		},
	}
}

// jobActCmd applies an operator's action to a job.
func (a *app) jobActCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:     use + " JOB",
		Short:   short,
		Example: "  reprocess job " + use + " resolution-class-v2",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			j, err := control.Act(cmd.Context(), s, args[0], use)
			if err != nil {
				return err
			}
			a.log.Info("job "+use, "job", j.ID)
			fmt.Fprintf(cmd.OutOrStdout(), "job %s is %s\n", j.ID, j.Status)
			return nil
		},
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func counters(c map[string]int64) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, " ")
}
