package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
	"github.com/reprocess/reprocess/reprocess/transform/stock"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// registry lists the Go transforms this binary ships.
func registry() *transform.Registry {
	return transform.NewRegistry(orientation.All()...)
}

// newWorker wires a processor on the store s: Go transforms from the
// registry, CEL and stock transforms from the jobs' specs. The returned
// close flushes the stock transforms' writers.
func (a *app) newWorker(s assets.Store, dlq worker.DeadLetters, cfg worker.Config) (*worker.Worker, func() error) {
	host, _ := os.Hostname()
	b := &stock.Builder{
		ES:     func() (*elasticsearch.Client, error) { return elastic.NewClient(a.cfg.Elasticsearch) },
		Writer: fmt.Sprintf("%s-%d", host, os.Getpid()),
	}
	cfg.Apply = &apply.Handler{Store: s, Transforms: &apply.Resolve{Registry: registry(), Jobs: s, Stock: b.Build}, Log: a.log}
	cfg.DLQ, cfg.Log = dlq, a.log
	w, err := worker.New(cfg)
	if err != nil {
		panic(err)
	}
	return w, b.Close
}

func (a *app) workerCmd() *cobra.Command {
	var (
		name        string
		version     int
		concurrency int
		grace       time.Duration
		idleExit    time.Duration
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

SIGTERM or Ctrl-C: in-flight events finish (up to --grace), offsets are
committed and the worker leaves the group. Run more workers to scale out.`,
		Example: `  reprocess --kafka-brokers kafka-1:9092 --store cassandra worker --transform orientation --version 2
  reprocess --kafka-brokers 127.0.0.1:9092 worker --transform resolution_class --version 1 --concurrency 16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(a.cfg.Kafka.Brokers) == 0 {
				return fmt.Errorf("worker needs kafka.brokers (--kafka-brokers): an in-process broker would have no events")
			}
			if name == "" || version < 1 {
				return fmt.Errorf("--transform and --version (>= 1) are required")
			}
			ctx := cmd.Context()
			raw, kc, closeAll, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer closeAll()
			reg := newRegistry()
			s, err := instrument.Wrap(raw, reg)
			if err != nil {
				return err
			}
			group := events.Group(name, version)
			dlq, err := kc.NewDLQ(group)
			if err != nil {
				return err
			}
			defer dlq.Close()
			w, closeStock := a.newWorker(s, dlq, worker.Config{Transform: name, Version: version, Reports: s})
			defer func() {
				if err := closeStock(); err != nil {
					a.log.Error("flush stock transform writers", "error", err)
				}
			}()
			reg.MustRegister(w)
			if err := a.serveMetrics(ctx, reg, func(ctx context.Context) error { return ready(ctx, s, kc) }); err != nil {
				return err
			}
			err = w.Run(ctx, kc, kafka.ConsumerConfig{Group: group, Topics: []string{a.cfg.Kafka.Topic}, Concurrency: concurrency, Grace: grace, IdleExit: idleExit})
			if ctx.Err() != nil && err == nil {
				a.log.Info("worker stopped by signal")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&name, "transform", "", "transform name")
	cmd.Flags().IntVar(&version, "version", 0, "transform version")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "events applied at once across partitions")
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "on shutdown, how long in-flight events may take to finish")
	cmd.Flags().DurationVar(&idleExit, "exit-idle", 0, "leave the group and exit once no event arrived for this long (0: run until stopped)")
	return cmd
}
