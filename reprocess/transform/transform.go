// Package transform is what a processor applies to an asset: a named,
// integer-versioned function from an asset to the cells it owns. A shipped
// version is frozen; changing behaviour means adding version+1.
//
// Transforms come from three places: Go code registered by (name,
// version) in a Registry (see reprocess/transform/orientation for a
// family), a job spec's CEL facts (FromCEL), and the stock transforms
// (reindex, export, delete, service_facts, reverse_index, workflow in
// reprocess/transform/stock).
package transform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/expr"
)

// Transform turns an asset into the cells it owns.
type Transform interface {
	Name() string
	Version() int // frozen once shipped; change behaviour by adding v+1
	Apply(ctx context.Context, a assets.Asset) (Result, error)
}

// Result is what applying a transform writes. The processor records
// transforms[Name] = Version with the facts in the same write.
type Result struct {
	Facts  map[string]string // facts this transform owns
	Delete bool              // delete the asset instead of writing
}

// ReadsProduction is implemented by transforms whose result depends on
// fields production may change concurrently (metadata). Their write is
// guarded by the asset's version and re-applied on conflict.
type ReadsProduction interface {
	ReadsProduction() bool
}

// Inputs is implemented by transforms that read production and know
// which metadata keys they read; known false means all of it.
type Inputs interface {
	MetadataKeys() (keys []string, known bool)
}

// Finisher is implemented by transforms with a step to take once their
// job has succeeded, every asset handled (a reindex into a new index
// switches an alias to it). It is never taken for a job that failed or
// was cancelled. It may be taken more than once (a job run again, two
// processes ending one job): Finish must be idempotent.
type Finisher interface {
	Finish(ctx context.Context) error
}

// Tracked reports whether the processor guards t's writes and records
// what its facts were derived from: t reads production.
func Tracked(t Transform) bool {
	rp, ok := t.(ReadsProduction)
	return ok && rp.ReadsProduction()
}

// SourceKey is the reserved fact where a tracked transform's write records
// the digest of the metadata it read: "<name>.src".
func SourceKey(name string) string { return name + ".src" }

// InputDigest is the digest of the metadata t reads (its Inputs, else all
// of it): a missing key and an empty value differ.
func InputDigest(t Transform, metadata map[string]string) string {
	keys, known := []string(nil), false
	if in, ok := t.(Inputs); ok {
		keys, known = in.MetadataKeys()
	}
	if !known {
		keys = slices.Collect(maps.Keys(metadata)) // sorted once, below
	}
	h := sha256.New()
	for _, k := range slices.Sorted(slices.Values(keys)) {
		v, ok := metadata[k]
		fmt.Fprintf(h, "%d:%s=%t:%d:%s;", len(k), k, ok, len(v), v)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// ErrPermanent marks an error no retry can fix (bad input data); the
// event goes to the dead-letter topic at once.
var ErrPermanent = errors.New("permanent transform error")

// Permanent wraps err as permanent.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Registry holds Go transforms by name and version; safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]map[int]Transform
}

// NewRegistry returns a registry holding ts.
func NewRegistry(ts ...Transform) *Registry {
	r := &Registry{m: map[string]map[int]Transform{}}
	for _, t := range ts {
		r.MustRegister(t)
	}
	return r
}

// MustRegister adds t; registering one (name, version) twice is a
// programming error and panics.
func (r *Registry) MustRegister(t Transform) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[t.Name()] == nil {
		r.m[t.Name()] = map[int]Transform{}
	}
	if _, dup := r.m[t.Name()][t.Version()]; dup {
		panic(fmt.Sprintf("transform %s v%d registered twice", t.Name(), t.Version()))
	}
	r.m[t.Name()][t.Version()] = t
}

// Lookup returns the transform (name, version) or an error listing what
// is registered.
func (r *Registry) Lookup(name string, version int) (Transform, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if t, ok := r.m[name][version]; ok {
		return t, nil
	}
	if vs := r.m[name]; len(vs) > 0 {
		return nil, fmt.Errorf("transform %s has no version %d (registered: %v)", name, version, slices.Sorted(maps.Keys(vs)))
	}
	return nil, fmt.Errorf("no transform %s (registered: %v)", name, r.names())
}

func (r *Registry) names() []string {
	return slices.Sorted(maps.Keys(r.m))
}

// cel is a declarative transform: facts computed by CEL expressions.
type cel struct {
	name    string
	version int
	facts   *expr.Facts
}

// FromCEL makes a transform of compiled fact expressions.
func FromCEL(name string, version int, facts *expr.Facts) Transform {
	return &cel{name: name, version: version, facts: facts}
}

func (c *cel) Name() string          { return c.name }
func (c *cel) Version() int          { return c.version }
func (c *cel) ReadsProduction() bool { return true } // expressions read metadata

// MetadataKeys implements Inputs: the keys the expressions name.
func (c *cel) MetadataKeys() ([]string, bool) { return c.facts.MetadataKeys() }

func (c *cel) Apply(_ context.Context, a assets.Asset) (Result, error) {
	f, err := c.facts.Eval(a)
	if err != nil {
		// The same asset will fail the same way: no retry helps.
		return Result{}, Permanent(err)
	}
	return Result{Facts: f}, nil
}
