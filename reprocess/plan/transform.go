package plan

import (
	"context"
	"fmt"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/apply"
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

// transform finds the job's transform as a processor would (apply.Which
// decides which). A stock transform that acts outside the store when
// applied is not run: a stand-in shows the marker it would set and its
// effect is described. The delete transform is run: it only decides.
func (e *Env) transform(j *job.Job) (resolved, error) {
	spec := j.Transform
	r := resolved{info: Transform{Name: spec.Name, Version: spec.Version}}
	kind, err := apply.Which(j, e.Transforms)
	if err != nil {
		return r, run.Invalid(err)
	}
	r.info.Kind = string(kind)
	switch {
	case kind == apply.KindGo:
		r.t, _ = e.Transforms.Lookup(spec.Name, spec.Version)
	case kind == apply.KindCEL:
		r.t = transform.FromCEL(spec.Name, spec.Version, j.Facts)
	case spec.Name == "delete":
		if r.t, err = (&stock.Builder{}).Build(j); err != nil {
			return r, err
		}
		r.info.Kind = "delete"
	default:
		r.t, r.info.Kind, r.info.Effect = markerOnly{spec.Name, spec.Version}, spec.Name, effect(spec)
	}
	return r, nil
}

// effect describes what a stock transform does outside the store, which
// the plan does not do.
func effect(t job.Transform) string {
	var what string
	switch t.Name {
	case "reindex":
		what = fmt.Sprintf("indexes each asset into Elasticsearch index %s (mapping_version %d)", t.Index, t.MappingVersion)
	case "export":
		what = fmt.Sprintf("appends each asset to %s files under %s", t.Format, t.Dir)
	case "service_facts":
		what = "asks an HTTP endpoint for each asset's facts"
	case "reverse_index":
		what = "writes each asset's (value, asset id) row into a reverse-index table"
	case "workflow":
		what = "sends one CloudEvent per asset to its workflow"
	}
	return what + "; not done by the plan"
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
