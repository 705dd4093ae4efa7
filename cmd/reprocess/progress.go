package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress shows how far a long step got: a live bar on a terminal, a
// line every few seconds otherwise (CI logs, pipes).
type progress struct {
	label string
	unit  string
	total int64 // atomic
	done  atomic.Int64
	start time.Time

	bars *mpb.Progress
	bar  *mpb.Bar

	out  io.Writer
	stop chan struct{}
	wg   sync.WaitGroup
	info func() string
}

func newProgress(out *os.File, label, unit string, total int64) *progress {
	return newProgressInfo(out, label, unit, total, nil)
}

// newProgressInfo is newProgress with a live note after the bar, e.g.
// counters other than the one the bar tracks.
func newProgressInfo(out *os.File, label, unit string, total int64, info func() string) *progress {
	if info == nil {
		info = func() string { return "" }
	}
	p := &progress{label: label, unit: unit, total: total, start: time.Now(), out: out, info: info}
	if term.IsTerminal(int(out.Fd())) {
		p.bars = mpb.New(mpb.WithOutput(out), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
		p.bar = p.bars.AddBar(total,
			mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.AverageSpeed(nil, "%.0f "+unit+"/s", decor.WCSyncSpace),
				decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO), decor.Any(func(decor.Statistics) string { return " " + p.info() })),
		)
		return p
	}
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.line()
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

// SetTotal changes the total (a step may learn it late).
func (p *progress) SetTotal(n int64) {
	if atomic.SwapInt64(&p.total, n) != n && p.bar != nil {
		p.bar.SetTotal(n, false)
	}
}

// Set records the running total; safe for concurrent use.
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
	fmt.Fprintf(p.out, "%s %d/%d (%.0f%%) %.0f %s/s %s\n", p.label, n, total, pct, float64(n)/el, p.unit, p.info())
}

// Finish stops the display and prints the final state.
func (p *progress) Finish() {
	if p.bars != nil {
		if !p.bar.Completed() {
			p.bar.Abort(false)
		}
		p.bars.Wait()
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.line()
}
