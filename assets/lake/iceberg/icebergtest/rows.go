// Package icebergtest reads Iceberg tables back in tests, with iceberg-go.
package icebergtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"

	"github.com/reprocess/reprocess/assets/lake/iceberg"
)

// Table loads the named table of c.
func Table(t testing.TB, c iceberg.Catalog, name string) *table.Table {
	t.Helper()
	tbl, err := iceberg.Load(context.Background(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// Rows reads every row of the named table of c as the JSON object Arrow
// makes of it, numbers kept exact as json.Number. A table without a
// snapshot has none.
func Rows(t testing.TB, c iceberg.Catalog, name string) []map[string]any {
	t.Helper()
	tbl := Table(t, c, name)
	if tbl.CurrentSnapshot() == nil {
		return nil
	}
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	rdr := array.NewTableReader(at, 1024)
	defer rdr.Release()
	var rows []map[string]any
	for rdr.Next() {
		var buf bytes.Buffer
		if err := array.RecordToJSON(rdr.RecordBatch(), &buf); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(&buf)
		dec.UseNumber()
		for dec.More() {
			var r map[string]any
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
	}
	if err := rdr.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// Lines reads every row of the named table of c as a line of JSON, the
// columns omit left out, sorted.
func Lines(t testing.TB, c iceberg.Catalog, name string, omit ...string) []string {
	t.Helper()
	var lines []string
	for _, r := range Rows(t, c, name) {
		for _, col := range omit {
			delete(r, col)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	slices.Sort(lines)
	return lines
}

// Count counts the rows of each value of the column of the named table of
// c, values as their JSON text.
func Count(t testing.TB, c iceberg.Catalog, name, column string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range Rows(t, c, name) {
		n[fmt.Sprint(r[column])]++
	}
	return n
}
