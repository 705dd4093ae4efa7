package throttle

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
)

type rates struct {
	rate  float64
	reads atomic.Int64
}

func (r *rates) Throttle(_ context.Context, job string) (assets.Throttle, error) {
	r.reads.Add(1)
	if job != "paced" {
		return assets.Throttle{}, assets.ErrNotFound
	}
	return assets.Throttle{Rate: r.rate}, nil
}

func TestPacerTakesItsShare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		job    string
		share  float64
		events int
		least  time.Duration // with 10% slack for the burst
	}{
		{"whole rate", "paced", 1, 100, 900 * time.Millisecond},      // 100 at 100/s
		{"quarter share", "paced", 0.25, 25, 900 * time.Millisecond}, // 25 at 25/s
		{"no rate recorded", "unpaced", 1, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rates{rate: 100}
			p := NewPacer(r, time.Second)
			p.SetShare(tc.share)
			start := time.Now()
			for range tc.events {
				if err := p.Wait(context.Background(), tc.job); err != nil {
					t.Fatal(err)
				}
			}
			took := time.Since(start)
			t.Logf("%d events took %s (%d rate reads)", tc.events, took, r.reads.Load())
			if took < tc.least || (tc.least == 0 && took > 100*time.Millisecond) {
				t.Errorf("%d events at share %v of 100/s took %s; want >= %s", tc.events, tc.share, took, tc.least)
			}
		})
	}
}
