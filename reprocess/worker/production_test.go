package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
	"github.com/reprocess/reprocess/reprocess/verify"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// write is one acknowledged production write of metadata bytes; at is its
// WRITETIME read back from Cassandra (0 on embedded).
type write struct {
	bytes string
	at    int64
}

// production rewrites metadata bytes. Writer w owns the assets whose
// index is w modulo writers, so its log of an asset is in write order and
// the cell read back right after a write is that write's.
type production struct {
	e       *env
	t       *testing.T
	writers int
	mu      sync.Mutex
	log     map[assets.ID][]write
	cut     map[assets.ID]string // writes cut short by the test's end
	writes  atomic.Int64
	// owner[w] is held by writer w around each write, and by a write
	// slipped between a processor's read and its conditional write to one
	// of w's assets (racing), so the log of an asset stays in write order.
	owner   []sync.Mutex
	index   map[assets.ID]int
	slipped atomic.Int64
	late    atomic.Int64 // writes landed after a conditional write, older than it
}

func (p *production) start(ctx context.Context) *errgroup.Group {
	p.log, p.cut = map[assets.ID][]write{}, map[assets.ID]string{}
	p.owner, p.index = make([]sync.Mutex, p.writers), make(map[assets.ID]int, len(p.e.ids))
	for i, id := range p.e.ids {
		p.index[id] = i
	}
	g, ctx := errgroup.WithContext(ctx)
	for w := range p.writers {
		g.Go(func() error {
			for i := 0; ctx.Err() == nil; i++ {
				if err := p.write(ctx, w, i); err != nil {
					return ignoreCancel(err)
				}
			}
			return nil
		})
	}
	return g
}

// write is writer w's i-th write: plain when i is even, else through the
// store whose Update is a lightweight transaction.
func (p *production) write(ctx context.Context, w, i int) error {
	idx := w + p.writers*rand.IntN(len(p.e.ids)/p.writers)
	v := strconv.Itoa(10_000_000_000 + w*100_000_000 + i) // unique, and an int
	return p.writeTo(ctx, idx, i%2 == 1, v)
}

// writeTo sets the bytes of asset ids[idx] to v, through the LWT store if
// lwt, and logs the write once read back.
func (p *production) writeTo(ctx context.Context, idx int, lwt bool, v string) error {
	mu := &p.owner[idx%p.writers]
	mu.Lock()
	defer mu.Unlock()
	id, s := p.e.ids[idx], p.e.store
	if lwt {
		s = p.e.lwt
	}
	if err := s.Update(ctx, id, assets.Update{Metadata: map[string]string{"bytes": v}}); err != nil {
		if ctx.Err() != nil { // cut short by the test's end: it may still land
			p.mu.Lock()
			p.cut[id] = v
			p.mu.Unlock()
		}
		return err
	}
	wr, err := p.readBack(id)
	if err != nil || wr.bytes != v {
		return fmt.Errorf("asset %s: wrote bytes %s, read back %q (%v)", id, v, wr.bytes, err)
	}
	p.mu.Lock()
	p.log[id] = append(p.log[id], wr)
	p.mu.Unlock()
	p.writes.Add(1)
	return nil
}

// racing is the processors' store: every 25th conditional write is
// preceded by a production write to the same asset (plain and LWT in
// turn), landing between the processor's read and its conditional write,
// so the guard meets production on every store, however the free-running
// writers' timing falls. On Cassandra another one in 25 is followed by a
// plain write older than it (lateWrite).
type racing struct {
	assets.Store
	p     *production
	calls atomic.Int64
}

func (r *racing) UpdateIf(ctx context.Context, id assets.ID, version int64, u assets.Update) (bool, error) {
	n := r.calls.Add(1)
	if n%25 == 12 && r.p.e.cql != nil {
		return r.p.lateWrite(id, strconv.FormatInt(30_000_000_000+n, 10), func() (bool, error) { return r.Store.UpdateIf(ctx, id, version, u) })
	}
	if n%25 == 0 {
		v := strconv.FormatInt(20_000_000_000+n, 10)
		if err := r.p.writeTo(ctx, r.p.index[id], n%50 == 0, v); err != nil {
			return false, fmt.Errorf("production write slipped before the conditional write: %w", err)
		}
		r.p.slipped.Add(1)
	}
	return r.Store.UpdateIf(ctx, id, version, u)
}

// lateWrite runs the conditional write cond, then lands a plain
// production write of bytes whose timestamp was taken before cond began:
// on Cassandra, a write in flight during the lightweight transaction's
// read, which the transaction cannot see and which ends older than its
// commit, setting bytes to v. The fact cond wrote is then derived from stale input unless the
// processor re-checks after its write.
func (p *production) lateWrite(id assets.ID, v string, cond func() (bool, error)) (bool, error) {
	mu := &p.owner[p.index[id]%p.writers]
	mu.Lock()
	defer mu.Unlock()
	ts := time.Now().UnixMicro()
	ok, err := cond()
	if err != nil || !ok {
		return ok, err
	}
	if err := p.e.cql.Query(`UPDATE `+keyspace+`.assets USING TIMESTAMP ? SET metadata['bytes'] = ? WHERE asset_id = ?`, ts, v, id[:]).Exec(); err != nil {
		return ok, fmt.Errorf("late production write: %w", err)
	}
	if wr, err := p.readBack(id); err != nil || wr.bytes != v || wr.at != ts {
		return ok, fmt.Errorf("asset %s: late write of bytes %s at %d, read back %+v (%v)", id, v, ts, wr, err)
	}
	p.mu.Lock()
	p.log[id] = append(p.log[id], write{bytes: v, at: ts})
	p.mu.Unlock()
	p.late.Add(1)
	return ok, nil
}

// readBack is the asset's bytes now, with their WRITETIME on Cassandra.
func (p *production) readBack(id assets.ID) (write, error) {
	var w write
	if p.e.cql != nil {
		err := p.e.cql.Query(`SELECT metadata['bytes'], WRITETIME(metadata['bytes']) FROM `+keyspace+`.assets WHERE asset_id = ?`, id[:]).
			Scan(&w.bytes, &w.at)
		return w, err
	}
	a, err := p.e.store.Get(context.Background(), id)
	w.bytes = a.Metadata["bytes"]
	return w, err
}

// settle logs the writes cut short by the test's end that landed.
func (p *production) settle() {
	for id, v := range p.cut {
		w, err := p.readBack(id)
		if err != nil {
			p.t.Fatal(err)
		}
		if w.bytes == v {
			p.log[id] = append(p.log[id], w)
		}
	}
}

// verify is the job's verification pass over the env's store.
func (e *env) verify(j *job.Job, counts *worker.Counts) *verify.Pass {
	src := &scan.Partitions{Pager: e.store, Layout: layout, Types: j.Source.Types, From: j.Source.CreatedFrom, To: time.Now(), PageSize: j.Source.PageSize}
	h := &apply.Handler{Store: e.store, Transforms: &apply.Resolve{Jobs: e.store}, Notes: counts}
	return &verify.Pass{Source: src, Handler: h, Concurrency: 4,
		Event: events.Reprocess{JobID: j.Name, Transform: j.Transform.Name, Version: j.Transform.Version}}
}

// check asserts the test's claims on every asset.
func (p *production) check(j *job.Job) {
	t := p.t
	p.settle()
	stale, outdated := 0, 0
	for i, id := range p.e.ids {
		a, err := p.e.store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Transforms["tally"] != 1 || a.Facts["applies"] != "1" {
			t.Errorf("asset %s: transforms %v, applies %q; want tally v1 applied exactly once", id, a.Transforms, a.Facts["applies"])
		}
		if a.Facts["half"] != half(a.Facts["src"]) {
			t.Errorf("asset %s: fact half %q is not f(src %q)", id, a.Facts["half"], a.Facts["src"])
		}
		log := p.log[id]
		if len(log) > 0 && a.Metadata["bytes"] != log[len(log)-1].bytes {
			t.Errorf("asset %s: bytes %s, but production's last acknowledged write was %s", id, a.Metadata["bytes"], log[len(log)-1].bytes)
		}
		if a.Facts["src"] != a.Metadata["bytes"] {
			if outdated++; outdated <= 5 {
				t.Errorf("asset %s: outdated fact: derived from bytes %s, bytes are %s at the job's end", id, a.Facts["src"], a.Metadata["bytes"])
			}
		}
		if p.e.cql == nil {
			continue
		}
		if at, want := p.inForce(i, id); a.Facts["src"] != want {
			if stale++; stale <= 5 {
				t.Errorf("asset %s: stale fact: derived from bytes %s, written at %d when %s was in force (writes %v)", id, a.Facts["src"], at, want, log)
			}
		}
	}
	if stale+outdated > 0 {
		t.Errorf("%d facts derived from stale input, %d outdated at the job's end, of %d assets", stale, outdated, len(p.e.ids))
	}
}

// inForce is the fact cell's WRITETIME and the bytes in force then per
// the writers' log: the logged write latest at or before it, else the
// seeded value.
func (p *production) inForce(i int, id assets.ID) (at int64, bytes string) {
	if err := p.e.cql.Query(`SELECT WRITETIME(facts['src']) FROM `+keyspace+`.assets WHERE asset_id = ?`, id[:]).Scan(&at); err != nil {
		p.t.Fatal(err)
	}
	bytes = p.e.seeded[i]
	for _, w := range p.log[id] {
		if w.at <= at {
			bytes = w.bytes
		}
	}
	return at, bytes
}

func half(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return "not an int: " + s
	}
	return strconv.FormatInt(n/2, 10)
}
