// Package expr compiles the CEL expressions of a job spec: a filter that
// selects assets, and fact expressions that a declarative transform writes.
// Expressions see one variable, asset:
//
//	asset.id          string     the timeuuid
//	asset.type        string
//	asset.created_at  timestamp
//	asset.metadata    map(string, string)   production's fields
//	asset.facts       map(string, string)   derived facts
//	asset.transforms  map(string, int)      transform name -> version applied
//	asset.version     int
//
// Metadata values are strings: compare numbers with int() or double(), e.g.
// int(asset.metadata.height) >= 2160; read a key that may be missing with
// "key" in asset.metadata, or asset.metadata[?"key"].orValue(""). Everything is parsed, type-checked
// and cost-estimated at compile time, so a bad expression stops a job
// before it starts; evaluation is cost-limited as well.
package expr

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"

	"github.com/reprocess/reprocess/assets"
)

// DefaultCostLimit bounds one evaluation; it admits any expression over
// scalar fields and rejects comprehensions over whole maps of long strings.
const DefaultCostLimit = 100_000

// Size hints for cost estimation: the largest maps and strings an asset is
// expected to carry.
const (
	maxEntries     = 256
	maxStringBytes = 1024
)

// Asset is the CEL view of an asset.
type Asset struct {
	ID         string            `cel:"id"`
	Type       string            `cel:"type"`
	CreatedAt  time.Time         `cel:"created_at"`
	Metadata   map[string]string `cel:"metadata"`
	Facts      map[string]string `cel:"facts"`
	Transforms map[string]int64  `cel:"transforms"`
	Version    int64             `cel:"version"`
}

func view(a assets.Asset) map[string]any {
	tr := make(map[string]int64, len(a.Transforms))
	for k, v := range a.Transforms {
		tr[k] = int64(v)
	}
	return map[string]any{"asset": Asset{
		ID: a.ID.String(), Type: a.Type, CreatedAt: a.CreatedAt, Metadata: orEmpty(a.Metadata),
		Facts: orEmpty(a.Facts), Transforms: tr, Version: a.Version,
	}}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		ext.NativeTypes(ext.ParseStructTags(true), reflect.TypeFor[Asset]()),
		cel.Variable("asset", cel.ObjectType("expr.Asset")),
		ext.Strings(),
		cel.OptionalTypes(),
	)
	if err != nil {
		panic(fmt.Sprintf("expr: CEL environment: %v", err))
	}
	return e
}()

// program is one compiled expression.
type program struct {
	src    string
	prg    cel.Program
	inputs inputs
}

func compile(src string, costLimit uint64, want ...*cel.Type) (program, error) {
	if strings.TrimSpace(src) == "" {
		return program{}, errors.New("empty expression")
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return program{}, iss.Err()
	}
	if !slices.ContainsFunc(want, func(t *cel.Type) bool { return ast.OutputType().IsExactType(t) }) {
		names := make([]string, len(want))
		for i, t := range want {
			names[i] = t.String()
		}
		return program{}, fmt.Errorf("result is %s, want %s", ast.OutputType(), strings.Join(names, " or "))
	}
	est, err := env.EstimateCost(ast, sizes{})
	if err != nil {
		return program{}, fmt.Errorf("estimate cost: %w", err)
	}
	if est.Max > costLimit {
		return program{}, fmt.Errorf("estimated cost up to %d exceeds the cost limit %d (maps hold up to %d entries, strings %d bytes)",
			est.Max, costLimit, maxEntries, maxStringBytes)
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return program{}, err
	}
	return program{src: src, prg: prg, inputs: metadataInputs(ast.NativeRep().Expr())}, nil
}

func (p program) eval(a assets.Asset) (ref.Val, error) {
	out, _, err := p.prg.Eval(view(a))
	if err != nil {
		return nil, fmt.Errorf("evaluate %q on asset %s: %w", p.src, a.ID, err)
	}
	return out, nil
}

// Filter selects assets.
type Filter struct{ p program }

// CompileFilter compiles a boolean expression.
func CompileFilter(src string, costLimit uint64) (*Filter, error) {
	p, err := compile(src, costLimit, cel.BoolType)
	if err != nil {
		return nil, err
	}
	return &Filter{p}, nil
}

// Match reports whether a passes the filter. An evaluation error (a
// missing metadata key, a bad int() conversion) is returned, not hidden.
func (f *Filter) Match(a assets.Asset) (bool, error) {
	out, err := f.p.eval(a)
	if err != nil {
		return false, err
	}
	return out == types.True, nil
}

// Facts computes facts: name to expression.
type Facts struct {
	names []string
	progs []program
}

// CompileFacts compiles every expression; each must give a string, int,
// double or bool, which is stored as text. Errors name the fact.
func CompileFacts(exprs map[string]string, costLimit uint64) (*Facts, error) {
	f := &Facts{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(exprs)) {
		p, err := compile(exprs[name], costLimit, cel.StringType, cel.IntType, cel.DoubleType, cel.BoolType)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		f.names = append(f.names, name)
		f.progs = append(f.progs, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// Eval returns the facts for a.
func (f *Facts) Eval(a assets.Asset) (map[string]string, error) {
	out := make(map[string]string, len(f.names))
	for i, name := range f.names {
		v, err := f.progs[i].eval(a)
		if err != nil {
			return nil, fmt.Errorf("fact %s: %w", name, err)
		}
		out[name] = fmt.Sprint(v.Value())
	}
	return out, nil
}

// MetadataKeys is the asset.metadata keys the expressions read, sorted;
// known is false when an expression may read any of them.
func (f *Facts) MetadataKeys() (keys []string, known bool) {
	all := map[string]bool{}
	for _, p := range f.progs {
		if p.inputs.all {
			return nil, false
		}
		maps.Copy(all, p.inputs.keys)
	}
	return slices.Sorted(maps.Keys(all)), true
}

// sizes gives the cost estimator upper bounds for maps and strings.
type sizes struct{}

func (sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	switch n.Type().Kind() {
	case types.MapKind, types.ListKind:
		return &cost.SizeEstimate{Min: 0, Max: maxEntries}
	case types.StringKind, types.BytesKind:
		return &cost.SizeEstimate{Min: 0, Max: maxStringBytes}
	}
	return nil
}

func (sizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}
