package plan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// missingType is the type a sampled id whose asset is gone counts under.
const missingType = "(missing)"

// measure reads each sampled item's asset once: it measures the filter,
// previews the transform on the first show assets the filter keeps, and
// extrapolates per-type counts the source did not give.
func (e *Env) measure(ctx context.Context, j *job.Job, t resolved, items []scan.Item, show int, p *Plan) error {
	var f *Filter
	if j.Filter != nil {
		f = &Filter{Expr: j.Spec.Filter, Exact: p.Scope.Exact && int64(len(items)) == p.Scope.Assets}
		p.Filter = f
	}
	types := map[string]int64{}
	p.Samples = []Sample{}
	for _, it := range items {
		a, err := e.asset(ctx, it)
		if errors.Is(err, assets.ErrNotFound) {
			types[missingType]++
			if f != nil {
				f.Sampled++
				f.Missing++
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read sampled asset %s: %w", it.ID, err)
		}
		types[a.Type]++
		if f != nil && !f.keeps(j, a) {
			continue
		}
		if len(p.Samples) < show {
			p.Samples = append(p.Samples, preview(ctx, t, j, a))
		}
	}
	if f != nil && f.Sampled > 0 {
		f.Selectivity = float64(f.Matched) / float64(f.Sampled)
		if !f.Exact {
			f.Margin = 1.96 * math.Sqrt(f.Selectivity*(1-f.Selectivity)/float64(f.Sampled))
		}
	}
	if !p.Scope.TypesExact {
		// Read from a sample of the whole of an exact scope, they are exact.
		p.Scope.Types = extrapolate(types, int64(len(items)), p.Scope.Assets)
		p.Scope.TypesExact = p.Scope.Exact && int64(len(items)) == p.Scope.Assets
	}
	if len(items) == 0 && p.Scope.Assets > 0 {
		p.Notes = append(p.Notes, "no asset could be sampled: the filter and transform were not measured")
	}
	return nil
}

// keeps counts a against the filter and reports whether it matched.
func (f *Filter) keeps(j *job.Job, a assets.Asset) bool {
	f.Sampled++
	ok, err := j.Filter.Match(a)
	if err != nil {
		if f.Errors++; f.FirstError == "" {
			f.FirstError = fmt.Sprintf("asset %s: %v", a.ID, err)
		}
		return false
	}
	if ok {
		f.Matched++
	}
	return ok
}

// asset is the item's asset: the source's copy, else a store read.
func (e *Env) asset(ctx context.Context, it scan.Item) (assets.Asset, error) {
	if it.Asset != nil {
		return *it.Asset, nil
	}
	if it.Deleted {
		return assets.Asset{}, assets.ErrNotFound
	}
	return e.Store.Get(ctx, it.ID)
}

// preview applies the transform to a as the processor would for the
// job's event, and shows what its write would change; nothing is written.
func preview(ctx context.Context, t resolved, j *job.Job, a assets.Asset) Sample {
	name, version := j.Transform.Name, j.Transform.Version
	ev := events.Reprocess{SchemaVersion: events.SchemaVersion, JobID: j.Name, AssetID: a.ID, AssetType: a.Type,
		Transform: name, Version: version, Attempt: 1}
	out, u, err := apply.Preview(ctx, t.t, ev, a.Clone())
	s := Sample{ID: a.ID.String(), Type: a.Type, Outcome: string(out), Marker: Change{Before: marker(a, name), After: marker(a, name)}}
	if err != nil {
		s.Error = err.Error()
	}
	if out != apply.Applied {
		return s
	}
	s.Marker.After = strconv.Itoa(version)
	for k, v := range u.Facts {
		old, ok := a.Facts[k]
		switch {
		case !ok:
			if s.Added == nil {
				s.Added = map[string]string{}
			}
			s.Added[k] = v
		case old != v:
			if s.Changed == nil {
				s.Changed = map[string]Change{}
			}
			s.Changed[k] = Change{Before: old, After: v}
		}
	}
	return s
}

func marker(a assets.Asset, name string) string {
	if v, ok := a.Transforms[name]; ok {
		return strconv.Itoa(v)
	}
	return ""
}

// extrapolate scales per-type counts of a sample of n to total.
func extrapolate(types map[string]int64, n, total int64) map[string]int64 {
	if n == 0 {
		return nil
	}
	out := make(map[string]int64, len(types))
	for k, c := range types {
		out[k] = int64(math.Round(float64(c) * float64(total) / float64(n)))
	}
	return out
}
