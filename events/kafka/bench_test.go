package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

// BenchmarkPublish reports our publisher's rate (events/s) in batches of
// 500 from four goroutines, as a scan with concurrency 4 sends them, to the
// in-process broker (in memory, kept in a directory, and kept with an fsync
// per batch) and to the real Kafka; against the real one it then runs
// Kafka's own ProducerPerformance with the same records (our encoded events
// as its payload file), count and producer settings, and reports its rate
// and the ratio ours/theirs.
func BenchmarkPublish(b *testing.B) {
	b.Run("kfake", func(b *testing.B) { benchPublish(b, kafka.Config{}) })
	b.Run("kfake-dir", func(b *testing.B) { benchPublish(b, kafka.Config{DataDir: b.TempDir()}) })
	b.Run("kfake-dir-sync", func(b *testing.B) { benchPublish(b, kafka.Config{DataDir: b.TempDir(), SyncWrites: true}) })
	b.Run("kafka", func(b *testing.B) {
		brokers := need.Service(b, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
		ours, topic, payload := benchPublish(b, kafka.Config{Brokers: brokers})
		run := need.Service(b, "REPROCESS_TEST_KAFKA_RUN", "Kafka's tools")[0]
		theirs := producerPerformance(b, run, brokers[0], topic, payload, b.N)
		b.ReportMetric(theirs, "kafka-perf-records/s")
		b.ReportMetric(ours/theirs, "ours/theirs")
	})
}

// benchPublish publishes to the brokers of where, in-process kept in its
// DataDir (with its SyncWrites) when it has none.
func benchPublish(b *testing.B, where kafka.Config) (rate float64, topic, payloadFile string) {
	cfg := kafka.DefaultConfig
	topic = fmt.Sprintf("bench.%08x", rand.Uint32())
	cfg.Brokers, cfg.Topic, cfg.DLQTopic, cfg.Partitions = where.Brokers, topic, topic+".dlq", 12
	cfg.DataDir, cfg.SyncWrites = where.DataDir, where.SyncWrites
	c, err := kafka.Start(cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.EnsureTopics(context.Background()); err != nil {
		b.Fatal(err)
	}
	pub, err := c.NewPublisher("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	evs := make([]events.Reprocess, b.N)
	now := time.Now().UTC()
	var payload bytes.Buffer
	size := 0
	for i := range evs {
		evs[i] = events.Reprocess{SchemaVersion: events.SchemaVersion, JobID: "bench-job", AssetID: assets.NewID(now.Add(-time.Duration(i) * time.Second)),
			AssetType: "image", Bucket: now.Truncate(24 * time.Hour), Transform: "resolution_class", Version: 2, Attempt: 1, EmittedAt: now}
		if i < 1000 {
			m, _ := events.Encode(evs[i], "bench")
			payload.Write(m.Value)
			payload.WriteByte('\n')
			size += len(m.Value)
		}
	}
	b.SetBytes(int64(size / min(b.N, 1000)))
	b.ResetTimer()
	start := time.Now()
	// Four emitters, as a scan with concurrency 4 runs them.
	var g errgroup.Group
	for w := range 4 {
		g.Go(func() error {
			for i := w * 500; i < len(evs); i += 4 * 500 {
				if _, err := pub.Emit(context.Background(), evs[i:min(i+500, len(evs))]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	rate = float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(rate, "events/s")
	payloadFile = filepath.Join(b.TempDir(), "payload.txt")
	if err := os.WriteFile(payloadFile, payload.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	return rate, topic, payloadFile
}

var perfLine = regexp.MustCompile(`(\d+) records sent, ([0-9.]+) records/sec`)

func producerPerformance(b *testing.B, run, broker, topic, payload string, n int) float64 {
	out, err := exec.Command(run, "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", strconv.Itoa(n), "--payload-file", payload, "--throughput", "-1",
		"--producer-props", "bootstrap.servers="+broker, "acks=all", "enable.idempotence=true",
		"compression.type=zstd", "linger.ms=5").CombinedOutput()
	if err != nil {
		b.Fatalf("ProducerPerformance: %v\n%s", err, out)
	}
	m := perfLine.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		b.Fatalf("no summary in ProducerPerformance output:\n%s", out)
	}
	last := m[len(m)-1]
	rate, _ := strconv.ParseFloat(string(last[2]), 64)
	b.Logf("ProducerPerformance: %s", last[0])
	return rate
}
