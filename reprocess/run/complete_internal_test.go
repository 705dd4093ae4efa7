package run

import (
	"testing"

	"github.com/reprocess/reprocess/reprocess/throttle"
)

// A pass outside the job's run has no latency signal: it goes at the
// job's limit, or at an adaptive rate's floor.
func TestPassLimiter(t *testing.T) {
	for _, c := range []struct {
		rate throttle.Config
		want float64
	}{
		{throttle.Config{Limit: 200}, 200},
		{throttle.Config{Limit: 200, Adaptive: true}, 10},
		{throttle.Config{Limit: 200, Adaptive: true, Min: 30}, 30},
	} {
		if got := passLimiter(c.rate).Rate(); got != c.want {
			t.Errorf("%+v: %v/s; want %v/s", c.rate, got, c.want)
		}
	}
}
