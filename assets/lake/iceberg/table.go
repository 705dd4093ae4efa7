package iceberg

import (
	"context"
	"errors"
	"fmt"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// openTable loads the table named name, or creates it (and its namespace)
// with schema sc partitioned by partitionBy. An existing table must have
// the shape of sc and, when partitionBy is given, that partitioning.
func openTable(ctx context.Context, cat catalog.Catalog, name string, sc *ice.Schema, partitionBy string) (*table.Table, error) {
	ident, err := ParseIdent(name)
	if err != nil {
		return nil, err
	}
	spec, err := ParsePartitionSpec(partitionBy, sc)
	if err != nil {
		return nil, fmt.Errorf("iceberg: %w", err)
	}
	tbl, err := cat.LoadTable(ctx, ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		ns := catalog.NamespaceFromIdent(ident)
		if err := cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return nil, fmt.Errorf("iceberg: create namespace of %s: %w", name, err)
		}
		tbl, err = cat.CreateTable(ctx, ident, sc, catalog.WithPartitionSpec(spec))
		if err != nil {
			return nil, fmt.Errorf("iceberg: create %s: %w", name, err)
		}
		return tbl, nil
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg: load %s: %w", name, err)
	}
	got, want := tbl.Schema().AsStruct(), sc.AsStruct()
	if err := sameShape(&got, &want, ""); err != nil {
		return nil, fmt.Errorf("iceberg: table %s does not fit the rows to append: %w", name, err)
	}
	if partitionBy != "" {
		if got, want := specTerms(tbl.Spec(), tbl.Schema()), specTerms(*spec, sc); got != want {
			return nil, fmt.Errorf("iceberg: table %s is partitioned by [%s], not [%s]", name, got, want)
		}
	}
	return tbl, nil
}

// sameShape checks that two types have the same fields, names and types,
// whatever their field ids.
func sameShape(got, want ice.Type, path string) error {
	switch w := want.(type) {
	case *ice.StructType:
		g, ok := got.(*ice.StructType)
		if !ok || len(g.FieldList) != len(w.FieldList) {
			return fmt.Errorf("%s: the table has %s, the rows %s", orRow(path), got, want)
		}
		for i, f := range w.FieldList {
			if g.FieldList[i].Name != f.Name {
				return fmt.Errorf("%s: column %d is %s in the table, %s in the rows", orRow(path), i+1, g.FieldList[i].Name, f.Name)
			}
			if err := sameShape(g.FieldList[i].Type, f.Type, path+"."+f.Name); err != nil {
				return err
			}
		}
		return nil
	case *ice.ListType:
		if g, ok := got.(*ice.ListType); ok {
			return sameShape(g.Element, w.Element, path+"[]")
		}
	case *ice.MapType:
		if g, ok := got.(*ice.MapType); ok {
			if err := sameShape(g.KeyType, w.KeyType, path+".key"); err != nil {
				return err
			}
			return sameShape(g.ValueType, w.ValueType, path+".value")
		}
	default:
		if got.Equals(want) {
			return nil
		}
	}
	return fmt.Errorf("%s: the table has %s, the rows %s", orRow(path), got, want)
}

func orRow(path string) string {
	if path == "" {
		return "row"
	}
	return path[1:]
}

// specTerms formats a partition spec as column transforms.
func specTerms(spec ice.PartitionSpec, sc *ice.Schema) string {
	s := ""
	for _, f := range spec.Fields() {
		if s != "" {
			s += ", "
		}
		col, _ := sc.FindColumnName(f.SourceID())
		s += f.Transform.String() + "(" + col + ")"
	}
	return s
}

// Load reads the current metadata of the table named name in catalog c,
// for a reader: the table scans its data files without the catalog.
func Load(ctx context.Context, c Catalog, name string) (*table.Table, error) {
	ident, err := ParseIdent(name)
	if err != nil {
		return nil, err
	}
	cat, err := c.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer Close(cat)
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, fmt.Errorf("iceberg: load %s: %w", name, err)
	}
	return tbl, nil
}
