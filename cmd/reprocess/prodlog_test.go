package main

import (
	"slices"
	"testing"
)

// landed is a production write found in the store: its value, when it
// was sent (client clock, µs) and the WRITETIME of the copy read back.
// The driver retries a timed-out write with a new timestamp, so an
// earlier attempt may have landed anywhere from sent to at.
type landed struct {
	seq      string
	sent, at int64
}

// inForce is what a reader may have seen at time at, given an asset's
// writes in order (the writer sends one at a time): the last value
// written by then ("none" before the first) and the value of a write
// still being retried then.
func inForce(log []landed, at int64) []string {
	may := []string{"none"}
	for _, w := range log {
		switch {
		case w.at <= at:
			may = []string{w.seq}
		case w.sent <= at:
			may = append(may, w.seq)
		}
	}
	return may
}

func TestInForce(t *testing.T) {
	log := []landed{{"1", 100, 110}, {"2", 200, 290}, {"3", 300, 305}}
	for _, c := range []struct {
		at   int64
		want []string
	}{
		{50, []string{"none"}},
		{105, []string{"none", "1"}}, // 1 may have landed at 100 and again at 110
		{110, []string{"1"}},
		{150, []string{"1"}},
		{250, []string{"1", "2"}},
		{290, []string{"2"}},
		{302, []string{"2", "3"}},
		{400, []string{"3"}},
	} {
		if got := inForce(log, c.at); !slices.Equal(got, c.want) {
			t.Errorf("at %d: %v; want %v", c.at, got, c.want)
		}
	}
}
