package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Kind is how a job's transform is made.
type Kind string

// Kinds, in the order Which tries them.
const (
	KindGo    Kind = "go"    // registered in this binary
	KindCEL   Kind = "cel"   // declared by the spec's facts
	KindStock Kind = "stock" // one of job.StockNames, built from the spec
)

// Which is the one place that decides which transform job j runs, for
// the processors, the job checks, plan and its preview: a Go transform of
// reg at the job's name and version first, then the facts the spec
// declares, then the stock transform of that name. Anything else is
// ErrUnknownTransform, saying what would do.
func Which(j *job.Job, reg *transform.Registry) (Kind, error) {
	t := j.Transform
	regErr := fmt.Errorf("transform %s v%d: this process has no Go transforms", t.Name, t.Version)
	if reg != nil {
		_, err := reg.Lookup(t.Name, t.Version)
		if err == nil {
			return KindGo, nil
		}
		regErr = err
	}
	switch {
	case j.Facts != nil:
		return KindCEL, nil
	case t.Stock():
		return KindStock, nil
	}
	return "", fmt.Errorf("%w: %w; declare transform.facts for a CEL transform, or use a stock transform (%s)",
		ErrUnknownTransform, regErr, strings.Join(job.StockNames, ", "))
}

// Stock builds a stock transform (see reprocess/transform/stock) from its job's
// spec; it returns nil, nil for names that are not stock transforms.
type Stock func(j *job.Job) (transform.Transform, error)

// Resolve finds transforms: Go transforms in the registry, stock ones
// built from their job's spec, and CEL transforms compiled from the spec
// the job saved in the store. Compiled transforms are cached per job.
type Resolve struct {
	Registry *transform.Registry
	Jobs     assets.JobStore
	Stock    Stock

	mu    sync.Mutex
	cache map[string]transform.Transform
}

// Resolve implements Resolver.
func (r *Resolve) Resolve(ctx context.Context, ev events.Reprocess) (transform.Transform, error) {
	key := fmt.Sprintf("%s/%s/%d", ev.JobID, ev.Transform, ev.Version)
	r.mu.Lock()
	t, ok := r.cache[key]
	r.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := r.build(ctx, ev)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]transform.Transform{}
	}
	r.cache[key] = t
	r.mu.Unlock()
	return t, nil
}

func (r *Resolve) build(ctx context.Context, ev events.Reprocess) (transform.Transform, error) {
	regErr := errors.New("no registry")
	if r.Registry != nil { // a Go transform needs no job record
		t, err := r.Registry.Lookup(ev.Transform, ev.Version)
		if err == nil {
			return t, nil
		}
		regErr = err
	}
	rec, err := r.Jobs.Job(ctx, ev.JobID)
	if errors.Is(err, assets.ErrNotFound) {
		return nil, fmt.Errorf("%w %s v%d: %v, and job %s is not in the store", ErrUnknownTransform, ev.Transform, ev.Version, regErr, ev.JobID)
	}
	if err != nil {
		return nil, fmt.Errorf("load job %s: %w", ev.JobID, err)
	}
	j, err := job.Read([]byte(rec.Spec))
	if err != nil {
		return nil, fmt.Errorf("%w: job %s: %w", ErrUnknownTransform, ev.JobID, err)
	}
	if j.Transform.Name != ev.Transform || j.Transform.Version != ev.Version {
		return nil, fmt.Errorf("%w: event asks for %s v%d, job %s declares %s v%d", ErrUnknownTransform,
			ev.Transform, ev.Version, ev.JobID, j.Transform.Name, j.Transform.Version)
	}
	kind, err := Which(j, r.Registry)
	switch {
	case err != nil:
		return nil, err
	case kind == KindCEL:
		return transform.FromCEL(j.Transform.Name, j.Transform.Version, j.Facts), nil
	case kind == KindStock && r.Stock != nil:
		t, err := r.Stock(j)
		if err != nil {
			return nil, fmt.Errorf("%w: job %s: %w", ErrUnknownTransform, ev.JobID, err)
		}
		if t != nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %v, and this processor builds no stock transforms", ErrUnknownTransform, regErr)
}
