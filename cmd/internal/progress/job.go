package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// Watch runs job r with its progress on bars (a terminal, or lines in a
// file): the scan (in ids against the ids left, ~ when estimated, when
// known; else in tasks) and, when known, the apply (events the processors
// handled, against the ids left until the scan is done, then against those
// it emitted). No bar passes 100%. Then it prints the job's summary to out.
func Watch(ctx context.Context, r *run.Job, name string, left run.Total, bars *os.File, out io.Writer) error {
	d := New(bars)
	total, unit := left.IDs, "tasks"
	if total > 0 {
		unit = "ids"
	}
	scanBar := d.add("scan  "+name, unit, total, left.Estimate, func() string {
		p := r.Progress(ctx)
		return fmt.Sprintf("scanned %d emitted %d filtered %d %s", p.Scanned, p.Emitted, p.Filtered, p.ThrottleNote())
	})
	var applyBar *Bar
	if r.Progress(ctx).Handled >= 0 {
		applyBar = d.Add("apply "+name, "events", total, func() string {
			return fmt.Sprintf("dead letters %d", r.Progress(ctx).Outcomes[worker.DeadLettered])
		})
	}
	update := func() {
		p := r.Progress(ctx)
		switch {
		case total > 0 && p.ScanTime > 0: // done: what it scanned was the total
			scanBar.SetTotal(p.Scanned)
			scanBar.Set(p.Scanned)
		case total > 0:
			scanBar.SetTotal(max(total, p.Scanned)) // an estimate may be passed
			scanBar.Set(p.Scanned)
		default:
			scanBar.SetTotal(p.Tasks)
			scanBar.Set(p.TasksDone)
		}
		if applyBar != nil {
			of := total
			if p.ScanTime > 0 || total == 0 {
				of = p.Emitted
			}
			applyBar.SetTotal(max(of, p.Handled))
			applyBar.Set(p.Handled)
		}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				update()
			}
		}
	}()
	err := r.Run(ctx)
	close(done)
	update()
	d.Wait()
	fmt.Fprintln(out, r.Progress(context.WithoutCancel(ctx)).Summary(name))
	return err
}
