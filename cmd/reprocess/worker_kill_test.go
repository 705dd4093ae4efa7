package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/events/kafka"
)

// TestWorkerKilledAnotherFinishes scans a job to Kafka (kfake in this
// process), starts `reprocess worker` as a child, kills it with SIGKILL
// midway, and lets a second worker finish. The transform counts its own
// applications in a fact, so "applied exactly once in effect" is checked
// on every asset, not assumed.
func TestWorkerKilledAnotherFinishes(t *testing.T) {
	const n = 30000
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	kcfg := kafka.DefaultConfig
	kcfg.Topic, kcfg.DLQTopic = "wkill.test", "wkill.test.dlq"
	kc, err := kafka.Start(kcfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	common := []string{"--data-dir", data, "--kafka-brokers", strings.Join(kc.Brokers(), ","),
		"--set", "kafka.topic=" + kcfg.Topic, "--set", "kafka.dlq_topic=" + kcfg.DLQTopic}

	if out, err := cli(t, "--data-dir", data, "seed", "--count", fmt.Sprint(n), "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "job.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: tally-kill
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s}
transform:
  name: tally
  version: 1
  facts:
    applies: 'string(int(asset.facts[?"applies"].orValue("0")) + 1)'
`, time.Now().Add(-3*24*time.Hour).UTC().Format(time.RFC3339))), 0o600)
	if out, err := cli(t, append(common, "scan", spec)...); err != nil {
		t.Fatalf("scan: %v\n%s", err, out)
	}

	workerArgs := append(common, "worker", "--transform", "tally", "--version", "1", "--concurrency", "4")
	first := exec.Command(bin, workerArgs...)
	first.Env = childEnv()
	var firstLog strings.Builder
	first.Stdout, first.Stderr = &firstLog, &firstLog
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	first.Process.Kill()
	err = first.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("the first worker was not killed (wait: %v)\n%s", err, firstLog.String())
	}
	before := countApplied(t, data)
	if before == 0 || before == n {
		t.Fatalf("%d of %d assets applied when the worker was killed; want some but not all\n%s", before, n, firstLog.String())
	}

	second := exec.Command(bin, append(workerArgs, "--exit-idle", "3s")...)
	second.Env = childEnv()
	if out, err := second.CombinedOutput(); err != nil {
		t.Fatalf("the second worker failed: %v\n%s", err, out)
	}
	wrong, seen := 0, 0
	eachAsset(t, data, func(a assets.Asset) {
		seen++
		if a.Transforms["tally"] != 1 || a.Facts["applies"] != "1" {
			wrong++
			if wrong < 5 {
				t.Errorf("asset %s: transforms %v, applies %q; want applied exactly once", a.ID, a.Transforms, a.Facts["applies"])
			}
		}
	})
	if wrong > 0 || seen != n {
		t.Errorf("%d of %d assets not applied exactly once (%d checked)", wrong, n, seen)
	}
	t.Logf("worker killed with %d of %d assets applied; a second worker finished; all applied exactly once", before, n)
}

func countApplied(t *testing.T, data string) int {
	n := 0
	eachAsset(t, data, func(a assets.Asset) {
		if a.Transforms["tally"] == 1 {
			n++
		}
	})
	return n
}

// eachAsset calls fn with every seeded asset of the embedded store in data.
func eachAsset(t *testing.T, data string, fn func(assets.Asset)) {
	t.Helper()
	s, err := embedded.Open(embedded.Config{Dir: data}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	types := []string{"image", "video", "document", "audio", "model3d"}
	for _, p := range config.Default().Layout.Partitions(types, time.Now().Add(-3*24*time.Hour), time.Now()) {
		err := assets.Walk(context.Background(), s, p, assets.ID{}, 500, func(ids []assets.ID) error {
			for _, id := range ids {
				a, err := s.Get(context.Background(), id)
				if err != nil {
					return err
				}
				fn(a)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
