// Package assetstest is the contract every assets.Store implementation
// passes. A backend's test calls Run with a store it opened; the suite only
// uses asset types and job ids of its own (random per run), so one store may
// be shared with other tests and runs.
package assetstest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// Config describes the store under test.
type Config struct {
	Store  assets.Store
	Layout assets.Layout // the layout Store was opened with
	// Unreachable opens the same kind of store against something that is
	// not there and returns the error; Target is a string that error must
	// name (a directory, a host:port).
	Unreachable func(ctx context.Context) error
	Target      string
}

// Run runs the contract suite.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	run := fmt.Sprintf("t%x", rand.Uint32())
	s := &suite{Config: cfg, run: run}
	t.Run("PutGet", s.putGet)
	t.Run("Paging", s.paging)
	t.Run("PagingEqualTimestamps", s.pagingEqualTimestamps)
	t.Run("PagingPartitionsAreDisjoint", s.partitionsDisjoint)
	t.Run("FieldScopedUpdates", s.fieldScopedUpdates)
	t.Run("ConcurrentUpdatesKeepEveryField", s.concurrentUpdates)
	t.Run("UpdateIf", s.updateIf)
	t.Run("UpdateIfCounts", s.updateIfCounts)
	t.Run("Delete", s.delete)
	t.Run("Jobs", s.jobs)
	t.Run("Checkpoints", s.checkpoints)
	t.Run("Throttle", s.throttle)
	t.Run("Runs", s.runs)
	t.Run("Types", s.types)
	t.Run("RateLimit", s.rateLimit)
	t.Run("Unreachable", s.unreachable)
}

type suite struct {
	Config
	run string
	seq int
	mu  sync.Mutex
}

// typ returns an asset type no other test of any run uses.
func (s *suite) typ(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s_%s_%d", name, s.run, s.seq)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// bucketStart is a fixed, bucket-aligned creation time for test assets.
func (s *suite) bucketStart() time.Time {
	return s.Layout.Bucket(time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC))
}

// idsInShard makes n ids created inside the bucket at bucketStart, all in
// shard 0, at distinct times.
func (s *suite) idsInShard(n int) []assets.ID {
	start := s.bucketStart()
	ids := make([]assets.ID, 0, n)
	for i := 0; len(ids) < n; i++ {
		id := assets.NewID(start.Add(time.Duration(i%1000)*time.Second + time.Duration(i)*time.Microsecond))
		if s.Layout.Shard(id) == 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *suite) put(t *testing.T, typ string, ids []assets.ID) {
	t.Helper()
	for _, id := range ids {
		a := assets.Asset{ID: id, Type: typ, CreatedAt: s.bucketStart().Add(time.Minute), Metadata: map[string]string{"name": id.String()[:8]}}
		if err := s.Store.Put(ctx(t), a); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
}

// walk pages p to the end with the given page size, checking that pages are
// full until the last and that order is strictly descending.
func (s *suite) walk(t *testing.T, p assets.Partition, size int) (ids []assets.ID, pages int) {
	t.Helper()
	var after assets.ID
	for {
		page, err := s.Store.Page(ctx(t), p, after, size)
		if err != nil {
			t.Fatalf("Page(%s, after %s, %d): %v", p, after, size, err)
		}
		pages++
		if len(page) > size {
			t.Fatalf("page of %d ids for limit %d", len(page), size)
		}
		for _, id := range page {
			if !after.IsZero() && assets.Compare(id, after) >= 0 {
				t.Fatalf("page after %s returned %s, which is not below it", after, id)
			}
			after = id
		}
		ids = append(ids, page...)
		if len(page) == 0 {
			return ids, pages
		}
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
	}
}

func descending(ids []assets.ID) []assets.ID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b assets.ID) int { return assets.Compare(b, a) })
	return out
}

func (s *suite) putGet(t *testing.T) {
	c := ctx(t)
	created := time.Date(2024, 11, 2, 8, 30, 15, 123000000, time.UTC)
	a := assets.Asset{
		ID:         assets.NewID(created),
		Type:       s.typ("image"),
		CreatedAt:  created,
		Metadata:   map[string]string{"title": "Sunset", "width": "3840", "height": "2160"},
		Facts:      map[string]string{"orientation": "landscape"},
		Transforms: map[string]int{"orientation": 2},
	}
	if err := s.Store.Put(c, a); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := s.Store.Get(c, a.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Version <= 0 {
		t.Errorf("Version = %d, want a positive version after Put", got.Version)
	}
	got.Version = 0
	if diff := diffAsset(a, got); diff != "" {
		t.Errorf("Get after Put: %s", diff)
	}
	_, err = s.Store.Get(c, assets.NewID(time.Now()))
	if !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("Get of a missing id: got %v, want ErrNotFound", err)
	}
	if err := s.Store.Put(c, assets.Asset{Type: "x"}); err == nil {
		t.Error("Put of an asset without id: want an error")
	}
}

func diffAsset(want, got assets.Asset) string {
	var d []string
	if want.ID != got.ID {
		d = append(d, fmt.Sprintf("id %s != %s", got.ID, want.ID))
	}
	if want.Type != got.Type {
		d = append(d, fmt.Sprintf("type %q != %q", got.Type, want.Type))
	}
	if !want.CreatedAt.Equal(got.CreatedAt) {
		d = append(d, fmt.Sprintf("created_at %s != %s", got.CreatedAt, want.CreatedAt))
	}
	if !maps.Equal(want.Metadata, got.Metadata) {
		d = append(d, fmt.Sprintf("metadata %v != %v", got.Metadata, want.Metadata))
	}
	if !maps.Equal(want.Facts, got.Facts) {
		d = append(d, fmt.Sprintf("facts %v != %v", got.Facts, want.Facts))
	}
	if !maps.Equal(want.Transforms, got.Transforms) {
		d = append(d, fmt.Sprintf("transforms %v != %v", got.Transforms, want.Transforms))
	}
	if want.Version != got.Version {
		d = append(d, fmt.Sprintf("version %d != %d", got.Version, want.Version))
	}
	return strings.Join(d, "; ")
}

func (s *suite) paging(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, size   int
		wantPages int // including the final empty page
	}{
		{"empty partition", 0, 3, 1},
		{"one id page size 1", 1, 1, 2},
		{"page size 1", 5, 1, 6},
		{"exact multiple", 9, 3, 4},
		{"remainder", 10, 3, 5},
		{"one page larger than partition", 7, 100, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := s.typ("video")
			ids := s.idsInShard(tc.n)
			s.put(t, typ, ids)
			p := assets.Partition{Type: typ, Bucket: s.bucketStart(), Shard: 0}
			got, pages := s.walk(t, p, tc.size)
			if want := descending(ids); !slices.Equal(got, want) {
				t.Fatalf("walk returned %d ids %v, want %d ids %v", len(got), got, len(want), want)
			}
			if pages != tc.wantPages {
				t.Errorf("walk took %d pages, want %d", pages, tc.wantPages)
			}
		})
	}
	t.Run("resume below an id that is not in the partition", func(t *testing.T) {
		typ := s.typ("video")
		ids := descending(s.idsInShard(6))
		s.put(t, typ, ids)
		p := assets.Partition{Type: typ, Bucket: s.bucketStart(), Shard: 0}
		// An id one tick above ids[3]'s timestamp sorts between ids[2] and ids[3]
		// (ids are a second apart).
		between := assets.NewID(ids[3].Time().Add(time.Microsecond))
		page, err := s.Store.Page(ctx(t), p, between, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(page, ids[3:]) {
			t.Errorf("Page below %s = %v, want %v", between, page, ids[3:])
		}
	})
}

// pagingEqualTimestamps pages ids that share one timestamp and differ only
// in the clock sequence and node bytes, including bytes on both sides of
// 0x80, where signed and unsigned byte order disagree.
func (s *suite) pagingEqualTimestamps(t *testing.T) {
	typ := s.typ("audio")
	base := assets.NewID(s.bucketStart().Add(42 * time.Second))
	var candidates []assets.ID
	for b := range 256 {
		for _, variant := range []byte{0x80, 0xbf} {
			id := base
			id[8] = variant
			id[9] = byte(b)
			id[15] = byte(b) ^ 0x55
			if s.Layout.Shard(id) == 0 {
				candidates = append(candidates, id)
			}
		}
	}
	// Every 8th candidate keeps the set small and still spans both halves.
	var ids []assets.ID
	for i := 0; i < len(candidates); i += 8 {
		ids = append(ids, candidates[i])
	}
	if len(ids) < 8 {
		t.Fatalf("only %d crafted ids fall in shard 0", len(ids))
	}
	s.put(t, typ, ids)
	p := assets.Partition{Type: typ, Bucket: s.bucketStart(), Shard: 0}
	for _, size := range []int{1, 2, len(ids)} {
		got, _ := s.walk(t, p, size)
		if want := descending(ids); !slices.Equal(got, want) {
			t.Errorf("page size %d: got %v, want %v", size, got, want)
		}
	}
}

func (s *suite) partitionsDisjoint(t *testing.T) {
	typ, other := s.typ("document"), s.typ("document")
	start := s.bucketStart()
	want := map[assets.Partition][]assets.ID{}
	for i := range 60 {
		created := start.Add(time.Duration(i%3) * s.Layout.BucketWidth).Add(time.Duration(i) * time.Second)
		a := assets.Asset{ID: assets.NewID(created), Type: typ, CreatedAt: created}
		if i%4 == 0 {
			a.Type = other
		}
		if err := s.Store.Put(ctx(t), a); err != nil {
			t.Fatal(err)
		}
		p := s.Layout.PartitionOf(a)
		want[p] = append(want[p], a.ID)
	}
	total := 0
	for _, p := range s.Layout.Partitions([]string{typ, other}, start, start.Add(3*s.Layout.BucketWidth)) {
		got, _ := s.walk(t, p, 4)
		total += len(got)
		if w := descending(want[p]); !slices.Equal(got, w) {
			t.Errorf("partition %s: got %v, want %v", p, got, w)
		}
	}
	if total != 60 {
		t.Errorf("partitions hold %d ids in all, want 60", total)
	}
}

func (s *suite) newAsset(t *testing.T) assets.Asset {
	t.Helper()
	created := s.bucketStart().Add(time.Hour)
	a := assets.Asset{ID: assets.NewID(created), Type: s.typ("model"), CreatedAt: created,
		Metadata: map[string]string{"owner": "team-a", "title": "original"}}
	if err := s.Store.Put(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Store.Get(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (s *suite) fieldScopedUpdates(t *testing.T) {
	c := ctx(t)
	a := s.newAsset(t)
	if err := s.Store.Update(c, a.ID, assets.Update{Facts: map[string]string{"class": "uhd"}, Transforms: map[string]int{"class": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.Update(c, a.ID, assets.Update{Metadata: map[string]string{"title": "renamed"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.Update(c, a.ID, assets.Update{Facts: map[string]string{"lang": "en"}, Transforms: map[string]int{"class": 2, "lang": 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Store.Get(c, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.Metadata = map[string]string{"owner": "team-a", "title": "renamed"}
	want.Facts = map[string]string{"class": "uhd", "lang": "en"}
	want.Transforms = map[string]int{"class": 2, "lang": 1}
	want.Version = got.Version
	if diff := diffAsset(want, got); diff != "" {
		t.Errorf("after three field-scoped updates: %s", diff)
	}
	if got.Version == a.Version {
		t.Errorf("Version stayed %d across updates", a.Version)
	}
	err = s.Store.Update(c, assets.NewID(time.Now()), assets.Update{Facts: map[string]string{"x": "y"}})
	if !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("Update of a missing asset: got %v, want ErrNotFound", err)
	}
}

// concurrentUpdates has transform writers and production writers hit the
// same assets at once, each with cells of its own; every cell must survive.
func (s *suite) concurrentUpdates(t *testing.T) {
	const writers, rounds, nAssets = 6, 15, 3
	var list []assets.Asset
	for range nAssets {
		list = append(list, s.newAsset(t))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*nAssets)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for _, a := range list {
					var u assets.Update
					if w%2 == 0 { // a transform: its own fact and version entry
						u.Facts = map[string]string{fmt.Sprintf("f%d_%d", w, r): "v"}
						u.Transforms = map[string]int{fmt.Sprintf("t%d", w): r + 1}
					} else { // production: its own metadata field
						u.Metadata = map[string]string{fmt.Sprintf("m%d_%d", w, r): "v"}
					}
					if err := s.Store.Update(context.Background(), a.ID, u); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Update: %v", err)
	}
	for _, a := range list {
		got, err := s.Store.Get(ctx(t), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for w := range writers {
			for r := range rounds {
				if w%2 == 0 {
					if _, ok := got.Facts[fmt.Sprintf("f%d_%d", w, r)]; !ok {
						t.Errorf("asset %s lost fact f%d_%d", a.ID, w, r)
					}
				} else if _, ok := got.Metadata[fmt.Sprintf("m%d_%d", w, r)]; !ok {
					t.Errorf("asset %s lost metadata m%d_%d", a.ID, w, r)
				}
			}
			if w%2 == 0 && got.Transforms[fmt.Sprintf("t%d", w)] != rounds {
				t.Errorf("asset %s: transforms[t%d] = %d, want %d", a.ID, w, got.Transforms[fmt.Sprintf("t%d", w)], rounds)
			}
		}
		if got.Metadata["owner"] != "team-a" {
			t.Errorf("asset %s lost its original metadata: %v", a.ID, got.Metadata)
		}
	}
}

func (s *suite) updateIf(t *testing.T) {
	c := ctx(t)
	a := s.newAsset(t)
	ok, err := s.Store.UpdateIf(c, a.ID, a.Version, assets.Update{Facts: map[string]string{"first": "yes"}})
	if err != nil || !ok {
		t.Fatalf("UpdateIf at the current version: applied=%v err=%v, want applied", ok, err)
	}
	ok, err = s.Store.UpdateIf(c, a.ID, a.Version, assets.Update{Facts: map[string]string{"stale": "yes"}})
	if err != nil || ok {
		t.Fatalf("UpdateIf at a stale version: applied=%v err=%v, want not applied", ok, err)
	}
	got, err := s.Store.Get(c, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Facts["first"] != "yes" || got.Facts["stale"] != "" {
		t.Errorf("facts = %v, want only the first conditional update", got.Facts)
	}
	if got.Version == a.Version {
		t.Error("UpdateIf did not change the version")
	}
	// A plain Update in between invalidates a version read before it.
	if err := s.Store.Update(c, a.ID, assets.Update{Metadata: map[string]string{"title": "prod"}}); err != nil {
		t.Fatal(err)
	}
	ok, err = s.Store.UpdateIf(c, a.ID, got.Version, assets.Update{Facts: map[string]string{"late": "yes"}})
	if err != nil || ok {
		t.Errorf("UpdateIf after a concurrent Update: applied=%v err=%v, want not applied", ok, err)
	}
	_, err = s.Store.UpdateIf(c, assets.NewID(time.Now()), 1, assets.Update{Facts: map[string]string{"x": "y"}})
	if !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("UpdateIf of a missing asset: got %v, want ErrNotFound", err)
	}
}

// updateIfCounts increments a metadata counter from several goroutines with
// read / UpdateIf / retry; no increment may be lost or doubled.
func (s *suite) updateIfCounts(t *testing.T) {
	const workers, each = 4, 8
	a := s.newAsset(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				cur, err := s.Store.Get(context.Background(), a.ID)
				if err != nil {
					errs <- err
					return
				}
				var n int
				fmt.Sscan(cur.Metadata["count"], &n)
				ok, err := s.Store.UpdateIf(context.Background(), a.ID, cur.Version,
					assets.Update{Metadata: map[string]string{"count": fmt.Sprint(n + 1)}})
				if err != nil && !errors.Is(err, assets.ErrUnavailable) {
					errs <- err
					return
				}
				if ok {
					done++
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UpdateIf: %v", err)
	}
	got, err := s.Store.Get(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(workers * each); got.Metadata["count"] != want {
		t.Errorf("count = %s after %s conditional increments", got.Metadata["count"], want)
	}
}

func (s *suite) delete(t *testing.T) {
	c := ctx(t)
	typ := s.typ("doomed")
	ids := s.idsInShard(3)
	s.put(t, typ, ids)
	if err := s.Store.Delete(c, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.Get(c, ids[1]); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	got, _ := s.walk(t, assets.Partition{Type: typ, Bucket: s.bucketStart(), Shard: 0}, 10)
	if want := descending([]assets.ID{ids[0], ids[2]}); !slices.Equal(got, want) {
		t.Errorf("partition after Delete = %v, want %v", got, want)
	}
	if err := s.Store.Delete(c, ids[1]); err != nil {
		t.Errorf("a second Delete: %v, want nil", err)
	}
}

func (s *suite) jobs(t *testing.T) {
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	j := assets.Job{ID: s.typ("job-a"), Spec: "name: a\n", Status: "pending", CreatedAt: now, UpdatedAt: now}
	if err := s.Store.SaveJob(c, j); err != nil {
		t.Fatal(err)
	}
	j.Status, j.StartedAt, j.Counters = "running", now.Add(time.Second), map[string]int64{"scanned": 10, "emitted": 9}
	if err := s.Store.SaveJob(c, j); err != nil {
		t.Fatal(err)
	}
	j2 := assets.Job{ID: s.typ("job-b"), Status: "failed", Error: "boom", CreatedAt: now, EndedAt: now, UpdatedAt: now}
	if err := s.Store.SaveJob(c, j2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Store.Job(c, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !jobEqual(got, j) {
		t.Errorf("Job = %+v, want %+v", got, j)
	}
	if _, err := s.Store.Job(c, "no-such-job-"+s.run); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("Job of a missing id: got %v, want ErrNotFound", err)
	}
	all, err := s.Store.Jobs(c)
	if err != nil {
		t.Fatal(err)
	}
	var mine []assets.Job
	for _, x := range all {
		if strings.Contains(x.ID, s.run) {
			mine = append(mine, x)
		}
	}
	if len(mine) != 2 || !jobEqual(mine[0], j) || !jobEqual(mine[1], j2) {
		t.Errorf("Jobs = %+v, want [%+v %+v]", mine, j, j2)
	}
	if !slices.IsSortedFunc(all, func(a, b assets.Job) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Jobs is not in id order")
	}

	// Counters change without touching the rest of the record.
	if err := s.Store.SetJobCounters(c, j.ID, map[string]int64{"emitted": 42, "filtered": 3}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Store.Job(c, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "running" || got.Counters["scanned"] != 10 || got.Counters["emitted"] != 42 || got.Counters["filtered"] != 3 {
		t.Errorf("after SetJobCounters: status %s, counters %v", got.Status, got.Counters)
	}
	if err := s.Store.SetJobCounters(c, "no-such-job-"+s.run, map[string]int64{"x": 1}); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("SetJobCounters of a missing job: %v, want ErrNotFound", err)
	}

	// Increments from concurrent writers all count.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := s.Store.AddJobCounters(c, j.ID, map[string]int64{"applied": 2, "dlq": 1}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, err = s.Store.Job(c, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Counters["applied"] != 80 || got.Counters["dlq"] != 40 || got.Counters["emitted"] != 42 || got.Status != "running" {
		t.Errorf("after concurrent AddJobCounters: status %s, counters %v; want applied 80, dlq 40, emitted 42", got.Status, got.Counters)
	}

	// Of writers moving a job on from one status at once, one does; the
	// counters stay as they are.
	var moved sync.WaitGroup
	var wins atomic.Int32
	for _, to := range []string{"succeeded", "failed", "cancelled", "incomplete"} {
		moved.Add(1)
		go func() {
			defer moved.Done()
			next := got
			next.Status, next.Counters = to, map[string]int64{"applied": 1}
			ok, err := s.Store.SaveJobIf(c, next, "running")
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	moved.Wait()
	after, err := s.Store.Job(c, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if wins.Load() != 1 || after.Status == "running" || after.Counters["applied"] != 80 {
		t.Errorf("SaveJobIf from running, 4 writers at once: %d won; status %s, counters %v; want one, applied 80", wins.Load(), after.Status, after.Counters)
	}
	if ok, err := s.Store.SaveJobIf(c, assets.Job{ID: "no-such-job-" + s.run, Status: "running"}, "pending"); ok || err != nil {
		t.Errorf("SaveJobIf of a missing job: %v, %v; want false, nil", ok, err)
	}
	if _, err := s.Store.Job(c, "no-such-job-"+s.run); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("SaveJobIf created a missing job: %v", err)
	}
}

func jobEqual(a, b assets.Job) bool {
	return a.ID == b.ID && a.Spec == b.Spec && a.Status == b.Status && a.Error == b.Error &&
		maps.Equal(a.Counters, b.Counters) && a.CreatedAt.Equal(b.CreatedAt) && a.StartedAt.Equal(b.StartedAt) &&
		a.EndedAt.Equal(b.EndedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func (s *suite) checkpoints(t *testing.T) {
	c := ctx(t)
	job, other := s.typ("job-c"), s.typ("job-d")
	now := time.Now().UTC().Truncate(time.Millisecond)
	id := assets.NewID(now)
	save := []assets.Checkpoint{
		{Job: job, Task: "video/2025-01-02T00:00:00Z/1", Position: id.String(), UpdatedAt: now},
		{Job: job, Task: "image/2025-01-01T00:00:00Z/0", Position: "", Done: true, UpdatedAt: now},
		{Job: other, Task: "image/2025-01-01T00:00:00Z/0", Position: "x", UpdatedAt: now},
		{Job: job, Task: "video/2025-01-02T00:00:00Z/1", Position: id.String(), Done: true, UpdatedAt: now.Add(time.Second)},
	}
	for _, cp := range save {
		if err := s.Store.SaveCheckpoint(c, cp); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Store.Checkpoints(c, job)
	if err != nil {
		t.Fatal(err)
	}
	want := []assets.Checkpoint{save[1], save[3]}
	if len(got) != len(want) {
		t.Fatalf("Checkpoints = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Job != want[i].Job || got[i].Task != want[i].Task || got[i].Position != want[i].Position ||
			got[i].Done != want[i].Done || !got[i].UpdatedAt.Equal(want[i].UpdatedAt) {
			t.Errorf("checkpoint %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	none, err := s.Store.Checkpoints(c, "no-such-job-"+s.run)
	if err != nil || len(none) != 0 {
		t.Errorf("Checkpoints of an unknown job = %v, %v; want none", none, err)
	}
	if err := s.Store.DeleteCheckpoints(c, job); err != nil {
		t.Fatal(err)
	}
	gone, err := s.Store.Checkpoints(c, job)
	kept, err2 := s.Store.Checkpoints(c, other)
	if err != nil || err2 != nil || len(gone) != 0 || len(kept) != 1 {
		t.Errorf("after DeleteCheckpoints(%s): %d left (%v), the other job's %d (%v); want 0 and 1", job, len(gone), err, len(kept), err2)
	}
}

func (s *suite) throttle(t *testing.T) {
	c := ctx(t)
	job, other := s.typ("job-t"), s.typ("job-u")
	if _, err := s.Store.Throttle(c, job); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("Throttle of a job with none recorded: %v, want ErrNotFound", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := assets.Throttle{Rate: 250, Signal: 12 * time.Millisecond, Target: 20 * time.Millisecond, Reason: "latency", UpdatedAt: now}
	last := assets.Throttle{Rate: 500.5, Signal: 1500 * time.Microsecond, Target: 18 * time.Millisecond, Baseline: 15 * time.Millisecond, UpdatedAt: now.Add(time.Second)}
	for _, set := range []struct {
		job string
		t   assets.Throttle
	}{{job, first}, {other, first}, {job, last}} {
		if err := s.Store.SetThrottle(c, set.job, set.t); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []struct {
		job string
		t   assets.Throttle
	}{{job, last}, {other, first}} {
		got, err := s.Store.Throttle(c, want.job)
		if err != nil || got.Rate != want.t.Rate || got.Signal != want.t.Signal || got.Target != want.t.Target || got.Baseline != want.t.Baseline ||
			got.Reason != want.t.Reason || !got.UpdatedAt.Equal(want.t.UpdatedAt) {
			t.Errorf("Throttle(%s) = %+v, %v; want %+v", want.job, got, err, want.t)
		}
	}
}

func (s *suite) types(t *testing.T) {
	a, b := s.typ("kind-a"), s.typ("kind-b")
	s.put(t, b, s.idsInShard(2))
	s.put(t, a, s.idsInShard(1))
	types, err := s.Store.Types(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ia, ib := slices.Index(types, a), slices.Index(types, b)
	if ia < 0 || ib < 0 || ia > ib || !slices.IsSorted(types) {
		t.Errorf("Types() = %v; want %s and %s among them, sorted", types, a, b)
	}
}

func (s *suite) runs(t *testing.T) {
	c := ctx(t)
	job, other := s.typ("job-r"), s.typ("job-s")
	if runs, err := s.Store.Runs(c, job); err != nil || len(runs) != 0 {
		t.Errorf("Runs of a job never run: %v, %v; want none", runs, err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := assets.Run{Job: job, N: 1, Owner: "run", Status: "running", StartedAt: now}
	ended := first
	ended.Status, ended.EndedAt, ended.Counters = "interrupted", now.Add(time.Minute), map[string]int64{"emitted": 7}
	second := assets.Run{Job: job, N: 2, Owner: "serve", Status: "running", StartedAt: now.Add(2 * time.Minute)}
	// Run 10 sorts after run 2: runs are ordered by number, not text.
	tenth := assets.Run{Job: job, N: 10, Owner: "scan", Status: "succeeded", StartedAt: now.Add(3 * time.Minute), EndedAt: now.Add(4 * time.Minute)}
	for _, r := range []assets.Run{tenth, first, {Job: other, N: 1, Owner: "run", StartedAt: now}, second, ended} {
		if err := s.Store.SaveRun(c, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Store.Runs(c, job)
	if err != nil || len(got) != 3 {
		t.Fatalf("Runs(%s) = %+v, %v; want 3 runs", job, got, err)
	}
	for i, want := range []assets.Run{ended, second, tenth} {
		g := got[i]
		if g.Job != want.Job || g.N != want.N || g.Owner != want.Owner || g.Status != want.Status || !maps.Equal(g.Counters, want.Counters) ||
			!g.StartedAt.Equal(want.StartedAt) || !g.EndedAt.Equal(want.EndedAt) {
			t.Errorf("run %d = %+v; want %+v", i, g, want)
		}
	}
}

// An operator's rate limit is kept per job, replaced by the next, and
// removed by 0.
func (s *suite) rateLimit(t *testing.T) {
	c := ctx(t)
	job, other := s.typ("job-r"), s.typ("job-s")
	steps := []struct {
		job        string
		set        float64
		job1, job2 float64 // what each job reads after the step
	}{
		{job, 0, 0, 0},
		{job, 250, 250, 0},
		{other, 40, 250, 40},
		{job, 75, 75, 40},
		{job, 0, 0, 40},
	}
	for i, st := range steps {
		if err := s.Store.SetRateLimit(c, st.job, st.set); err != nil {
			t.Fatalf("step %d: SetRateLimit(%s, %v): %v", i, st.job, st.set, err)
		}
		for _, want := range []struct {
			job  string
			rate float64
		}{{job, st.job1}, {other, st.job2}} {
			if got, err := s.Store.RateLimit(c, want.job); err != nil || got != want.rate {
				t.Errorf("step %d: RateLimit(%s) = %v, %v; want %v", i, want.job, got, err, want.rate)
			}
		}
	}
}

func (s *suite) unreachable(t *testing.T) {
	if s.Unreachable == nil {
		t.Fatal("the suite needs Config.Unreachable")
	}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Unreachable(c)
	if err == nil {
		t.Fatal("opening an unreachable store succeeded")
	}
	if !errors.Is(err, assets.ErrUnavailable) {
		t.Errorf("error %q does not wrap assets.ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), s.Target) {
		t.Errorf("error %q does not name %s", err, s.Target)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("failing took %s", d)
	}
}
