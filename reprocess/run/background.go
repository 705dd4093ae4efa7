package run

import (
	"context"
	"sync"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
)

// Background runs jobs in this process on behalf of the HTTP API until
// Stop; it implements api.Runner.
type Background struct {
	env    *Env
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewBackground returns a runner whose jobs run until Stop.
func NewBackground(e *Env) *Background {
	ctx, cancel := context.WithCancel(context.Background())
	return &Background{env: e, ctx: ctx, cancel: cancel}
}

// Start records the job as running and runs it in the background.
func (b *Background) Start(j *job.Job) error {
	return b.start(j)
}

// Resume starts again, in the background, the jobs that a serve process
// ran when it stopped: interrupted ones at once, and ones still running
// on a record no process touches (a killed serve) once it looks
// abandoned. It logs them, and returns them.
func (b *Background) Resume(ctx context.Context) (names []string, err error) {
	defer func() {
		if len(names) > 0 || err != nil {
			b.env.Log.Info("resuming the jobs serve ran when it stopped", "jobs", names, "error", err)
		}
	}()
	recs, err := b.env.Store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.Status != control.Interrupted && rec.Status != control.Running {
			continue
		}
		runs, err := b.env.Store.Runs(ctx, rec.ID)
		if err != nil {
			return names, err
		}
		if len(runs) == 0 || runs[len(runs)-1].Owner != OwnerServe {
			continue
		}
		j, err := job.Read([]byte(rec.Spec))
		if err != nil {
			b.env.Log.Warn("not resumed: its spec no longer reads", "job", rec.ID, "error", err)
			continue
		}
		names = append(names, rec.ID)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.resume(j, rec)
		}()
	}
	return names, nil
}

// resume starts j once its record rec looks abandoned.
func (b *Background) resume(j *job.Job, rec assets.Job) {
	if rec.Status == control.Running {
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(3*control.Heartbeat - time.Since(rec.UpdatedAt)):
		}
	}
	if err := b.start(j); err != nil {
		b.env.Log.Warn("resume a job serve ran", "job", j.Name, "error", err)
		return
	}
	b.env.Log.Info("resumed a job serve ran when it stopped", "job", j.Name, "was", rec.Status)
}

func (b *Background) start(j *job.Job) error {
	r, err := b.env.Start(b.ctx, j, Options{Owner: OwnerServe})
	if err != nil {
		return err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := r.Run(b.ctx); err != nil && b.ctx.Err() == nil {
			b.env.Log.Warn("job ended with an error", "job", j.Name, "error", err)
		}
	}()
	return nil
}

// OwnerServe names serve's runs in a job's run history.
const OwnerServe = "serve"

// Stop stops the jobs' scans and waits for them; they are interrupted,
// and the next serve (Resume) or run resumes them from their checkpoints.
func (b *Background) Stop() {
	b.cancel()
	b.wg.Wait()
}
