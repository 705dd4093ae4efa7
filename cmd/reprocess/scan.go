package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/throttle"
	"github.com/reprocess/reprocess/reprocess/worker"
)

func (a *app) scanCmd() *cobra.Command {
	var (
		confirmDelete, distribute bool
		concurrency               int
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
the rate when the p99 of store reads passes rate.target_p99, add 5% while
it stays under), and rate.max_lag (pause while the transform's consumer
group lags by more events).

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
				j, err := a.loadJob(args[0], confirmDelete)
				if err != nil {
					return err
				}
				takeover, _ := cmd.Flags().GetBool("takeover")
				return a.distribute(cmd.Context(), j, cmd.OutOrStdout(), takeover)
			}
			return a.startJob(cmd, args[0], confirmDelete, false)
		},
	}
	cmd.Flags().BoolVar(&confirmDelete, "confirm-delete", false, "allow a delete job with dry_run: false to delete")
	cmd.Flags().Bool("takeover", false, "run the job even if another process seems to (its record was touched in the last 6s)")
	cmd.Flags().BoolVar(&distribute, "distribute", false, "put the job's scan tasks on kafka.tasks_topic for the scanner group instead of scanning here")
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "with no JOB: scan tasks walked at once by this scanner-group member")
	return cmd
}

func (a *app) runCmd() *cobra.Command {
	var confirmDelete bool
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
			return a.startJob(cmd, args[0], confirmDelete, true)
		},
	}
	cmd.Flags().BoolVar(&confirmDelete, "confirm-delete", false, "allow a delete job with dry_run: false to delete")
	cmd.Flags().Bool("takeover", false, "run the job even if another process seems to (its record was touched in the last 6s)")
	return cmd
}

// loadJob reads and validates a spec before anything starts.
func (a *app) loadJob(path string, confirmDelete bool) (*job.Job, error) {
	spec, err := job.Load(path)
	if err != nil {
		return nil, err
	}
	j, err := job.Compile(spec)
	if err != nil {
		return nil, err
	}
	if j.Transform.Deletes() && !confirmDelete {
		return nil, fmt.Errorf("job %s deletes assets (transform.dry_run: false): rerun with --confirm-delete if that is meant", j.Name)
	}
	return j, nil
}

// startJob validates the spec at path before anything starts, then scans.
func (a *app) startJob(cmd *cobra.Command, path string, confirmDelete, follow bool) error {
	j, err := a.loadJob(path, confirmDelete)
	if err != nil {
		return err
	}
	if follow && j.Mode == "async" && len(a.cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("job %s is async: following it needs kafka.brokers (--kafka-brokers) that workers also use; use mode: sync for a run with no Kafka, or `reprocess demo`", j.Name)
	}
	takeover, _ := cmd.Flags().GetBool("takeover")
	return a.scan(cmd.Context(), j, cmd.InOrStdin(), cmd.OutOrStdout(), follow, takeover)
}

// scan runs a job from the command line: its own store, Kafka, metrics
// endpoint and progress bars.
func (a *app) scan(ctx context.Context, j *job.Job, stdin io.Reader, out io.Writer, follow, takeover bool) error {
	log := a.log.With("job", j.Name)
	src, err := a.source(j, stdin)
	if err != nil {
		return err
	}
	raw, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer raw.Close()
	reg := newRegistry()
	s, err := instrument.Wrap(raw, reg)
	if err != nil {
		return err
	}
	kc, err := kafka.Start(a.cfg.Kafka, log)
	if err != nil {
		return err
	}
	defer kc.Close()
	if kc.InProcess() {
		log.Warn("no kafka.brokers configured: events and dead letters go to an in-process broker and are gone when this command exits")
	}
	if err := kc.EnsureTopics(ctx); err != nil {
		return err
	}
	if err := a.serveMetrics(ctx, reg, func(ctx context.Context) error { return ready(ctx, s, kc) }); err != nil {
		return err
	}
	return a.runScan(ctx, j, src, s, kc, reg, out, runOpts{show: true, follow: follow, takeover: takeover})
}

// runScan runs a job's scan on an open store and Kafka: records its
// lifecycle, registers its metrics on reg, shows bars when show is set,
// and writes a summary to out.
// runOpts says how a scan runs: with bars (show), following the workers
// to the end (follow), taking over a job another process seems to run.
type runOpts struct{ show, follow, takeover bool }

func (a *app) runScan(ctx context.Context, j *job.Job, src scan.Source, s assets.Store, kc *kafka.Cluster, reg prometheus.Registerer, out io.Writer, o runOpts) error {
	show, follow := o.show, o.follow
	log := a.log.With("job", j.Name)
	limiter := throttle.NewLimiter(j.Rate, time.Second)
	if p, ok := src.(*scan.Partitions); ok {
		p.Pager = timedPager{s, limiter}
	}
	if _, err := control.Start(ctx, s, j.Name, j.Text, o.takeover); err != nil {
		return err
	}
	watch := &control.Watch{Store: s, Job: j.Name, Interval: time.Second,
		Paused: func() { log.Info("job paused: scanning waits; in-flight events finish") }}
	group := events.Group(j.Transform.Name, j.Transform.Version)
	var emit scan.Emitter
	var w *worker.Worker
	if j.Mode == "sync" {
		dlq, err := kc.NewDLQ(j.Name)
		if err != nil {
			return err
		}
		defer dlq.Close()
		var closeStock func() error
		w, closeStock = a.newWorker(s, dlq, j.Source.Concurrency*4)
		defer func() {
			if err := closeStock(); err != nil {
				log.Error("flush stock transform writers", "error", err)
			}
		}()
		emit = w
	} else {
		pub, err := kc.NewPublisher("reprocess/scan/" + j.Name)
		if err != nil {
			return err
		}
		defer pub.Close()
		if err := pub.Register(reg); err != nil {
			log.Warn("publisher metrics not registered", "error", err)
		}
		emit = pub
	}
	gate := throttle.NewGate(j.Rate.MaxLag, func(ctx context.Context) (int64, error) { return kc.Lag(ctx, group) }, 2*time.Second)

	sc := scan.New(scan.Config{
		Job: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version,
		Concurrency: j.Source.Concurrency, Filter: j.Filter, Limiter: limiter, Gate: gate, Proceed: watch.Proceed, Store: s, Log: a.log,
	}, src, emit)
	if err := sc.Register(reg, limiter, gate); err != nil {
		log.Warn("scan metrics not registered (a run of this job already has them)", "error", err)
	}
	if w != nil {
		if err := reg.Register(w); err != nil {
			log.Warn("worker metrics not registered", "error", err)
		}
	}
	st := &sc.Stats
	d := newQuietDisplay()
	if show {
		d = newDisplay(os.Stderr)
	}
	bar := d.add("scan  "+j.Name, "tasks", 0, func() string {
		return fmt.Sprintf("scanned %d emitted %d filtered %d", st.Scanned.Load(), st.Emitted.Load(), st.Filtered.Load())
	})
	// The apply bar: the in-process worker's counts (sync), or the events
	// the transform's consumer group has committed (async, when following).
	var applied func() int64
	var applyBar *progress
	switch {
	case w != nil:
		applied = func() int64 {
			return w.Count(apply.Applied) + w.Count(apply.Skipped) + w.Count(apply.Missing) + w.Count(apply.Deleted) +
				w.Count(apply.WouldDelete) + w.Count(worker.DeadLettered)
		}
	case follow:
		// The bars refresh every 250ms; the group's lag is read once a second.
		var (
			mu       sync.Mutex
			lastLag  int64
			lastRead time.Time
		)
		applied = func() int64 {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(lastRead) >= time.Second {
				if lag, err := kc.Lag(ctx, group); err == nil {
					lastLag = lag
				}
				lastRead = time.Now()
			}
			return max(0, st.Emitted.Load()-lastLag)
		}
	}
	if applied != nil {
		applyBar = d.add("apply "+j.Name, "events", 0, nil)
	}
	updateBars := func() {
		bar.SetTotal(st.Tasks.Load())
		bar.Set(st.TasksDone.Load())
		if applyBar != nil {
			applyBar.SetTotal(st.Emitted.Load())
			applyBar.Set(applied())
		}
	}
	counters := func() map[string]int64 {
		c := map[string]int64{"tasks": st.Tasks.Load(), "tasks_done": st.TasksDone.Load(), "scanned": st.Scanned.Load(),
			"emitted": st.Emitted.Load(), "filtered": st.Filtered.Load()}
		if w != nil {
			for _, o := range []apply.Outcome{apply.Applied, apply.Skipped, apply.Missing, apply.Deleted, apply.WouldDelete, worker.DeadLettered} {
				c[string(o)] = w.Count(o)
			}
		}
		return c
	}
	done := make(chan struct{})
	go func() { // the task count is known once Run listed the tasks
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-t.C:
				updateBars()
				if i%8 == 0 {
					if err := s.SetJobCounters(ctx, j.Name, counters()); err != nil && ctx.Err() == nil {
						log.Warn("save job counters", "error", err)
					}
				}
			}
		}
	}()
	start := time.Now()
	err := sc.Run(ctx)
	if err == nil && follow && w == nil {
		// Follow the workers until they handled every event (Ctrl-C stops
		// following; the job and the workers go on).
		for ctx.Err() == nil && applied() < st.Emitted.Load() {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	close(done)
	if cerr := a.finishJob(context.WithoutCancel(ctx), s, j.Name, err, counters()); cerr != nil {
		log.Error("record the job's end", "error", cerr)
	}
	updateBars()
	d.wait()
	el := time.Since(start)
	fmt.Fprintf(out, "job %s: %d/%d tasks done, scanned %d, emitted %d, filtered %d in %s (%.0f ids/s)\n",
		j.Name, st.TasksDone.Load(), st.Tasks.Load(), st.Scanned.Load(), st.Emitted.Load(), st.Filtered.Load(),
		el.Round(time.Millisecond), float64(st.Scanned.Load())/el.Seconds())
	if w != nil {
		fmt.Fprintf(out, "applied %d, skipped %d, missing %d, deleted %d, would delete %d, dead-lettered %d\n",
			w.Count(apply.Applied), w.Count(apply.Skipped), w.Count(apply.Missing), w.Count(apply.Deleted),
			w.Count(apply.WouldDelete), w.Count(worker.DeadLettered))
	}
	return err
}

// finishJob records how a scan ended: succeeded, failed with its error,
// cancelled (already recorded by whoever cancelled), or still running if
// the process was stopped (a restart resumes it).
func (a *app) finishJob(ctx context.Context, s assets.Store, id string, runErr error, counters map[string]int64) error {
	if err := s.SetJobCounters(ctx, id, counters); err != nil {
		return err
	}
	switch {
	case runErr == nil:
		_, err := control.Transition(ctx, s, id, control.Succeeded, nil)
		return err
	case errors.Is(runErr, control.ErrCancelled), errors.Is(runErr, context.Canceled):
		return nil
	}
	_, err := control.Transition(ctx, s, id, control.Failed, func(j *assets.Job) { j.Error = runErr.Error() })
	return err
}

// source builds the job's source; an id list is read and checked here,
// before the store or Kafka is touched.
func (a *app) source(j *job.Job, stdin io.Reader) (scan.Source, error) {
	src := j.Source
	switch src.Kind {
	case job.SourceCassandra:
		to := src.CreatedTo
		if to.IsZero() {
			to = time.Now()
		}
		return &scan.Partitions{Layout: a.cfg.Layout, Types: src.Types, From: src.CreatedFrom, To: to, PageSize: src.PageSize}, nil
	case job.SourceIDs:
		r := stdin
		if src.File != "-" {
			f, err := os.Open(src.File)
			if err != nil {
				return nil, fmt.Errorf("source.file: %w", err)
			}
			defer f.Close()
			r = f
		}
		ids, err := scan.ReadIDs(r, src.Column, src.PageSize)
		if err != nil {
			return nil, fmt.Errorf("source.file %s: %w", src.File, err)
		}
		return ids, nil
	case job.SourceElasticsearch:
		es, err := elastic.NewClient(a.cfg.Elasticsearch)
		if err != nil {
			return nil, err
		}
		q := elastic.Query{Index: src.Index, Query: src.Query, IDField: src.IDField, PageSize: src.PageSize, KeepAlive: src.KeepAlive}
		return &scan.Elastic{Searcher: elastic.NewSearcher(es, q), Index: src.Index}, nil
	case job.SourceBackup:
		snap, err := backup.Open(context.Background(), a.cfg.Backup, src.Snapshots, a.log)
		if err != nil {
			return nil, fmt.Errorf("source.snapshots: %w", err)
		}
		return &scan.Backup{Snapshot: snap, Splits: src.Splits, AsOf: src.AsOf, BatchSize: src.PageSize}, nil
	}
	return nil, fmt.Errorf("source.kind %q is not supported by this build", src.Kind)
}

// timedPager reports every page read's latency to the adaptive limiter.
type timedPager struct {
	assets.Pager
	l *throttle.Limiter
}

func (t timedPager) Page(ctx context.Context, p assets.Partition, after assets.ID, limit int) ([]assets.ID, error) {
	start := time.Now()
	ids, err := t.Pager.Page(ctx, p, after, limit)
	t.l.Observe(time.Since(start))
	return ids, err
}

// ready checks that the store answers (an unknown job is an answer) and
// that Kafka does.
func ready(ctx context.Context, s assets.JobStore, kc *kafka.Cluster) error {
	if _, err := s.Job(ctx, "reprocess-readiness-probe"); err != nil && !errors.Is(err, assets.ErrNotFound) {
		return err
	}
	return kc.Ping(ctx)
}
