// Package traffic is production's side of the assets table: an open-loop
// generator of reads and writes at fixed rates, the way a service of this
// schema uses it, for rehearsing a backfill against staging and for the
// safety benchmark.
//
// Reads are Store.Get of a random known asset id (ids sampled by paging
// the layout's partitions at start). Writes read the asset and set one
// metadata field to its value plus one, either unconditionally (Plain,
// Store.Update) or through a lightweight transaction on the version read,
// re-reading on conflict (LWT). Request i of a kind is due at start +
// i/rate whatever happened to earlier ones, and its latency is measured
// from that intended time, so a slow store shows up as latency (queueing
// included) instead of as fewer requests: no coordinated omission.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
)

// Write styles.
const (
	Plain = "plain" // read, then an unconditional update (Store.Update)
	LWT   = "lwt"   // read, then Store.UpdateIf on the version read; re-read on conflict
)

// Config says what traffic to send.
type Config struct {
	Reads, Writes float64       // requests per second of each kind
	Duration      time.Duration // how long requests are scheduled for
	WriteStyle    string        // Plain or LWT
	Concurrency   int           // requests in flight at most; make it large enough not to throttle
	Field         string        // the metadata field writes set; default "bytes"
}

// Validate reports bad settings, named as the traffic command's flags.
func (c Config) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"reads", c.Reads}, {"writes", c.Writes}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			errs = append(errs, fmt.Errorf("%s: want >= 0 requests/s, got %v", r.name, r.v))
		}
	}
	if c.Reads == 0 && c.Writes == 0 {
		errs = append(errs, errors.New("reads, writes: want at least one above 0 requests/s"))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration: want a positive duration, got %s", c.Duration))
	}
	if c.WriteStyle != Plain && c.WriteStyle != LWT {
		errs = append(errs, fmt.Errorf("write-style: want %s or %s, got %q", Plain, LWT, c.WriteStyle))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: want >= 1, got %d", c.Concurrency))
	}
	return errors.Join(errs...)
}

// Sample pages the newest ids of every partition, a few from each in
// rounds, until it has n or the partitions are exhausted.
func Sample(ctx context.Context, s assets.Store, parts []assets.Partition, n int) ([]assets.ID, error) {
	last := make([]assets.ID, len(parts)) // where each partition's next page starts
	active := parts
	var ids []assets.ID
	for len(ids) < n && len(active) > 0 {
		per := (n - len(ids) + len(active) - 1) / len(active)
		pages := make([][]assets.ID, len(active))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(8)
		for i, p := range active {
			g.Go(func() (err error) {
				pages[i], err = s.Page(gctx, p, last[i], per)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, fmt.Errorf("sample ids: %w", err)
		}
		var next []assets.Partition
		last = last[:0]
		for i, page := range pages {
			ids = append(ids, page...)
			if len(page) == per {
				next, last = append(next, active[i]), append(last, page[len(page)-1])
			}
		}
		active = next
	}
	return ids[:min(n, len(ids))], nil
}

// Run sends cfg's traffic to ids of s until every scheduled request has
// completed (or ctx is done), calling report, if not nil, every interval
// with the figures of that interval. It returns the figures of the whole
// run.
func Run(ctx context.Context, s assets.Store, ids []assets.ID, cfg Config, every time.Duration, report func(Report)) (Report, error) {
	if cfg.Field == "" {
		cfg.Field = "bytes"
	}
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if len(ids) == 0 {
		return Report{}, errors.New("traffic: no asset ids to send requests for")
	}
	g := &generator{store: s, ids: ids, cfg: cfg, slots: make(chan struct{}, cfg.Concurrency),
		reads: newRecorder(), writes: newRecorder(), start: time.Now()}
	stop := g.reportEvery(every, report)
	var sched sync.WaitGroup
	sched.Go(func() { g.schedule(ctx, cfg.Reads, g.read, g.reads) })
	sched.Go(func() { g.schedule(ctx, cfg.Writes, g.write, g.writes) })
	sched.Wait()
	g.inflight.Wait()
	stop()
	return g.report(false), ctx.Err()
}

// generator is one run's state.
type generator struct {
	store         assets.Store
	ids           []assets.ID
	cfg           Config
	slots         chan struct{} // one per request in flight
	inflight      sync.WaitGroup
	reads, writes *recorder
	start         time.Time
}

// schedule issues rate × Duration requests, request i due at start +
// i/rate, each in its own goroutine once a slot is free, and records its
// latency from the time it was due.
func (g *generator) schedule(ctx context.Context, rate float64, do func(context.Context, assets.ID) (int, error), rec *recorder) {
	n := int(rate * g.cfg.Duration.Seconds())
	for i := range n {
		due := g.start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if err := sleepUntil(ctx, due); err != nil {
			return
		}
		select {
		case g.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		id := g.ids[rand.IntN(len(g.ids))]
		g.inflight.Go(func() {
			defer func() { <-g.slots }()
			conflicts, err := do(ctx, id)
			if ctx.Err() == nil {
				rec.record(time.Since(due), conflicts, err)
			}
		})
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *generator) read(ctx context.Context, id assets.ID) (int, error) {
	_, err := g.store.Get(ctx, id)
	return 0, err
}

// write sets the field to its value plus one; in LWT style it retries on
// a version conflict with a fresh read, and returns how many conflicts.
func (g *generator) write(ctx context.Context, id assets.ID) (conflicts int, err error) {
	for {
		a, err := g.store.Get(ctx, id)
		if err != nil {
			return conflicts, err
		}
		n, _ := strconv.ParseInt(a.Metadata[g.cfg.Field], 10, 64)
		u := assets.Update{Metadata: map[string]string{g.cfg.Field: strconv.FormatInt(n+1, 10)}}
		if g.cfg.WriteStyle == Plain {
			return 0, g.store.Update(ctx, id, u)
		}
		applied, err := g.store.UpdateIf(ctx, id, a.Version, u)
		if applied || err != nil {
			return conflicts, err
		}
		conflicts++
	}
}

// reportEvery calls report every interval until stop is called.
func (g *generator) reportEvery(every time.Duration, report func(Report)) (stop func()) {
	if report == nil || every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				report(g.report(true))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (g *generator) report(interval bool) Report {
	return Report{Elapsed: time.Since(g.start), Interval: interval,
		Reads: g.reads.stats(interval), Writes: g.writes.stats(interval)}
}
