package sstable

import (
	"fmt"
	"testing"
)

// A transient merge builds each row in reused memory: every row, read
// before the next is merged, must be what a merge that keeps its rows
// gives, with several multi-cell columns per row and versions from two
// tables.
func TestTransientMergeReusesRowMemory(t *testing.T) {
	mapType, err := ParseType(valLong("MapType(UTF8Type,UTF8Type)"))
	if err != nil {
		t.Fatal(err)
	}
	intType, err := ParseType(valLong("Int32Type"))
	if err != nil {
		t.Fatal(err)
	}
	cols := []Column{{Name: "a", Type: mapType}, {Name: "b", Type: mapType}, {Name: "n", Type: intType}}
	version := func(table int) Partition {
		p := Partition{Key: []byte("k")}
		for r := range 5 {
			row := &Row{Clustering: [][]byte{{0, 0, 0, byte(r)}}} // simple columns first, as stored
			row.Columns = append(row.Columns, ColumnData{Column: cols[2], Cells: []Cell{{Timestamp: 1, Value: []byte{0, 0, 0, byte(r)}}}})
			for c, col := range cols[:2] {
				cd := ColumnData{Column: col}
				for e := range 2 + r%2 {
					cd.Cells = append(cd.Cells, Cell{Timestamp: int64(10 + table), Path: fmt.Appendf(nil, "%c%d", 'p'+c, e),
						Value: fmt.Appendf(nil, "t%d-r%d-c%d-e%d", table, r, c, e)})
				}
				row.Columns = append(row.Columns, cd)
			}
			p.Unfiltereds = append(p.Unfiltereds, Unfiltered{Row: row})
		}
		return p
	}
	for _, tables := range [][]Partition{{version(1)}, {version(1), version(2)}} {
		var got, want []string
		for _, scratch := range []*rowScratch{nil, {}} {
			ins := make([]unfiltereds, len(tables))
			for i := range tables {
				ins[i] = &sliceUnfiltereds{us: tables[i].Unfiltereds}
			}
			opts := MergeOptions{Now: 1, transient: scratch != nil}
			pr := newPartitionRows([]*Type{intType}, opts, tables, ins, scratch)
			var rows []string
			for {
				r, ok, err := pr.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				var line []byte
				for _, c := range r.Columns {
					v, err := c.decode()
					if err != nil {
						t.Fatal(err)
					}
					line = fmt.Appendf(line, "%s=%s ", c.Column.Name, JSON(v))
				}
				rows = append(rows, string(line))
			}
			if scratch == nil {
				want = rows
			} else {
				got = rows
			}
		}
		var exact []string // the newest table's cells win
		for r := range 5 {
			line := fmt.Sprintf("n=%d ", r)
			for c, name := range []string{"a", "b"} {
				var m Map
				for e := range 2 + r%2 {
					m = append(m, MapEntry{fmt.Sprintf("%c%d", 'p'+c, e), fmt.Sprintf("t%d-r%d-c%d-e%d", len(tables), r, c, e)})
				}
				line += fmt.Sprintf("%s=%s ", name, JSON(m))
			}
			exact = append(exact, line)
		}
		if fmt.Sprint(want) != fmt.Sprint(exact) {
			t.Errorf("%d tables: merge gave\n%q\nwant\n%q", len(tables), want, exact)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%d tables: transient merge gave\n%q\nwant\n%q", len(tables), got, want)
		}
	}
}
