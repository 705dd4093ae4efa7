package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// openTable loads the table named name, or creates it (and its namespace)
// with schema sc partitioned by partitionBy. An existing table must have,
// when partitionBy is given, that partitioning; its schema is evolved by
// the commit that writes to it (evolve).
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
	if partitionBy != "" {
		if got, want := specTerms(tbl.Spec(), tbl.Schema()), specTerms(*spec, sc); got != want {
			return nil, fmt.Errorf("iceberg: table %s is partitioned by [%s], not [%s]", name, got, want)
		}
	}
	return tbl, nil
}

// evolve stages in txn the schema changes that make the table's columns
// those of sc, the schema of a snapshot to write, as Cassandra changed
// them since the table's last export: a column the snapshot lacks
// (dropped) is deleted; a column the snapshot has and the table lacks
// (added) is added, with a new field id; a column dropped and added again
// since the last export (dropped, its drop time in µs, after the export's
// as-of) is deleted and added anew, so that its values from before the
// drop, which Cassandra no longer shows, are gone. A column whose type
// changed is refused: Iceberg cannot change a type into another Cassandra
// writes. It returns the table as the commit will leave it and, for each
// of its columns, the index of the column of sc it holds.
func evolve(txn *table.Transaction, tbl *table.Table, sc *ice.Schema, dropped map[string]int64) (*table.Table, []int, error) {
	have := tbl.Schema()
	since := lastAsOf(tbl)
	var gone, readd, add []ice.NestedField
	for _, f := range have.Fields() {
		w, ok := sc.FindFieldByName(f.Name)
		drop := dropped[f.Name]
		switch {
		case !ok:
			gone = append(gone, f)
		case drop != 0 && (since.IsZero() || drop > since.UnixMicro()):
			readd = append(readd, w)
		default:
			if err := sameShape(f.Type, w.Type, "."+f.Name); err != nil {
				return nil, nil, fmt.Errorf("iceberg: table %s: %w: Iceberg cannot change the type of a column into another; export to a new table", tbl.Identifier(), err)
			}
		}
	}
	for _, f := range sc.Fields() {
		if _, ok := have.FindFieldByName(f.Name); !ok {
			add = append(add, f)
		}
	}
	if len(gone)+len(readd)+len(add) > 0 {
		del := txn.UpdateSchema(true, false)
		for _, f := range append(gone, readd...) {
			del.DeleteColumn([]string{f.Name})
		}
		if err := del.Commit(); err != nil {
			return nil, nil, fmt.Errorf("iceberg: evolve the schema of %s: %w", tbl.Identifier(), err)
		}
		up := txn.UpdateSchema(true, false)
		for _, f := range append(readd, add...) {
			up.AddColumn([]string{f.Name}, f.Type, "", false, nil)
		}
		if err := up.Commit(); err != nil {
			return nil, nil, fmt.Errorf("iceberg: evolve the schema of %s: %w", tbl.Identifier(), err)
		}
		staged, err := txn.StagedTable()
		if err != nil {
			return nil, nil, err
		}
		tbl = staged.Table
	}
	order := make([]int, len(tbl.Schema().Fields()))
	for i, f := range tbl.Schema().Fields() {
		order[i] = slices.IndexFunc(sc.Fields(), func(w ice.NestedField) bool { return w.Name == f.Name })
	}
	return tbl, order, nil
}

// lastAsOf is the time the table's last export read its snapshot as of
// (AsOfProperty), or zero when none recorded one.
func lastAsOf(tbl *table.Table) time.Time {
	for snap := tbl.CurrentSnapshot(); snap != nil; snap = parent(tbl, snap) {
		if snap.Summary == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, snap.Summary.Properties[AsOfProperty]); err == nil {
			return t
		}
	}
	return time.Time{}
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
