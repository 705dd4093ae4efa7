package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// sstableFixture is a real Cassandra SSTable directory beside the repo.
func sstableFixture(t *testing.T, dir string) string {
	t.Helper()
	root := os.Getenv("REPROCESS_TEST_SSTABLE_FIXTURES")
	if root == "" {
		root = "../../../shared/fixtures/cassandra-sstables"
	}
	p := filepath.Join(root, dir)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("SSTable fixture %s not found (set REPROCESS_TEST_SSTABLE_FIXTURES): %v", dir, err)
	}
	return p
}

func TestSSTableDumpAndExport(t *testing.T) {
	clust := sstableFixture(t, "da/legacy_da_clust")
	out, err := cli(t, "sstable", "dump", clust)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 250 {
		t.Fatalf("dump printed %d lines, want the 250 rows", len(lines))
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	const r = "wxappmnfhjwtvqhxcmeeupmryhmmvjmcxrcbvtxfdyeaxbeemxusoynrkhgatseiqrrcseynuwevqdipsgplgvqcelsjdtlkeetrcufulrzonyuscrlbowotizznpmcd"
	if first["key"] != "0" || first["val"] != r || !strings.HasPrefix(first["clustering0"].(string), "00123") {
		t.Errorf("first row %v", first)
	}
	if out, err := cli(t, "sstable", "dump", "--limit", "7", clust); err != nil || strings.Count(out, "\n") != 7 {
		t.Errorf("--limit 7: %d lines, %v", strings.Count(out, "\n"), err)
	}

	file := filepath.Join(t.TempDir(), "rows.parquet")
	if out, err := cli(t, "sstable", "export", "--format", "parquet", "--out", file, sstableFixture(t, "nb/legacy_nb_clust_counter")); err != nil || !strings.Contains(out, "wrote 250 rows") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	got := readParquet(t, file)
	if len(got) != 250 {
		t.Fatalf("parquet file holds %d rows, want 250", len(got))
	}
	for _, row := range got {
		if row["val"] != int64(1) || row["key"] == "" {
			t.Fatalf("row %v: want counter val 1 as int64", row)
		}
	}

	// A set column is stored as its SELECT JSON text (in a JSON column,
	// which the reader decodes).
	if _, err := cli(t, "sstable", "export", "--out", file, sstableFixture(t, "mc/negative_local_expiration_table3")); err != nil {
		t.Fatal(err)
	}
	got = readParquet(t, file)
	if len(got) != 2 || got[0]["key"] != int64(1) || got[0]["a"] != int64(1) || fmt.Sprint(got[0]["b"]) != "[v11 v12 v13 v14]" {
		t.Errorf("rows %v", got)
	}
}

func readParquet(t *testing.T, file string) []map[string]any {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	rows := parquet.NewGenericReader[map[string]any](pf, pf.Schema())
	got := make([]map[string]any, rows.NumRows())
	for i := range got {
		got[i] = map[string]any{}
	}
	n, _ := rows.Read(got)
	return got[:n]
}

func TestSSTableRejectsBadInput(t *testing.T) {
	simple := sstableFixture(t, "nb/legacy_nb_simple")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sstable", "dump", filepath.Join(t.TempDir(), "missing")}, "no such file"},
		{[]string{"sstable", "dump", "--as-of", "yesterday", simple}, "--as-of"},
		{[]string{"sstable", "export", "--format", "csv", "--out", "x", simple}, "--format"},
		{[]string{"sstable", "export", simple}, "--out"},
		{[]string{"sstable", "dump", "s3://"}, "want s3://bucket/prefix"},
	} {
		if _, err := cli(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
