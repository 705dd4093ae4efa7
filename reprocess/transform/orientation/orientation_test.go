package orientation_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden is what a case's .golden.json holds.
type golden struct {
	Facts     map[string]string `json:"facts,omitempty"`
	Permanent bool              `json:"permanent,omitempty"`
	Error     string            `json:"error,omitempty"`
}

func TestGolden(t *testing.T) {
	for _, tr := range orientation.All() {
		dir := filepath.Join("testdata", fmt.Sprintf("v%d", tr.Version()))
		ins, _ := filepath.Glob(filepath.Join(dir, "*.in.json"))
		if len(ins) == 0 {
			t.Fatalf("no cases in %s", dir)
		}
		for _, in := range ins {
			t.Run(strings.TrimPrefix(in, "testdata/"), func(t *testing.T) {
				raw, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				var a assets.Asset
				if err := json.Unmarshal(raw, &a); err != nil {
					t.Fatal(err)
				}
				res, err := tr.Apply(context.Background(), a)
				got := golden{Facts: res.Facts}
				if err != nil {
					got = golden{Permanent: errors.Is(err, transform.ErrPermanent), Error: err.Error()}
				}
				out, _ := json.MarshalIndent(got, "", "  ")
				path := strings.TrimSuffix(in, ".in.json") + ".golden.json"
				if *update {
					os.WriteFile(path, append(out, '\n'), 0o644)
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if strings.TrimSpace(string(want)) != string(out) {
					t.Errorf("%s v%d on %s:\ngot  %s\nwant %s", tr.Name(), tr.Version(), in, out, want)
				}
			})
		}
	}
}
