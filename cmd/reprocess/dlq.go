package main

import (
	"cmp"
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/reprocess/run"
)

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List and replay dead-lettered events",
		Long: `Events that failed for good (a permanent transform error, or retries
exhausted) are on kafka.dlq_topic (with no kafka.brokers, in <data-dir>/broker)
with the error, attempt count and origin in their headers. List them, fix the
cause, and replay them: they go back to kafka.topic with attempts raised.`,
		Example: "  reprocess --kafka-brokers 127.0.0.1:9092 dlq list --job orient-v2\n  reprocess --data-dir .reprocess/data dlq replay --job orient-v2",
	}
	cmd.AddCommand(a.dlqListCmd(), a.dlqReplayCmd())
	return cmd
}

func (a *app) dlqListCmd() *cobra.Command {
	var job, output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead-lettered events",
		Long: `List dead-lettered events with their errors. A dead letter is superseded,
and no longer counts, when the same asset was dead-lettered again later by the
same job and version, when the job now runs a later version, or when the asset
now carries the transform's result (a fix ran) or is gone. The rest are the
job's dead letters: the count its status, the API and the job page show.`,
		Example: "  reprocess --kafka-brokers 127.0.0.1:9092 dlq list --job resolution-class-v2\n  reprocess dlq list -o json\n  reprocess dlq list --job resolution-class-v2 -o ids > failed.ids",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, done, err := a.deadLetters(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			entries, err := d.List(cmd.Context(), job)
			if err != nil {
				return err
			}
			if output == "ids" { // an id list for a job: each asset that counts, once
				seen := map[string]bool{}
				for _, e := range entries {
					if e.Superseded == "" && !seen[e.AssetID] {
						seen[e.AssetID] = true
						fmt.Fprintln(cmd.OutOrStdout(), e.AssetID)
					}
				}
				return nil
			}
			return printAs(cmd.OutOrStdout(), output, entries, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "JOB\tASSET\tTRANSFORM\tATTEMPTS\tFAILED AT\tSUPERSEDED\tERROR")
				for _, e := range entries {
					fmt.Fprintf(tw, "%s\t%s\t%s v%d\t%s\t%s\t%s\t%s\n", e.Job, e.AssetID, e.Transform, e.Version, e.Attempts, e.FailedAt, cmp.Or(e.Superseded, "-"), e.Error)
				}
				n := run.Counted(entries)
				fmt.Fprintf(tw, "%d dead letters (%d events, %d superseded)\n", n, len(entries), len(entries)-n)
			})
		},
	}
	list.Flags().StringVar(&job, "job", "", "only this job's events")
	list.Flags().StringVarP(&output, "output", "o", "table", "table, json, or ids: each asset whose dead letter counts, once: an id list for a job (source: {kind: ids, file: ...})")
	return list
}

func (a *app) dlqReplayCmd() *cobra.Command {
	var job string
	replay := &cobra.Command{
		Use:   "replay --job ID",
		Short: "Send a job's dead-lettered events back to the events topic",
		Long: `Send every dead-lettered event of the job back to kafka.topic with its
attempt count raised by one; with no kafka.brokers, this process applies
them. The consumer group reprocess.dlq-replay.JOB keeps the progress, so
replay again sends only events dead-lettered since.`,
		Example: "  reprocess --kafka-brokers 127.0.0.1:9092 dlq replay --job resolution-class-v2",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if job == "" {
				return fmt.Errorf("--job is required")
			}
			d, done, err := a.deadLetters(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			n, err := d.Replay(cmd.Context(), job)
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d dead-lettered events of job %s\n", n, job)
			return err
		},
	}
	replay.Flags().StringVar(&job, "job", "", "the job whose events to replay")
	return replay
}

// deadLetters opens the dead letters: on kafka.brokers alone or, with
// none, on the in-process broker kept in the embedded store's directory.
func (a *app) deadLetters(ctx context.Context) (*run.DeadLetters, func(), error) {
	if len(a.cfg.Kafka.Brokers) > 0 {
		d, done, err := run.KafkaDeadLetters(a.cfg.Kafka, a.log)
		if err != nil {
			return nil, nil, err
		}
		s, err := a.openStore(ctx, true)
		if err != nil {
			a.log.Warn("dead letters not judged against the store: which a fix superseded is not known", "error", err)
			return d, done, nil
		}
		d.WithStore(s)
		return d, func() { done(); s.Close() }, nil
	}
	env, closeEnv, err := a.open(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	return env.DeadLetters(), closeEnv, nil
}
