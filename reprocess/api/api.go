// Package api is the HTTP control plane: the job operations of the CLI as
// JSON under /api/v1/ (described by openapi.yaml, served at
// /api/v1/openapi.yaml), a job page at /, and the process endpoints
// /metrics, /healthz and /readyz. Every /api/v1/ request needs the bearer
// token; the page asks for it in a form and keeps it for the browser
// session.
package api

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/dlq"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/plan"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/scan"
)

//go:embed openapi.yaml
var openapi []byte

//go:embed page.html
var page []byte

// Runner starts a validated job in the background.
type Runner interface {
	Start(j *job.Job) error
}

// DeadLetters lists and replays a job's dead-lettered events.
type DeadLetters interface {
	List(ctx context.Context, job string) ([]dlq.Entry, error)
	Replay(ctx context.Context, job string) (int, error)
}

// Missing finds what a job's completeness pass finds now: the first limit
// (0: all) assets in its scope without its result, how many there are,
// and how many it checked.
type Missing interface {
	Missing(ctx context.Context, id string, limit int) (ids []assets.ID, n, checked int64, err error)
}

// Planner previews a job, writing nothing.
type Planner interface {
	Make(ctx context.Context, j *job.Job, o plan.Options) (*plan.Plan, error)
}

// Server serves the API. Token must not be empty. With DeadLetters nil the
// dead-letter routes answer 503.
// A job may name a file as its id list only inside IDsDir (none if empty),
// and write an export only inside ExportDir.
type Server struct {
	Store       assets.Store
	Runner      Runner
	Planner     Planner // nil: /api/v1/plan answers 503
	DeadLetters DeadLetters
	Missing     Missing // nil: /api/v1/jobs/{id}/missing answers 503
	Token       string
	IDsDir      string
	ExportDir   string // where an API job's export may write (none if empty)
	Registry    *prometheus.Registry
	Ready       func(context.Context) error
	Log         *slog.Logger

	pace pace // the counters read of running jobs, for their rates
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	Probes(mux, s.Registry, s.Ready)
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openapi)
	})
	s.jobRoutes(api)
	api.HandleFunc("POST /api/v1/jobs", s.create)
	api.HandleFunc("GET /api/v1/jobs/{id}/dead-letters", s.deadLetters)
	api.HandleFunc("GET /api/v1/jobs/{id}/missing", s.missing)
	api.HandleFunc("POST /api/v1/jobs/{id}/dead-letters/replay", s.replay)
	api.HandleFunc("GET /api/v1/assets/{id}", s.asset)
	api.HandleFunc("POST /api/v1/plan", s.plan)
	mux.Handle("/api/", s.auth(api))
	return mux
}

// jobRoutes are the routes that show and steer existing jobs.
func (s *Server) jobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/jobs", s.list)
	mux.HandleFunc("GET /api/v1/jobs/{id}", s.get)
	mux.HandleFunc("POST /api/v1/jobs/{id}/{action}", s.act)
	mux.HandleFunc("POST /api/v1/jobs/{id}/rate", s.rate)
}

// ControlHandler returns the routes that show and steer existing jobs
// (list, get, pause, resume, cancel, rate) without the token, for a
// control socket whose file mode is its access control. Only Store and
// Log are used.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	s.jobRoutes(mux)
	return mux
}

// auth requires "Authorization: Bearer TOKEN".
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reprocess"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// JobView is a job as the API shows it: with its tasks, how many of its
// events the processors finished (every outcome of worker.Outcomes that
// finishes an event, dead letters included), and its pace.
type JobView struct {
	control.View
	Pace
	Handled  int64         `json:"handled"`
	Ledger   Ledger        `json:"ledger"`
	Throttle *ThrottleView `json:"throttle,omitempty"`
	// RateLimit is an operator's limit (control.SetRate) over the spec's
	// rate.limit, in assets/s; 0 when none is set.
	RateLimit float64 `json:"rate_limit,omitempty"`
}

// ThrottleView is a job's throttle as its scan last recorded it: the rate
// its processors pace at, the latency signal against its target, and why
// the job is slowed (latency, lag, signal missing, measuring baseline,
// paused; empty when it is not).
type ThrottleView struct {
	Rate          float64 `json:"rate"`
	SignalSeconds float64 `json:"signal_seconds"`
	TargetSeconds float64 `json:"target_seconds"`
	// BaselineSeconds, when the spec gave no target, is the signal
	// measured at the start; the target is 1.2 times it.
	BaselineSeconds float64   `json:"baseline_seconds,omitempty"`
	Reason          string    `json:"reason"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// maxSpec bounds a job spec's size: room for job.MaxIDs inline ids.
const maxSpec = 8 << 20

// create validates a spec (YAML or JSON body) and starts the job.
func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	j, file, ok := s.readSpec(w, r)
	if !ok {
		return
	}
	if j.Transform.Deletes() && r.URL.Query().Get("confirm_delete") != "true" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("job %s deletes assets (transform.dry_run: false): add ?confirm_delete=true if that is meant", j.Name))
		return
	}
	if cur, err := s.Store.Job(r.Context(), j.Name); err == nil && (cur.Status == control.Running || cur.Status == control.Paused) {
		writeError(w, http.StatusConflict, fmt.Errorf("job %s is already %s", j.Name, cur.Status))
		return
	}
	if err := s.Runner.Start(j); err != nil {
		s.Log.Warn("job not started", "job", j.Name, "error", err)
		writeError(w, startStatus(err), shown(err, file))
		return
	}
	s.Log.Info("job started through the API", "job", j.Name)
	cur, err := s.Store.Job(r.Context(), j.Name)
	if err != nil {
		cur = assets.Job{ID: j.Name, Status: control.Pending}
	}
	cur.Spec = s.jobs().hide(cur.Spec)
	writeJSON(w, http.StatusCreated, viewOf(control.View{Job: cur}))
}

// readSpec reads and compiles the spec in r's body, with its id file
// resolved inside IDsDir, or answers 400. file is source.file as given.
func (s *Server) readSpec(w http.ResponseWriter, r *http.Request) (j *job.Job, file string, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSpec+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return nil, "", false
	}
	if len(body) > maxSpec {
		writeError(w, http.StatusBadRequest, fmt.Errorf("job spec: over %d MiB", maxSpec>>20))
		return nil, "", false
	}
	spec, err := job.Parse(body)
	if err == nil {
		j, err = job.Compile(spec)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return nil, "", false
	}
	file = j.Source.File
	if file != "" {
		if j.Source.File, err = s.idsFile(file); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return nil, "", false
		}
	}
	resolved, err := s.serverPaths(j)
	if err == nil && (resolved || file != "") {
		// Other processes (workers, a later serve) read the stored text:
		// it must name the resolved paths.
		j.Spec, err = job.Rewritten(j.Spec)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return nil, "", false
	}
	return j, file, true
}

// maxSample bounds the assets a plan through the API shows.
const maxSample = 100

// plan previews a spec (YAML or JSON body) and writes nothing:
// ?sample=N assets show the transform's changes.
func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	var o plan.Options
	if v := r.URL.Query().Get("sample"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSample {
			writeError(w, http.StatusBadRequest, fmt.Errorf("sample: want 1 to %d, got %q", maxSample, v))
			return
		}
		o.Sample = n
	}
	if v := r.URL.Query().Get("walk"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("walk: want a number of partitions >= 1, got %q", v))
			return
		}
		o.Walk = n
	}
	j, file, ok := s.readSpec(w, r)
	if !ok {
		return
	}
	if s.Planner == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server has no planner"))
		return
	}
	p, err := s.Planner.Make(r.Context(), j, o)
	if err != nil {
		writeError(w, startStatus(err), shown(err, file))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// startStatus is the status of an error of Runner.Start: the job is
// running elsewhere, cannot run as given, or a service is down.
func startStatus(err error) int {
	switch {
	case errors.Is(err, control.ErrBusy), errors.Is(err, run.ErrSpecChanged):
		return http.StatusConflict
	case errors.Is(err, run.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

// shown is what the client is told of a Start error. For a job whose id
// list is a file of this host (file, as the client named it), the error
// names the file as given and quotes nothing of it.
func shown(err error, file string) error {
	if file == "" || !errors.Is(err, run.ErrInvalid) {
		return err
	}
	var list *scan.ListError
	if errors.As(err, &list) {
		return fmt.Errorf("source.file %s: %s", file, list.Redacted())
	}
	return fmt.Errorf("source.file %s: cannot be read as an id list", file)
}

// asset answers one asset.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	id, err := assets.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errors.New("id: want an asset id, a timeuuid (version 1)"))
		return
	}
	a, err := s.Store.Get(r.Context(), id)
	switch {
	case errors.Is(err, assets.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Errorf("asset %s not found", id))
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeJSON(w, http.StatusOK, a)
	}
}

// jobID is what a job id in a dead-letter route may be: it only filters
// the dead-letter topic and names the replay's consumer group.
var jobID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// deadLetterJob returns the path's job id, or answers 400 for a bad one or
// 503 when there are no dead letters to reach.
func (s *Server) deadLetterJob(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !jobID.MatchString(id) {
		writeError(w, http.StatusBadRequest, errors.New("id: want 1 to 200 characters of A-Z, a-z, 0-9, '.', '_' or '-'"))
		return "", false
	}
	if s.DeadLetters == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("dead letters are kept on kafka.brokers or with the embedded store, and this server has neither"))
		return "", false
	}
	return id, true
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	id, ok := s.deadLetterJob(w, r)
	if !ok {
		return
	}
	entries, err := s.DeadLetters.List(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	if entries == nil {
		entries = []dlq.Entry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	id, ok := s.deadLetterJob(w, r)
	if !ok {
		return
	}
	n, err := s.DeadLetters.Replay(r.Context(), id)
	s.Log.Info("dead letters replayed through the API", "job", id, "replayed", n, "error", err)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "replayed": n})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
}

// maxMissing is the most asset ids one answer of the missing route lists.
const maxMissing = 10000

func (s *Server) missing(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !jobID.MatchString(id) {
		writeError(w, http.StatusBadRequest, errors.New("id: want 1 to 200 characters of A-Z, a-z, 0-9, '.', '_' or '-'"))
		return
	}
	limit := 100
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > maxMissing {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit: want a whole number from 1 to %d", maxMissing))
			return
		}
		limit = n
	}
	if s.Missing == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server cannot walk a job's scope"))
		return
	}
	ids, n, checked, err := s.Missing.Missing(r.Context(), id, limit)
	switch {
	case errors.Is(err, assets.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Errorf("job %s: not found", id))
		return
	case err != nil: // its text may name server paths: logged, not answered
		s.Log.Warn("missing assets of a job through the API", "job", id, "error", err)
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("job %s: its scope could not be walked now (the server's log says why)", id))
		return
	}
	if ids == nil {
		ids = []assets.ID{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_id": id, "missing": n, "checked": checked, "asset_ids": ids})
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, assets.ErrNotFound), errors.Is(err, control.ErrNoAction):
		return http.StatusNotFound
	case errors.Is(err, control.ErrTransition):
		return http.StatusConflict
	case errors.Is(err, control.ErrRate):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
