package api_test

import (
	"context"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
)

// browser returns a headless Chromium context, or skips without Chromium
// (fails under CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := need.Tool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A refused token brings the token form and stops polling; the token
// entered there is kept for the session and the jobs show with their
// rate and ETA; a job's detail shows its spec and run history.
func TestPageTokenFormAndDetail(t *testing.T) {
	ctx := browser(t)
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	now := time.Now().UTC()
	j := assets.Job{ID: "page-a", Spec: "name: page-a # the spec", Status: control.Running, CreatedAt: now.Add(-time.Hour),
		StartedAt: now.Add(-time.Hour), UpdatedAt: now, Counters: map[string]int64{"tasks": 10, "tasks_done": 5, "scanned": 3600, "dlq": 3}}
	if err := s.SaveJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRun(context.Background(), assets.Run{Job: j.ID, N: 1, Owner: "serve", Status: control.Running, StartedAt: j.StartedAt}); err != nil {
		t.Fatal(err)
	}
	h := (&api.Server{Store: s, Token: token, Log: slog.New(slog.DiscardHandler)}).Handler()
	var lists atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/jobs" {
			lists.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	run := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, a); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Text(`body`))
			t.Fatalf("%s: %v\n%s", what, err, text)
		}
	}
	run("open the page with a wrong token", chromedp.Navigate(srv.URL+"/#token=wrong"))
	run("the token form", chromedp.WaitVisible(chromedp.CSS(`#auth`)))
	time.Sleep(3 * time.Second) // the claim: no listing in these 3 s
	if n := lists.Load(); n != 1 {
		t.Errorf("the page listed jobs %d times in 3 s after a 401; want once", n)
	}
	run("enter the token", chromedp.SendKeys(chromedp.CSS(`#token`), token))
	run("submit it", chromedp.Click(`button[name="save-token"]`))
	row := `tr[data-job="page-a"]`
	run("the job's rate and ETA", chromedp.Poll[chromedp.Void](`document.querySelector('`+row+` td.rate')?.textContent.startsWith('1 ids/s') && `+
		`document.querySelector('`+row+` td.eta')?.textContent === '1h 0m' && document.querySelector('`+row+` td.dlq').textContent === '3'`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('reprocess-token')`)); kept != token {
		t.Errorf("session keeps token %q; want %q", kept, token)
	}
	run("open the job", chromedp.Click(row+` button[name="open"]`))
	run("its detail", chromedp.WaitVisible(chromedp.CSS(`#detail pre`)))
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#detail`)))
	if err != nil {
		t.Fatal(err)
	}
	text = strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"name: page-a # the spec", "1 serve running", "tasks 10", "dlq 3", "ETA 1h 0m"} {
		if !strings.Contains(text, want) {
			t.Errorf("the detail lacks %q:\n%s", want, text)
		}
	}
}
