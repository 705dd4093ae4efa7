package assets_test

import (
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// maxID is the largest id of instant t: the last of t's ids in Compare
// order, like CQL's maxTimeuuid.
func maxID(t time.Time) assets.ID {
	k := assets.MinID(t).SortKey()
	for i := 8; i < 16; i++ {
		k[i] = 0xff
	}
	id, _ := assets.IDFromSortKey(k[:])
	return id
}

func TestSplitBelow(t *testing.T) {
	floor := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	tick := 100 * time.Nanosecond
	cursor := assets.NewID(floor.Add(4 * time.Hour))
	for _, tc := range []struct {
		name   string
		cursor assets.ID
		floor  time.Time
		k      int
		los    []time.Time // the lower bound of each range but the last, newest first
	}{
		{"four hours four ways", cursor, floor, 4, []time.Time{floor.Add(3 * time.Hour), floor.Add(2 * time.Hour), floor.Add(time.Hour)}},
		{"uneven span rounds down", assets.NewID(floor.Add(10 * tick)), floor, 3, []time.Time{floor.Add(6 * tick), floor.Add(3 * tick)}},
		{"fewer ticks than ways", assets.NewID(floor.Add(2 * tick)), floor, 8, []time.Time{floor.Add(tick)}},
		{"cursor at the floor", assets.NewID(floor), floor, 4, nil},
		{"cursor below the floor", assets.NewID(floor.Add(-time.Hour)), floor, 4, nil},
		{"one way", cursor, floor, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := assets.SplitBelow(tc.cursor, tc.floor, tc.k)
			if tc.los == nil {
				if rs != nil {
					t.Fatalf("got %v, want no split", rs)
				}
				return
			}
			if len(rs) != len(tc.los)+1 {
				t.Fatalf("got %d ranges %v, want %d", len(rs), rs, len(tc.los)+1)
			}
			if rs[0].Hi != tc.cursor || !rs[len(rs)-1].Lo.IsZero() {
				t.Errorf("ranges %v: want the first to end at the cursor and the last to have no lower bound", rs)
			}
			for i, lo := range tc.los {
				if rs[i].Lo != assets.MinID(lo) || rs[i+1].Hi != rs[i].Lo {
					t.Errorf("range %d is %v, want it to start at MinID(%s) and the next to end there", i, rs[i], lo.Format(time.RFC3339Nano))
				}
			}
		})
	}
}

// Every id below the cursor lies in exactly one range: those of one
// instant together, whatever their clock and node bits.
func TestSplitBelowCoversEachIDOnce(t *testing.T) {
	floor := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	cursor := assets.NewID(floor.Add(4 * time.Hour))
	rs := assets.SplitBelow(cursor, floor, 4)
	probes := map[string]assets.ID{"below the floor": assets.NewID(floor.Add(-time.Minute)), "min at the floor": assets.MinID(floor)}
	for h := 1; h <= 3; h++ {
		b := floor.Add(time.Duration(h) * time.Hour)
		probes["min at boundary "+b.Format(time.Kitchen)] = assets.MinID(b)
		probes["max at boundary "+b.Format(time.Kitchen)] = maxID(b)
		probes["random at boundary "+b.Format(time.Kitchen)] = assets.NewID(b)
		probes["max a tick below "+b.Format(time.Kitchen)] = maxID(b.Add(-100 * time.Nanosecond))
	}
	probes["min at the cursor's instant"] = assets.MinID(cursor.Time())
	for name, id := range probes {
		in := 0
		for _, r := range rs {
			if r.Contains(id) {
				in++
			}
		}
		if in != 1 {
			t.Errorf("%s (%s) is in %d ranges of %v, want 1", name, id, in, rs)
		}
	}
	if cursorIn := rs[0].Contains(cursor); cursorIn {
		t.Errorf("the cursor, already emitted, is in range %v", rs[0])
	}
	r, err := assets.ParseRange(rs[3].String())
	if err != nil || r != rs[3] {
		t.Errorf("ParseRange(%q) = %v, %v", rs[3].String(), r, err)
	}
	if _, err := assets.ParseRange("nope"); err == nil {
		t.Error("ParseRange(nope) did not fail")
	}
}
