package stock

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/synth"
)

func someAssets(n int) []assets.Asset {
	gen := synth.NewGenerator(synth.Config{Span: 24 * time.Hour, Seed: 5})
	out := make([]assets.Asset, n)
	for i := range out {
		out[i] = gen.Next()
		out[i].Version = int64(i + 1)
	}
	return out
}

// exportAll applies the export concurrently, as a worker would.
func exportAll(t *testing.T, e *Export, as []assets.Asset) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(as))
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(as); i += 8 {
				if _, err := e.Apply(context.Background(), as[i]); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestExportRollsAndPublishes(t *testing.T) {
	for _, format := range []string{"jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			e, err := newExport(1, dir, format, "job-w1", 30_000, iceberg.Options{})
			if err != nil {
				t.Fatal(err)
			}
			as := someAssets(1000)
			exportAll(t, e, as)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*."+format))
			if len(files) < 3 {
				t.Errorf("%d files for ~%d bytes rolled at 30000: want several", len(files), 1000*300)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt)); len(left) > 0 {
				t.Errorf("segments left unpublished: %v", left)
			}
			rows := readRows(t, files, format)
			if len(rows) != len(as) {
				t.Fatalf("exported %d rows, want %d", len(rows), len(as))
			}
			for _, a := range as {
				r, ok := rows[a.ID.String()]
				if !ok || r.Type != a.Type || r.Metadata["title"] != a.Metadata["title"] || r.Version != a.Version || !r.CreatedAt.Equal(a.CreatedAt) {
					t.Fatalf("asset %s exported as %+v", a.ID, r)
				}
			}
		})
	}
}

func readRows(t *testing.T, files []string, format string) map[string]lake.Row {
	t.Helper()
	rows := map[string]lake.Row{}
	for _, f := range files {
		if format == "parquet" {
			rs, err := parquet.ReadFile[lake.Row](f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				rows[r.AssetID] = r
			}
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var r lake.Row
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			rows[r.AssetID] = r
		}
		fh.Close()
	}
	return rows
}

func TestExportRecoversACrashedSegment(t *testing.T) {
	dir := t.TempDir()
	as := someAssets(3)
	var b strings.Builder
	for _, a := range as[:2] {
		line, _ := json.Marshal(lake.Row{AssetID: a.ID.String(), Type: a.Type, CreatedAt: a.CreatedAt})
		b.Write(append(line, '\n'))
	}
	b.WriteString(`{"asset_id": "torn`) // the crash cut the last line
	seg := filepath.Join(dir, "job-w1-20250101T000000-0001"+segmentExt)
	os.WriteFile(seg, []byte(b.String()), 0o644)
	e, err := newExport(1, dir, "parquet", "job-w1", 1<<20, iceberg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rows := readRows(t, []string{strings.TrimSuffix(seg, segmentExt) + ".parquet"}, "parquet")
	if len(rows) != 2 {
		t.Errorf("recovered %d rows, want the 2 whole ones", len(rows))
	}
	if _, err := os.Stat(seg); !os.IsNotExist(err) {
		t.Errorf("the crashed segment is still there: %v", err)
	}
}

// TestExportToIceberg exports assets to an Iceberg table, several
// segments, each one commit; then finds a segment a crash left after its
// commit: publishing it again adds nothing.
func TestExportToIceberg(t *testing.T) {
	dir := t.TempDir()
	opt := iceberg.Options{Catalog: iceberg.Catalog{URI: filepath.Join(dir, "lake.db")}, Table: "lake.assets"}
	e, err := newExport(1, filepath.Join(dir, "segments"), "iceberg", "job-w1", 30_000, opt)
	if err != nil {
		t.Fatal(err)
	}
	as := someAssets(300)
	exportAll(t, e, as)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	ids, commits := icebergAssets(t, opt)
	if len(ids) != len(as) || commits < 2 {
		t.Fatalf("%d assets in %d commits, want %d in several", len(ids), commits, len(as))
	}
	for _, a := range as {
		if ids[a.ID.String()] != 1 {
			t.Fatalf("asset %s: %d rows, want 1", a.ID, ids[a.ID.String()])
		}
	}

	// A crash after the commit of this segment, before its removal.
	more := someAssets(302)[300:]
	var b strings.Builder
	var rows []lake.Row
	for _, a := range more {
		r := lake.AssetRow(a, time.Now())
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
		rows = append(rows, r)
	}
	seg := filepath.Join(dir, "segments", "job-w1-20250101T000000-0001"+segmentExt)
	os.WriteFile(seg, []byte(b.String()), 0o644)
	if done, err := iceberg.AppendAssets(context.Background(), opt, "job-w1-20250101T000000-0001", rows); err != nil || !done {
		t.Fatalf("commit of the segment: %v, %v", done, err)
	}
	e, err = newExport(1, filepath.Join(dir, "segments"), "iceberg", "job-w1", 30_000, opt)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := os.Stat(seg); !os.IsNotExist(err) {
		t.Errorf("the committed segment is still there: %v", err)
	}
	if ids, _ := icebergAssets(t, opt); len(ids) != len(as)+2 || ids[more[0].ID.String()] != 1 || ids[more[1].ID.String()] != 1 {
		t.Errorf("after recovery: %d assets, the segment's %d and %d times; want %d, once each",
			len(ids), ids[more[0].ID.String()], ids[more[1].ID.String()], len(as)+2)
	}
}

// icebergAssets counts the rows of each asset id of the table, and its
// commits.
func icebergAssets(t *testing.T, opt iceberg.Options) (map[string]int, int) {
	t.Helper()
	ctx := context.Background()
	tbl, err := iceberg.Load(ctx, opt.Catalog, opt.Table)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan(table.WithSelectedFields("asset_id")).ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	ids := map[string]int{}
	for _, chunk := range at.Column(0).Data().Chunks() {
		col := chunk.(*extensions.UUIDArray)
		for i := range col.Len() {
			ids[col.Value(i).String()]++
		}
	}
	return ids, len(tbl.Metadata().Snapshots())
}

func TestReindexOnRealElasticsearch(t *testing.T) {
	urls := need.Service(t, "REPROCESS_TEST_ES_URL", "real Elasticsearch")
	es, err := elastic.NewClient(elastic.Config{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("reindex-test-%08x", rand.Uint32())
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	})
	r, err := newReindex(es, 1, index, 3)
	if err != nil {
		t.Fatal(err)
	}
	as := someAssets(300)
	// A newer version of asset 0 is already indexed: reindexing its older
	// snapshot must not overwrite it.
	newer := as[0]
	newer.Version, newer.Metadata = 1_000_000, map[string]string{"title": "newer"}
	if _, err := r.Apply(context.Background(), newer); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(as); i += 6 {
				if _, err := r.Apply(context.Background(), as[i]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = es.Count(es.Count.WithIndex(index))
	if err != nil {
		t.Fatal(err)
	}
	var count struct{ Count int }
	json.NewDecoder(res.Body).Decode(&count)
	res.Body.Close()
	if count.Count != len(as) {
		t.Errorf("index holds %d documents, want %d", count.Count, len(as))
	}
	res, err = es.Get(index, as[0].ID.String())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Version int64    `json:"_version"`
		Source  Document `json:"_source"`
	}
	json.NewDecoder(res.Body).Decode(&doc)
	if doc.Version != 1_000_000 || doc.Source.Metadata["title"] != "newer" || doc.Source.MappingVersion != 3 {
		t.Errorf("asset 0's document: version %d, title %q, mapping %d; want the newer one kept", doc.Version, doc.Source.Metadata["title"], doc.Source.MappingVersion)
	}
}
