package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

// A job's counters, summed over a `run` process and two worker processes,
// are what a CQL count of the store and the dead-letter topic say, and
// `job status` shows them.
func TestCountsAgreeWithTheStore(t *testing.T) {
	const n = 1500
	hosts := strings.Join(need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), ",")
	brokers := need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
	bin := buildBinary(t)
	id := fmt.Sprintf("%08x", rand.Uint32())
	ks := "reprocess_counts_" + id
	t.Cleanup(func() { dropKeyspace(t, hosts, ks) })
	kcfg := kafka.DefaultConfig
	kcfg.Brokers, kcfg.Topic, kcfg.DLQTopic, kcfg.TasksTopic = brokers, "ct."+id, "ct.dlq."+id, "ct.tasks."+id
	common := []string{"--store", "cassandra", "--cassandra-hosts", hosts, "--keyspace", ks, "--set", "store.cassandra.consistency=ONE",
		"--kafka-brokers", strings.Join(brokers, ","), "--set", "kafka.topic=" + kcfg.Topic, "--set", "kafka.dlq_topic=" + kcfg.DLQTopic,
		"--set", "kafka.tasks_topic=" + kcfg.TasksTopic, "--set", "kafka.partitions=4"}
	if out, err := cli(t, append(common, "seed", "--count", fmt.Sprint(n), "--days", "2", "--concurrency", "32")...); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: counts
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 100}
filter: 'asset.type != "audio"'
transform: {name: taller, version: 1, facts: {taller: 'string(int(asset.metadata.height) + 1)'}}
budget: {max_dead_letters: %d, max_ratio: 1}
`, time.Now().Add(-3*24*time.Hour).UTC().Format(time.RFC3339), n)), 0o600)
	for range 2 {
		w := exec.Command(bin, append(append([]string{}, common...), "worker", "--transform", "taller", "--version", "1")...)
		w.Env = childEnv()
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Process.Kill(); w.Wait() })
	}
	r := exec.Command(bin, append(append([]string{}, common...), "run", spec)...)
	r.Env = childEnv()
	if out, err := r.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}

	var want struct{ scanned, filtered, applied, failed int64 }
	sess, err := gocql.NewCluster(strings.Split(hosts, ",")...).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	iter := sess.Query(`SELECT asset_type, transforms FROM ` + ks + `.assets`).Iter()
	var typ string
	var marks map[string]int
	for iter.Scan(&typ, &marks) {
		want.scanned++
		switch {
		case typ == "audio":
			want.filtered++
		case marks["taller"] == 1:
			want.applied++
		default:
			want.failed++
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	dead := int64(len(deadLetterErrors(t, kcfg)))
	if want.applied == 0 || want.failed == 0 || dead != want.failed {
		t.Fatalf("store: %+v, %d dead letters; want some applied, the rest dead-lettered", want, dead)
	}
	out, err := cli(t, append(common, "job", "status", "counts", "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	var status struct{ Counters map[string]int64 }
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatalf("job status -o json: %v\n%s", err, out)
	}
	c := status.Counters
	assetstest.Ledger(t, assets.Job{ID: "counts", Counters: c})
	for name, w := range map[string]int64{"scanned": want.scanned, "filtered": want.filtered, "emitted": want.scanned - want.filtered,
		"applied": want.applied, "dlq": want.failed} {
		if c[name] != w {
			t.Errorf("job status counter %s = %d; the store (a CQL count) says %d", name, c[name], w)
		}
	}
}

// deadLetterErrors returns the errors of the records on the dead-letter topic.
func deadLetterErrors(t *testing.T, cfg kafka.Config) []string {
	kc, err := kafka.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var errs []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = kc.ReadAll(ctx, cfg.DLQTopic, func(m events.Message) error {
		errs = append(errs, m.Header(kafka.HeaderDLQError))
		return nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	return errs
}
