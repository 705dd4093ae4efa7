package sstable_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
)

func TestParseSchema(t *testing.T) {
	// testdata/schema.cql was written by Cassandra 5.0 into a snapshot.
	raw, err := os.ReadFile("testdata/schema.cql")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sstable.ParseSchema(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := &sstable.Schema{
		Keyspace: "snapdemo", Table: "t",
		PartitionKey: []string{"Pk", "k2"},
		Clustering:   []string{"ck", "ck2"},
		Columns: []sstable.SchemaColumn{
			{Name: "Pk", Type: "text"}, {Name: "k2", Type: "int"}, {Name: "ck", Type: "int"}, {Name: "ck2", Type: "text"},
			{Name: "s", Type: "int", Static: true}, {Name: "a", Type: "frozen<addr>"}, {Name: "v", Type: "map<text, int>"},
		},
		Dropped: map[string]int64{"dropme": 1795224917822000},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
}

func TestParseSchemaForms(t *testing.T) {
	for _, tc := range []struct {
		name, cql   string
		pk, ck      []string
		cols        []string // checked when set
		ttl         int
		dropped     map[string]int64
		errContains string
	}{
		{name: "inline key", cql: "CREATE TABLE ks.t (id timeuuid PRIMARY KEY, v text) WITH default_time_to_live = 60;",
			pk: []string{"id"}, ttl: 60, dropped: map[string]int64{}},
		{name: "no WITH", cql: `CREATE TABLE IF NOT EXISTS "Ks"."T" (a int, b int, PRIMARY KEY (a, b));` + "\nALTER TABLE \"Ks\".\"T\" DROP (c, d) USING TIMESTAMP 7;",
			pk: []string{"a"}, ck: []string{"b"}, dropped: map[string]int64{"c": 7, "d": 7}},
		{name: "dropped and added back", cql: "CREATE TABLE ks.t (k int PRIMARY KEY, a int, b int, c int);\n" +
			"ALTER TABLE ks.t DROP b USING TIMESTAMP 5;\nALTER TABLE ks.t ADD b int;\nALTER TABLE ks.t DROP c USING TIMESTAMP 6;",
			pk: []string{"k"}, cols: []string{"k", "a", "b"}, dropped: map[string]int64{"b": 5, "c": 6}},
		{name: "no table", cql: "CREATE TYPE ks.a (x int);", errContains: "no CREATE TABLE"},
		{name: "no key", cql: "CREATE TABLE ks.t (a int);", errContains: "no primary key"},
		// A damaged byte makes a name of what is not one (found by fuzzing).
		{name: "not a name", cql: "CREATE TABLE ks.t (\n  \xcf  k int PRIMARY KEY, a text);", errContains: `"\xcf" is not a CQL name`},
		{name: "not a key name", cql: "CREATE TABLE ks.t (k int, a text, PRIMARY KEY (k!));", errContains: `"k!" is not a CQL name`},
		{name: "not a table name", cql: "CREATE TABLE ks.t-1 (k int PRIMARY KEY);", errContains: `"t-1" is not a CQL name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sstable.ParseSchema(tc.cql)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("error %v, want one containing %q", err, tc.errContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.PartitionKey, tc.pk) || !reflect.DeepEqual(s.Clustering, tc.ck) || s.DefaultTTL != tc.ttl || !reflect.DeepEqual(s.Dropped, tc.dropped) {
				t.Errorf("got pk %v ck %v ttl %d dropped %v", s.PartitionKey, s.Clustering, s.DefaultTTL, s.Dropped)
			}
			var cols []string
			for _, c := range s.Columns {
				cols = append(cols, c.Name)
			}
			if tc.cols != nil && !reflect.DeepEqual(cols, tc.cols) {
				t.Errorf("columns %v, want %v", cols, tc.cols)
			}
		})
	}
}

// snapshotDir lays a fixture out as nodetool snapshot would: its
// components, manifest.json and schema.cql.
func snapshotDir(t *testing.T, fixture, schema, manifest string) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(fixtures(t), fixture, "*"))
	for _, f := range files {
		if err := os.Link(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, body := range map[string]string{"schema.cql": schema, "manifest.json": manifest} {
		if body != "" {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestOpenSnapshot(t *testing.T) {
	schema := "CREATE TABLE IF NOT EXISTS legacy_tables.legacy_nb_simple (pk text PRIMARY KEY, val text) WITH ID = 1;"
	dir := snapshotDir(t, "nb/legacy_nb_simple", schema,
		`{"files": ["nb-1-big-Data.db"], "created_at": "2026-11-20T10:00:00.5Z", "expires_at": null, "ephemeral": false}`)
	s, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 1 || s.Tables[0].Version != "nb" || s.Schema == nil || s.Schema.Table != "legacy_nb_simple" ||
		!s.CreatedAt.Equal(time.Date(2026, 11, 20, 10, 0, 0, 5e8, time.UTC)) {
		t.Errorf("snapshot %+v, schema %+v", s, s.Schema)
	}

	// Without a manifest every Data.db counts; two directories merge.
	plain := snapshotDir(t, "oa/legacy_oa_simple", "", "")
	s, err = sstable.OpenSnapshot(dir, plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 2 || s.Tables[1].Version != "oa" {
		t.Errorf("%d tables", len(s.Tables))
	}

	for _, tc := range []struct{ name, dir, want string }{
		{"missing", filepath.Join(t.TempDir(), "nope"), "no such file"},
		{"empty", t.TempDir(), "no SSTables"},
		{"bad manifest", snapshotDir(t, "nb/legacy_nb_simple", "", "{"), "manifest.json"},
		{"bad schema", snapshotDir(t, "nb/legacy_nb_simple", "CREATE TABLE x (a int);", ""), "schema.cql"},
	} {
		if _, err := sstable.OpenSnapshot(tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestSnapshotRows(t *testing.T) {
	for _, tc := range []struct {
		name, fixture, schema string
		want                  []string
	}{
		{"with schema.cql", "nb/legacy_nb_simple", "CREATE TABLE ks.legacy_nb_simple (pk text PRIMARY KEY, val text);",
			[]string{`{"pk": "0", "val": "foo bar baz"}`, `{"pk": "1", "val": "foo bar baz"}`, `{"pk": "2", "val": "foo bar baz"}`, `{"pk": "3", "val": "foo bar baz"}`, `{"pk": "4", "val": "foo bar baz"}`}},
		{"without, counters", "da/legacy_da_simple_counter", "",
			[]string{`{"key": "0", "val": 1}`, `{"key": "1", "val": 1}`, `{"key": "2", "val": 1}`, `{"key": "3", "val": 1}`, `{"key": "4", "val": 1}`}},
		{"dropped column", "oa/legacy_oa_simple", "CREATE TABLE ks.legacy_oa_simple (pk text PRIMARY KEY, val text);\nALTER TABLE ks.legacy_oa_simple DROP val USING TIMESTAMP 1999999999999999;",
			[]string{`{"pk": "0"}`, `{"pk": "1"}`, `{"pk": "2"}`, `{"pk": "3"}`, `{"pk": "4"}`}}, // INSERTed rows outlive their cells
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sstable.OpenSnapshot(snapshotDir(t, tc.fixture, tc.schema, ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonRows(t, s, sstable.ReadOptions{Parallel: 2}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

// TestSnapshotsMergeAsReplicas reads three copies of one table, written
// at different times (nb in 2021, oa and da in 2023), as replicas of one
// another: every row is there once, with the newest write's value.
func TestSnapshotsMergeAsReplicas(t *testing.T) {
	schema := func(table string) string {
		return "CREATE TABLE ks." + table + " (pk text, ck text, val text, PRIMARY KEY (pk, ck));"
	}
	s, err := sstable.OpenSnapshot(
		snapshotDir(t, "nb/legacy_nb_clust", schema("legacy_nb_clust"), ""),
		snapshotDir(t, "da/legacy_da_clust", "", ""),
		snapshotDir(t, "oa/legacy_oa_clust", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	const newest = "wxappmnfhjwtvqhxcmeeupmryhmmvjmcxrcbvtxfdyeaxbeemxusoynrkhgatseiqrrcseynuwevqdipsgplgvqcelsjdtlkeetrcufulrzonyuscrlbowotizznpmcd" // da's
	seen := map[string]bool{}
	err = s.Rows(context.Background(), sstable.ReadOptions{}, func(r sstable.CQLRow) error {
		key := r.Get("pk").(string) + "/" + r.Get("ck").(string)
		if seen[key] {
			t.Errorf("row %s twice", key[:8])
		}
		seen[key] = true
		if r.Get("val") != newest {
			t.Errorf("row %s: val %v, want the newest write", key[:8], r.Get("val"))
		}
		return nil
	})
	if err != nil || len(seen) != 250 {
		t.Errorf("%d rows, %v; want 250", len(seen), err)
	}
}

// TestSnapshotAsOf reads TTL'd rows (20 years, written in 2018) as of now
// and as of a time past their expiry.
func TestSnapshotAsOf(t *testing.T) {
	s, err := sstable.OpenSnapshot(snapshotDir(t, "mc/negative_local_expiration_table1", "CREATE TABLE ks.table1 (k int PRIMARY KEY, a int, b int);", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		asOf time.Time
		want []string
	}{
		{time.Now(), []string{`{"k": 1, "a": 1, "b": 1}`, `{"k": 2, "a": 2, "b": null}`}},
		{time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	} {
		if got := jsonRows(t, s, sstable.ReadOptions{AsOf: tc.asOf}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("as of %s: %q, want %q", tc.asOf.Format(time.DateOnly), got, tc.want)
		}
	}
}

// jsonRows reads a snapshot's rows as SELECT JSON text.
func jsonRows(t *testing.T, s *sstable.Snapshot, o sstable.ReadOptions) []string {
	t.Helper()
	var got []string
	err := s.Rows(context.Background(), o, func(r sstable.CQLRow) error {
		b, err := r.MarshalJSON()
		got = append(got, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestSchemaMustMatchTheSSTables gives the snapshot of
// `k int PRIMARY KEY, a text, n int, b boolean` schemas that do not
// describe it, and replicas schemas that disagree: each is an error
// naming what differs, whichever order the directories come in.
func TestSchemaMustMatchTheSSTables(t *testing.T) {
	withSchema := func(cql string) string {
		dir := copyDir(t, uncompressedSnapshot)
		must(t, os.WriteFile(filepath.Join(dir, "schema.cql"), []byte(cql), 0o644))
		return dir
	}
	const own = "CREATE TABLE ks.t (k int PRIMARY KEY, a text, n int, b boolean);"
	for _, tc := range []struct {
		name string
		dirs []string
		want []string
	}{
		{"another table", []string{withSchema("CREATE TABLE ks.u (id int PRIMARY KEY, x text, y int);")},
			[]string{"nb-1-big-Statistics.db does not hold table ks.u", "column a (text) is not in the table", "column b (boolean)", "column n (int)"}},
		{"another type", []string{withSchema("CREATE TABLE ks.t (k int PRIMARY KEY, a text, n bigint, b boolean);")},
			[]string{"column n is int, the table's is bigint"}},
		{"a key column", []string{withSchema("CREATE TABLE ks.t (k int, a text, n int, b boolean, PRIMARY KEY (k, n));")},
			[]string{"1 partition key and 0 clustering columns, schema.cql has [k] and [n]", "column n is a key column"}},
		{"another key type", []string{withSchema("CREATE TABLE ks.t (k bigint PRIMARY KEY, a text, n int, b boolean);")},
			[]string{"key column k is int, the table's is bigint"}},
		{"static", []string{withSchema("CREATE TABLE ks.t (k int PRIMARY KEY, a text static, n int, b boolean);")},
			[]string{"column a is static in one and not in the other"}},
		{"replicas", []string{withSchema(own), withSchema("CREATE TABLE ks.t (k int PRIMARY KEY, a text, n int, b boolean, c int);")},
			[]string{"disagree (columns (k int, a text, n int, b boolean) and (k int, a text, n int, b boolean, c int))"}},
		{"replicas reversed", []string{withSchema("CREATE TABLE ks.t (k int PRIMARY KEY, a text, n int, b boolean, c int);"), withSchema(own)},
			[]string{"disagree (columns (k int, a text, n int, b boolean, c int) and (k int, a text, n int, b boolean))"}},
		{"replicas, a drop", []string{withSchema(own), withSchema(own + "\nALTER TABLE ks.t DROP b USING TIMESTAMP 1;")},
			[]string{"disagree (columns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sstable.OpenSnapshot(tc.dirs...)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v; want one containing %q", err, w)
				}
			}
		})
	}
	if _, err := sstable.OpenSnapshot(withSchema(own), withSchema(own)); err != nil {
		t.Errorf("two replicas of one schema: %v", err)
	}
}
