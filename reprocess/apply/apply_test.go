package apply_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// sizeClass is a tracked Go transform that reads metadata bytes only and
// records the value it read in fact seen.
type sizeClass struct{ dryRun, del bool }

func (sizeClass) Name() string                   { return "size" }
func (sizeClass) Version() int                   { return 1 }
func (sizeClass) ReadsProduction() bool          { return true }
func (sizeClass) MetadataKeys() ([]string, bool) { return []string{"bytes"}, true }
func (s sizeClass) DryRun() bool                 { return s.dryRun }
func (s sizeClass) Apply(_ context.Context, a assets.Asset) (transform.Result, error) {
	return transform.Result{Facts: map[string]string{"seen": a.Metadata["bytes"]}, Delete: s.del}, nil
}

type resolver struct{ t transform.Transform }

func (r resolver) Resolve(context.Context, events.Reprocess) (transform.Transform, error) {
	return r.t, nil
}

// notes counts guard events.
type notes struct {
	mu sync.Mutex
	n  map[apply.Note]int
}

func (n *notes) Note(_ string, x apply.Note) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.n == nil {
		n.n = map[apply.Note]int{}
	}
	n.n[x]++
}

func (n *notes) get(x apply.Note) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.n[x]
}

// racing is a store on which production writes metadata bytes (to the
// next value of bytes) around the processor's conditional writes: before
// the first `before` of them (the write then loses), and after the first
// `after` of them (the asset's inputs change under the fact just written).
type racing struct {
	assets.Store
	mu            sync.Mutex
	before, after int
	writes        []string // the bytes production wrote, in order
}

func (r *racing) UpdateIf(ctx context.Context, id assets.ID, version int64, u assets.Update) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.before > 0 {
		r.before--
		r.produce(ctx, id)
	}
	ok, err := r.Store.UpdateIf(ctx, id, version, u)
	if ok && r.after > 0 {
		r.after--
		r.produce(ctx, id)
	}
	return ok, err
}

func (r *racing) produce(ctx context.Context, id assets.ID) {
	v := string(rune('a' + len(r.writes)))
	r.writes = append(r.writes, v)
	if err := r.Store.Update(ctx, id, assets.Update{Metadata: map[string]string{"bytes": v}}); err != nil {
		panic(err)
	}
}

var layout = assets.Layout{BucketWidth: 24 * time.Hour, Shards: 2}

func TestHandleTracked(t *testing.T) {
	for _, c := range []struct {
		name                 string
		before, after        int
		want                 apply.Outcome
		wantErr              error
		conflicts, reapplied int
	}{
		{"no production write", 0, 0, apply.Applied, nil, 0, 0},
		{"conflict: re-read, re-apply", 1, 0, apply.Applied, nil, 1, 0},
		{"inputs changed under the write: re-check applies again", 0, 1, apply.Applied, nil, 0, 1},
		{"both, twice", 2, 2, apply.Applied, nil, 2, 2},
		{"persistent conflicts", 100, 0, apply.Failed, apply.ErrConflict, 4, 0},
		{"inputs keep changing", 0, 100, apply.Failed, apply.ErrConflict, 0, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &racing{Store: assetstest.Embedded(t, layout), before: c.before, after: c.after}
			a := put(t, s, map[string]string{"bytes": "0", "owner": "x"})
			n := &notes{}
			h := &apply.Handler{Store: s, Transforms: resolver{sizeClass{}}, Conflicts: 4, Notes: n}
			out, err := h.Handle(context.Background(), ev(a.ID))
			if out != c.want || !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("Handle: %s, %v; want %s, %v", out, err, c.want, c.wantErr)
			}
			if err != nil && !apply.Retryable(err) {
				t.Errorf("%v is not retryable", err)
			}
			if n.get(apply.Conflict) != c.conflicts || n.get(apply.Reapplied) != c.reapplied {
				t.Errorf("noted %d conflicts, %d re-applications; want %d, %d", n.get(apply.Conflict), n.get(apply.Reapplied), c.conflicts, c.reapplied)
			}
			got, _ := s.Store.Get(context.Background(), a.ID)
			if c.wantErr == nil && (got.Facts["seen"] != got.Metadata["bytes"] || apply.Stale(sizeClass{}, got)) {
				t.Errorf("fact seen = %q from bytes %q (digest %q): derived from stale input", got.Facts["seen"], got.Metadata["bytes"], got.Facts["size.src"])
			}
		})
	}
}

func TestPersistentConflictsRetriedThenGivenUp(t *testing.T) {
	s := &racing{Store: assetstest.Embedded(t, layout), before: 1000}
	a := put(t, s, map[string]string{"bytes": "0"})
	h := &apply.Handler{Store: s, Transforms: resolver{sizeClass{}}, Conflicts: 2}
	out, tries, err := apply.Policy{Attempts: 3, Base: time.Microsecond, Max: time.Microsecond}.Do(context.Background(), func() (apply.Outcome, error) {
		return h.Handle(context.Background(), ev(a.ID))
	})
	if out != apply.Failed || tries != 3 || !errors.Is(err, apply.ErrConflict) {
		t.Errorf("policy gave %s after %d tries, %v; want failed after 3 with ErrConflict (then dead-lettered)", out, tries, err)
	}
}

func TestHandleOutcomes(t *testing.T) {
	s := assetstest.Embedded(t, layout)
	a := put(t, s, map[string]string{"bytes": "0"})
	for _, c := range []struct {
		name string
		t    transform.Transform
		id   assets.ID
		want apply.Outcome
	}{
		{"missing asset", sizeClass{}, assets.NewID(time.Now()), apply.Missing},
		{"dry-run delete", sizeClass{del: true, dryRun: true}, a.ID, apply.WouldDelete},
		{"apply", sizeClass{}, a.ID, apply.Applied},
		{"redelivered", sizeClass{}, a.ID, apply.Skipped},
	} {
		h := &apply.Handler{Store: s, Transforms: resolver{c.t}}
		if out, err := h.Handle(context.Background(), ev(c.id)); out != c.want || err != nil {
			t.Errorf("%s: %s, %v; want %s", c.name, out, err, c.want)
		}
	}
	if _, err := s.Get(context.Background(), a.ID); err != nil {
		t.Errorf("the dry-run delete removed the asset: %v", err)
	}
}

// TestStaleMarkerIsRefreshed: a fact whose recorded inputs are not the
// asset's is applied again, by Refresh and by a redelivered event; a
// change to metadata the transform does not read is not.
func TestStaleMarkerIsRefreshed(t *testing.T) {
	s := assetstest.Embedded(t, layout)
	a := put(t, s, map[string]string{"bytes": "0"})
	n := &notes{}
	h := &apply.Handler{Store: s, Transforms: resolver{sizeClass{}}, Notes: n}
	ctx := context.Background()
	if out, err := h.Handle(ctx, ev(a.ID)); out != apply.Applied || err != nil {
		t.Fatal(out, err)
	}
	steps := []struct {
		write     map[string]string
		refresh   bool
		reapplied bool
	}{
		{map[string]string{"owner": "y"}, true, false},
		{map[string]string{"bytes": "1"}, true, true},
		{map[string]string{"bytes": "2"}, false, true}, // a redelivered event
		{nil, true, false},
	}
	for i, st := range steps {
		if st.write != nil {
			if err := s.Update(ctx, a.ID, assets.Update{Metadata: st.write}); err != nil {
				t.Fatal(err)
			}
		}
		var did bool
		if st.refresh {
			var err error
			if did, err = h.Refresh(ctx, ev(a.ID)); err != nil {
				t.Fatal(err)
			}
		} else {
			out, err := h.Handle(ctx, ev(a.ID))
			if err != nil {
				t.Fatal(err)
			}
			did = out == apply.Applied
		}
		got, _ := s.Get(ctx, a.ID)
		if did != st.reapplied || got.Facts["seen"] != got.Metadata["bytes"] {
			t.Errorf("step %d (write %v): re-applied %t, want %t; fact seen %q, bytes %q", i, st.write, did, st.reapplied, got.Facts["seen"], got.Metadata["bytes"])
		}
	}
	if n.get(apply.Reapplied) != 2 {
		t.Errorf("noted %d re-applications, want 2", n.get(apply.Reapplied))
	}
}

func put(t *testing.T, s assets.Store, md map[string]string) assets.Asset {
	t.Helper()
	a := assets.Asset{ID: assets.NewID(time.Now()), Type: "image", CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Metadata: md}
	if err := s.Put(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func ev(id assets.ID) events.Reprocess {
	return events.Reprocess{JobID: "j", AssetID: id, Transform: "size", Version: 1}
}
