package expr_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/expr"
)

var uhd = assets.Asset{
	ID: assets.NewID(time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)), Type: "image",
	CreatedAt:  time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC),
	Metadata:   map[string]string{"width": "3840", "height": "2160", "format": "heic"},
	Transforms: map[string]int{"resolution_class": 1},
	Version:    7,
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{`asset.type == "image"`, true},
		{`int(asset.metadata.height) >= 2160`, true},
		{`asset.metadata.format in ["jpeg", "png"]`, false},
		{`asset.created_at > timestamp("2025-01-01T00:00:00Z")`, true},
		{`!("resolution_class" in asset.transforms) || asset.transforms.resolution_class < 2`, true},
		{`"owner" in asset.metadata && asset.metadata.owner == "x"`, false},
		{`asset.version > 10`, false},
		{`asset.id.startsWith("` + uhd.ID.String()[:8] + `")`, true},
	} {
		f, err := expr.CompileFilter(tc.src, expr.DefaultCostLimit)
		if err != nil {
			t.Errorf("CompileFilter(%s): %v", tc.src, err)
			continue
		}
		got, err := f.Match(uhd)
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.src, got, err, tc.want)
		}
	}
}

func TestCompileErrorsAreClear(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{`asset.metadata.height >= 2160`, "no matching overload"},
		{`asset.colour == "red"`, "colour"},
		{`asset.type ==`, "Syntax error"},
		{`asset.type`, "result is string, want bool"},
		{``, "empty expression"},
		{`asset.metadata.exists(k, asset.metadata.exists(j, asset.metadata[j].contains(asset.metadata[k])))`, "exceeds the cost limit"},
	} {
		_, err := expr.CompileFilter(tc.src, expr.DefaultCostLimit)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CompileFilter(%s): got %v, want an error containing %q", tc.src, err, tc.want)
		}
	}
}

func TestFacts(t *testing.T) {
	f, err := expr.CompileFacts(map[string]string{
		"resolution_class": `int(asset.metadata.height) >= 2160 ? "uhd" : "hd"`,
		"pixels":           `int(asset.metadata.width) * int(asset.metadata.height)`,
		"is_heic":          `asset.metadata.format == "heic"`,
	}, expr.DefaultCostLimit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Eval(uhd)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"resolution_class": "uhd", "pixels": "8294400", "is_heic": "true"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("fact %s = %q, want %q", k, got[k], v)
		}
	}
	noHeight := uhd.Clone()
	delete(noHeight.Metadata, "height")
	if _, err := f.Eval(noHeight); err == nil || !strings.Contains(err.Error(), "height") {
		t.Errorf("Eval without height: %v, want an error naming the key", err)
	}
}

func TestCompileFactsNamesEveryBadFact(t *testing.T) {
	_, err := expr.CompileFacts(map[string]string{
		"ok":   `asset.type`,
		"bad1": `asset.metadata`,
		"bad2": `asset.nope`,
	}, expr.DefaultCostLimit)
	for _, w := range []string{"bad1", "map(string, string)", "bad2", "nope"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %q", err, w)
		}
	}
}
