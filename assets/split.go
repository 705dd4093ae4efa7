package assets

import (
	"fmt"
	"strings"
	"time"
)

// Range is a span of one partition's ids in Compare order: those below Hi
// and at or above Lo. A zero Hi has no upper bound, a zero Lo no lower one.
type Range struct {
	Hi, Lo ID
}

// Contains reports whether id lies in r.
func (r Range) Contains(id ID) bool {
	return (r.Hi.IsZero() || Compare(id, r.Hi) < 0) && (r.Lo.IsZero() || Compare(id, r.Lo) >= 0)
}

// String is "hi~lo", each bound an id or empty when absent; ParseRange
// reads it back.
func (r Range) String() string {
	s := func(id ID) string {
		if id.IsZero() {
			return ""
		}
		return id.String()
	}
	return s(r.Hi) + "~" + s(r.Lo)
}

// ParseRange reads a range back from its String form.
func ParseRange(s string) (Range, error) {
	hi, lo, ok := strings.Cut(s, "~")
	if !ok {
		return Range{}, fmt.Errorf("id range %q: want hi~lo", s)
	}
	var r Range
	for _, b := range []struct {
		text string
		id   *ID
	}{{hi, &r.Hi}, {lo, &r.Lo}} {
		if b.text == "" {
			continue
		}
		id, err := ParseID(b.text)
		if err != nil {
			return Range{}, fmt.Errorf("id range %q: %w", s, err)
		}
		*b.id = id
	}
	return r, nil
}

// SplitBelow splits the ids below cursor into at most k ranges by
// creation time, newest first, slicing the time from floor up to the
// cursor's evenly. The top range ends at the cursor itself (exclusive), so
// it keeps the ids that share the cursor's timestamp but sort below it;
// every other range is [MinID(its start), MinID(the next start)), so ids
// of one instant, whatever their clock and node bits, all fall in one
// range. The bottom range has no lower bound: it reaches the partition's
// end, so even an id timed before floor is in some range. Fewer than two
// ranges (k < 2, or no time between floor and cursor) is nil: nothing to
// split.
func SplitBelow(cursor ID, floor time.Time, k int) []Range {
	top, bottom := cursor.timestamp(), uint64(max(floor.UnixNano()/100+uuidEpoch, 0))
	if top <= bottom {
		return nil
	}
	span := top - bottom
	k = int(min(uint64(max(k, 0)), span))
	if k < 2 {
		return nil
	}
	rs := make([]Range, k)
	hi := cursor
	for i := k - 1; i >= 1; i-- {
		lo := minIDAt(bottom + span/uint64(k)*uint64(i) + span%uint64(k)*uint64(i)/uint64(k))
		rs[k-1-i] = Range{Hi: hi, Lo: lo}
		hi = lo
	}
	rs[k-1] = Range{Hi: hi}
	return rs
}
