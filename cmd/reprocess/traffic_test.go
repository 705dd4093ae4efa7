package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/traffic"
)

func TestTrafficBadFlagsAreClearErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--reads", "-5"}, "traffic flags: reads: want >= 0 requests/s, got -5"},
		{[]string{"--reads", "0", "--writes", "0"}, "reads, writes: want at least one above 0"},
		{[]string{"--write-style", "cas"}, `write-style: want plain or lwt, got "cas"`},
		{[]string{"--duration", "0s"}, "duration: want a positive duration"},
		{[]string{"--concurrency", "0"}, "concurrency: want >= 1"},
		{[]string{"--days", "1"}, "no embedded store"},
	} {
		_, err := cli(t, append([]string{"--data-dir", t.TempDir(), "traffic"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("traffic %v: got %v, want %q", c.args, err, c.want)
		}
	}
}

// TestTrafficSendsWhatItIsAsked runs both write styles on a seeded
// embedded store and reads the JSON figures.
func TestTrafficSendsWhatItIsAsked(t *testing.T) {
	dir := t.TempDir()
	if out, err := cli(t, "--data-dir", dir, "seed", "--count", "300", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	for _, style := range []string{"plain", "lwt"} {
		out, err := cli(t, "--data-dir", dir, "traffic", "--reads", "100", "--writes", "20", "--duration", "1s", "--write-style", style, "--json")
		if err != nil {
			t.Fatalf("traffic: %v\n%s", err, out)
		}
		var last traffic.Report
		for line := range strings.Lines(out) {
			if strings.HasPrefix(line, "{") {
				if err := json.Unmarshal([]byte(line), &last); err != nil {
					t.Fatalf("--json line %q: %v", line, err)
				}
			}
		}
		if last.Interval || last.Reads.Count != 100 || last.Writes.Count != 20 || last.Reads.Errors+last.Writes.Errors > 0 || last.Reads.P50 <= 0 {
			t.Errorf("%s: final report %+v, want 100 reads and 20 writes without errors", style, last)
		}
	}
}
