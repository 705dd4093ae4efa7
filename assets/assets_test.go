package assets_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", ""},
		{"6ba7b810-9dad-41d1-80b4-00c04fd430c8", "want a timeuuid (version 1), got version 4"},
		{"not-a-uuid", "invalid"},
		{"", "invalid"},
	} {
		id, err := assets.ParseID(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseID(%q): %v", tc.in, err)
		case tc.err == "" && id.String() != tc.in:
			t.Errorf("ParseID(%q).String() = %s", tc.in, id)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseID(%q) error = %v, want one containing %q", tc.in, err, tc.err)
		}
	}
}

func TestIDTimeAndSortKey(t *testing.T) {
	at := time.Date(2025, 7, 4, 10, 11, 12, 345678900, time.UTC)
	id := assets.NewID(at)
	if !id.Time().Equal(at) {
		t.Errorf("Time() = %s, want %s", id.Time(), at)
	}
	k := id.SortKey()
	back, err := assets.IDFromSortKey(k[:])
	if err != nil || back != id {
		t.Errorf("IDFromSortKey(SortKey(%s)) = %s, %v", id, back, err)
	}
	if _, err := assets.IDFromSortKey([]byte{1, 2}); err == nil {
		t.Error("IDFromSortKey of 2 bytes: want an error")
	}
}

func TestCompareIsCassandraOrder(t *testing.T) {
	// Cassandra orders timeuuids by time, then by the low 8 bytes as signed
	// bytes: 0x80 (-128) sorts before 0x7f (127).
	early := assets.NewID(time.Unix(1000, 0))
	late := assets.NewID(time.Unix(2000, 0))
	lo, hi := early, early
	lo[9], hi[9] = 0x80, 0x7f
	for _, tc := range []struct {
		a, b assets.ID
		want int
	}{
		{early, late, -1},
		{late, early, 1},
		{early, early, 0},
		{lo, hi, -1},
		{hi, lo, 1},
	} {
		if got := assets.Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestLayout(t *testing.T) {
	l := assets.Layout{BucketWidth: 6 * time.Hour, Shards: 4}
	for _, tc := range []struct{ in, want time.Time }{
		{time.Date(2025, 1, 1, 5, 59, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2025, 1, 1, 6, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 6, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 18, 0, 0, 0, time.UTC)},
	} {
		if got := l.Bucket(tc.in); !got.Equal(tc.want) {
			t.Errorf("Bucket(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	seen := map[int]int{}
	for range 4000 {
		seen[l.Shard(assets.NewID(time.Now()))]++
	}
	for s := range 4 {
		if seen[s] < 800 || seen[s] > 1200 {
			t.Errorf("shard %d got %d of 4000 ids; want an even spread", s, seen[s])
		}
	}
	from := time.Date(2025, 1, 1, 3, 0, 0, 0, time.UTC)
	ps := l.Partitions([]string{"image", "video"}, from, from.Add(12*time.Hour))
	// [03:00, 15:00) touches the 00:00, 06:00 and 12:00 buckets.
	if len(ps) != 2*3*4 {
		t.Fatalf("Partitions = %d, want 24", len(ps))
	}
	if ps[0].String() != "image/2025-01-01T00:00:00Z/0" || ps[len(ps)-1].String() != "video/2025-01-01T12:00:00Z/3" {
		t.Errorf("first %s, last %s", ps[0], ps[len(ps)-1])
	}
	if err := (assets.Layout{BucketWidth: time.Second, Shards: 0}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "layout.bucket_width") || !strings.Contains(err.Error(), "layout.shards") {
		t.Errorf("Validate of a bad layout: %v", err)
	}
}

func TestUpdateApplyAndNextVersion(t *testing.T) {
	a := assets.Asset{Metadata: map[string]string{"a": "1"}}
	assets.Update{Metadata: map[string]string{"b": "2"}, Facts: map[string]string{"f": "x"}, Transforms: map[string]int{"t": 3}}.Apply(&a)
	if a.Metadata["a"] != "1" || a.Metadata["b"] != "2" || a.Facts["f"] != "x" || a.Transforms["t"] != 3 {
		t.Errorf("Apply: %+v", a)
	}
	now := time.UnixMicro(5000)
	if got := assets.NextVersion(10, now); got != 5000 {
		t.Errorf("NextVersion(10, 5000µs) = %d", got)
	}
	if got := assets.NextVersion(9000, now); got != 9001 {
		t.Errorf("NextVersion(9000, 5000µs) = %d, want 9001", got)
	}
}

func TestWalk(t *testing.T) {
	layout := assets.Layout{BucketWidth: time.Hour, Shards: 1}
	s, err := embedded.Open(embedded.Config{Dir: t.TempDir()}, layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []assets.ID
	for i := range 7 {
		a := assets.Asset{ID: assets.NewID(at.Add(time.Duration(i) * time.Second)), Type: "image", CreatedAt: at}
		if err := s.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		want = append([]assets.ID{a.ID}, want...)
	}
	p := assets.Partition{Type: "image", Bucket: at, Shard: 0}
	var got []assets.ID
	var sizes []int
	err = assets.Walk(context.Background(), s, p, assets.ID{}, 3, func(page []assets.ID) error {
		got = append(got, page...)
		sizes = append(sizes, len(page))
		return nil
	})
	if err != nil || !slices.Equal(got, want) || !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("Walk: pages %v, ids %v, err %v; want pages [3 3 1] of %v", sizes, got, err, want)
	}
	stop := errors.New("stop")
	calls := 0
	err = assets.Walk(context.Background(), s, p, want[2], 2, func([]assets.ID) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with a failing fn: err %v after %d calls; want stop after 1", err, calls)
	}
}

func TestMinID(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := assets.MinID(at)
	if !m.Time().Equal(at) {
		t.Errorf("MinID time = %s", m.Time())
	}
	for range 100 {
		if id := assets.NewID(at); assets.Compare(m, id) > 0 {
			t.Fatalf("MinID(%s) = %s sorts above %s", at, m, id)
		}
		if id := assets.NewID(at.Add(-time.Microsecond)); assets.Compare(id, m) >= 0 {
			t.Fatalf("an id 1µs earlier, %s, does not sort below MinID %s", id, m)
		}
	}
}

func TestParsePartition(t *testing.T) {
	p := assets.Partition{Type: "image/raw", Bucket: time.Date(2025, 3, 1, 6, 0, 0, 0, time.UTC), Shard: 7}
	got, err := assets.ParsePartition(p.String())
	if err != nil || got != p {
		t.Errorf("ParsePartition(%q) = %+v, %v", p.String(), got, err)
	}
	for _, bad := range []string{"", "image", "image/2025-03-01T06:00:00Z", "image/yesterday/1", "image/2025-03-01T06:00:00Z/x"} {
		if _, err := assets.ParsePartition(bad); err == nil {
			t.Errorf("ParsePartition(%q): want an error", bad)
		}
	}
}
