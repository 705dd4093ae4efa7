package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/cmd/internal/progress"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
)

func (a *app) scanCmd() *cobra.Command {
	var (
		distribute  bool
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "scan [JOB.yaml]",
		Short: "Walk a job's source and emit one Kafka event per asset id",
		Long: `Validate the job spec (fields, CEL filter and facts) before touching
anything, then walk its source (cassandra partitions, an Elasticsearch query, an id list) and publish
one event per asset id to kafka.topic, keyed by the id. A batch's position
is checkpointed only after Kafka acknowledged all of its events, so a scan
that is killed and run again resumes where it stopped: done partitions are
not walked again and at most the in-flight batches are emitted twice.

The job's rate settings apply: rate.limit (assets/s), rate.adaptive (halve
the rate when the p99 of this process's store requests passes
rate.target_p99, add 5% while it stays under), and rate.max_lag (pause
while the transform's consumer group lags by more events).

Scale-out: 'reprocess scan --distribute JOB.yaml' puts the job's tasks on
kafka.tasks_topic, and every 'reprocess scan' started without a JOB joins
the scanner group and walks the tasks Kafka assigns it; adding a scanner
rebalances the tasks, and a killed scanner's tasks resume elsewhere from
their checkpoints. A task is walked by one scanner at a time.

With mode: sync the scan applies each batch in-process with the same
processor a worker runs (retries, dead letters) instead of publishing:
for small jobs, no workers needed. A delete job counts what it would delete
unless its spec says dry_run: false and --confirm-delete is given.`,
		Example: `  reprocess scan jobs/resolution-class.yaml
  reprocess --kafka-brokers k1:9092 scan --distribute job.yaml && reprocess --kafka-brokers k1:9092 scan
  reprocess --store cassandra --kafka-brokers kafka-1:9092 scan job.yaml
  cat ids.txt | reprocess scan ids-job.yaml   # source: {kind: ids, file: "-"}`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return a.scanMember(cmd.Context(), concurrency)
			}
			if distribute {
				j, err := a.loadJob(cmd, args[0])
				if err != nil {
					return err
				}
				takeover, _ := cmd.Flags().GetBool("takeover")
				return a.distribute(cmd.Context(), j, cmd.OutOrStdout(), takeover)
			}
			return a.startJob(cmd, args[0], false)
		},
	}
	startFlags(cmd)
	cmd.Flags().BoolVar(&distribute, "distribute", false, "put the job's scan tasks on kafka.tasks_topic for the scanner group instead of scanning here")
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "with no JOB: scan tasks walked at once by this scanner-group member")
	return cmd
}

func (a *app) runCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run JOB.yaml",
		Short: "Start a job and follow it to the end: scan and apply progress",
		Long: `Start a job as 'reprocess scan' does, and follow it with two bars: the
scan (partitions done, ids scanned and emitted) and the apply (events the
transform's workers handled, from their consumer group's committed offsets;
in sync mode, the in-process worker's counts), with rates and ETAs. In
async mode it waits after the scan until the workers handled every event;
Ctrl-C stops following (and scanning: a later run resumes), while running
workers go on. Plain progress lines replace the bars when not on a terminal.`,
		Example: `  reprocess --kafka-brokers 127.0.0.1:9092 run jobs/orientation-v2.yaml   # workers run elsewhere
  reprocess run small-sync-job.yaml                                        # mode: sync, no Kafka needed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.startJob(cmd, args[0], true)
		},
	}
	startFlags(cmd)
	return cmd
}

// startFlags are the flags of the commands that start a job.
func startFlags(cmd *cobra.Command) {
	cmd.Flags().Bool("confirm-delete", false, "allow a delete job with dry_run: false to delete")
	cmd.Flags().Bool("takeover", false, "run the job even if another process seems to (its record was touched in the last 6s)")
	cmd.Flags().Bool("restart", false, "forget the job's checkpoints and walk everything again; lets its name run a changed spec")
}

// loadJob reads and validates the spec at path before anything starts.
func (a *app) loadJob(cmd *cobra.Command, path string) (*job.Job, error) {
	confirmDelete, _ := cmd.Flags().GetBool("confirm-delete")
	j, err := job.Open(path)
	if err != nil {
		return nil, err
	}
	if j.Transform.Deletes() && !confirmDelete {
		return nil, fmt.Errorf("job %s deletes assets (transform.dry_run: false): rerun with --confirm-delete if that is meant", j.Name)
	}
	return j, nil
}

// startJob runs the job at path here: scan (and, following, apply)
// progress on bars, then a summary on out.
func (a *app) startJob(cmd *cobra.Command, path string, follow bool) error {
	j, err := a.loadJob(cmd, path)
	if err != nil {
		return err
	}
	if follow && j.Mode == "async" && len(a.cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("job %s is async: following it needs kafka.brokers (--kafka-brokers) that workers also use; use mode: sync for a run with no Kafka, or `reprocess demo`", j.Name)
	}
	// An id list is read and checked before the store or Kafka is opened.
	src, err := run.IDList(j, cmd.InOrStdin())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	env, closeEnv, err := a.open(ctx, false)
	if err != nil {
		return err
	}
	defer closeEnv()
	if err := a.serveMetrics(ctx, env.Metrics, env.Ready); err != nil {
		return err
	}
	takeover, _ := cmd.Flags().GetBool("takeover")
	restart, _ := cmd.Flags().GetBool("restart")
	r, err := env.Start(ctx, j, run.Options{Source: src, Takeover: takeover, Follow: follow, Restart: restart})
	if err != nil {
		return err
	}
	return progress.Watch(ctx, r, j.Name, r.Total(ctx), os.Stderr, cmd.OutOrStdout())
}

// distribute puts the job's unfinished tasks on the tasks topic for the
// scanner group instead of scanning here.
func (a *app) distribute(ctx context.Context, j *job.Job, out io.Writer, takeover bool) error {
	if len(a.cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("--distribute needs kafka.brokers (--kafka-brokers) shared with the scanners")
	}
	env, closeEnv, err := a.open(ctx, false)
	if err != nil {
		return err
	}
	defer closeEnv()
	published, total, err := env.Distribute(ctx, j, takeover)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "job %s: published %d of %d scan tasks to %s for the scanner group (%d already done)\n",
		j.Name, published, total, env.Kafka.TasksTopic(), total-published)
	return nil
}

// scanMember runs this process as a member of the scanner group.
func (a *app) scanMember(ctx context.Context, concurrency int) error {
	if len(a.cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("a scanner-group member needs kafka.brokers (--kafka-brokers); to scan one job here, give its spec: reprocess scan JOB.yaml")
	}
	env, closeEnv, err := a.open(ctx, false)
	if err != nil {
		return err
	}
	defer closeEnv()
	return env.Member(ctx, concurrency)
}
