package sstable_test

import (
	"bytes"
	"context"
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

	"github.com/reprocess/reprocess/assets/sstable"
)

// TestFetchFromS3 uploads a snapshot to an in-process S3 server, fetches
// it into a cache, opens it, and fetches again from the cache alone.
func TestFetchFromS3(t *testing.T) {
	var gets atomic.Int64
	fake := gofakes3.New(s3mem.New()).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 {
			gets.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s3 := sstable.S3{Endpoint: strings.TrimPrefix(srv.URL, "http://"), AccessKey: "k", SecretKey: "s", Insecure: true, Region: "us-east-1"}

	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4("k", "s", ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, "backups", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	src := snapshotDir(t, "nb/legacy_nb_clust", "CREATE TABLE ks.legacy_nb_clust (pk text, ck text, val text, PRIMARY KEY (pk, ck));",
		`{"files": ["nb-1-big-Data.db"], "created_at": "2026-11-20T10:00:00Z"}`)
	files, _ := filepath.Glob(filepath.Join(src, "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		key := "node1/ks/legacy_nb_clust/snapshots/daily/" + filepath.Base(f)
		if _, err := client.PutObject(ctx, "backups", key, bytes.NewReader(raw), int64(len(raw)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	cache := t.TempDir()
	dir, err := s3.Fetch(ctx, "s3://backups/node1/ks/legacy_nb_clust/snapshots/daily", cache)
	if err != nil {
		t.Fatal(err)
	}
	if got := gets.Load(); got != int64(len(files)) {
		t.Errorf("%d object downloads, want %d", got, len(files))
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
