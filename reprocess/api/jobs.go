package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// Jobs are the operations on existing jobs, on a store: what the job
// routes answer, and what the CLI's job commands do on a store they open.
// A spec shown names the paths under Dirs (the server's ids and export
// directories) relative to them, so the API shows no server path.
type Jobs struct {
	Store assets.Store
	Dirs  []string
}

// List views every job, in id order.
func (l Jobs) List(ctx context.Context) ([]JobView, error) {
	jobs, err := l.Store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	views := make([]JobView, 0, len(jobs))
	for _, j := range jobs {
		v, err := l.view(ctx, j)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// Get views job id; assets.ErrNotFound if there is none.
func (l Jobs) Get(ctx context.Context, id string) (JobView, error) {
	j, err := l.Store.Job(ctx, id)
	if err != nil {
		return JobView{}, err
	}
	return l.view(ctx, j)
}

// Act applies an operator's action (pause, resume, cancel) to job id.
func (l Jobs) Act(ctx context.Context, id, action string) (JobView, error) {
	j, err := control.Act(ctx, l.Store, id, action)
	if err != nil {
		return JobView{}, err
	}
	return l.view(ctx, j)
}

// SetRate sets job id's rate limit while it runs (control.SetRate).
func (l Jobs) SetRate(ctx context.Context, id string, rate float64) (JobView, error) {
	j, err := control.SetRate(ctx, l.Store, id, rate)
	if err != nil {
		return JobView{}, err
	}
	return l.view(ctx, j)
}

func (l Jobs) view(ctx context.Context, j assets.Job) (JobView, error) {
	v, err := control.Show(ctx, l.Store, j)
	if err != nil {
		return JobView{}, err
	}
	jv := viewOf(v)
	jv.Spec = l.hide(jv.Spec)
	t, err := l.Store.Throttle(ctx, j.ID)
	switch {
	case err == nil:
		jv.Throttle = &ThrottleView{Rate: t.Rate, SignalSeconds: t.Signal.Seconds(), TargetSeconds: t.Target.Seconds(), BaselineSeconds: t.Baseline.Seconds(), Reason: t.Reason, UpdatedAt: t.UpdatedAt}
	case !errors.Is(err, assets.ErrNotFound):
		return JobView{}, err
	}
	if jv.RateLimit, err = l.Store.RateLimit(ctx, j.ID); err != nil {
		return JobView{}, err
	}
	return jv, nil
}

// hide makes the paths under l.Dirs in spec relative to their directory.
func (l Jobs) hide(spec string) string {
	for _, d := range l.Dirs {
		spec = strings.ReplaceAll(strings.ReplaceAll(spec, d+string(filepath.Separator), ""), d, ".")
	}
	return spec
}

func viewOf(v control.View) JobView {
	return JobView{View: v, Handled: worker.HandledIn(v.Counters), Ledger: LedgerOf(v.Counters)}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	views, err := s.jobs().List(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	now := time.Now()
	for i := range views {
		views[i].Pace = s.paceOf(views[i].View, now)
	}
	writeJSON(w, http.StatusOK, views)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	v, err := s.jobs().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	v.Pace = s.paceOf(v.View, time.Now())
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	v, err := s.jobs().Act(r.Context(), r.PathValue("id"), action)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	s.Log.Info("job "+action+" through the API", "job", v.ID)
	writeJSON(w, http.StatusOK, v)
}

// RateRequest is the body of a rate change.
type RateRequest struct {
	// Rate is the job's new limit: a positive whole number of assets/s.
	Rate float64 `json:"rate"`
}

func (s *Server) rate(w http.ResponseWriter, r *http.Request) {
	var req RateRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf(`body: want {"rate": N}: %w`, err))
		return
	}
	v, err := s.jobs().SetRate(r.Context(), r.PathValue("id"), req.Rate)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	s.Log.Info("job rate set through the API", "job", v.ID, "rate", req.Rate)
	writeJSON(w, http.StatusOK, v)
}
