package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestInProcess(t *testing.T) {
	roundTrip(t, kafka.DefaultConfig)
}

func TestRealKafka(t *testing.T) {
	cfg := kafka.DefaultConfig
	cfg.Brokers = need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
	roundTrip(t, cfg)
}

// roundTrip creates the topics (twice: the second is a no-op), checks their
// partition counts, and sends one record through.
func roundTrip(t *testing.T, cfg kafka.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := fmt.Sprintf("%x", rand.Uint32())
	cfg.Topic, cfg.DLQTopic, cfg.Partitions = "test.assets."+suffix, "test.assets.dlq."+suffix, 3
	c, err := kafka.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	for range 2 {
		if err := c.EnsureTopics(ctx); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	cl, err := c.NewClient(kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, cfg.Topic, cfg.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{cfg.Topic, cfg.DLQTopic} {
		if n := len(topics[name].Partitions); n != 3 {
			t.Errorf("topic %s has %d partitions, want 3", name, n)
		}
	}
	rec := &kgo.Record{Topic: cfg.Topic, Key: []byte("asset-1"), Value: []byte("hello")}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	fetches := cl.PollFetches(ctx)
	if err := fetches.Err(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	recs := fetches.Records()
	if len(recs) != 1 || string(recs[0].Key) != "asset-1" || string(recs[0].Value) != "hello" {
		t.Fatalf("fetched %d records, want the one produced", len(recs))
	}
	t.Logf("kafka at %v answered: topics created, record round-tripped (in-process: %v)", c.Brokers(), c.InProcess())
}

func TestStartRejectsBadConfig(t *testing.T) {
	cfg := kafka.DefaultConfig
	cfg.Brokers, cfg.Partitions, cfg.DLQTopic = []string{"nohost"}, 0, cfg.Topic
	_, err := kafka.Start(cfg, quiet)
	for _, key := range []string{"kafka.brokers", "kafka.partitions", "kafka.dlq_topic"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}

func TestPingUnreachable(t *testing.T) {
	cfg := kafka.DefaultConfig
	cfg.Brokers = []string{"127.0.0.1:1"}
	c, err := kafka.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Ping of nothing: got %v, want an error naming 127.0.0.1:1", err)
	}
}

// A broker that is not up yet is waited for at start, not an exit.
func TestEnsureTopicsWaitsForTheBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there until the broker starts below
	cfg := kafka.DefaultConfig
	cfg.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	c, err := kafka.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	started := make(chan *kfake.Cluster, 1)
	time.AfterFunc(1500*time.Millisecond, func() {
		fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
		if err != nil {
			t.Error(err)
		}
		started <- fake
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = c.EnsureTopics(ctx)
	fake := <-started
	defer fake.Close()
	if err != nil {
		t.Fatalf("EnsureTopics while the broker started: %v; want it waited for", err)
	}
}

// A consumer keeps going while commits fail (as during a broker restart):
// its failed commits are covered by later ones and the member does not
// exit.
func TestConsumeRidesOutCommitErrors(t *testing.T) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	var failed atomic.Int32
	// The broker drops every commit's connection for a while, more times
	// than the client retries a request.
	fake.ControlKey(kmsg.OffsetCommit.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if failed.Load() >= 25 {
			return nil, nil, false
		}
		fake.KeepControl()
		failed.Add(1)
		return nil, errors.New("broker restarting"), true
	})
	cfg := kafka.DefaultConfig
	cfg.Brokers, cfg.Partitions = fake.ListenAddrs(), 2
	c, err := kafka.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		if err := c.Produce(ctx, cfg.Topic, events.Message{Key: []byte(fmt.Sprint(i)), Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var handled atomic.Int32
	err = c.Consume(ctx, kafka.ConsumerConfig{Group: "ride-out", Topics: []string{cfg.Topic}, Concurrency: 2, IdleExit: time.Second},
		func(context.Context, events.Message) error {
			handled.Add(1)
			time.Sleep(time.Millisecond) // several batches, several commits
			return nil
		})
	if err != nil || handled.Load() < n || failed.Load() < 25 {
		t.Errorf("consume through %d failed commits: %v, %d of %d handled; want no error and all handled", failed.Load(), err, handled.Load(), n)
	}
}

// Emit waits for a broker that is down, but returns once its context
// ends (SIGTERM), and Close then returns too: a stopped scanner never
// hangs on acknowledgements that are not coming.
func TestEmitReturnsOnCancelWhileKafkaIsDown(t *testing.T) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfg := kafka.DefaultConfig
	cfg.Brokers, cfg.Partitions = fake.ListenAddrs(), 2
	c, err := kafka.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	pub, err := c.NewPublisher("test")
	if err != nil {
		t.Fatal(err)
	}
	evs := []events.Reprocess{{SchemaVersion: events.SchemaVersion, JobID: "j", AssetID: assets.NewID(time.Now()), Transform: "t", Version: 1, Attempt: 1}}
	if _, err := pub.Emit(context.Background(), evs); err != nil {
		t.Fatalf("emit while the broker is up: %v", err)
	}
	// The broker goes down: every produce request's connection drops.
	fake.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		fake.KeepControl()
		return nil, errors.New("broker down"), true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = pub.Emit(ctx, evs)
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 5*time.Second {
		t.Errorf("emit while the broker is down: %v after %s; want the context's error within 5s", err, took.Round(time.Millisecond))
	}
	closed := make(chan struct{})
	go func() { pub.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher's Close hangs on records the broker never acknowledged")
	}
}

// TestInProcessDataDirOutlivesTheBroker dead-letters two events and
// has a group replay them (committing its progress), closes the broker, and
// starts another on the same DataDir, as the next process holding the
// embedded store does: the topics, their records and the group's
// committed offset are all there.
func TestInProcessDataDirOutlivesTheBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := kafka.DefaultConfig
	cfg.Partitions, cfg.DataDir = 1, t.TempDir()
	first, err := kafka.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	dlq, err := first.NewDLQ("test")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		if err := dlq.Send(ctx, events.Message{Key: []byte(key), Value: []byte("{}")}, errors.New("boom"), 1); err != nil {
			t.Fatal(err)
		}
	}
	dlq.Close()
	if err := first.Replay(ctx, "progress", func(events.Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	first.Close()

	second, err := kafka.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	var keys []string
	if err := second.ReadAll(ctx, cfg.DLQTopic, func(m events.Message) error {
		keys = append(keys, string(m.Key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a,b" {
		t.Errorf("after a restart the dead-letter topic holds %v, want [a b]", keys)
	}
	if err := second.Replay(ctx, "progress", func(m events.Message) error { return fmt.Errorf("replayed %s again", m.Key) }); err != nil {
		t.Errorf("after a restart the group's committed offsets are lost: %v", err)
	}
}
