package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/dlq"
)

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List and replay dead-lettered events",
		Long: `Events that failed for good (a permanent transform error, or retries
exhausted) are on kafka.dlq_topic with the error, attempt count and origin
in their headers. List them, fix the cause, and replay them: replayed
events go back to kafka.topic with their attempt count raised.`,
		Example: "  reprocess --kafka-brokers 127.0.0.1:9092 dlq list --job orient-v2\n  reprocess --kafka-brokers 127.0.0.1:9092 dlq replay --job orient-v2",
	}
	cmd.AddCommand(a.dlqListCmd(), a.dlqReplayCmd())
	return cmd
}

func (a *app) dlqListCmd() *cobra.Command {
	var job, output string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List dead-lettered events",
		Example: "  reprocess --kafka-brokers 127.0.0.1:9092 dlq list --job resolution-class-v2\n  reprocess dlq list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := a.kafkaForDLQ()
			if err != nil {
				return err
			}
			defer kc.Close()
			entries, err := (&dlq.DLQ{Kafka: kc, Log: a.log}).List(cmd.Context(), job)
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), output, entries, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "JOB\tASSET\tTRANSFORM\tATTEMPTS\tFAILED AT\tERROR")
				for _, e := range entries {
					fmt.Fprintf(tw, "%s\t%s\t%s v%d\t%s\t%s\t%s\n", e.Job, e.AssetID, e.Transform, e.Version, e.Attempts, e.FailedAt, e.Error)
				}
				fmt.Fprintf(tw, "%d dead-lettered events\n", len(entries))
			})
		},
	}
	list.Flags().StringVar(&job, "job", "", "only this job's events")
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return list
}

func (a *app) dlqReplayCmd() *cobra.Command {
	var job string
	replay := &cobra.Command{
		Use:   "replay --job ID",
		Short: "Send a job's dead-lettered events back to the events topic",
		Long: `Send every dead-lettered event of the job back to kafka.topic with its
attempt count raised by one. Progress is kept by the consumer group
reprocess.dlq-replay.JOB, so running replay again sends only events that
were dead-lettered since.`,
		Example: "  reprocess --kafka-brokers 127.0.0.1:9092 dlq replay --job resolution-class-v2",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if job == "" {
				return fmt.Errorf("--job is required")
			}
			kc, err := a.kafkaForDLQ()
			if err != nil {
				return err
			}
			defer kc.Close()
			n, err := (&dlq.DLQ{Kafka: kc, Log: a.log}).Replay(cmd.Context(), job)
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d dead-lettered events of job %s\n", n, job)
			return err
		},
	}
	replay.Flags().StringVar(&job, "job", "", "the job whose events to replay")
	return replay
}

func (a *app) kafkaForDLQ() (*kafka.Cluster, error) {
	if len(a.cfg.Kafka.Brokers) == 0 {
		return nil, fmt.Errorf("the dead-letter topic lives on kafka.brokers (--kafka-brokers); none is configured")
	}
	return kafka.Start(a.cfg.Kafka, a.log)
}
