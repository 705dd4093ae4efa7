package iceberg_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/assets/lake/iceberg/icebergtest"
	"github.com/reprocess/reprocess/assets/sstable"
)

// TestRESTCatalogSendsTheToken opens REST catalogs served by a stand-in
// server: the configured token reaches it as a bearer token, and a
// refusal is an error naming the catalog.
func TestRESTCatalogSendsTheToken(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer t0k" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error": {"message": "bad token", "type": "NotAuthorizedException", "code": 401}}`))
			return
		}
		w.Write([]byte(`{"defaults": {}, "overrides": {}}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	cat, err := iceberg.Catalog{URI: srv.URL, Token: "t0k"}.Open(ctx)
	if err != nil {
		t.Fatalf("open with the token: %v (requests %v)", err, auth)
	}
	iceberg.Close(cat)
	if len(auth) == 0 || auth[0] != "/v1/config Bearer t0k" {
		t.Errorf("requests %v, want /v1/config with the bearer token first", auth)
	}
	_, err = iceberg.Catalog{URI: srv.URL, Token: "wrong"}.Open(ctx)
	if err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("open with a wrong token: %v, want an error naming %s", err, srv.URL)
	}
}

// TestS3Warehouse exports to a SQLite catalog whose warehouse is a bucket
// of an in-process S3: the data and metadata files are objects, and the
// table reads back whole.
func TestS3Warehouse(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	snap, err := sstable.OpenSnapshot(fixture)
	if err != nil {
		t.Fatal(err)
	}
	opt := iceberg.Options{Table: "lake.t", Catalog: iceberg.Catalog{URI: filepath.Join(t.TempDir(), "c.db"), Warehouse: "s3://lake/wh",
		S3: backup.S3{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Insecure: true, Region: "us-east-1", AccessKey: "k", SecretKey: "s"}}}
	res, err := iceberg.ExportSnapshot(context.Background(), snap, sstable.ReadOptions{}, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, icebergtest.Count(t, opt.Catalog, opt.Table, "k"), res.Rows)
	objs, err := backend.ListBucket("lake", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var data, meta int
	for _, o := range objs.Contents {
		data += b2i(strings.HasSuffix(o.Key, ".parquet"))
		meta += b2i(strings.HasSuffix(o.Key, ".metadata.json"))
	}
	if data == 0 || meta == 0 {
		t.Errorf("bucket holds %d data files and %d metadata files, want some of each", data, meta)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestParseIdent accepts namespace.table names of CQL-like parts and
// refuses any part that could name a path or is empty.
func TestParseIdent(t *testing.T) {
	for name, ok := range map[string]bool{
		"lake.assets":                      true,
		"a.b.c":                            true,
		"Lake_2.t_1":                       true,
		"assets":                           false,
		"lake.":                            false,
		".assets":                          false,
		"lake..assets":                     false,
		"x./../../evil":                    false,
		"x.a/b":                            false,
		"x.y; DROP":                        false,
		"x.y\x00":                          false,
		"lake.a" + "\\b":                   false,
		"lake.ünïcode":                     false,
		"lake." + strings.Repeat("a", 129): false,
	} {
		_, err := iceberg.ParseIdent(name)
		if (err == nil) != ok {
			t.Errorf("ParseIdent(%q): error %v, want ok=%v", name, err, ok)
		}
	}
}

// TestWithKeepsTheTokenForItsCatalog: a job spec naming another catalog
// must not receive the configured catalog's token.
func TestWithKeepsTheTokenForItsCatalog(t *testing.T) {
	c := iceberg.Catalog{URI: "https://lake.example/api", Token: "t0k"}
	for uri, want := range map[string]string{
		"":                          "t0k",
		"https://lake.example/api":  "t0k",
		"https://other.example/api": "",
		"lake.db":                   "",
	} {
		if got := c.With(uri).Token; got != want {
			t.Errorf("With(%q).Token = %q, want %q", uri, got, want)
		}
	}
}
