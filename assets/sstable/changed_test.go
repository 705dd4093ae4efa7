package sstable_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// keyedRow is a row with its partition; Row nil marks a partition with no
// live row.
type keyedRow struct {
	Key sstable.PartitionKey
	Row *sstable.CQLRow
}

// readKeyed reads the given partitions of s with their keys.
func readKeyed(t *testing.T, s *sstable.Snapshot, keys []sstable.PartitionKey, asOf time.Time) []keyedRow {
	t.Helper()
	var out []keyedRow
	err := s.ReadPartitions(keys, sstable.ReadOptions{AsOf: asOf}, func(k sstable.PartitionKey, r *sstable.CQLRow) error {
		out = append(out, keyedRow{k, r})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// incremental is what an incremental export computes: the older read's
// rows of the partitions not touched, and the touched ones re-merged, in
// partition order.
func incremental(old, changed []keyedRow, touched []sstable.PartitionKey) []string {
	var out []keyedRow
	for _, r := range old {
		if _, hit := slices.BinarySearchFunc(touched, r.Key, sstable.PartitionKey.Compare); !hit {
			out = append(out, r)
		}
	}
	out = append(out, changed...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key.Compare(out[j].Key) < 0 })
	var rows []string
	for _, r := range out {
		if r.Row != nil {
			b, _ := json.Marshal(r.Row)
			rows = append(rows, string(b))
		}
	}
	return rows
}

// allRows reads a whole snapshot as JSON rows.
func allRows(t *testing.T, s *sstable.Snapshot, asOf time.Time) []string {
	t.Helper()
	var rows []string
	err := s.Rows(context.Background(), sstable.ReadOptions{AsOf: asOf}, func(r sstable.CQLRow) error {
		b, err := json.Marshal(r)
		rows = append(rows, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// everyKey is every partition key of s (the change set since nothing).
func everyKey(t *testing.T, s *sstable.Snapshot) []sstable.PartitionKey {
	t.Helper()
	c, err := s.ChangedSince(sstable.Manifest{SSTables: []sstable.SSTableFile{}}, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Keys
}

// keyNames renders partition keys (int k, text g) as "k/g".
func keyNames(t *testing.T, s *sstable.Snapshot, keys []sstable.PartitionKey) []string {
	t.Helper()
	typ := s.Tables[0].Header.PartitionKey
	var out []string
	for _, k := range keys {
		comps, err := typ.Components(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		kv, _ := typ.Params[0].Decode(comps[0])
		gv, _ := typ.Params[1].Decode(comps[1])
		out = append(out, fmt.Sprintf("%v/%v", kv, gv))
	}
	sort.Strings(out)
	return out
}

// TestChangedSinceOnTheLiveTable snapshots a table (A), then updates,
// inserts, deletes a row, a partition and a clustering range, flushes and
// snapshots again (B): the change set from A's manifest is exactly the
// partitions written in between, and A's rows of the others plus the
// changed partitions re-merged across all of B's SSTables equal a full
// read of B and SELECT JSON *. A major compaction since A widens the
// change set to every partition and the result stays equal.
func TestChangedSinceOnTheLiveTable(t *testing.T) {
	ks := sstabletest.Keyspace(t, "sstable_changed")
	tbl := ks + ".t"
	sstabletest.Exec(t, "CREATE TABLE "+tbl+" (k int, g text, c int, v text, s int static, PRIMARY KEY ((k, g), c)) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}")
	var first, second []string
	for k := range 40 {
		for c := range 3 {
			stmt := fmt.Sprintf("INSERT INTO %s (k, g, c, v, s) VALUES (%d, 'g%d', %d, 'v%d.%d', %d)", tbl, k, k%3, c, k, c, k)
			if k < 20 {
				first = append(first, stmt)
			} else {
				second = append(second, stmt)
			}
		}
	}
	// A TTL in A's first SSTable, a deletion in its second (which nothing
	// since can change).
	first = append(first, "INSERT INTO "+tbl+" (k, g, c, v) VALUES (7, 'g1', 5, 'for an hour') USING TTL 3600")
	second = append(second, "DELETE FROM "+tbl+" WHERE k = 22 AND g = 'g1' AND c = 2")
	dirA := sstabletest.Snapshot(t, ks, "t", [][]string{first, second})
	asOfA := time.Now()
	between := [][]string{{
		"UPDATE " + tbl + " SET v = 'updated' WHERE k = 1 AND g = 'g1' AND c = 0",
		"INSERT INTO " + tbl + " (k, g, c, v) VALUES (100, 'new', 0, 'inserted')",
		"DELETE FROM " + tbl + " WHERE k = 2 AND g = 'g2' AND c = 1",
	}, {
		"DELETE FROM " + tbl + " WHERE k = 3 AND g = 'g0'",
		"DELETE FROM " + tbl + " WHERE k = 4 AND g = 'g1' AND c >= 1",
		"INSERT INTO " + tbl + " (k, g, c, v) VALUES (25, 'g1', 9, 'added')",
		"UPDATE " + tbl + " SET s = 555 WHERE k = 30 AND g = 'g0'",
	}}
	written := []string{"1/g1", "100/new", "2/g2", "25/g1", "3/g0", "30/g0", "4/g1"}
	dirB := sstabletest.Snapshot(t, ks, "t", between)
	want := sstabletest.SelectJSON(t, ks, "t")
	asOfB := time.Now()

	a, err := sstable.OpenSnapshot(dirA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sstable.OpenSnapshot(dirB)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m.AsOf = asOfA
	// Through a manifest file, as an export leaves it.
	path := filepath.Join(t.TempDir(), "a.sstables.json")
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	if m, err = sstable.ReadManifest(path); err != nil {
		t.Fatal(err)
	}
	c, err := b.ChangedSince(m, nil, asOfB)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.New) != len(between) || len(c.Gone) != 0 || len(c.Expiring) != 0 {
		t.Errorf("%d new, %d gone and %d expiring SSTables, want %d, 0 and 0", len(c.New), len(c.Gone), len(c.Expiring), len(between))
	}
	if got := keyNames(t, b, c.Keys); !slices.Equal(got, written) {
		t.Errorf("changed partitions %v, want the ones written between the snapshots %v", got, written)
	}
	changed := readKeyed(t, b, c.Keys, asOfB)
	var seen, deleted []sstable.PartitionKey
	for _, r := range changed {
		if len(seen) == 0 || seen[len(seen)-1].Compare(r.Key) != 0 {
			seen = append(seen, r.Key)
		}
		if r.Row == nil {
			deleted = append(deleted, r.Key)
		}
	}
	if got := keyNames(t, b, seen); !slices.Equal(got, written) {
		t.Errorf("re-merged partitions %v, want every changed one %v", got, written)
	}
	if got := keyNames(t, b, deleted); !slices.Equal(got, []string{"3/g0"}) {
		t.Errorf("partitions with no live row %v, want the deleted partition 3/g0 alone", got)
	}
	older := readKeyed(t, a, everyKey(t, a), asOfA)
	got := incremental(older, changed, c.Keys)
	compareRows(t, got, allRows(t, b, asOfB))
	compareRows(t, got, want)

	// Read two hours later, the row with a TTL has expired, though no
	// SSTable is new: its SSTable is touched.
	t.Run("expired since", func(t *testing.T) {
		late := asOfB.Add(2 * time.Hour)
		c, err := b.ChangedSince(m, nil, late)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Expiring) != 1 || !slices.Contains(keyNames(t, b, c.Keys), "7/g1") {
			t.Errorf("%d expiring SSTables, partitions %v; want the one with partition 7/g1's TTL", len(c.Expiring), keyNames(t, b, c.Keys))
		}
		compareRows(t, incremental(older, readKeyed(t, b, c.Keys, late), c.Keys), allRows(t, b, late))
	})

	t.Run("compacted", func(t *testing.T) {
		sstabletest.Nodetool(t, "compact", ks, "t")
		dirC := sstabletest.Snapshot(t, ks, "t", nil)
		s, err := sstable.OpenSnapshot(dirC)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.ChangedSince(m, nil, asOfB)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.New) != len(s.Tables) || len(c.Gone) != len(m.SSTables) || len(c.Keys) != len(everyKey(t, s)) {
			t.Errorf("after a major compaction: %d new of %d SSTables, %d gone of %d, %d keys; want every SSTable new, every old one gone and every key",
				len(c.New), len(s.Tables), len(c.Gone), len(m.SSTables), len(c.Keys))
		}
		compareRows(t, incremental(older, readKeyed(t, s, c.Keys, asOfB), c.Keys), want)
	})

	t.Run("same name, new content", func(t *testing.T) {
		sameNameNewContent(t, a, b, c, asOfA, asOfB)
	})
}

// sameNameNewContent builds a snapshot B' from B in which B's first new
// SSTable takes the name (generation) of A's first SSTable, which B' no
// longer has, as generations repeat in a re-created table: the SSTable
// is new by content, the one it replaced is gone and its partitions are
// touched, and the incremental result still equals a full read of B'.
func sameNameNewContent(t *testing.T, a, b *sstable.Snapshot, c *sstable.Changes, asOfA, asOfB time.Time) {
	t.Helper()
	dir := t.TempDir()
	oldPrefix, newPrefix := a.Tables[0].Prefix, c.New[0].Prefix
	for _, tb := range b.Tables {
		if tb.Prefix == oldPrefix {
			continue
		}
		for _, comp := range tb.TOC {
			name := tb.Prefix + "-" + comp
			to := name
			if tb.Prefix == newPrefix {
				to = oldPrefix + "-" + comp
			}
			raw, err := os.ReadFile(filepath.Join(tb.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, to), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cql, err := os.ReadFile(filepath.Join(b.Dirs[0], "schema.cql"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schema.cql"), cql, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m.AsOf = asOfA
	changes, err := s.ChangedSince(m, a, asOfB)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(changes.New, func(tb *sstable.Table) bool { return tb.Prefix == oldPrefix }) {
		var names []string
		for _, tb := range changes.New {
			names = append(names, tb.Prefix)
		}
		t.Errorf("new SSTables %s: %s, which has a name the older snapshot had but other content, is missing", strings.Join(names, ", "), oldPrefix)
	}
	got := incremental(readKeyed(t, a, everyKey(t, a), asOfA), readKeyed(t, s, changes.Keys, asOfB), changes.Keys)
	compareRows(t, got, allRows(t, s, asOfB))
}

// TestReadPartitionsProgress reads all the fixture's partitions (one
// span) and every tenth (point reads) with a Progress: it is called once
// per partition, counting 1 to the number of partitions, with that total.
func TestReadPartitionsProgress(t *testing.T) {
	s, err := sstable.OpenSnapshot("testdata/uncompressed-snapshot")
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.KeysWhere(func([]any) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var tenth []sstable.PartitionKey
	for i := 0; i < len(all); i += 10 {
		tenth = append(tenth, all[i])
	}
	for _, tc := range []struct {
		name string
		keys []sstable.PartitionKey
	}{{"every partition", all}, {"every tenth", tenth}} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			o := sstable.ReadOptions{Progress: func(done, total int) { calls = append(calls, fmt.Sprintf("%d/%d", done, total)) }}
			if err := s.ReadPartitions(tc.keys, o, func(sstable.PartitionKey, *sstable.CQLRow) error { return nil }); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range tc.keys {
				want = append(want, fmt.Sprintf("%d/%d", i+1, len(tc.keys)))
			}
			if !slices.Equal(calls, want) {
				t.Errorf("progress %v, want %v", calls, want)
			}
		})
	}
}
