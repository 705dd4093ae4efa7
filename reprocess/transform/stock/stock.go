// Package stock holds the transforms every deployment has, built from a
// job's spec by a Builder:
//
//   - delete removes the assets the job's filter selects; dry run unless
//     the spec says dry_run: false (and the job was started with
//     --confirm-delete);
//   - reindex writes each asset as a document into an Elasticsearch index,
//     through a bulk indexer, with the asset's version as the document's
//     external version, so an older snapshot never overwrites a newer one;
//   - export appends each asset to JSON-lines or Parquet files under a
//     directory, rolled by size, or appends each rolled file to an Iceberg
//     table in one commit;
//   - reindex with an alias is zero-downtime: the new index is created
//     from the spec's mapping, and the alias moves to it in one request
//     once the job succeeded (a transform.Finisher);
//   - service_facts asks an HTTP endpoint for facts, in batches, at the
//     endpoint's rate (ServiceFacts);
//   - reverse_index writes (value, asset id) rows of a metadata field into
//     a Cassandra table beside the assets (ReverseIndex);
//   - workflow sends one CloudEvent per asset to a Kafka topic or an HTTP
//     endpoint (Workflow).
//
// Those with side effects return only once their write is durable
// (acknowledged by Elasticsearch, Cassandra, Kafka or the endpoint,
// fsynced to disk), so the transforms[name] marker the
// processor writes next never claims a write that was lost. After a crash
// between the two the asset is written again: side effects are
// at-least-once, the marker makes the job as a whole exactly-once.
package stock

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Builder builds stock transforms and owns their writers. It is safe for
// concurrent use; Close flushes and closes every writer.
type Builder struct {
	// ES returns the Elasticsearch client for reindex (called once).
	ES func() (*elasticsearch.Client, error)
	// Writer names this process in export file names (e.g. host-pid).
	Writer string
	// Store is the asset store; reverse_index writes its tables beside
	// the assets (an assets.ReverseIndexer, else it is refused).
	Store assets.Store
	// Kafka is where workflow publishes its events to a topic.
	Kafka *kafka.Cluster
	// Iceberg is the token and warehouse of an export to Iceberg; the
	// job's spec names the catalog.
	Iceberg iceberg.Catalog

	mu     sync.Mutex
	closer []func() error
}

// Build returns the stock transform a job names, or nil, nil when the
// job's transform is not a stock one.
func (b *Builder) Build(j *job.Job) (transform.Transform, error) {
	t := j.Transform
	switch t.Name {
	case "delete":
		return &Delete{version: t.Version, dryRun: !t.Deletes()}, nil
	case "reindex":
		if b.ES == nil {
			return nil, errors.New("reindex: no Elasticsearch configured")
		}
		es, err := b.ES()
		if err != nil {
			return nil, err
		}
		r, err := b.reindex(es, t)
		if err != nil {
			return nil, err
		}
		return r, nil
	case "export":
		roll := t.RollBytes
		if roll == 0 {
			roll = job.DefaultRollBytes
		}
		ice := iceberg.Options{Catalog: b.Iceberg.With(t.Catalog), Table: t.Table}
		e, err := newExport(t.Version, t.Dir, t.Format, j.Name+"-"+b.Writer, roll, ice)
		if err != nil {
			return nil, err
		}
		b.track(e.Close)
		return e, nil
	case "reverse_index":
		r, err := buildReverseIndex(b.Store, t)
		if err != nil {
			return nil, err
		}
		return r, nil
	case "workflow":
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		w, err := newWorkflow(ctx, b.Kafka, t.Version, j.Name, *t.Workflow)
		if err != nil {
			return nil, err
		}
		b.track(w.Close)
		return w, nil
	case "service_facts":
		s := newServiceFacts(t.Version, *t.Service)
		b.track(s.Close)
		return s, nil
	}
	return nil, nil
}

// reindex builds a reindex, creating its index from the spec's mapping
// if it has one.
func (b *Builder) reindex(es *elasticsearch.Client, t job.Transform) (*Reindex, error) {
	if t.Mapping != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := createIndex(ctx, es, t.Index, t.Mapping); err != nil {
			return nil, err
		}
	}
	r, err := newReindex(es, t.Version, t.Index, t.MappingVersion)
	if err != nil {
		return nil, err
	}
	r.alias = t.Alias
	b.track(r.Close)
	return r, nil
}

func (b *Builder) track(closer func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closer = append(b.closer, closer)
}

// Close flushes and closes every writer built.
func (b *Builder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, c := range b.closer {
		errs = append(errs, c())
	}
	b.closer = nil
	return errors.Join(errs...)
}

// Delete removes every asset its job selects (the job's filter is the
// rule). In dry run, the default, it only counts them.
type Delete struct {
	version int
	dryRun  bool
}

func (d *Delete) Name() string { return "delete" }
func (d *Delete) Version() int { return d.version }
func (d *Delete) DryRun() bool { return d.dryRun }
func (d *Delete) Apply(context.Context, assets.Asset) (transform.Result, error) {
	return transform.Result{Delete: true}, nil
}
