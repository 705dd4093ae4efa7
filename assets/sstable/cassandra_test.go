package sstable_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
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

// TestCompactedUncompressedTable compacts an uncompressed table (with
// gc_grace_seconds = 0, so deleted and expired rows are purged) into one
// SSTable and reads its snapshot: compaction leaves one more checksum in
// CRC.db than Data.db has chunks (that of an empty flush), and the table
// reads exactly what SELECT JSON * returns, its digest verified.
func TestCompactedUncompressedTable(t *testing.T) {
	ks := sstabletest.Keyspace(t, "sstable_compacted")
	tbl := ks + ".t"
	sstabletest.Exec(t, "CREATE TABLE "+tbl+" (k int, c int, v text, PRIMARY KEY (k, c))"+
		" WITH compression = {'enabled': 'false'} AND gc_grace_seconds = 0"+
		" AND compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	var first, second []string
	for k := range 40 {
		for c := range 25 {
			first = append(first, fmt.Sprintf("INSERT INTO %s (k, c, v) VALUES (%d, %d, '%s')", tbl, k, c, strings.Repeat(fmt.Sprint(k*c%10), 200+k+c)))
		}
	}
	second = append(second,
		"DELETE FROM "+tbl+" WHERE k = 3",
		"DELETE FROM "+tbl+" WHERE k = 4 AND c = 7",
		"DELETE FROM "+tbl+" WHERE k = 5 AND c > 10",
		"UPDATE "+tbl+" SET v = 'new' WHERE k = 6 AND c = 1",
		"INSERT INTO "+tbl+" (k, c, v) VALUES (7, 100, 'gone') USING TTL 1",
		"INSERT INTO "+tbl+" (k, c, v) VALUES (100, 0, 'gone') USING TTL 1")
	for _, batch := range [][]string{first, second} {
		sstabletest.Exec(t, batch...)
		sstabletest.Flush(t, ks, "t")
	}
	time.Sleep(2 * time.Second) // the TTLs pass, so compaction drops those rows
	sstabletest.Nodetool(t, "compact", ks, "t")
	dir := sstabletest.Snapshot(t, ks, "t", nil)

	datas, _ := filepath.Glob(filepath.Join(dir, "*-Data.db"))
	if len(datas) != 1 {
		t.Fatalf("%d SSTables after a major compaction, want 1: %v", len(datas), datas)
	}
	prefix := strings.TrimSuffix(datas[0], "Data.db")
	crc, err := os.ReadFile(prefix + "CRC.db")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(datas[0])
	if err != nil {
		t.Fatal(err)
	}
	chunk := int64(binary.BigEndian.Uint32(crc))
	sums := int64(len(crc)/4 - 1)
	if chunks := (st.Size() + chunk - 1) / chunk; chunks < 2 || sums != chunks+1 || binary.BigEndian.Uint32(crc[len(crc)-4:]) != 0 {
		t.Fatalf("CRC.db holds %d checksums for %d chunks of %d bytes (the last %#x); this test wants several chunks and the 0 of an empty flush after them", sums, chunks, chunk, crc[len(crc)-4:])
	}

	snap, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := snap.Verify(context.Background(), &out, false); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	var got []string
	err = snap.Rows(context.Background(), sstable.ReadOptions{Parallel: 3}, func(r sstable.CQLRow) error {
		b, err := json.Marshal(r)
		got = append(got, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sstabletest.SelectJSON(t, ks, "t")
	if len(want) != 1000-25-1-14 { // a partition, a row and a range deleted
		t.Errorf("SELECT returned %d rows; the workload leaves 960", len(want))
	}
	compareRows(t, got, want)
}
