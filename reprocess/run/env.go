// Package run assembles and runs a job. From a compiled job spec and what
// a process opened once (the store, Kafka, a metrics registry) it builds
// the job's source, filter, rate limiter, lag gate and emitter (the Kafka
// publisher, or the processor itself in sync mode), records the job as
// running, keeps its heartbeat, walks its source with checkpoints, and
// records how the job ended. The CLI's run, scan and demo commands, the
// scanner-group member and the HTTP API's jobs all run jobs through it.
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/stock"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// Env is what jobs run on: opened once per process, shared by its jobs.
type Env struct {
	Store   *instrument.Store // timed: the throttle watches its latency
	Kafka   *kafka.Cluster
	Metrics *prometheus.Registry
	Log     *slog.Logger

	Layout  assets.Layout   // partitions of the cassandra source
	Elastic elastic.Config  // the elasticsearch source and the reindex transform
	Backup  backup.Config   // where the backup source's snapshots are fetched
	Iceberg iceberg.Catalog // the token and warehouse of exports to Iceberg

	// Transforms are the Go transforms this binary ships.
	Transforms *transform.Registry
}

// Ready checks that the store answers (an unknown job is an answer) and
// that Kafka does.
func (e *Env) Ready(ctx context.Context) error {
	if _, err := e.Store.Job(ctx, "reprocess-readiness-probe"); err != nil && !errors.Is(err, assets.ErrNotFound) {
		return err
	}
	return e.Kafka.Ping(ctx)
}

// Source builds the job's source; an id list is read and checked here
// (from stdin for file "-"), before anything is recorded. A source the
// spec cannot make is ErrInvalid.
func (e *Env) Source(ctx context.Context, j *job.Job, stdin io.Reader) (scan.Source, error) {
	return e.Sources().Source(ctx, j, stdin)
}

// Sources is what the env's jobs build their sources from.
func (e *Env) Sources() Sources {
	return Sources{Pager: e.Store, Layout: e.Layout, Elastic: e.Elastic, Backup: e.Backup, Log: e.Log}
}

// Sources builds jobs' sources. A source only reads: the store's paging
// index, an Elasticsearch query, an id list, snapshots.
type Sources struct {
	Pager   assets.Pager
	Layout  assets.Layout
	Elastic elastic.Config
	Backup  backup.Config
	Log     *slog.Logger
}

// Source builds the job's source, as Env.Source does.
func (s Sources) Source(ctx context.Context, j *job.Job, stdin io.Reader) (scan.Source, error) {
	src := j.Source
	switch src.Kind {
	case job.SourceCassandra:
		to := src.CreatedTo
		if to.IsZero() {
			to = time.Now()
		}
		p := &scan.Partitions{Pager: s.Pager, Layout: s.Layout, Types: src.Types, From: src.CreatedFrom, To: to, PageSize: src.PageSize, SplitWays: src.SplitWays}
		if src.SplitAfter != nil {
			p.SplitAfter = *src.SplitAfter
		}
		return p, nil
	case job.SourceIDs:
		return readIDs(j, stdin)
	case job.SourceElasticsearch:
		es, err := elastic.NewClient(s.Elastic)
		if err != nil {
			return nil, err
		}
		q := elastic.Query{Index: src.Index, Query: src.Query, IDField: src.IDField, PageSize: src.PageSize, KeepAlive: src.KeepAlive}
		return &scan.Elastic{Searcher: elastic.NewSearcher(es, q), Index: src.Index}, nil
	case job.SourceBackup:
		snap, err := backup.Open(ctx, s.Backup, src.Snapshots, s.Log)
		if err != nil {
			return nil, fmt.Errorf("source.snapshots: %w", err)
		}
		b := &scan.Backup{Snapshot: snap, Splits: src.Splits, AsOf: src.AsOf, BatchSize: src.PageSize}
		if src.Since != "" {
			if b.Changes, err = backup.Changed(ctx, s.Backup, snap, src.Since, src.AsOf, s.Log); err != nil {
				return nil, fmt.Errorf("source.since: %w", err)
			}
		}
		return b, nil
	}
	return nil, invalid(fmt.Errorf("source.kind %q is not supported by this build", src.Kind))
}

// readIDs builds the ids source from source.ids, or reads source.file;
// its errors are ErrInvalid.
func readIDs(j *job.Job, stdin io.Reader) (scan.Source, error) {
	src := j.Source
	if len(src.IDs) > 0 {
		return scan.NewIDs(j.IDs, src.PageSize), nil
	}
	r := stdin
	if src.File != "-" {
		f, err := os.Open(src.File)
		if err != nil {
			return nil, invalid(fmt.Errorf("source.file: %w", err))
		}
		defer f.Close()
		r = f
	} else if r == nil {
		return nil, invalid(errors.New("source.file -: standard input is not available here; give a path"))
	}
	ids, err := scan.ReadIDs(r, src.Column, src.PageSize)
	if err != nil {
		return nil, invalid(fmt.Errorf("source.file %s: %w", src.File, err))
	}
	return ids, nil
}

// Worker builds a processor on the env's store: Go transforms from the
// registry, CEL and stock transforms from the jobs' specs. cfg's Apply,
// DLQ and Log are filled in. close flushes the stock transforms' writers.
func (e *Env) Worker(dlq worker.DeadLetters, cfg worker.Config) (w *worker.Worker, close func() error, err error) {
	b := e.stock()
	if cfg.OnSuccess == nil {
		cfg.OnSuccess = e.onSuccess
	}
	if cfg.Check == nil {
		cfg.Check = e.checkApplying
	}
	cfg.Apply = &apply.Handler{Store: e.Store, Transforms: &apply.Resolve{Registry: e.Transforms, Jobs: e.Store, Stock: b.Build}, Log: e.Log}
	cfg.DLQ, cfg.Log = dlq, e.Log
	if w, err = worker.New(cfg); err != nil {
		return nil, nil, err
	}
	return w, b.Close, nil
}

// stock returns a builder of stock transforms on the env's services.
func (e *Env) stock() *stock.Builder {
	host, _ := os.Hostname()
	b := &stock.Builder{
		ES:     func() (*elasticsearch.Client, error) { return elastic.NewClient(e.Elastic) },
		Writer: fmt.Sprintf("%s-%d", host, os.Getpid()),
		Kafka:  e.Kafka,
		// The job's spec names the catalog; the token and warehouse are the process's.
		Iceberg: e.Iceberg,
	}
	if e.Store != nil {
		b.Store = e.Store.Store // untimed: its own interfaces show through
	}
	return b
}

// onSuccess takes the on-success step of j's transform if it has one
// (transform.Finisher): a stock transform, built from the spec, or a Go
// transform of the registry.
func (e *Env) onSuccess(ctx context.Context, j *job.Job) error {
	name, version := j.Transform.Name, j.Transform.Version
	var t transform.Transform
	switch {
	case j.Facts != nil:
		return nil
	case j.Transform.Stock():
		b := e.stock()
		defer b.Close()
		var err error
		if t, err = b.Build(j); err != nil {
			return fmt.Errorf("transform %s v%d: on success: %w", name, version, err)
		}
	case e.Transforms != nil:
		t, _ = e.Transforms.Lookup(name, version)
	}
	f, ok := t.(transform.Finisher)
	if !ok {
		return nil
	}
	if err := f.Finish(ctx); err != nil {
		return fmt.Errorf("transform %s v%d: on success: %w", name, version, err)
	}
	e.Log.Info("job's on-success step taken", "job", j.Name, "transform", name, "version", version)
	return nil
}

// IDList builds the source of an id-list job, reading and checking the
// list (from stdin for file "-"); for other sources it returns nil. A
// command calls it before opening the store, so a bad list touches
// nothing.
func IDList(j *job.Job, stdin io.Reader) (scan.Source, error) {
	if j.Source.Kind != job.SourceIDs {
		return nil, nil
	}
	return readIDs(j, stdin)
}
