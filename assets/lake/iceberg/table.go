package iceberg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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
		tbl, err = cat.CreateTable(ctx, ident, sc, catalog.WithPartitionSpec(spec), catalog.WithProperties(newTableProps))
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

// newTableProps are the properties of a table an export creates: pages
// compressed at zstd's level 1, the quickest, as the Parquet export
// compresses them. iceberg-go's default, level 3, takes more CPU and
// about 50 MiB more memory for files about 3% smaller.
var newTableProps = ice.Properties{"write.parquet.compression-level": "1"}

// evolve stages in txn the schema changes that make the table's columns
// those of sc, the schema of a snapshot to write, as Cassandra changed
// them since the table's last export (dropped: the snapshot's dropped
// columns, each with its last drop time in µs; recorded in the commit as
// DroppedProperty):
//   - a column Cassandra dropped, which the snapshot lacks, is deleted;
//   - a column the snapshot has and the table lacks is added, with a new
//     field id;
//   - a column dropped and added again since the last export (its drop
//     time newer than the one that export recorded) is deleted and added
//     anew, so its values from before the drop, which Cassandra no longer
//     shows, are gone.
//
// Refused, saying what to do: a type change (Iceberg cannot turn one
// Cassandra type into another); a column the snapshot lacks that
// Cassandra did not drop (a snapshot of another table?); a change to a
// column the table is partitioned by; and a dropped-and-re-added column
// in a table whose last export recorded no drop times. It returns the
// table as the commit will leave it and, for each of its columns, the
// index of the column of sc it holds.
func evolve(txn *table.Transaction, tbl *table.Table, sc *ice.Schema, dropped map[string]int64) (*table.Table, []int, error) {
	have := tbl.Schema()
	recorded, ok := lastDropped(tbl)
	refuse := func(format string, a ...any) (*table.Table, []int, error) {
		return nil, nil, fmt.Errorf("iceberg: table %s: "+format, append([]any{tbl.Identifier()}, a...)...)
	}
	var gone, renew, add []ice.NestedField
	for _, f := range have.Fields() {
		w, inSnapshot := sc.FindFieldByName(f.Name)
		drop := dropped[f.Name]
		switch {
		case !inSnapshot && drop == 0:
			return refuse("the snapshot has no column %s, which Cassandra did not drop: is it a snapshot of another table? Export it to a new table", f.Name)
		case !inSnapshot:
			gone = append(gone, f)
		case drop > recorded[f.Name] && !ok:
			return refuse("column %s was dropped and added again in Cassandra, and the table's last export recorded no drop times (%s): which of its values predate the drop cannot be told; %s", f.Name, DroppedProperty, replaceHint)
		case drop > recorded[f.Name]:
			renew = append(renew, w)
		default:
			if err := sameShape(f.Type, w.Type, "."+f.Name); err != nil {
				return refuse("%w: Iceberg cannot turn a column's type into another; export to a new table", err)
			}
		}
	}
	for _, f := range append(gone, renew...) {
		if partitionSource(tbl, f.Name) {
			return refuse("column %s, which the table is partitioned by, was dropped in Cassandra; export to a new table", f.Name)
		}
	}
	for _, f := range sc.Fields() {
		if _, ok := have.FindFieldByName(f.Name); !ok {
			add = append(add, f)
		}
	}
	if len(gone)+len(renew)+len(add) > 0 {
		// One schema update: each one asserts the schema it started from,
		// and the catalog checks every assertion against the table as it
		// is. Deletes come first, so a renewed column is added anew.
		up := txn.UpdateSchema(true, false)
		for _, f := range append(gone, renew...) {
			up.DeleteColumn([]string{f.Name})
		}
		for _, f := range append(renew, add...) {
			up.AddColumn([]string{f.Name}, f.Type, "", false, nil)
		}
		if err := up.Commit(); err != nil {
			return refuse("evolve the schema: %w", err)
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

// lastDropped is the drop times of dropped columns the table's last export
// recorded (DroppedProperty), and whether it recorded them (a distributed
// export does not); a table without a snapshot has them all.
func lastDropped(tbl *table.Table) (map[string]int64, bool) {
	if tbl.CurrentSnapshot() == nil {
		return map[string]int64{}, true
	}
	for snap := tbl.CurrentSnapshot(); snap != nil; snap = parent(tbl, snap) {
		if snap.Summary == nil || snap.Summary.Properties[SourceProperty] == "" {
			continue // not an export
		}
		var m map[string]int64
		if json.Unmarshal([]byte(snap.Summary.Properties[DroppedProperty]), &m) != nil {
			return nil, false
		}
		return m, true
	}
	return nil, false
}

// partitionSource reports whether a partition spec of the table, current
// or past, is on the column.
func partitionSource(tbl *table.Table, column string) bool {
	f, ok := tbl.Schema().FindFieldByName(column)
	if !ok {
		return false
	}
	for _, spec := range tbl.Metadata().PartitionSpecs() {
		for _, pf := range spec.Fields() {
			if pf.SourceID() == f.ID {
				return true
			}
		}
	}
	return false
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
