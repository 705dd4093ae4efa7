package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

const token = "test-token"

// apiServer seeds an embedded store and serves the API on it, with the
// in-process Kafka broker and serve.ids_dir set to idsDir.
func apiServer(t *testing.T, n int, idsDir ...string) *httptest.Server {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Store.Embedded.Dir = dir
	cfg.Serve.Token = token
	cfg.Serve.IDsDir = strings.Join(idsDir, "")
	seedStore(t, cfg, n)
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	h, stop, err := a.apiHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); stop() })
	return srv
}

// seedStore writes n synthetic assets of the last two days into the
// embedded store of cfg.
func seedStore(t *testing.T, cfg config.Config, n int) {
	t.Helper()
	s, err := embedded.Open(cfg.Store.Embedded, cfg.Layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := synth.Seed(context.Background(), s, synth.Config{Count: n, Span: 48 * time.Hour, Seed: 4, Concurrency: 8}, nil); err != nil {
		t.Fatal(err)
	}
}

func slowJob(name string) string {
	return fmt.Sprintf(`name: %s
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 20, concurrency: 2}
transform: {name: orientation, version: 1}
rate: {limit: 400}
`, name, time.Now().Add(-72*time.Hour).UTC().Format(time.RFC3339))
}

func call(t *testing.T, srv *httptest.Server, method, path, body, tok string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{"raw": string(raw)}
	}
	return res.StatusCode, m
}

func TestAPI(t *testing.T) {
	srv := apiServer(t, 3000)
	for _, tc := range []struct {
		method, path, body, tok string
		code                    int
		want                    string
	}{
		{"GET", "/api/v1/jobs", "", "", 401, "bearer token"},
		{"GET", "/api/v1/jobs", "", "wrong", 401, "bearer token"},
		{"POST", "/api/v1/jobs", "name: x\nsource: {kind: nope}\ntransform: {name: t, version: 1}\n", token, 400, "source.kind"},
		{"POST", "/api/v1/jobs", "name: x\nsource: {kind: ids, file: /x}\nfilter: 'asset.metadata.height > 1'\ntransform: {name: t, version: 1}\n", token, 400, "no matching overload"},
		{"GET", "/api/v1/jobs/nope", "", token, 404, "not found"},
		{"POST", "/api/v1/jobs", slowJob("api-job"), token, 201, "api-job"},
		{"POST", "/api/v1/jobs", slowJob("api-job"), token, 409, "already running"},
		{"POST", "/api/v1/jobs/api-job/pause", "", token, 200, "paused"},
		{"POST", "/api/v1/jobs/api-job/pause", "", token, 409, "cannot become paused"},
		{"POST", "/api/v1/jobs/api-job/resume", "", token, 200, "running"},
		{"POST", "/api/v1/jobs/api-job/explode", "", token, 404, "no action"},
		{"POST", "/api/v1/jobs", strings.Replace(slowJob("ghost-job"), "name: orientation", "name: ghost", 1), token, 400, "no transform ghost"},
		{"POST", "/api/v1/plan?sample=2", slowJob("plan-job"), token, 200, "exact:true"},
		{"GET", "/api/v1/jobs/plan-job", "", token, 404, "not found"},
		{"POST", "/api/v1/jobs/api-job/cancel", "", token, 200, "cancelled"},
		{"POST", "/api/v1/jobs/api-job/resume", "", token, 409, "cannot become running"},
		{"GET", "/api/v1/jobs/api-job", "", token, 200, "cancelled"},
		{"GET", "/api/v1/jobs/api-job/missing?limit=2", "", token, 200, "checked:3000"}, // cancelled early: most lack it
		{"GET", "/api/v1/jobs/api-job/missing?limit=0", "", token, 400, "limit: want a whole number from 1 to 10000"},
		{"GET", "/api/v1/jobs/api-job/missing?limit=%2Fetc%2Fpasswd", "", token, 400, "limit: want a whole number"},
		{"GET", "/api/v1/jobs/nope/missing", "", token, 404, "job nope: not found"},
		{"GET", "/api/v1/jobs/api-job/missing", "", "", 401, "bearer token"},
		{"GET", "/api/v1/jobs/api-job/dead-letters", "", token, 200, "[]"}, // kept with the embedded store
		{"POST", "/api/v1/jobs/api-job/dead-letters/replay", "", token, 200, "replayed:0"},
	} {
		code, body := call(t, srv, tc.method, tc.path, tc.body, tc.tok)
		text := fmt.Sprint(body)
		if code != tc.code || !strings.Contains(text, tc.want) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.path, code, text, tc.code, tc.want)
		}
	}
	// What missing lists lacks the job's result, as the asset route shows,
	// once the events published before the cancel are applied.
	var last any
	assetstest.Eventually(t, time.Minute, "the cancelled job's published events applied", func() bool {
		_, body := call(t, srv, "GET", "/api/v1/jobs/api-job/missing?limit=2", "", token)
		same := body["missing"] == last
		last = body["missing"]
		time.Sleep(time.Second)
		return same
	})
	code, body := call(t, srv, "GET", "/api/v1/jobs/api-job/missing?limit=2", "", token)
	ids, _ := body["asset_ids"].([]any)
	if n, _ := body["missing"].(float64); code != 200 || len(ids) != 2 || n < 2 {
		t.Errorf("missing?limit=2: %d %v; want 2 of the assets lacking the result", code, body)
	}
	for _, id := range ids {
		if code, a := call(t, srv, "GET", fmt.Sprint("/api/v1/assets/", id), "", token); code != 200 || strings.Contains(fmt.Sprint(a["transforms"]), "orientation") {
			t.Errorf("listed asset %v: %d %v; want one without orientation", id, code, a)
		}
	}
	res, err := http.Get(srv.URL + "/api/v1/openapi.yaml")
	if err != nil || res.StatusCode != 401 {
		t.Errorf("openapi.yaml without a token: %v %v", res.StatusCode, err)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/"} {
		res, err := http.Get(srv.URL + p)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", p, res.StatusCode, err)
		}
	}
}

// TestAPIReadsNoServerFiles posts id-list jobs: a server path is refused
// with 400 and nothing of the file in the answer; with serve.ids_dir a
// file inside it runs, its bad lines are named by number only, and a way
// out of it is refused.
func TestAPIReadsNoServerFiles(t *testing.T) {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatalf("the test posts /etc/passwd: %v", err)
	}
	dir := t.TempDir()
	good := assets.NewID(time.Now()).String()
	os.WriteFile(filepath.Join(dir, "ids.txt"), []byte(good+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.txt"), []byte(good+"\nsecret-line\n"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(dir, "passwd"))
	job := func(name, source string) string {
		return "name: " + name + "\nsource: " + source + "\ntransform: {name: orientation, version: 1}\n"
	}
	plain, withDir := apiServer(t, 0), apiServer(t, 0, dir)
	for i, tc := range []struct {
		srv          *httptest.Server
		source       string
		code         int
		want, secret string
	}{
		{plain, "{kind: ids, file: /etc/passwd}", 400, "the API does not read server files; give source.ids", ""},
		{plain, "{kind: ids, file: /etc/passwd, column: '1'}", 400, "the API does not read server files", ""},
		{plain, "{kind: ids, ids: [" + good + "]}", 201, "", ""},
		{withDir, "{kind: ids, file: /etc/passwd}", 400, "not a file inside the server's ids directory", ""},
		{withDir, "{kind: ids, file: ../../../../../../etc/passwd}", 400, "not a file inside", ""},
		{withDir, "{kind: ids, file: passwd}", 400, "not a file inside", ""},
		{withDir, "{kind: ids, file: bad.txt}", 400, "source.file bad.txt: 1 invalid asset ids:\nline 2: not a timeuuid", "secret-line"},
		{withDir, "{kind: ids, file: ids.txt}", 201, "", ""},
	} {
		code, body := call(t, tc.srv, "POST", "/api/v1/jobs", job(fmt.Sprintf("files-%d", i), tc.source), token)
		text := fmt.Sprint(body)
		if code != tc.code || !strings.Contains(text, tc.want) || (tc.secret != "" && strings.Contains(text, tc.secret)) || strings.Contains(text, dir) {
			t.Errorf("%s: %d %s; want %d with %q", tc.source, code, text, tc.code, tc.want)
		}
		for _, line := range strings.Split(string(passwd), "\n") {
			if len(line) > 3 && strings.Contains(text, line) {
				t.Errorf("%s: the answer holds a line of /etc/passwd: %s", tc.source, text)
			}
		}
	}
	// The file inside serve.ids_dir was read: its one id was scanned.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := call(t, withDir, "GET", "/api/v1/jobs/files-7", "", token)
		if c, _ := body["counters"].(map[string]any); body["status"] == "succeeded" && c["scanned"] == 1.0 {
			if text := fmt.Sprint(body); strings.Contains(text, dir) || !strings.Contains(text, "file: ids.txt") {
				t.Errorf("the job's view names the server's directory, or not the file as given: %s", text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job on ids.txt did not scan its id: %v", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dlqServer serves the API on an empty store with kafka.brokers
// configured; the function it returns dead-letters an event of a job.
func dlqServer(t *testing.T) (*httptest.Server, func(job string) events.Reprocess) {
	t.Helper()
	cfg := config.Default()
	cfg.Store.Embedded.Dir = filepath.Join(t.TempDir(), "data")
	cfg.Serve.Token = token
	seedStore(t, cfg, 200)
	log := slog.New(slog.DiscardHandler)
	broker, err := kafka.Start(cfg.Kafka, log) // in process, reached by its address
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	cfg.Kafka.Brokers = broker.Brokers()
	h, stop, err := (&app{cfg: cfg, log: log}).apiHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); stop() })
	d, err := broker.NewDLQ("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return srv, func(job string) events.Reprocess {
		ev := events.Reprocess{JobID: job, AssetID: assets.NewID(time.Now()), Transform: "orientation", Version: 1, Attempt: 1, EmittedAt: time.Now()}
		m, err := events.Encode(ev, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Send(context.Background(), m, errors.New("boom"), 3); err != nil {
			t.Fatal(err)
		}
		return ev
	}
}

// TestAPIDeadLetters lists and replays a dead-lettered event through the
// API of a server with kafka.brokers configured.
func TestAPIDeadLetters(t *testing.T) {
	srv, deadLetter := dlqServer(t)
	ev := deadLetter("dl-job")
	if code, body := call(t, srv, "GET", "/api/v1/jobs/dl-job/dead-letters", "", token); code != 200 || !strings.Contains(body["raw"].(string), ev.AssetID.String()) {
		t.Errorf("dead letters: %d %v; want the event of %s", code, body, ev.AssetID)
	}
	if code, body := call(t, srv, "POST", "/api/v1/jobs/dl-job/dead-letters/replay", "", token); code != 200 || body["replayed"] != 1.0 {
		t.Errorf("replay: %d %v; want 1 replayed", code, body)
	}
}

// chrome returns a headless Chromium context, or skips without Chromium
// (fails under CI).
func chrome(t *testing.T) context.Context {
	t.Helper()
	browser := need.Tool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestJobPageReplaysDeadLetters presses a job's replay button and sees
// how many dead letters went back.
func TestJobPageReplaysDeadLetters(t *testing.T) {
	ctx := chrome(t)
	srv, deadLetter := dlqServer(t)
	if code, body := call(t, srv, "POST", "/api/v1/jobs", slowJob("dl-page-job"), token); code != 201 {
		t.Fatalf("start a job: %d %v", code, body)
	}
	deadLetter("dl-page-job")
	deadLetter("dl-page-job")
	deadLetter("another-job")
	row := `tr[data-job="dl-page-job"]`
	for _, step := range []chromedp.Action[chromedp.Void]{chromedp.Navigate(srv.URL + "/#token=" + token), chromedp.WaitVisible(row + ` td.dlq`), chromedp.Click(row + ` button[name="replay"]`)} {
		if _, err := chromedp.Run(ctx, step); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('`+row+` .replayed')?.textContent === 'replayed 2'`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Text(`body`))
		t.Fatalf("the page never showed 'replayed 2': %v\n%s", err, text)
	}
}

// TestJobPagePreviewsAJob pastes a spec into the page's preview, presses
// Preview, sees the plan, and no job was started.
func TestJobPagePreviewsAJob(t *testing.T) {
	ctx := chrome(t)
	srv := apiServer(t, 500)
	for _, step := range []chromedp.Action[chromedp.Void]{chromedp.Navigate(srv.URL + "/#token=" + token),
		chromedp.Click(`#preview summary`), chromedp.SetValue(`#spec`, slowJob("preview-job")), chromedp.Click(`button[name="preview"]`)} {
		if _, err := chromedp.Run(ctx, step); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.getElementById('plan').textContent.includes('500 assets')`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Text(`#preview`))
		t.Fatalf("the page never showed the plan of 500 assets: %v\n%s", err, text)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(`#plan`))
	if err != nil || !strings.Contains(text, "orientation v1 (go)") || !strings.Contains(text, "at 400/s") {
		t.Errorf("the preview: %v\n%s", err, text)
	}
	if code, body := call(t, srv, "GET", "/api/v1/jobs/preview-job", "", token); code != 404 {
		t.Errorf("the previewed job: %d %v; want none", code, body)
	}
}

// TestJobPageInChromium loads the job page in headless Chromium, watches a
// running job's progress advance, presses pause, sees the job paused, and
// leaves a screenshot in testout/.
func TestJobPageInChromium(t *testing.T) {
	ctx := chrome(t)
	srv := apiServer(t, 4000)
	if code, body := call(t, srv, "POST", "/api/v1/jobs", slowJob("page-job"), token); code != 201 {
		t.Fatalf("start a job: %d %v", code, body)
	}

	row := `tr[data-job="page-job"]`
	scanned := func() int {
		text, err := chromedp.Run(ctx, chromedp.Text(row+` td.scanned`))
		if err != nil {
			t.Fatalf("read the scanned count: %v", err)
		}
		return atoi(text)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/#token="+token)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(row+` td.scanned`)); err != nil {
		t.Fatalf("the job row never showed: %v", err)
	}
	// Counters reach the store every 2 s; wait for two different readings.
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`Number(document.querySelector('`+row+` td.scanned').textContent) > 0`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("progress never showed: %v", err)
	}
	first := scanned()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`Number(document.querySelector('`+row+` td.scanned').textContent) > `+fmt.Sprint(first),
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("progress did not advance past %d: %v", first, err)
	}
	later := scanned()
	if _, err := chromedp.Run(ctx, chromedp.Click(row+` button[name="pause"]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('`+row+` td.status').textContent === 'paused'`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the job did not show as paused: %v", err)
	}
	if later <= first {
		t.Errorf("progress %d -> %d; want it advancing", first, later)
	}
	// The job's pane shows its ledger.
	if _, err := chromedp.Run(ctx, chromedp.Click(row+` button[name="open"]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('#detail dt')].some(dt => dt.textContent === 'ledger' && /^scanned \d+ = filtered \d+ \+ emitted \d+; emitted \d+ = applied /.test(dt.nextElementSibling.textContent))`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the job's pane shows no ledger: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("../../testout", 0o755); err == nil {
		os.WriteFile("../../testout/jobpage.png", shot, 0o644)
	}
	t.Logf("job page: scanned %d -> %d, then paused; screenshot testout/jobpage.png", first, later)
}
