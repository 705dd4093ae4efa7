package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
)

// asset get prints one asset as key/value lines (maps sorted) or as JSON,
// and names a bad or unknown id.
func TestAssetGet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	a := assets.Asset{ID: assets.NewID(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Type: "image", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Metadata: map[string]string{"width": "3840", "height": "2160"}, Facts: map[string]string{"orientation": "landscape"}, Transforms: map[string]int{"orientation": 2}}
	if err := s.Put(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if a, err = s.Get(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()

	out, err := cli(t, "--data-dir", dir, "asset", "get", a.ID.String())
	want := "id                      " + a.ID.String() + "\ntype                    image\ncreated_at              2026-01-02T03:04:05Z\n" +
		"version                 " + strconv.FormatInt(a.Version, 10) + "\nmetadata.height         2160\nmetadata.width          3840\n" +
		"facts.orientation       landscape\ntransforms.orientation  2\n"
	if err != nil || out != want {
		t.Errorf("asset get: %v\n%s\nwant\n%s", err, out, want)
	}
	out, err = cli(t, "--data-dir", dir, "asset", "get", a.ID.String(), "-o", "json")
	var got assets.Asset
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.ID != a.ID || got.Version != a.Version || got.Facts["orientation"] != "landscape" ||
		got.Metadata["width"] != "3840" || got.Transforms["orientation"] != 2 || !got.CreatedAt.Equal(a.CreatedAt) || got.Type != "image" {
		t.Errorf("asset get -o json: %v\n%s", err, out)
	}
	unknown := assets.NewID(time.Now()).String()
	for _, tc := range []struct{ id, want string }{
		{"not-an-id", `asset id "not-an-id"`},
		{"6ba7b810-9dad-41d1-80b4-00c04fd430c8", "want a timeuuid"},
		{unknown, "asset " + unknown + " not found"},
	} {
		if _, err := cli(t, "--data-dir", dir, "asset", "get", tc.id); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("asset get %s: %v; want an error with %q", tc.id, err, tc.want)
		}
	}
}
