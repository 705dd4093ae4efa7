package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/worker"
)

func (a *app) workerCmd() *cobra.Command {
	var (
		name        string
		version     int
		concurrency int
		grace       time.Duration
		idleExit    time.Duration
		jobs        bool
	)
	cmd := &cobra.Command{
		Use:   "worker --transform NAME --version N",
		Short: "Apply a transform's events as a member of its consumer group",
		Long: `Join the consumer group of one transform version (reprocess.NAME.vN) on
kafka.topic and apply its events: read the asset, skip it if the transform
is already applied at this version or newer, run the transform, and write
only the cells it owns. Events of other transforms are left to their own
groups. Partitions are balanced cooperative-sticky; each partition's events
are handled in order, --concurrency at a time across partitions, and an
offset is committed only once its event is applied, skipped or
dead-lettered. Retryable failures are retried with backoff and jitter; the
rest go to kafka.dlq_topic with the error and attempt count, and the
partition moves on ('reprocess dlq replay' sends them back).

With --jobs instead, it serves every job: each async job running or
applying in the store gets a member of its transform's group in this
process, started within seconds of the job and stopped once the transform
has no such job left; one deployment serves new jobs with no new worker.

SIGTERM or Ctrl-C: in-flight events finish (up to --grace), offsets are
committed and the worker leaves the group. Run more workers to scale out.`,
		Example: `  reprocess --kafka-brokers kafka-1:9092 --store cassandra worker --transform orientation --version 2
  reprocess --kafka-brokers 127.0.0.1:9092 worker --transform resolution_class --version 1 --concurrency 16
  reprocess --kafka-brokers kafka-1:9092 --store cassandra worker --jobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(a.cfg.Kafka.Brokers) == 0 {
				return fmt.Errorf("worker needs kafka.brokers (--kafka-brokers): an in-process broker would have no events")
			}
			if (name == "" || version < 1) != jobs {
				return fmt.Errorf("give --transform and --version (>= 1), or --jobs to serve every job")
			}
			return a.work(cmd.Context(), name, version, kafka.ConsumerConfig{Group: events.Group(name, version),
				Concurrency: concurrency, Grace: grace, IdleExit: idleExit})
		},
	}
	cmd.Flags().BoolVar(&jobs, "jobs", false, "serve every running async job's transform, as jobs start and end")
	cmd.Flags().StringVar(&name, "transform", "", "transform name")
	cmd.Flags().IntVar(&version, "version", 0, "transform version")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "events applied at once across partitions")
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "on shutdown, how long in-flight events may take to finish")
	cmd.Flags().DurationVar(&idleExit, "exit-idle", 0, "leave the group and exit once no event arrived for this long (0: run until stopped)")
	return cmd
}

// work runs a worker of transform name vN in its consumer group until ctx
// is done.
func (a *app) work(ctx context.Context, name string, version int, cc kafka.ConsumerConfig) error {
	env, closeEnv, err := a.open(ctx, false)
	if err != nil {
		return err
	}
	defer closeEnv()
	if name == "" {
		if err := a.serveMetrics(ctx, env.Metrics, env.Ready); err != nil {
			return err
		}
		return env.WorkJobs(ctx, worker.Config{Reports: env.Store, Throttle: env.Store}, cc)
	}
	dlq, err := env.Kafka.NewDLQ(cc.Group)
	if err != nil {
		return err
	}
	defer dlq.Close()
	w, flush, err := env.Worker(dlq, worker.Config{Transform: name, Version: version, Reports: env.Store, Throttle: env.Store})
	if err != nil {
		return err
	}
	defer func() {
		if err := flush(); err != nil {
			a.log.Error("flush stock transform writers", "error", err)
		}
	}()
	env.Metrics.MustRegister(w)
	if err := a.serveMetrics(ctx, env.Metrics, env.Ready); err != nil {
		return err
	}
	cc.Topics = []string{env.Kafka.Topic()}
	err = w.Run(ctx, env.Kafka, cc)
	if ctx.Err() != nil && err == nil {
		a.log.Info("worker stopped by signal")
	}
	return err
}
