package sstabletest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

var dataFile = regexp.MustCompile(`^([a-z]{2})-\d+-(big|bti)-Data\.db$`)

// checkSnapshot asserts dir is a snapshot of at least min SSTables and
// returns their Data.db paths.
func checkSnapshot(t *testing.T, dir string, min int) []string {
	t.Helper()
	for _, f := range []string{"manifest.json", "schema.cql"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("snapshot lacks %s: %v", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Files []string `json:"files"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.json: %v\n%s", err, raw)
	}
	data, _ := filepath.Glob(filepath.Join(dir, "*-Data.db"))
	if len(data) < min || len(m.Files) != len(data) {
		t.Fatalf("want >= %d Data.db files, each in the manifest; have %d files, manifest lists %d", min, len(data), len(m.Files))
	}
	versions := map[string]bool{}
	for _, p := range data {
		v := dataFile.FindStringSubmatch(filepath.Base(p))
		if v == nil {
			t.Fatalf("unexpected SSTable name %s", p)
		}
		versions[v[1]+"/"+v[2]] = true
	}
	if len(versions) != 1 {
		t.Errorf("one flush-written table should hold one version/format, have %v", versions)
	}
	t.Logf("snapshot %s: %d SSTables, version/format %v", dir, len(data), versions)
	return data
}

// rows decodes SELECT JSON output, keyed by "pk1/pk2/ck1/ck2".
func rows(t *testing.T, ks, table string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range sstabletest.SelectJSON(t, ks, table) {
		var m map[string]any
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			t.Fatalf("SELECT JSON row %q: %v", r, err)
		}
		out[fmt.Sprintf("%v/%v/%v/%v", m["pk1"], m["pk2"], m["ck1"], m["ck2"])] = m
	}
	return out
}

// checkTypesRows asserts that the workload's writes, deletions and TTLs
// did what TypesWorkload says, as CQL sees it.
func checkTypesRows(t *testing.T, got map[string]map[string]any) {
	t.Helper()
	absent := []string{
		"ttl/5/1/gone", // expired row
		"alpha/1/2/a",  // deleted row
		"alpha/1/3/b",  // range-deleted
		"gamma/3/1/b",  // partition-deleted
		"gamma/3/2/a",  // partition-deleted
		"beta/2/9/u",   // update-only row whose cell was deleted
		"beta/2/5/t",   // expired row
	}
	for _, k := range absent {
		if _, ok := got[k]; ok {
			t.Errorf("row %s should be gone: %v", k, got[k])
		}
	}
	want := map[string]map[string]any{
		"alpha/1/1/a":          {"c_text": "updated", "c_int": 100.0, "c_double": 2.5, "c_bigint": 101e12},
		"alpha/1/1/b":          {"c_text": nil},
		"alpha/1/3/c":          {"c_text": "after range delete", "c_int": nil},
		"alpha/1/3/a":          {"c_text": "text é 103 ✓"},
		"alpha/1/4/c":          {"s": nil, "s_text": nil},
		"gamma/3/1/a":          {"c_text": "after partition delete"},
		"beta/2/9/v":           {"c_text": "stays", "c_int": 6.0},
		"beta/2/1/x":           {"c_text": nil, "s_int": 22.0},
		"beta/2/1/y":           {"c_int": 7.0},
		"beta/2/7/bare":        {"c_text": nil},
		"ttl/5/2/kept":         {"c_text": "text é 502 ✓", "s_text": nil},
		"delta/-4/<nil>/<nil>": {"s_text": "static again"},
		"/0/-1/":               {"c_int": 1.0},
	}
	for k, cols := range want {
		r, ok := got[k]
		if !ok {
			t.Errorf("row %s missing", k)
			continue
		}
		for c, v := range cols {
			if fmt.Sprint(r[c]) != fmt.Sprint(v) {
				t.Errorf("row %s: %s = %v, want %v", k, c, r[c], v)
			}
		}
	}
	if l := fmt.Sprint(got["alpha/1/4/a"]["l"]); l != "[7 8]" {
		t.Errorf("overwritten list = %s, want [7 8]", l)
	}
	if l := fmt.Sprint(got["alpha/1/4/b"]["l"]); l != "[42 105 -104]" {
		t.Errorf("list after l[0] = 42: %s", l)
	}
	if u := fmt.Sprint(got["alpha/1/4/b"]["u"]); !strings.Contains(u, "zip:99999") {
		t.Errorf("user type after u.zip = 99999: %s", u)
	}
	if u := got["alpha/1/4/c"]["u"].(map[string]any); u["street"] != nil || u["zip"] == nil {
		t.Errorf("user type after DELETE u.street: %v", u)
	}
	if m := fmt.Sprint(got["alpha/1/1/c"]["m"]); m != "map[k2:-101]" {
		t.Errorf("map after DELETE m['k1'] = %s", m)
	}
}

func TestTypesWorkloadSnapshot(t *testing.T) {
	ks := sstabletest.Keyspace(t, "sstabletest")
	create, batches := sstabletest.TypesWorkload(ks, "types")
	sstabletest.Exec(t, create...)
	dir := sstabletest.Snapshot(t, ks, "types", batches)
	checkSnapshot(t, dir, 3)
	schema, err := os.ReadFile(filepath.Join(dir, "schema.cql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"CREATE TYPE IF NOT EXISTS " + ks + ".types_addr", "CREATE TABLE IF NOT EXISTS " + ks + ".types", "ck2 DESC"} {
		if !strings.Contains(string(schema), s) {
			t.Errorf("schema.cql lacks %q:\n%s", s, schema)
		}
	}
	checkTypesRows(t, rows(t, ks, "types"))
}

func TestCompressedWorkloadSnapshots(t *testing.T) {
	ks := sstabletest.Keyspace(t, "sstabletest")
	for _, c := range sstabletest.Compressors {
		t.Run(c, func(t *testing.T) {
			table := strings.ToLower(strings.TrimSuffix(c, "Compressor"))
			create, batches := sstabletest.CompressedWorkload(ks, table, c)
			sstabletest.Exec(t, create...)
			dir := sstabletest.Snapshot(t, ks, table, batches)
			maxChunks := 0
			for _, data := range checkSnapshot(t, dir, 3) {
				name, chunks, err := sstabletest.CompressionInfo(strings.TrimSuffix(data, "Data.db") + "CompressionInfo.db")
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(name, c) {
					t.Errorf("%s: compressor %s, want %s", data, name, c)
				}
				maxChunks = max(maxChunks, chunks)
			}
			if maxChunks < 4 {
				t.Errorf("the bulk SSTable should span several 4 KiB chunks, the largest has %d", maxChunks)
			}
			got := rows(t, ks, table)
			checkTypesRows(t, got)
			bulk := 0
			for k, r := range got {
				if strings.HasPrefix(k, "bulk/") {
					bulk++
					if k == "bulk/7/3/row-003" && !strings.HasPrefix(fmt.Sprint(r["c_text"]), "rewritten") {
						t.Errorf("bulk row 3 not rewritten: %v", r["c_text"])
					}
				}
			}
			if bulk != 300 {
				t.Errorf("%d bulk rows, want 300", bulk)
			}
		})
	}
}
