// Package progress shows how far long steps of a command got: live bars
// on a terminal, a line per bar every two seconds otherwise (CI logs,
// pipes).
package progress

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Display is a set of bars shown together.
type Display struct {
	out  *os.File
	bars *mpb.Progress // nil when not a terminal

	mu   sync.Mutex
	list []*Bar
	stop chan struct{}
	wg   sync.WaitGroup
}

// Bar is one bar of a display.
type Bar struct {
	d     *Display
	label string
	unit  string
	total int64 // atomic
	done  atomic.Int64
	start time.Time
	info  func() string
	bar   *mpb.Bar
	of    string // "~" before an estimated total
}

// New starts a display on out.
func New(out *os.File) *Display {
	d := &Display{out: out}
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

// Add starts a bar; info, if not nil, is a live note after it.
func (d *Display) Add(label, unit string, total int64, info func() string) *Bar {
	return d.add(label, unit, total, false, info)
}

// add starts a bar whose total is shown as ~N when it is an estimate.
func (d *Display) add(label, unit string, total int64, estimate bool, info func() string) *Bar {
	if info == nil {
		info = func() string { return "" }
	}
	p := &Bar{d: d, label: label, unit: unit, total: total, start: time.Now(), info: info}
	if estimate {
		p.of = "~"
	}
	if d.bars != nil {
		p.bar = d.bars.AddBar(total,
			mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / "+p.of+"%d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.AverageSpeed(nil, "%.0f "+unit+"/s", decor.WCSyncSpace),
				decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO), decor.Any(func(decor.Statistics) string { return " " + p.info() })),
		)
	}
	d.mu.Lock()
	d.list = append(d.list, p)
	d.mu.Unlock()
	return p
}

func (d *Display) lines() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.list {
		p.line()
	}
}

// Wait stops the display and prints the final state of every bar.
func (d *Display) Wait() {
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

// One is a display with one bar; Finish ends both.
func One(out *os.File, label, unit string, total int64) *Bar {
	return New(out).Add(label, unit, total, nil)
}

// Finish ends the display the bar belongs to.
func (p *Bar) Finish() { p.d.Wait() }

// SetTotal changes the total (a step may learn it late).
func (p *Bar) SetTotal(n int64) {
	if atomic.SwapInt64(&p.total, n) != n && p.bar != nil {
		p.bar.SetTotal(n, false)
	}
}

// Set records the running count; safe for concurrent use.
func (p *Bar) Set(n int64) {
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

func (p *Bar) line() {
	n, total, el := p.done.Load(), atomic.LoadInt64(&p.total), time.Since(p.start).Seconds()
	pct, rate, eta := 100.0, float64(n)/el, ""
	if total > 0 {
		pct = min(100, float64(n)/float64(total)*100)
	}
	if n > 0 && n < total {
		eta = " ETA " + (time.Duration(float64(total-n)/rate) * time.Second).String()
	}
	fmt.Fprintf(p.d.out, "%s %d/%s%d (%.0f%%) %.0f %s/s%s %s\n", p.label, n, p.of, total, pct, rate, p.unit, eta, p.info())
}
