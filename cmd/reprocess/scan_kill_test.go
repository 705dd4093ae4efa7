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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

// buildBinary builds the reprocess binary for tests that run it as a child.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reprocess")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// childEnv is the environment without REPROCESS_* settings.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REPROCESS_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestScanKilledAndRestarted runs `reprocess scan` as a child process on the
// embedded store with Kafka (kfake) in this process, kills it with SIGKILL
// midway, runs it again, and checks that every asset was emitted, that no
// partition done before the kill was walked again, and that re-emitted ids
// stay within the batches that were in flight.
func TestScanKilledAndRestarted(t *testing.T) {
	const (
		n           = 12000
		pageSize    = 50
		concurrency = 4
	)
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", fmt.Sprint(n), "--days", "5"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}

	kcfg := kafka.DefaultConfig
	kcfg.Topic, kcfg.DLQTopic = "kill.test", "kill.test.dlq"
	kc, err := kafka.Start(kcfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	from := time.Now().Add(-6 * 24 * time.Hour).UTC()
	spec := filepath.Join(dir, "job.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: killme
source:
  kind: cassandra
  types: [image, video, document, audio, model3d]
  created_from: %s
  page_size: %d
  concurrency: %d
transform: {name: kill_test, version: 1, facts: {seen: '"yes"'}}
rate: {limit: 3000}
`, from.Format(time.RFC3339), pageSize, concurrency)), 0o600)
	args := []string{"--data-dir", data, "--kafka-brokers", strings.Join(kc.Brokers(), ","),
		"--set", "kafka.topic=" + kcfg.Topic, "--set", "kafka.dlq_topic=" + kcfg.DLQTopic, "scan", spec}

	first := exec.Command(bin, args...)
	first.Env = childEnv()
	var firstLog strings.Builder
	first.Stdout, first.Stderr = &firstLog, &firstLog
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err = first.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("the first scan was not killed midway (wait: %v); raise n or lower the rate\n%s", err, firstLog.String())
	}

	doneBefore := doneTasks(t, data)
	total := len(config.Default().Layout.Partitions([]string{"image", "video", "document", "audio", "model3d"}, from, time.Now()))
	if len(doneBefore) == 0 || len(doneBefore) == total {
		t.Fatalf("%d of %d partitions done at the kill; want some but not all", len(doneBefore), total)
	}

	// The killed scan's record is seconds old: take the job over.
	second := exec.Command(bin, append(args, "--takeover")...)
	second.Env = childEnv()
	out, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("the restarted scan failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("done_before=%d", len(doneBefore))) {
		t.Errorf("the restarted scan did not resume with %d done partitions:\n%s", len(doneBefore), out)
	}

	// Which partition holds each asset, to tell where duplicates came from.
	s, err := embedded.Open(embedded.Config{Dir: data}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	seen := consumeAll(t, kc, kcfg.Topic, n)
	dups := 0
	for id, count := range seen {
		if count < 2 {
			continue
		}
		dups += count - 1
		a, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if p := config.Default().Layout.PartitionOf(a); doneBefore[p.String()] {
			t.Errorf("asset %s of partition %s, done before the kill, was emitted %d times", id, p, count)
		}
	}
	s.Close()
	if len(seen) != n {
		t.Errorf("%d distinct assets emitted, want all %d", len(seen), n)
	}
	if dups > concurrency*pageSize {
		t.Errorf("%d events re-emitted, over the in-flight bound %d", dups, concurrency*pageSize)
	}
	t.Logf("killed with %d of %d partitions done; after restart all %d assets emitted, %d re-emitted (bound %d)",
		len(doneBefore), total, len(seen), dups, concurrency*pageSize)
}

func doneTasks(t *testing.T, data string) map[string]bool {
	t.Helper()
	s, err := embedded.Open(embedded.Config{Dir: data}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cps, err := s.Checkpoints(context.Background(), "killme")
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	for _, c := range cps {
		if c.Done {
			done[c.Task] = true
		}
	}
	return done
}

func consumeAll(t *testing.T, kc *kafka.Cluster, topic string, want int) map[assets.ID]int {
	t.Helper()
	cl, err := kc.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[assets.ID]int{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := events.Decode(r.Value)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			seen[ev.AssetID]++
		})
	}
	// Drain what is left, so duplicates are counted too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		if ev, err := events.Decode(r.Value); err == nil {
			seen[ev.AssetID]++
		}
	})
	return seen
}
