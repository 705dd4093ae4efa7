package orientation

import (
	"context"
	"math"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// V2 writes facts.orientation as V1 does and facts.aspect, the nearest of
// the common aspect ratios.
type V2 struct{}

func (V2) Name() string          { return Name }
func (V2) Version() int          { return 2 }
func (V2) ReadsProduction() bool { return true }

var ratios = []struct {
	name string
	v    float64
}{{"1:1", 1}, {"4:3", 4.0 / 3}, {"3:2", 1.5}, {"16:9", 16.0 / 9}, {"21:9", 21.0 / 9}}

func (V2) Apply(_ context.Context, a assets.Asset) (transform.Result, error) {
	w, h, err := size(a)
	if err != nil {
		return transform.Result{}, err
	}
	long, short := float64(max(w, h)), float64(min(w, h))
	best := ratios[0]
	for _, r := range ratios[1:] {
		if math.Abs(long/short-r.v) < math.Abs(long/short-best.v) {
			best = r
		}
	}
	return transform.Result{Facts: map[string]string{"orientation": orientation(w, h), "aspect": best.name}}, nil
}
