package expr

import (
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// inputs is what a checked expression reads of asset.metadata: the keys
// it names, or all of it (all) when it uses the map any other way (its
// size, a comprehension, a computed key) or passes asset around whole.
type inputs struct {
	keys map[string]bool
	all  bool
}

// metadataInputs walks e. Each use of asset must be a field selection,
// and each asset.metadata must be read with a literal key: a field
// (asset.metadata.k, has(...)), an index (["k"], [?"k"]) or a membership
// test ("k" in ...). Anything else reads all of it.
func metadataInputs(e ast.Expr) inputs {
	in := inputs{keys: map[string]bool{}}
	selected := map[int64]bool{} // ids of asset idents under a select
	metadata := map[int64]bool{} // ids of asset.metadata nodes
	keyed := map[int64]bool{}    // ids of asset.metadata nodes read by key
	var idents []int64
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		switch x.Kind() {
		case ast.IdentKind:
			if x.AsIdent() == "asset" {
				idents = append(idents, x.ID())
			}
		case ast.SelectKind:
			s := x.AsSelect()
			op := s.Operand()
			if isAsset(op) {
				selected[op.ID()] = true
				if s.FieldName() == "metadata" && !s.IsTestOnly() {
					metadata[x.ID()] = true
				}
			}
			if metadata[op.ID()] {
				keyed[op.ID()], in.keys[s.FieldName()] = true, true
			}
		case ast.CallKind:
			in.call(x.AsCall(), metadata, keyed)
		}
	}))
	for _, id := range idents {
		in.all = in.all || !selected[id]
	}
	for id := range metadata {
		in.all = in.all || !keyed[id]
	}
	return in
}

// call notes the key of an index or membership test on asset.metadata.
func (in inputs) call(c ast.CallExpr, metadata, keyed map[int64]bool) {
	args := c.Args()
	if len(args) != 2 {
		return
	}
	m, k := args[0], args[1]
	switch c.FunctionName() {
	case operators.Index, operators.OptIndex:
	case operators.In:
		m, k = k, m
	default:
		return
	}
	if !metadata[m.ID()] || k.Kind() != ast.LiteralKind {
		return
	}
	if s, ok := k.AsLiteral().(types.String); ok {
		keyed[m.ID()], in.keys[string(s)] = true, true
	}
}

func isAsset(e ast.Expr) bool { return e.Kind() == ast.IdentKind && e.AsIdent() == "asset" }
