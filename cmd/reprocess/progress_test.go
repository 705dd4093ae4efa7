package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `run` on the embedded store shows its scan and apply in assets against
// the assets in scope, counted before the scan: every progress line has
// that total, and no line passes it or 100%.
func TestRunProgressCountsAssetsInScope(t *testing.T) {
	const n = 1200
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", fmt.Sprint(n), "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: bars
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 50}
transform: {name: seen, version: 1, facts: {seen: '"yes"'}}
mode: sync
rate: {limit: 300}
`, time.Now().Add(-72*time.Hour).UTC().Format(time.RFC3339))), 0o600)
	run := exec.Command(bin, "--data-dir", data, "run", spec)
	run.Env = childEnv()
	out, err := run.CombinedOutput() // not a terminal: a line per bar every 2s
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`(?m)^(scan |apply) bars (\d+)/(~?)(\d+) \((\d+)%\)`)
	lines := line.FindAllStringSubmatch(string(out), -1)
	if len(lines) < 4 {
		t.Fatalf("%d progress lines, want a few of each bar:\n%s", len(lines), out)
	}
	last := map[string]int{}
	for _, l := range lines {
		done, total, pct := atoi(l[2]), atoi(l[4]), atoi(l[5])
		if l[3] != "" || total != n || done > total || pct > 100 {
			t.Errorf("progress line %q: want %d of exactly %d assets, never past it", strings.TrimSpace(l[0]), done, n)
		}
		last[l[1]] = done
	}
	if last["scan "] != n || last["apply"] != n {
		t.Errorf("the bars end at %v, want both at %d:\n%s", last, n, out)
	}
}
