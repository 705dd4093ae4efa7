package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

// dlqEntry is one dead-lettered event as `dlq list` shows it.
type dlqEntry struct {
	Job       string `json:"job_id"`
	AssetID   string `json:"asset_id"`
	Transform string `json:"transform"`
	Version   int    `json:"version"`
	Attempts  string `json:"attempts"`
	Error     string `json:"error"`
	FailedAt  string `json:"failed_at"`
	Origin    string `json:"origin"`
	Offset    int64  `json:"dlq_offset"`
	Partition int32  `json:"dlq_partition"`
}

func entry(r events.Message) dlqEntry {
	e := dlqEntry{Attempts: r.Header(kafka.HeaderDLQAttempts), Error: r.Header(kafka.HeaderDLQError),
		FailedAt: r.Header(kafka.HeaderDLQFailedAt), Origin: r.Header(kafka.HeaderDLQOrigin),
		Offset: r.Offset, Partition: r.Partition, AssetID: string(r.Key)}
	if ev, err := events.Decode(r.Value); err == nil {
		e.Job, e.AssetID, e.Transform, e.Version = ev.JobID, ev.AssetID.String(), ev.Transform, ev.Version
	}
	return e
}

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
			var entries []dlqEntry
			err = kc.ReadAll(cmd.Context(), a.cfg.Kafka.DLQTopic, func(r events.Message) error {
				if e := entry(r); job == "" || e.Job == job {
					entries = append(entries, e)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tASSET\tTRANSFORM\tATTEMPTS\tFAILED AT\tERROR")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s v%d\t%s\t%s\t%s\n", e.Job, e.AssetID, e.Transform, e.Version, e.Attempts, e.FailedAt, e.Error)
			}
			fmt.Fprintf(tw, "%d dead-lettered events\n", len(entries))
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&job, "job", "", "only this job's events")
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")

	var replayJob string
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
			if replayJob == "" {
				return fmt.Errorf("--job is required")
			}
			kc, err := a.kafkaForDLQ()
			if err != nil {
				return err
			}
			defer kc.Close()
			pub, err := kc.NewPublisher("reprocess/dlq-replay/" + replayJob)
			if err != nil {
				return err
			}
			defer pub.Close()
			n := 0
			err = kc.Replay(cmd.Context(), "reprocess.dlq-replay."+replayJob, func(r events.Message) error {
				ev, err := events.Decode(r.Value)
				if err != nil || ev.JobID != replayJob {
					return nil // another job's, or not an event at all
				}
				prev, _ := strconv.Atoi(r.Header(kafka.HeaderDLQAttempts))
				ev.Attempt = max(ev.Attempt, 1) + 1
				ev.EmittedAt = time.Now().UTC()
				a.log.Info("replaying", "job", ev.JobID, "asset_id", ev.AssetID, "attempt", ev.Attempt, "previous_tries", prev)
				n++
				return pub.Emit(cmd.Context(), []events.Reprocess{ev})
			})
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d dead-lettered events of job %s\n", n, replayJob)
			return err
		},
	}
	replay.Flags().StringVar(&replayJob, "job", "", "the job whose events to replay")
	cmd.AddCommand(list, replay)
	return cmd
}

func (a *app) kafkaForDLQ() (*kafka.Cluster, error) {
	if len(a.cfg.Kafka.Brokers) == 0 {
		return nil, fmt.Errorf("the dead-letter topic lives on kafka.brokers (--kafka-brokers); none is configured")
	}
	return kafka.Start(a.cfg.Kafka, a.log)
}
