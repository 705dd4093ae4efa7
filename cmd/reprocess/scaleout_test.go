package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/config"
)

// TestScaleOutWithKills runs two scanner-group members and two workers as
// child processes against the real Cassandra and Kafka, kills one of each
// with SIGKILL midway, and checks that the job completes with every asset
// transformed exactly once in effect (the transform counts its own
// applications).
func TestScaleOutWithKills(t *testing.T) {
	const n = 12000
	common, ks := seeded(t, "scaleout", n)
	bin := buildBinary(t)
	spec := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: scaleout
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 100}
transform:
  name: tally
  version: 1
  facts:
    applies: 'string(int(asset.facts[?"applies"].orValue("0")) + 1)'
rate: {limit: 400}
`, time.Now().Add(-3*24*time.Hour).UTC().Format(time.RFC3339))), 0o600)
	if out, err := cli(t, append(common, "scan", "--distribute", spec)...); err != nil || !strings.Contains(out, "published") {
		t.Fatalf("distribute: %v\n%s", err, out)
	}

	start := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, append(append([]string{}, common...), args...)...)
		c.Env = childEnv()
		log, _ := os.Create(filepath.Join(t.TempDir(), "child.log"))
		c.Stdout, c.Stderr = log, log
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	scanners := []*exec.Cmd{start("scan", "--concurrency", "2"), start("scan", "--concurrency", "2")}
	workers := []*exec.Cmd{start("worker", "--transform", "tally", "--version", "1"), start("worker", "--transform", "tally", "--version", "1")}

	store := assetstest.Cassandra(t, ks, config.Default().Layout)
	ctx := context.Background()
	applied := func() (once, wrong int) {
		for _, p := range config.Default().Layout.Partitions([]string{"image", "video", "document", "audio", "model3d"}, time.Now().Add(-3*24*time.Hour), time.Now()) {
			err := assets.Walk(ctx, store, p, assets.ID{}, 1000, func(ids []assets.ID) error {
				for _, id := range ids {
					a, err := store.Get(ctx, id)
					if err != nil {
						return err
					}
					switch {
					case a.Transforms["tally"] == 1 && a.Facts["applies"] == "1":
						once++
					case a.Transforms["tally"] != 0:
						wrong++
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return once, wrong
	}

	// The kills land once the job has done work: some assets applied
	// and some scan positions checkpointed, with every process alive.
	for wait := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		j, _ := store.Job(ctx, "scaleout") // the workers report what they applied every 2s
		cps, _ := store.Checkpoints(ctx, "scaleout")
		if j.Counters["applied"] > 0 && len(cps) > 0 {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("no work done after a minute: %d applied, %d checkpoints", j.Counters["applied"], len(cps))
		}
	}
	for _, c := range []*exec.Cmd{scanners[0], workers[0]} {
		if err := c.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("%v had exited before the kill: %v", c.Args[len(common)+1:], err)
		}
		c.Process.Kill()
		var exit *exec.ExitError
		if err := c.Wait(); !errors.As(err, &exit) || exit.ExitCode() != -1 {
			t.Fatalf("%v was not killed by the signal (wait: %v)", c.Args[len(common)+1:], err)
		}
	}
	before, _ := applied()
	if before == 0 || before == n {
		t.Fatalf("%d of %d assets were applied at the kills; want some but not all", before, n)
	}

	deadline := time.Now().Add(4 * time.Minute)
	for {
		once, wrong := applied()
		if wrong > 0 {
			t.Fatalf("%d assets were transformed more than once", wrong)
		}
		if once == n {
			break
		}
		if time.Now().After(deadline) {
			j, _ := store.Job(ctx, "scaleout")
			t.Fatalf("after 4 minutes %d of %d assets are applied; job %+v", once, n, j)
		}
		time.Sleep(2 * time.Second)
	}
	// The job ends once every task is scanned and every event handled.
	for time.Now().Before(deadline) {
		if j, err := store.Job(ctx, "scaleout"); err == nil && j.Status == "succeeded" {
			break
		}
		time.Sleep(time.Second)
	}
	if j, _ := store.Job(ctx, "scaleout"); j.Status != "succeeded" {
		t.Errorf("job status %s, want succeeded", j.Status)
	} else {
		assetstest.Ledger(t, j)
	}
	for _, c := range []*exec.Cmd{scanners[1], workers[1]} {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("%v did not stop cleanly on SIGTERM: %v", c.Args[len(common)+1:], err)
		}
	}
	t.Logf("killed a scanner and a worker (about %d of %d applied by then); the survivors finished: all applied exactly once", before, n)
}
