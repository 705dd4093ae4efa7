package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// display shows how far long steps got: live bars on a terminal, a line
// per bar every few seconds otherwise (CI logs, pipes).
type display struct {
	out  *os.File
	bars *mpb.Progress // nil when not a terminal

	mu   sync.Mutex
	list []*progress
	stop chan struct{}
	wg   sync.WaitGroup
}

// progress is one bar of a display.
type progress struct {
	d     *display
	label string
	unit  string
	total int64 // atomic
	done  atomic.Int64
	start time.Time
	info  func() string
	bar   *mpb.Bar
}

func newDisplay(out *os.File) *display {
	d := &display{out: out}
	if term.IsTerminal(int(out.Fd())) {
		d.bars = mpb.New(mpb.WithOutput(out), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
		return d
	}
	d.stop = make(chan struct{})
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				d.lines()
			case <-d.stop:
				return
			}
		}
	}()
	return d
}

// add starts a bar; info, if not nil, is a live note after it.
func (d *display) add(label, unit string, total int64, info func() string) *progress {
	if info == nil {
		info = func() string { return "" }
	}
	p := &progress{d: d, label: label, unit: unit, total: total, start: time.Now(), info: info}
	if d.bars != nil {
		p.bar = d.bars.AddBar(total,
			mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.AverageSpeed(nil, "%.0f "+unit+"/s", decor.WCSyncSpace),
				decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO), decor.Any(func(decor.Statistics) string { return " " + p.info() })),
		)
	}
	d.mu.Lock()
	d.list = append(d.list, p)
	d.mu.Unlock()
	return p
}

func (d *display) lines() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.list {
		p.line()
	}
}

// wait stops the display and prints the final state of every bar.
func (d *display) wait() {
	if d.bars != nil {
		d.mu.Lock()
		for _, p := range d.list {
			if !p.bar.Completed() {
				p.bar.Abort(false)
			}
		}
		d.mu.Unlock()
		d.bars.Wait()
		return
	}
	close(d.stop)
	d.wg.Wait()
	if d.out != nil {
		d.lines()
	}
}

// newProgress is a display with one bar; Finish ends both.
func newProgress(out *os.File, label, unit string, total int64) *progress {
	return newDisplay(out).add(label, unit, total, nil)
}

// Finish ends the display the bar belongs to.
func (p *progress) Finish() { p.d.wait() }

// SetTotal changes the total (a step may learn it late).
func (p *progress) SetTotal(n int64) {
	if atomic.SwapInt64(&p.total, n) != n && p.bar != nil {
		p.bar.SetTotal(n, false)
	}
}

// Set records the running count; safe for concurrent use.
func (p *progress) Set(n int64) {
	for {
		cur := p.done.Load()
		if n <= cur || p.done.CompareAndSwap(cur, n) {
			break
		}
	}
	if p.bar != nil {
		p.bar.SetCurrent(p.done.Load())
	}
}

func (p *progress) line() {
	n, total, el := p.done.Load(), atomic.LoadInt64(&p.total), time.Since(p.start).Seconds()
	pct := 100.0
	if total > 0 {
		pct = float64(n) / float64(total) * 100
	}
	fmt.Fprintf(p.d.out, "%s %d/%d (%.0f%%) %.0f %s/s %s\n", p.label, n, total, pct, float64(n)/el, p.unit, p.info())
}

// watch runs job r with its progress on bars: the scan (in tasks, or in
// ids against total when total > 0) and, when known, the apply (events
// the processors handled). Then it prints the job's summary to out.
func watch(ctx context.Context, r *run.Job, name string, total int64, out io.Writer) error {
	d := newDisplay(os.Stderr)
	unit := "tasks"
	if total > 0 {
		unit = "ids"
	}
	scanBar := d.add("scan  "+name, unit, total, func() string {
		p := r.Progress(ctx)
		return fmt.Sprintf("scanned %d emitted %d filtered %d", p.Scanned, p.Emitted, p.Filtered)
	})
	var applyBar *progress
	if r.Progress(ctx).Handled >= 0 {
		applyBar = d.add("apply "+name, "events", total, func() string {
			return fmt.Sprintf("dead letters %d", r.Progress(ctx).Outcomes[worker.DeadLettered])
		})
	}
	update := func() {
		p := r.Progress(ctx)
		if total > 0 {
			scanBar.Set(p.Emitted)
		} else {
			scanBar.SetTotal(p.Tasks)
			scanBar.Set(p.TasksDone)
		}
		if applyBar != nil {
			applyBar.SetTotal(max(total, p.Emitted))
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
	d.wait()
	fmt.Fprintln(out, r.Progress(context.WithoutCancel(ctx)).Summary(name))
	return err
}
