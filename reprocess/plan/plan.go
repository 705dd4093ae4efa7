// Package plan previews a job before it runs, writing nothing anywhere:
// how many assets its source holds (per type and time bucket, exact where
// the store's paging index makes that cheap, an estimate that says so
// elsewhere), how selective its filter is on a random sample, what its
// transform would change on a few sampled assets (computed with the real
// transform, as the processor would, and written nowhere), and how long
// it would take at its rate.
//
// A plan reads: the paging index of the cassandra source, an id list,
// Elasticsearch's _count and a random sample of hits, a snapshot's
// SSTable indexes and a few of its token ranges, and each sampled asset
// once. It opens no Kafka client and writes no store row.
package plan

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Reader is what a plan reads of the store: assets and the paging index.
type Reader interface {
	assets.Pager
	Get(ctx context.Context, id assets.ID) (assets.Asset, error)
}

// Env is what plans read from. Nothing in it is written.
type Env struct {
	Store   Reader
	Sources run.Sources // builds the job's source; its Pager is Store
	// Transforms are the Go transforms this binary ships.
	Transforms *transform.Registry
	Log        *slog.Logger
}

// Options say how much a plan reads.
type Options struct {
	// Sample is how many assets the filter keeps to show the transform's
	// before and after for (default 5).
	Sample int
	// Measure is how many assets of the scope are read at random to
	// measure the filter (default 200).
	Measure int
	// Walk, for the cassandra source, walks only this many of its
	// partitions, taken at random, and extrapolates: for scopes too large
	// to count (0 walks every one).
	Walk int
	// Seed makes the random choices repeatable; 0 picks one.
	Seed uint64
	// Stdin is read for an id list from standard input (file "-").
	Stdin io.Reader
}

// Defaults.
const (
	DefaultSample  = 5
	DefaultMeasure = 200
)

// Plan is the preview of one job.
type Plan struct {
	Job       string    `json:"job"`
	Source    string    `json:"source"`
	Scope     Scope     `json:"scope"`
	Filter    *Filter   `json:"filter,omitempty"` // nil: the job has none
	Transform Transform `json:"transform"`
	Samples   []Sample  `json:"samples"`
	Duration  Duration  `json:"duration"`
	// Notes say what the plan could not see or measure.
	Notes     []string  `json:"notes,omitempty"`
	PlannedAt time.Time `json:"planned_at"`
}

// Scope is what the job's source holds.
type Scope struct {
	// Exact is true when Assets was counted, false when estimated.
	Exact bool `json:"exact"`
	// Method says how Assets was found.
	Method string `json:"method"`
	// Units names the source's tasks: partitions, splits, hits, lines.
	Units string `json:"units"`
	Tasks int    `json:"tasks"`
	// Holding is how many tasks hold assets (exact walks only).
	Holding int   `json:"holding,omitempty"`
	Assets  int64 `json:"assets"`
	// Types counts assets per type; TypesExact says whether they were
	// counted or extrapolated from the sample.
	Types      map[string]int64 `json:"types,omitempty"`
	TypesExact bool             `json:"types_exact"`
	// Buckets counts assets per type and time bucket (exact walks).
	Buckets []Bucket `json:"buckets,omitempty"`
}

// Bucket is the assets of one type and time bucket.
type Bucket struct {
	Type       string    `json:"type"`
	Bucket     time.Time `json:"bucket"`
	Assets     int64     `json:"assets"`
	Partitions int       `json:"partitions"` // shards holding them
}

// Filter is the filter's selectivity, measured on a random sample.
type Filter struct {
	Expr    string `json:"expr"`
	Sampled int    `json:"sampled"` // assets read
	Matched int    `json:"matched"`
	Missing int    `json:"missing"` // listed, but gone from the store
	Errors  int    `json:"errors"`  // evaluation failed: the scan would fail
	// FirstError is the first evaluation error, with its asset.
	FirstError string `json:"first_error,omitempty"`
	// Exact is true when the sample was the whole scope.
	Exact       bool    `json:"exact"`
	Selectivity float64 `json:"selectivity"` // matched / sampled
	// Margin is the half-width of the selectivity's 95% confidence
	// interval (normal approximation); 0 when exact.
	Margin float64 `json:"margin,omitempty"`
}

// Transform is what the job applies.
type Transform struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Kind    string `json:"kind"` // go, cel, or the stock transform's name
	// Effect, for reindex and export, is the write outside the store
	// that the plan does not make: their samples show only the marker.
	Effect string `json:"effect,omitempty"`
}

// Sample is the transform applied to one sampled asset, written nowhere.
type Sample struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Outcome is what the processor would do: applied, skipped,
	// would_delete, deleted or failed.
	Outcome string            `json:"outcome"`
	Added   map[string]string `json:"added,omitempty"`   // facts it would add
	Changed map[string]Change `json:"changed,omitempty"` // facts it would change
	// Marker is transforms[name] before and after ("" when absent).
	Marker Change `json:"marker"`
	Error  string `json:"error,omitempty"`
}

// Change is a value before and after.
type Change struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// Duration is how long the job would take at its rate.
type Duration struct {
	// Assets is how many events the scan would emit: the scope times the
	// filter's selectivity.
	Assets int64 `json:"assets"`
	// Rate is rate.limit in assets/s; 0 is unlimited: no estimate.
	Rate    float64 `json:"rate"`
	Seconds float64 `json:"seconds,omitempty"`
	// MinRate and MaxSeconds, for an adaptive rate, are its floor and
	// the time at that floor.
	MinRate    float64 `json:"min_rate,omitempty"`
	MaxSeconds float64 `json:"max_seconds,omitempty"`
}

// Make previews j. It fails for a job that cannot run as given (a
// transform no processor has, a source that cannot be read).
func (e *Env) Make(ctx context.Context, j *job.Job, o Options) (*Plan, error) {
	o = o.withDefaults()
	t, err := e.transform(j)
	if err != nil {
		return nil, err
	}
	src, err := e.Sources.Source(ctx, j, o.Stdin)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	p := &Plan{Job: j.Name, Source: j.Source.Kind, Transform: t.info, PlannedAt: time.Now().UTC()}
	sample, err := e.scope(ctx, j, src, o, rng, p)
	if err != nil {
		return nil, err
	}
	if err := e.measure(ctx, j, t, sample, o.Sample, p); err != nil {
		return nil, err
	}
	p.Duration = duration(j, p)
	return p, nil
}

func (o Options) withDefaults() Options {
	if o.Sample <= 0 {
		o.Sample = DefaultSample
	}
	if o.Measure <= 0 {
		o.Measure = DefaultMeasure
	}
	o.Measure = max(o.Measure, o.Sample)
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	return o
}

// duration is the time to emit the expected assets at the job's rate.
func duration(j *job.Job, p *Plan) Duration {
	d := Duration{Assets: p.Scope.Assets, Rate: j.Rate.Limit}
	if p.Filter != nil {
		d.Assets = int64(float64(p.Scope.Assets)*p.Filter.Selectivity + 0.5)
	}
	if d.Rate <= 0 {
		return d
	}
	d.Seconds = float64(d.Assets) / d.Rate
	if j.Rate.Adaptive {
		d.MinRate = j.Rate.Min
		if d.MinRate == 0 {
			d.MinRate = d.Rate / 20
		}
		d.MaxSeconds = float64(d.Assets) / d.MinRate
	}
	return d
}
