package plan

import (
	"context"
	"fmt"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/stock"
)

// resolved is the transform a plan previews with, and what it shows of it.
type resolved struct {
	t    transform.Transform
	info Transform
}

// transform finds the job's transform as a processor would (a registered
// Go transform first, then the spec's facts, then a stock transform).
// Reindex and export write outside the store when applied, so they are
// not run: a stand-in shows the marker they would set.
func (e *Env) transform(j *job.Job) (resolved, error) {
	spec := j.Transform
	r := resolved{info: Transform{Name: spec.Name, Version: spec.Version}}
	if e.Transforms != nil {
		if t, err := e.Transforms.Lookup(spec.Name, spec.Version); err == nil {
			r.t, r.info.Kind = t, "go"
			return r, nil
		}
	}
	switch {
	case j.Facts != nil:
		r.t, r.info.Kind = transform.FromCEL(spec.Name, spec.Version, j.Facts), "cel"
	case spec.Name == "delete":
		t, err := (&stock.Builder{}).Build(j)
		if err != nil {
			return r, err
		}
		r.t, r.info.Kind = t, "delete"
	case spec.Name == "reindex":
		r.t, r.info.Kind = markerOnly{spec.Name, spec.Version}, "reindex"
		r.info.Effect = fmt.Sprintf("indexes each asset into Elasticsearch index %s (mapping_version %d); not done by the plan", spec.Index, spec.MappingVersion)
	case spec.Name == "export":
		r.t, r.info.Kind = markerOnly{spec.Name, spec.Version}, "export"
		r.info.Effect = fmt.Sprintf("appends each asset to %s files under %s; not done by the plan", spec.Format, spec.Dir)
	default:
		return r, run.Invalid(fmt.Errorf("transform %s v%d: not registered in this binary nor declared by transform.facts; use delete, reindex or export for a stock transform", spec.Name, spec.Version))
	}
	return r, nil
}

// markerOnly stands in for a transform whose effect is outside the
// store: applied, it sets its marker and no fact.
type markerOnly struct {
	name    string
	version int
}

func (m markerOnly) Name() string { return m.name }
func (m markerOnly) Version() int { return m.version }
func (m markerOnly) Apply(context.Context, assets.Asset) (transform.Result, error) {
	return transform.Result{}, nil
}
