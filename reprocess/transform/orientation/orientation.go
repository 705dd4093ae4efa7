// Package orientation is a Go transform family: the orientation of images
// and videos from their width and height. Version 1 writes
// facts.orientation; version 2 adds facts.aspect, the nearest common aspect
// ratio. Shipped versions are frozen; golden files under testdata/vN pin
// their behaviour.
package orientation

import (
	"fmt"
	"strconv"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Name is the transform name.
const Name = "orientation"

// All returns every version, for a registry.
func All() []transform.Transform { return []transform.Transform{V1{}, V2{}} }

// size reads width and height; a missing or malformed one is permanent.
func size(a assets.Asset) (w, h int, err error) {
	w, err1 := strconv.Atoi(a.Metadata["width"])
	h, err2 := strconv.Atoi(a.Metadata["height"])
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, transform.Permanent(fmt.Errorf("asset %s: width %q, height %q: want positive integers",
			a.ID, a.Metadata["width"], a.Metadata["height"]))
	}
	return w, h, nil
}

func orientation(w, h int) string {
	switch {
	case w > h:
		return "landscape"
	case w < h:
		return "portrait"
	}
	return "square"
}
