package orientation

import (
	"context"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// V1 writes facts.orientation: landscape, portrait or square.
type V1 struct{}

func (V1) Name() string          { return Name }
func (V1) Version() int          { return 1 }
func (V1) ReadsProduction() bool { return true } // width and height are production's

func (V1) Apply(_ context.Context, a assets.Asset) (transform.Result, error) {
	w, h, err := size(a)
	if err != nil {
		return transform.Result{}, err
	}
	return transform.Result{Facts: map[string]string{"orientation": orientation(w, h)}}, nil
}
