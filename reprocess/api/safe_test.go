package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
)

// runner fails the jobs named in errs and records the source file of
// every job it is given.
type runner struct {
	errs  map[string]error
	files []string
	jobs  []*job.Job
}

func (r *runner) Start(j *job.Job) error {
	r.files = append(r.files, j.Source.File)
	r.jobs = append(r.jobs, j)
	return r.errs[j.Name]
}

// downStore is a store whose every request fails.
type downStore struct{ assets.Store }

func (downStore) Get(context.Context, assets.ID) (assets.Asset, error) {
	return assets.Asset{}, errors.New("store unavailable")
}

func (downStore) Job(context.Context, string) (assets.Job, error) {
	return assets.Job{}, errors.New("store unavailable")
}

func post(t *testing.T, srv *httptest.Server, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct{ Error string }
	json.NewDecoder(res.Body).Decode(&e)
	return res.StatusCode, e.Error
}

func spec(name, source string) string {
	return "name: " + name + "\nsource: " + source + "\ntransform: {name: orientation, version: 1}\n"
}

const anID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

// Every client error is 400, a job running elsewhere 409, a service down
// 503; a Start error that is not the job's fault is not a 400.
func TestStatuses(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	a := assets.Asset{ID: assets.NewID(time.Now()), Type: "image", CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		Metadata: map[string]string{"height": "2160"}, Facts: map[string]string{"orientation": "landscape"}, Transforms: map[string]int{"orientation": 2}}
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveJob(ctx, assets.Job{ID: "done", Status: control.Succeeded, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := &runner{errs: map[string]error{
		"invalid": fmt.Errorf("source.kind: %w", run.ErrInvalid),
		"busy":    fmt.Errorf("%w: job busy", control.ErrBusy),
		"down":    errors.New("kafka: no brokers reachable"),
	}}
	newServer := func(st assets.Store) *httptest.Server {
		srv := httptest.NewServer((&api.Server{Store: st, Runner: r, Token: token, Log: slog.New(slog.DiscardHandler)}).Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	srv, down := newServer(s), newServer(downStore{s})
	ids := func(n int) string {
		return "{kind: ids, ids: [" + strings.TrimSuffix(strings.Repeat(anID+",", n), ",") + "]}"
	}
	for _, tc := range []struct {
		srv          *httptest.Server
		method, path string
		body, tok    string
		code         int
		want         string
	}{
		{srv, "POST", "/api/v1/jobs", spec("ok", ids(2)), "", 401, "bearer token"},
		{srv, "GET", "/api/v1/assets/" + anID, "", "wrong", 401, "bearer token"},
		{srv, "POST", "/api/v1/jobs", "name: [", token, 400, "job spec: yaml"},
		{srv, "POST", "/api/v1/jobs", spec("bad", "{kind: ids, ids: [nope]}"), token, 400, "source.ids[0]"},
		{srv, "POST", "/api/v1/jobs", spec("big", ids(job.MaxIDs)) + strings.Repeat("#", 8<<20), token, 400, "over 8 MiB"},
		{srv, "POST", "/api/v1/jobs", spec("file", "{kind: ids, file: /etc/passwd}"), token, 400, "source.file: the API does not read server files; give source.ids"},
		{srv, "POST", "/api/v1/jobs", spec("stdin", "{kind: ids, file: '-'}"), token, 400, "does not read server files"},
		{srv, "POST", "/api/v1/jobs", spec("invalid", ids(1)), token, 400, "source.kind"},
		{srv, "POST", "/api/v1/jobs", spec("busy", ids(1)), token, 409, "job busy"},
		{srv, "POST", "/api/v1/jobs", spec("down", ids(1)), token, 503, "no brokers"},
		{srv, "POST", "/api/v1/jobs", spec("ok", ids(job.MaxIDs)), token, 201, ""},
		{srv, "GET", "/api/v1/jobs/nope", "", token, 404, "not found"},
		{srv, "POST", "/api/v1/jobs/nope/pause", "", token, 404, "not found"},
		{srv, "POST", "/api/v1/jobs/done/pause", "", token, 409, "cannot become paused"},
		{down, "GET", "/api/v1/jobs/done", "", token, 503, "store unavailable"},
		{srv, "GET", "/api/v1/assets/not-an-id", "", token, 400, "id: want an asset id"},
		{srv, "GET", "/api/v1/assets/6ba7b810-9dad-41d1-80b4-00c04fd430c8", "", token, 400, "id: want an asset id"},
		{srv, "GET", "/api/v1/assets/" + anID, "", token, 404, "asset " + anID + " not found"},
		{down, "GET", "/api/v1/assets/" + anID, "", token, 503, "store unavailable"},
	} {
		req, _ := http.NewRequest(tc.method, tc.srv.URL+tc.path, strings.NewReader(tc.body))
		if tc.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != tc.code || !strings.Contains(e.Error, tc.want) || strings.Contains(e.Error, "not-an-id") {
			t.Errorf("%s %s %.40q: %d %q; want %d with %q", tc.method, tc.path, tc.body, res.StatusCode, e.Error, tc.code, tc.want)
		}
	}
	for _, f := range r.files {
		if f != "" {
			t.Errorf("the runner was given source.file %s", f)
		}
	}
	code, body := call(t, srv, "GET", "/api/v1/assets/"+a.ID.String(), token)
	var got assets.Asset
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got.ID != a.ID || got.Facts["orientation"] != "landscape" ||
		got.Transforms["orientation"] != 2 || got.Metadata["height"] != "2160" || got.Type != "image" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("GET asset: %d %s; want %+v", code, body, a)
	}
}

// A file is read only inside serve.ids_dir: named relative to it, with
// no way out by "..", an absolute path or a symlink; the runner gets the
// resolved path.
func TestIDsDir(t *testing.T) {
	base := t.TempDir()
	dir, outside := filepath.Join(base, "ids"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dir, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, target := range map[string]string{
		filepath.Join(dir, "ids.txt"):    "",
		filepath.Join(outside, "x.txt"):  "",
		filepath.Join(dir, "escape.txt"): filepath.Join(outside, "x.txt"),
		filepath.Join(dir, "passwd"):     "/etc/passwd",
		filepath.Join(dir, "sub", "in"):  filepath.Join(dir, "ids.txt"),
		filepath.Join(dir, "out"):        outside,
		filepath.Join(base, "ids-link"):  dir,
	} {
		var err error
		switch target {
		case "":
			err = os.WriteFile(path, []byte(anID+"\n"), 0o644)
		default:
			err = os.Symlink(target, path)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	for _, tc := range []struct {
		idsDir, file string
		want         string // the file the runner gets; empty: refused
	}{
		{dir, "ids.txt", filepath.Join(realDir, "ids.txt")},
		{dir, "sub/../ids.txt", filepath.Join(realDir, "ids.txt")},
		{dir, "sub/in", filepath.Join(realDir, "ids.txt")},
		{filepath.Join(base, "ids-link"), "ids.txt", filepath.Join(realDir, "ids.txt")},
		{dir, "../outside/x.txt", ""},
		{dir, "sub/../../outside/x.txt", ""},
		{dir, filepath.Join(dir, "ids.txt"), ""},
		{dir, "/ids.txt", ""}, // not root/ids.txt: absolute paths are refused
		{dir, "escape.txt", ""},
		{dir, "passwd", ""},
		{dir, "out/x.txt", ""},
		{dir, "sub", ""}, // not a regular file
		{dir, ".", ""},
		{dir, "missing.txt", ""},
		{"", "ids.txt", ""},
	} {
		r := &runner{}
		srv := httptest.NewServer((&api.Server{Store: assetstest.Embedded(t, assets.DefaultLayout), Runner: r, Token: token, IDsDir: tc.idsDir,
			Log: slog.New(slog.DiscardHandler)}).Handler())
		code, msg := post(t, srv, "/api/v1/jobs", spec("dir", "{kind: ids, file: '"+tc.file+"'}"))
		srv.Close()
		switch {
		case tc.want != "" && (code != 201 || len(r.files) != 1 || r.files[0] != tc.want):
			t.Errorf("ids_dir %s, file %s: %d %q, runner got %v; want 201 and %s", tc.idsDir, tc.file, code, msg, r.files, tc.want)
		case tc.want == "" && (code != 400 || len(r.files) != 0 || !strings.Contains(msg, "source.file")):
			t.Errorf("ids_dir %s, file %s: %d %q, runner got %v; want 400 naming source.file", tc.idsDir, tc.file, code, msg, r.files)
		case tc.want == "" && strings.Contains(strings.ReplaceAll(msg, tc.file, ""), base):
			t.Errorf("ids_dir %s, file %s: %q names a server path", tc.idsDir, tc.file, msg)
		}
	}
}

// An export posted to the API writes only inside serve.export_dir, and the
// spec text every other process reads names the resolved paths; a backup
// source reads no server directory.
func TestExportDir(t *testing.T) {
	base := t.TempDir()
	dir, outside := filepath.Join(base, "exports"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dir, "old"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	exportTo := func(params string) string {
		return "name: ex\nsource: {kind: ids, ids: ['" + anID + "']}\ntransform: {name: export, version: 1, " + params + "}\n"
	}
	backup := func(src string) string {
		return "name: bk\nsource: {kind: backup, " + src + "}\ntransform: {name: orientation, version: 1}\n"
	}
	for _, tc := range []struct {
		exportDir, spec, field string
		dir, catalog           string // the resolved paths, when accepted
	}{
		{dir, exportTo("dir: daily, format: jsonl"), "", filepath.Join(realDir, "daily"), ""},
		{dir, exportTo("dir: old/new/deeper, format: parquet"), "", filepath.Join(realDir, "old/new/deeper"), ""},
		{dir, exportTo("dir: d, format: iceberg, catalog: lake.db, table: lake.assets"), "", filepath.Join(realDir, "d"), filepath.Join(realDir, "lake.db")},
		{dir, exportTo("dir: d, format: iceberg, catalog: 'https://lake.example/api', table: lake.assets"), "", filepath.Join(realDir, "d"), "https://lake.example/api"},
		{dir, exportTo("dir: " + outside + ", format: jsonl"), "transform.dir", "", ""},
		{dir, exportTo("dir: ../outside, format: jsonl"), "transform.dir", "", ""},
		{dir, exportTo("dir: old/../../outside, format: jsonl"), "transform.dir", "", ""},
		{dir, exportTo("dir: out/x, format: jsonl"), "transform.dir", "", ""},
		{dir, exportTo("dir: d, format: iceberg, catalog: ../lake.db, table: lake.assets"), "transform.catalog", "", ""},
		{dir, exportTo("dir: d, format: iceberg, catalog: /var/lake.db, table: lake.assets"), "transform.catalog", "", ""},
		{"", exportTo("dir: daily, format: jsonl"), "serve.export_dir", "", ""},
		{dir, backup("snapshots: [" + outside + "]"), "source.snapshots[0]", "", ""},
		{dir, backup("snapshots: ['s3://b/snap'], since: " + outside), "source.since", "", ""},
	} {
		r := &runner{}
		srv := httptest.NewServer((&api.Server{Store: assetstest.Embedded(t, assets.DefaultLayout), Runner: r, Token: token, ExportDir: tc.exportDir,
			Log: slog.New(slog.DiscardHandler)}).Handler())
		code, msg := post(t, srv, "/api/v1/jobs", tc.spec)
		srv.Close()
		if tc.field != "" {
			if code != 400 || len(r.jobs) != 0 || !strings.Contains(msg, tc.field) || strings.Contains(strings.ReplaceAll(msg, outside, ""), base) {
				t.Errorf("%s: %d %q, runner got %d jobs; want 400 naming %s and no server path", tc.spec, code, msg, len(r.jobs), tc.field)
			}
			continue
		}
		if code != 201 || len(r.jobs) != 1 {
			t.Errorf("%s: %d %q, want 201", tc.spec, code, msg)
			continue
		}
		stored, err := job.Read([]byte(r.jobs[0].Text))
		if err != nil {
			t.Fatalf("%s: the stored text does not read: %v", tc.spec, err)
		}
		for _, got := range []job.Transform{r.jobs[0].Transform, stored.Transform} {
			if got.Dir != tc.dir || got.Catalog != tc.catalog {
				t.Errorf("%s: dir %q catalog %q, want %q and %q", tc.spec, got.Dir, got.Catalog, tc.dir, tc.catalog)
			}
		}
	}
}

// The OpenAPI document describes the asset route, every field of an
// asset, and each status a job's creation answers.
func TestOpenAPIDescribesAssetsAndStatuses(t *testing.T) {
	code, body := call(t, serve(t, nil), "GET", "/api/v1/openapi.yaml", token)
	var doc struct {
		Paths      map[string]map[string]struct{ Responses map[string]any }
		Components struct {
			Schemas map[string]struct{ Properties map[string]any }
		}
	}
	if err := yaml.Unmarshal([]byte(body), &doc); code != 200 || err != nil {
		t.Fatalf("openapi.yaml: %d %v", code, err)
	}
	for path, statuses := range map[string][]string{
		"/jobs post":               {"201", "400", "401", "409", "503"},
		"/assets/{id} get":         {"200", "400", "401", "404", "503"},
		"/jobs/{id} get":           {"200", "401", "404", "503"},
		"/jobs/{id}/{action} post": {"200", "401", "404", "409", "503"},
	} {
		p, method, _ := strings.Cut(path, " ")
		for _, s := range statuses {
			if doc.Paths[p][method].Responses[s] == nil {
				t.Errorf("openapi.yaml: %s %s lacks %s", method, p, s)
			}
		}
	}
	asset := assets.Asset{Metadata: map[string]string{"a": ""}, Facts: map[string]string{"a": ""}, Transforms: map[string]int{"a": 1}}
	schemaFits(t, doc.Components.Schemas["Asset"].Properties, "Asset", asset)
}
