package backup_test

import (
	"bytes"
	"context"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/sstable"
)

// fixture is a real Cassandra SSTable directory beside the repo.
func fixture(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(need.Fixtures(t), dir)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("SSTable fixture %s not found (set REPROCESS_TEST_SSTABLE_FIXTURES): %v", dir, err)
	}
	return p
}

// snapshotDir copies a fixture's SSTables into a new directory with the
// given schema.cql and manifest.json, as `nodetool snapshot` writes them.
func snapshotDir(t *testing.T, dir, schema, manifest string) string {
	t.Helper()
	out := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(fixture(t, dir), "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"schema.cql": schema, "manifest.json": manifest} {
		if err := os.WriteFile(filepath.Join(out, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// fakeS3 serves an in-process S3 holding the bucket "backups", and counts
// object downloads.
func fakeS3(t *testing.T) (backup.S3, *minio.Client, *atomic.Int64) {
	t.Helper()
	gets := new(atomic.Int64)
	fake := gofakes3.New(s3mem.New()).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 {
			gets.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s3 := backup.S3{Endpoint: strings.TrimPrefix(srv.URL, "http://"), AccessKey: "k", SecretKey: "s", Insecure: true, Region: "us-east-1"}
	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4("k", "s", ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(context.Background(), "backups", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return s3, client, gets
}

// upload puts every file of dir under prefix in the bucket "backups" and
// returns how many.
func upload(t *testing.T, client *minio.Client, dir, prefix string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		key := prefix + "/" + filepath.Base(f)
		if _, err := client.PutObject(context.Background(), "backups", key, bytes.NewReader(raw), int64(len(raw)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return len(files)
}

const clustSchema = "CREATE TABLE ks.legacy_nb_clust (pk text, ck text, val text, PRIMARY KEY (pk, ck));"

// TestFetchFromS3 uploads a snapshot to an in-process S3 server, fetches
// it into a cache, opens it, and fetches again from the cache alone.
func TestFetchFromS3(t *testing.T) {
	s3, client, gets := fakeS3(t)
	ctx := context.Background()
	src := snapshotDir(t, "nb/legacy_nb_clust", clustSchema, `{"files": ["nb-1-big-Data.db"], "created_at": "2026-11-20T10:00:00Z"}`)
	files := upload(t, client, src, "node1/ks/legacy_nb_clust/snapshots/daily")

	cache := t.TempDir()
	dir, err := s3.Fetch(ctx, "s3://backups/node1/ks/legacy_nb_clust/snapshots/daily", cache)
	if err != nil {
		t.Fatal(err)
	}
	if got := gets.Load(); got != int64(files) {
		t.Errorf("%d object downloads, want %d", got, files)
	}
	snap, err := sstable.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(src, "nb-1-big-Data.db"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "nb-1-big-Data.db"))
	if err != nil || !bytes.Equal(got, want) || len(snap.Tables) != 1 || snap.Schema.Table != "legacy_nb_clust" {
		t.Fatalf("fetched snapshot differs: err %v, %d tables", err, len(snap.Tables))
	}

	gets.Store(0)
	if _, err := s3.Fetch(ctx, "s3://backups/node1/ks/legacy_nb_clust/snapshots/daily/", cache); err != nil {
		t.Fatal(err)
	}
	if n := gets.Load(); n != 0 {
		t.Errorf("second fetch downloaded %d objects, want 0 (cached)", n)
	}

	for loc, want := range map[string]string{
		"s3://backups/nothing-here": "no objects",
		"http://backups/x":          "want s3://bucket/prefix",
		"s3://missing-bucket/x":     "list",
	} {
		if _, err := s3.Fetch(ctx, loc, cache); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", loc, err, want)
		}
	}
}

// TestOpen opens two replicas of one table, a local directory and an S3
// prefix, as one snapshot.
func TestOpen(t *testing.T) {
	s3, client, _ := fakeS3(t)
	local := snapshotDir(t, "nb/legacy_nb_clust", clustSchema, `{"files": ["nb-1-big-Data.db"], "created_at": "2026-11-20T10:00:00Z"}`)
	remote := snapshotDir(t, "nb/legacy_nb_clust", clustSchema, `{"files": ["nb-1-big-Data.db"], "created_at": "2026-11-21T10:00:00Z"}`)
	upload(t, client, remote, "node2/daily")
	cfg := backup.Config{CacheDir: t.TempDir(), S3: s3}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	snap, err := backup.Open(context.Background(), cfg, []string{local, "s3://backups/node2/daily"}, log)
	if err != nil {
		t.Fatal(err)
	}
	fetched := filepath.Join(cfg.CacheDir, "backups", "node2", "daily")
	if len(snap.Tables) != 2 || snap.Dirs[0] != local || snap.Dirs[1] != fetched || snap.CreatedAt.Day() != 21 {
		t.Errorf("opened %d tables from %v, created %s; want 2 from [%s %s], created on the 21st", len(snap.Tables), snap.Dirs, snap.CreatedAt, local, fetched)
	}

	if _, err := backup.Open(context.Background(), cfg, []string{local, "s3://backups/nothing-here"}, log); err == nil || !strings.Contains(err.Error(), "no objects") {
		t.Errorf("a missing S3 prefix: error %v, want one saying there are no objects", err)
	}
}
