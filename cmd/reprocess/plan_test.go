package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `plan` prints a job's plan as text or JSON from the store it only reads;
// a bad --output is an error naming it, and a store that is not there is
// not created.
func TestPlanCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "400", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "job.yaml")
	os.WriteFile(spec, fmt.Appendf(nil, `name: plan-cli
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s}
filter: 'asset.type == "image"'
transform: {name: tag, version: 1, facts: {tag: '"x"'}}
rate: {limit: 100}
`, time.Now().Add(-72*time.Hour).UTC().Format(time.RFC3339)), 0o600)
	out, err := cli(t, "--data-dir", data, "plan", spec, "--sample", "2")
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	for _, want := range []string{"nothing was written", "cassandra: 400 assets", "exact", `+ tag = "x"`, "at 100/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan text lacks %q:\n%s", want, out)
		}
	}
	out, err = cli(t, "--data-dir", data, "plan", spec, "-o", "json")
	var p struct {
		Scope struct {
			Assets int64 `json:"assets"`
		} `json:"scope"`
		Samples []any `json:"samples"`
	}
	if err != nil || json.Unmarshal([]byte(out), &p) != nil || p.Scope.Assets != 400 || len(p.Samples) != 5 {
		t.Errorf("plan -o json: %v, %+v from\n%s", err, p, out)
	}
	if _, err := cli(t, "--data-dir", data, "plan", spec, "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("plan -o yaml: %v; want an error naming --output", err)
	}
	if _, err := cli(t, "--data-dir", filepath.Join(dir, "none"), "plan", spec); err == nil || !strings.Contains(err.Error(), "no embedded store") {
		t.Errorf("plan of a store that does not exist: %v; want it refused, not created", err)
	}
}
