package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform/stock"
)

// sstableFixture is a real Cassandra SSTable directory beside the repo.
func sstableFixture(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(need.Fixtures(t), dir)
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

// TestSSTableExportOfAssetsIsTheExportTransformsShape exports a snapshot
// of the assets table with `sstable export`, and the same assets with the
// export transform: both files have the same columns, of the same types,
// and the same values but for exported_at (when each ran). The snapshot
// in testdata/assets-snapshot was taken by the real Cassandra 5.0 after
// two flushes: the assets below, then the update of the video to version 2.
// shapeAssets are the assets of testdata/assets-snapshot.
func shapeAssets() []assets.Asset {
	id := func(n int) assets.ID {
		return assets.ID(uuid.MustParse(fmt.Sprintf("5f1c3a00-c4a1-11f0-8000-%012d", n)))
	}
	return []assets.Asset{
		{ID: id(1), Type: "image", CreatedAt: time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC), Version: 7,
			Metadata: map[string]string{"title": "Sunset", "camera": "x100"}, Facts: map[string]string{"orientation": "landscape"},
			Transforms: map[string]int{"orientation": 2}},
		{ID: id(2), Type: "video", CreatedAt: time.Date(2026, 11, 19, 8, 30, 0, 0, time.UTC), Version: 2,
			Metadata: map[string]string{"title": "Clip v2"}},
		{ID: id(3), Type: "document", CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Version: 3,
			Facts: map[string]string{"pages": "12"}},
	}
}

func TestSSTableExportOfAssetsIsTheExportTransformsShape(t *testing.T) {
	as := shapeAssets()
	for _, format := range []string{"parquet", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			snapshotFile := filepath.Join(t.TempDir(), "assets."+format)
			if out, err := cli(t, "sstable", "export", "--format", format, "--out", snapshotFile, "testdata/assets-snapshot"); err != nil || !strings.Contains(out, "wrote 3 rows") {
				t.Fatalf("sstable export: %v\n%s", err, out)
			}

			dir := t.TempDir()
			b := &stock.Builder{Writer: "w1"}
			tr, err := b.Build(&job.Job{Spec: job.Spec{Name: "shape", Transform: job.Transform{Name: "export", Version: 1, Dir: dir, Format: format}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if _, err := tr.Apply(context.Background(), a); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*."+format))
			if len(files) != 1 {
				t.Fatalf("the export transform wrote %v, want one file", files)
			}

			read := readJSONLines
			if format == "parquet" {
				read = readParquet
				if s, ts := parquetSchema(t, snapshotFile), parquetSchema(t, files[0]); s != ts {
					t.Errorf("sstable export's columns:\n%s\nthe export transform's:\n%s", s, ts)
				}
			}
			fromSnapshot, fromTransform := byAssetID(t, read(t, snapshotFile)), byAssetID(t, read(t, files[0]))
			if len(fromSnapshot) != len(as) || !reflect.DeepEqual(fromSnapshot, fromTransform) {
				t.Errorf("sstable export wrote\n%v\nthe export transform\n%v", fromSnapshot, fromTransform)
			}
		})
	}
}

// TestSSTableExportOfAssetsAndTheExportTransformShareAnIcebergTable
// exports a snapshot of the assets table to Iceberg, then the same assets
// with the export transform to the same table: it takes them, and both
// wrote the same rows but for exported_at.
func TestSSTableExportOfAssetsAndTheExportTransformShareAnIcebergTable(t *testing.T) {
	dir := t.TempDir()
	catalog := filepath.Join(dir, "lake.db")
	if out, err := cli(t, "sstable", "export", "--format", "iceberg", "--catalog", catalog, "--table", "lake.assets", "testdata/assets-snapshot"); err != nil || !strings.Contains(out, "wrote 3 rows") {
		t.Fatalf("sstable export: %v\n%s", err, out)
	}
	b := &stock.Builder{Writer: "w1"}
	spec := job.Transform{Name: "export", Version: 1, Dir: filepath.Join(dir, "segments"), Format: "iceberg", Catalog: catalog, Table: "lake.assets"}
	tr, err := b.Build(&job.Job{Spec: job.Spec{Name: "shape", Transform: spec}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range shapeAssets() {
		if _, err := tr.Apply(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, r := range icebergtest.Rows(t, iceberg.Catalog{URI: catalog}, "lake.assets") {
		delete(r, "exported_at")
		line, _ := json.Marshal(r)
		rows[r["asset_id"].(string)] = append(rows[r["asset_id"].(string)], string(line))
	}
	if len(rows) != 3 {
		t.Errorf("%d assets in the table, want 3", len(rows))
	}
	for id, rs := range rows {
		if len(rs) != 2 || rs[0] != rs[1] {
			t.Errorf("asset %s: rows %v, want the same row from each export", id, rs)
		}
	}
}

func readJSONLines(t *testing.T, file string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	for line := range strings.Lines(string(raw)) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

func parquetSchema(t *testing.T, file string) string {
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
	return pf.Schema().String()
}

// byAssetID keys rows by asset_id, each without its exported_at, which
// must be set.
func byAssetID(t *testing.T, rows []map[string]any) map[any]map[string]any {
	t.Helper()
	out := map[any]map[string]any{}
	for _, r := range rows {
		if r["exported_at"] == nil {
			t.Errorf("row %v has no exported_at", r)
		}
		delete(r, "exported_at")
		out[r["asset_id"]] = r
	}
	return out
}

// TestSSTableExportToIceberg exports a snapshot to an Iceberg table of a
// SQLite catalog, then again: the second export is refused.
func TestSSTableExportToIceberg(t *testing.T) {
	snap := sstableFixture(t, "nb/legacy_nb_clust_counter")
	args := []string{"sstable", "export", "--format", "iceberg", "--catalog", filepath.Join(t.TempDir(), "lake.db"),
		"--table", "lake.counters", "--partition-by", "bucket(4, key)", snap}
	if out, err := cli(t, args...); err != nil || !strings.Contains(out, "wrote 250 rows in Iceberg snapshot") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if _, err := cli(t, args...); err == nil || !strings.Contains(err.Error(), "already exported") {
		t.Errorf("second export: %v, want it refused as already exported", err)
	}
}

func TestSSTableRejectsBadInput(t *testing.T) {
	simple := sstableFixture(t, "nb/legacy_nb_simple")
	catalog := filepath.Join(t.TempDir(), "lake.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sstable", "dump", filepath.Join(t.TempDir(), "missing")}, "no such file"},
		{[]string{"sstable", "dump", "--as-of", "yesterday", simple}, "--as-of"},
		{[]string{"sstable", "info", "--allow-missing-digest", simple}, "--allow-missing-digest: give --verify too"},
		{[]string{"sstable", "dump", "--limit", "-5", simple}, "--limit: want 0 (all) or more rows, got -5"},
		{[]string{"sstable", "export", "--format", "csv", "--out", "x", simple}, "--format"},
		{[]string{"sstable", "export", simple}, "--out"},
		{[]string{"sstable", "export", "--format", "iceberg", simple}, "--table"},
		{[]string{"sstable", "export", "--format", "iceberg", "--table", "t", "--catalog", catalog, simple}, "want namespace.table"},
		{[]string{"sstable", "export", "--format", "iceberg", "--table", "lake.t", "--catalog", catalog, "--partition-by", "week(k)", simple}, "unknown transform week"},
		{[]string{"sstable", "export", "--format", "iceberg", "--table", "lake.t", "--base", "prev.parquet", simple}, "--out and --base are for parquet and jsonl"},
		{[]string{"sstable", "export", "--format", "iceberg", "--table", "lake.none", "--catalog", catalog, "--since", "last", simple}, "--since needs the table an earlier export wrote: iceberg: load lake.none"},
		{[]string{"sstable", "export", "--format", "orc", "--out", "x", simple}, "want parquet or jsonl"},
		{[]string{"sstable", "export", "--out", "x", "--distribute", simple}, "--distribute: only --format iceberg"},
		{[]string{"sstable", "export", "--format", "iceberg", "--table", "lake.t", "--catalog", catalog, "--distribute", simple}, "--distribute needs kafka.brokers"},
		{[]string{"sstable", "export", "--format", "iceberg", "--table", "lake.t", "--catalog", catalog, "--since", "last", "--distribute", simple}, "--distribute: an incremental export (--since) or a replacement (--replace) runs in one process"},
		{[]string{"sstable", "export", "--format", "iceberg", "--table", "lake.t", "--catalog", catalog, "--since", "last", "--replace", simple}, "--replace rewrites the table in full: leave out --since"},
		{[]string{"sstable", "export", "--out", "x", "--replace", simple}, "--replace: only an Iceberg table"},
		{[]string{"sstable", "dump", "s3://"}, "want s3://bucket/prefix"},
		{[]string{"sstable", "export", "--out", "x", "--since", simple, simple}, "--since: give --base too"},
		{[]string{"sstable", "export", "--out", "x", "--base", "x", simple}, "--base: name a file other than --out"},
		{[]string{"sstable", "export", "--out", "x", "--base", "y", "--since", simple, simple}, "assets table only"},
	} {
		if _, err := cli(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// fuzzSeeds is how many damaged snapshots every test run reads (3,000 were
// read once without a failure; go test -fuzz explores further).
const fuzzSeeds = 150

// FuzzSSTableDumpOfDamagedSnapshot damages one file of a whole snapshot
// folder (a flipped byte, or a cut) and dumps it: the command may fail,
// but it must not panic, and when it succeeds it prints every row of the
// undamaged snapshot, exactly.
func FuzzSSTableDumpOfDamagedSnapshot(f *testing.F) {
	snaps := []string{"../../assets/sstable/testdata/uncompressed-snapshot", "testdata/assets-snapshot"}
	// Seeds: every file of both snapshots, damaged at pseudo-random places.
	rng := rand.New(rand.NewPCG(1, 2))
	for range fuzzSeeds {
		f.Add(uint8(rng.IntN(2)), uint8(rng.IntN(32)), rng.Uint32(), uint8(rng.IntN(256)), rng.IntN(4) == 0, uint8(rng.IntN(4)))
	}
	want := map[int]string{}
	f.Fuzz(func(t *testing.T, snap, file uint8, at uint32, mask uint8, cut bool, parallel uint8) {
		src := snaps[int(snap)%len(snaps)]
		if _, ok := want[int(snap)%len(snaps)]; !ok {
			out, err := cli(t, "sstable", "dump", src)
			if err != nil {
				t.Fatal(err)
			}
			want[int(snap)%len(snaps)] = out
		}
		dir := t.TempDir()
		entries, _ := os.ReadDir(src)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
		name := entries[int(file)%len(entries)].Name()
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if len(b) == 0 {
			return
		}
		i := int(at % uint32(len(b)))
		if cut {
			b = b[:i]
		} else {
			b[i] ^= max(mask, 1)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
		out, err := cli(t, "sstable", "dump", "--parallel", fmt.Sprint(1+parallel%4), dir)
		same := out == want[int(snap)%len(snaps)]
		if err == nil && name == "schema.cql" {
			// An SSTable does not hold its key columns' names: a name
			// damaged into another name is not seen. Its values are.
			same = slices.Equal(rowValues(t, out), rowValues(t, want[int(snap)%len(snaps)]))
		}
		if err == nil && !same {
			t.Fatalf("%s %s at %d: %d lines and no error; want the %d rows of the undamaged snapshot",
				name, map[bool]string{true: "cut", false: "flipped"}[cut], i, strings.Count(out, "\n"), strings.Count(want[int(snap)%len(snaps)], "\n"))
		}
	})
}

// rowValues is each JSON line of a dump as its values, in the order of
// their encodings: what a dump says whatever its columns are named.
func rowValues(t *testing.T, out string) []string {
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("dump line %q: %v", line, err)
		}
		var vs []string
		for _, v := range row {
			vs = append(vs, string(v))
		}
		slices.Sort(vs)
		rows = append(rows, strings.Join(vs, ","))
	}
	return rows
}

// An export lists the SSTables it read; an incremental export of the same
// snapshot, from that list, copies every row of the previous export, its
// exported_at included, and re-merges none.
func TestSSTableIncrementalExportWiring(t *testing.T) {
	for _, format := range []string{"parquet", "jsonl"} {
		dir := t.TempDir()
		prev, next := filepath.Join(dir, "prev."+format), filepath.Join(dir, "next."+format)
		if _, err := cli(t, "sstable", "export", "--format", format, "--out", prev, "testdata/assets-snapshot"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(prev + ".sstables.json"); err != nil {
			t.Fatalf("%s: no manifest next to the export: %v", format, err)
		}
		out, err := cli(t, "sstable", "export", "--format", format, "--base", prev, "--out", next, "testdata/assets-snapshot")
		if err != nil || !strings.Contains(out, "wrote 3 rows") || !strings.Contains(out, "3 copied") || !strings.Contains(out, "0 re-merged from 0 partitions") {
			t.Fatalf("%s: incremental export: %v\n%s", format, err, out)
		}
		read := readJSONLines
		if format == "parquet" {
			read = readParquet
		}
		if a, b := read(t, prev), read(t, next); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: incremental export of the same snapshot\n%v\nwant the previous one\n%v", format, b, a)
		}

		// From a snapshot of the first SSTable alone to both: the
		// partitions of the second are re-merged, and the file equals a
		// full export but for exported_at.
		older := filepath.Join(dir, "older")
		copyFiles(t, "testdata/assets-snapshot", older, "nb-1-big-*", "schema.cql")
		full := filepath.Join(dir, "full."+format)
		for _, args := range [][]string{{"--out", prev, older}, {"--out", full, "testdata/assets-snapshot"}, {"--out", next, "--base", prev, "testdata/assets-snapshot"}} {
			if out, err = cli(t, append([]string{"sstable", "export", "--format", format}, args...)...); err != nil {
				t.Fatal(err)
			}
		}
		if !strings.Contains(out, "re-merged from") || strings.Contains(out, "from 0 partitions") {
			t.Errorf("%s: %s; want partitions re-merged", format, out)
		}
		want, got := read(t, full), read(t, next)
		for _, rows := range [][]map[string]any{want, got} {
			for _, r := range rows {
				delete(r, "exported_at")
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: incremental export\n%v\nwant the full one\n%v", format, got, want)
		}
	}
}

// TestSSTableIncrementalExportToIceberg: a snapshot of the assets table's
// first SSTable exported to Iceberg, then the whole snapshot with --since
// last, leaves the rows of a full export (but for exported_at) in one
// overwrite commit; a rerun is refused.
func TestSSTableIncrementalExportToIceberg(t *testing.T) {
	dir := t.TempDir()
	catalog, older := filepath.Join(dir, "lake.db"), filepath.Join(dir, "older")
	copyFiles(t, "testdata/assets-snapshot", older, "nb-1-big-*", "schema.cql")
	export := func(args ...string) string {
		t.Helper()
		out, err := cli(t, append([]string{"sstable", "export", "--format", "iceberg", "--catalog", catalog}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	export("--table", "lake.full", "testdata/assets-snapshot")
	export("--table", "lake.assets", "--partition-by", "bucket(4, asset_id)", older)
	out := export("--table", "lake.assets", "--since", "last", "testdata/assets-snapshot")
	if !strings.Contains(out, "replaced 1 partitions changed since") {
		t.Errorf("incremental export: %s; want the second SSTable's one partition replaced", out)
	}
	cat := iceberg.Catalog{URI: catalog}
	if got, want := icebergtest.Lines(t, cat, "lake.assets", "exported_at"), icebergtest.Lines(t, cat, "lake.full", "exported_at"); !slices.Equal(got, want) {
		t.Errorf("after the incremental export the table holds\n%v\nwant\n%v", got, want)
	}
	tbl := icebergtest.Table(t, cat, "lake.assets")
	if op := tbl.CurrentSnapshot().Summary.Operation; op != "overwrite" || len(tbl.Metadata().Snapshots()) != 2 {
		t.Errorf("the incremental export committed %s, %d snapshots in all; want one overwrite after the full export", op, len(tbl.Metadata().Snapshots()))
	}
	if _, err := cli(t, "sstable", "export", "--format", "iceberg", "--catalog", catalog, "--table", "lake.assets", "--since", "last", "testdata/assets-snapshot"); err == nil || !strings.Contains(err.Error(), "already exported") {
		t.Errorf("a second incremental export: %v, want refused as already exported", err)
	}
}

// copyFiles copies the files of dir matching patterns into a new dir to.
func copyFiles(t *testing.T, dir, to string, patterns ...string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join(dir, p))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil {
				err = os.WriteFile(filepath.Join(to, filepath.Base(f)), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSSTableInfoVerify: info prints the read plan; --verify checks each
// Data.db against its Digest.crc32 and fails naming a damaged one, and
// fails on one with no digest unless --allow-missing-digest, which
// reports it as not verified.
func TestSSTableInfoVerify(t *testing.T) {
	dir := t.TempDir()
	src := "../../assets/sstable/testdata/uncompressed-snapshot"
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := cli(t, "sstable", "info", dir)
	if err != nil || !strings.Contains(out, "plan: 1 split, 1 parallel") || strings.Contains(out, "digest") {
		t.Fatalf("info: %v\n%s", err, out)
	}
	if out, err := cli(t, "sstable", "info", "--verify", dir); err != nil || strings.Count(out, ": digest ok\n") != 2 {
		t.Fatalf("info --verify of an intact snapshot: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "nb-2-big-Data.db")
	b, _ := os.ReadFile(data)
	b[100] ^= 0x04
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	digest, _ := os.ReadFile(filepath.Join(src, "nb-2-big-Digest.crc32"))
	want := fmt.Sprintf("%s: CRC32 %d, Digest.crc32 says %s", data, crc32.ChecksumIEEE(b), strings.TrimSpace(string(digest)))
	_, err = cli(t, "sstable", "info", "--verify", dir)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("info --verify of a damaged Data.db: error %v, want one with %q", err, want)
	}

	b[100] ^= 0x04
	if err := os.WriteFile(data, b, 0o644); err != nil { // intact again
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "nb-1-big-Digest.crc32")); err != nil {
		t.Fatal(err)
	}
	undigested := filepath.Join(dir, "nb-1-big-Data.db") + ": not verified: no Digest.crc32"
	out, err = cli(t, "sstable", "info", "--verify", dir)
	if err == nil || !strings.Contains(err.Error(), undigested) || !strings.Contains(err.Error(), "--allow-missing-digest") || !strings.Contains(out, undigested) {
		t.Errorf("info --verify without a digest: error %v, want one naming the SSTable and --allow-missing-digest\n%s", err, out)
	}
	out, err = cli(t, "sstable", "info", "--verify", "--allow-missing-digest", dir)
	if err != nil || !strings.Contains(out, undigested) || strings.Count(out, ": digest ok\n") != 1 {
		t.Errorf("info --verify --allow-missing-digest: %v\n%s", err, out)
	}
}
