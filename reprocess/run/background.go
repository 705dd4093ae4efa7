package run

import (
	"context"
	"sync"

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
	r, err := b.env.Start(b.ctx, j, Options{})
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

// Stop stops the jobs' scans and waits for them; the jobs stay running
// and a later run resumes them from their checkpoints.
func (b *Background) Stop() {
	b.cancel()
	b.wg.Wait()
}
