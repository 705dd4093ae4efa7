package sstable_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// TestSnapshotEqualsTheLiveTable writes every CQL type, update, deletion
// and TTL to the real Cassandra over several flushes, once per
// compressor, snapshots the table, and checks that the merged SSTables
// read exactly what SELECT JSON * returns, row by row and in order.
func TestSnapshotEqualsTheLiveTable(t *testing.T) {
	ks := sstabletest.Keyspace(t, "sstable_live")
	for _, c := range append([]string{""}, sstabletest.Compressors...) {
		name := "default"
		if c != "" {
			name = strings.ToLower(strings.TrimSuffix(c, "Compressor"))
		}
		t.Run(name, func(t *testing.T) {
			var create []string
			var batches [][]string
			if c == "" {
				create, batches = sstabletest.TypesWorkload(ks, name)
			} else {
				create, batches = sstabletest.CompressedWorkload(ks, name, c)
			}
			sstabletest.Exec(t, create...)
			dir := sstabletest.Snapshot(t, ks, name, batches)
			want := sstabletest.SelectJSON(t, ks, name)
			asOf := time.Now()

			snap, err := sstable.OpenSnapshot(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Tables) < 3 {
				t.Fatalf("%d SSTables, want the writes spread over several", len(snap.Tables))
			}
			for _, parallel := range []int{1, 3} {
				var got []string
				err = snap.Rows(context.Background(), sstable.ReadOptions{AsOf: asOf, Parallel: parallel}, func(r sstable.CQLRow) error {
					b, err := json.Marshal(r)
					got = append(got, string(b))
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				compareRows(t, got, want)
			}
			t.Logf("%d rows from %d SSTables (%s) equal SELECT JSON *", len(want), len(snap.Tables), snap.Tables[0].Version)
		})
	}
}

// compareRows compares JSON rows, numbers by value (Cassandra writes
// 1.0E10 where Go writes 1e+10).
func compareRows(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := decodeJSON(t, got[i]), decodeJSON(t, want[i])
		if !reflect.DeepEqual(g, w) {
			t.Errorf("row %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return normalize(v)
}

// normalize turns numbers into exact rationals so equal values compare equal.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			return string(x)
		}
		return r.RatString()
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

// TestDroppedThenReAddedColumn drops a column, adds it back and writes it
// again: the snapshot shows the new cells, never the ones from before the
// drop, as SELECT JSON * does.
func TestDroppedThenReAddedColumn(t *testing.T) {
	ks := sstabletest.Keyspace(t, "sstable_readd")
	sstabletest.Exec(t, "CREATE TABLE "+ks+".t (k int PRIMARY KEY, a int, b int) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	dir := sstabletest.Snapshot(t, ks, "t", [][]string{
		{"INSERT INTO " + ks + ".t (k, a, b) VALUES (1, 10, 100)", "INSERT INTO " + ks + ".t (k, a, b) VALUES (2, 20, 200)"},
		{"ALTER TABLE " + ks + ".t DROP b", "ALTER TABLE " + ks + ".t ADD b int", "UPDATE " + ks + ".t SET b = 111 WHERE k = 1"},
	})
	want := sstabletest.SelectJSON(t, ks, "t")
	snap, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = snap.Rows(context.Background(), sstable.ReadOptions{}, func(r sstable.CQLRow) error {
		b, err := json.Marshal(r)
		got = append(got, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	compareRows(t, got, want)
	if cql, err := os.ReadFile(filepath.Join(dir, "schema.cql")); err == nil && t.Failed() {
		t.Logf("schema.cql:\n%s", cql)
	}
}
