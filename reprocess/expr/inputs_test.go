package expr

import (
	"slices"
	"testing"
)

func TestMetadataKeys(t *testing.T) {
	for _, c := range []struct {
		src   string
		keys  []string
		known bool
	}{
		{`asset.metadata.height`, []string{"height"}, true},
		{`int(asset.metadata["bytes"]) > 10 ? "big" : "small"`, []string{"bytes"}, true},
		{`asset.metadata[?"owner"].orValue("")`, []string{"owner"}, true},
		{`"codec" in asset.metadata && has(asset.metadata.width) ? "y" : asset.type`, []string{"codec", "width"}, true},
		{`asset.id + asset.facts[?"x"].orValue("")`, nil, true},
		{`string(asset.metadata.size())`, nil, false},
		{`asset.metadata.exists(k, k == "x") ? "y" : "n"`, nil, false},
		{`asset.metadata[asset.type]`, nil, false},
		{`[asset][0].metadata.height`, nil, false},
		{`asset.?metadata.orValue({}).size() > 0`, nil, false},
	} {
		f, err := CompileFacts(map[string]string{"f": c.src}, DefaultCostLimit)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		keys, known := f.MetadataKeys()
		if known != c.known || !slices.Equal(keys, c.keys) && (len(keys) > 0 || len(c.keys) > 0) {
			t.Errorf("%s: keys %q known %t, want %q %t", c.src, keys, known, c.keys, c.known)
		}
	}
}
