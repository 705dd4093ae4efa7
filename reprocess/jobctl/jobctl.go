// Package jobctl is where the CLI's job commands go. An embedded store is
// held by the one process that has it open, so while a process runs a
// job on it, job commands from another terminal cannot open it; that
// process serves the job routes of reprocess/api on a Unix socket in the
// data dir (control.sock, mode 0600), and the commands go there instead.
// On Cassandra, or an embedded store no one holds, they go to the store.
package jobctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/reprocess/api"
)

// Control is what the job commands do, on a store or through a socket.
type Control interface {
	List(ctx context.Context) ([]api.JobView, error)
	Get(ctx context.Context, id string) (api.JobView, error)
	Act(ctx context.Context, id, action string) (api.JobView, error)
	SetRate(ctx context.Context, id string, rate float64) (api.JobView, error)
}

var (
	_ Control = api.Jobs{}
	_ Control = (*Client)(nil)
)

// Open opens the store with open and returns the store's Control. An
// embedded store another process holds is reached through that process's
// control socket; if it serves none, the error names it and says what to
// do. done releases what Open opened.
func Open(ctx context.Context, open func(context.Context) (assets.Store, error)) (c Control, done func(), err error) {
	s, err := open(ctx)
	var held *embedded.HeldError
	if !errors.As(err, &held) {
		if err != nil {
			return nil, nil, err
		}
		return api.Jobs{Store: s}, func() { s.Close() }, nil
	}
	cl, err := Dial(ctx, held.Dir)
	if err != nil {
		return nil, nil, unreachable(held, err)
	}
	return cl, func() {}, nil
}

// unreachable is the error for a store whose holder serves no socket.
func unreachable(held *embedded.HeldError, dial error) error {
	stop := "stop it (Ctrl-C, or kill -INT with its pid: a job it runs is interrupted and resumes when run again)"
	if held.PID != 0 {
		stop = fmt.Sprintf("stop it (Ctrl-C, or kill -INT %d: a job it runs is interrupted and resumes when run again)", held.PID)
	}
	return fmt.Errorf("embedded store %s is held by %s, which serves no control socket for job commands (%v): wait for it to end or %s, then run this again: %w",
		held.Dir, held.Holder(), dial, stop, assets.ErrUnavailable)
}
