package run_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/run"
)

// brokerSwitch is set while the broker is down; refused counts the
// produce requests it failed meanwhile.
type brokerSwitch struct {
	atomic.Bool
	refused atomic.Int64
}

// downableKafka puts the env on its own in-process broker whose produce
// requests fail (their connections drop, as with a broker that is down)
// while down is set.
func downableKafka(t *testing.T, e *run.Env) (down *brokerSwitch) {
	t.Helper()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	down = &brokerSwitch{}
	fake.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		fake.KeepControl()
		if down.Load() {
			down.refused.Add(1)
			return nil, errors.New("broker down"), true
		}
		return nil, nil, false
	})
	cfg := kafka.DefaultConfig
	cfg.Brokers, cfg.Partitions = fake.ListenAddrs(), 3
	kc, err := kafka.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if err := kc.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Kafka = kc
	return down
}

// SIGTERM while Kafka is down ends a scan within moments: the job is
// interrupted, its checkpoints at the last batch Kafka acknowledged, and
// running it again once Kafka is back emits every asset (none lost,
// none skipped; at most the batch in flight twice).
func TestStopWhileKafkaIsDown(t *testing.T) {
	const n = 600
	e := newEnv(t, n, nil)
	down := downableKafka(t, e)
	j := oneAtATime(t, "kafkadown", "rate: {limit: 400}\n")
	ctx, cancel := context.WithCancel(context.Background()) // as SIGTERM does
	defer cancel()
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	assetstest.Eventually(t, 30*time.Second, "100 events acknowledged", func() bool { return r.Progress(ctx).Emitted >= 100 })
	down.Store(true)
	assetstest.Eventually(t, 30*time.Second, "the scan to wait for acknowledgements (a produce refused)", func() bool { return down.refused.Load() > 0 })
	stopping := time.Now()
	cancel()
	err = <-ran
	took := time.Since(stopping)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run stopped while kafka was down: %v; want context.Canceled", err)
	}
	first := r.Progress(context.Background()).Emitted
	if rec, _ := e.Store.Job(context.Background(), j.Name); rec.Status != control.Interrupted {
		t.Fatalf("job %s after the stop; want interrupted", rec.Status)
	}
	if took > 5*time.Second {
		t.Errorf("the stop took %s", took)
	}
	down.Store(false)
	r, err = e.Start(context.Background(), j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("the resumed run: %v", err)
	}
	ids := topicKeys(t, e.Kafka)
	// No processor consumes here: the scanned job waits for them, applying.
	if rec, _ := e.Store.Job(context.Background(), j.Name); rec.Status != control.Applying || len(ids) != n {
		t.Fatalf("resumed job %s with %d of %d assets on the topic; want applying with all", rec.Status, len(ids), n)
	}
	total := 0
	for _, c := range ids {
		total += c
	}
	// One partition at a time, pages of 20: only the page whose
	// acknowledgements never came may be emitted again.
	if total-n > 20 || first < 100 {
		t.Errorf("%d events for %d assets (%d before the stop); want at most one page of 20 twice", total, n, first)
	}
	t.Logf("stopped with kafka down after %d acknowledged events; resumed: %d events for %d assets", first, total, n)
}

// topicKeys counts the events topic's records by key (asset id).
func topicKeys(t *testing.T, kc *kafka.Cluster) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want, err := kc.Lag(ctx, "nobody") // every record: no commits
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kc.NewClient(kgo.ConsumeTopics(kc.Topic()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys := map[string]int{}
	for got := int64(0); got < want; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read the events topic: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { keys[string(r.Key)]++; got++ })
	}
	return keys
}

// downStore fails the reads a scanner-group member makes with
// assets.ErrUnavailable while down is set, as a store that is restarting.
type downStore struct {
	assets.Store
	down    *atomic.Bool
	refused *atomic.Int64 // calls refused
}

func (s downStore) err() error {
	if s.down.Load() {
		s.refused.Add(1)
		return fmt.Errorf("%w: no hosts available in the pool", assets.ErrUnavailable)
	}
	return nil
}

func (s downStore) Job(ctx context.Context, id string) (assets.Job, error) {
	if err := s.err(); err != nil {
		return assets.Job{}, err
	}
	return s.Store.Job(ctx, id)
}

func (s downStore) Checkpoints(ctx context.Context, job string) ([]assets.Checkpoint, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Checkpoints(ctx, job)
}

// A scanner-group member rides out a store outage: its tasks wait and
// resume once the store answers, and the job completes; the member does
// not exit. On ctx (SIGTERM) it returns.
func TestMemberWaitsForTheStore(t *testing.T) {
	const n = 300
	down, refused := &atomic.Bool{}, &atomic.Int64{}
	var store assets.Store // the store itself, for the test's own reads
	e := newEnv(t, n, func(s assets.Store) assets.Store { store = s; return downStore{s, down, refused} })
	downableKafka(t, e)
	j := spec(t, "storedown", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, total, err := e.Distribute(ctx, j, false); err != nil || total == 0 {
		t.Fatalf("distribute: %d tasks, %v", total, err)
	}
	down.Store(true)
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	exited := make(chan error, 1)
	go func() { exited <- e.Member(mctx, 2) }()
	// The store comes back once the member was refused twice: it tried
	// again, waiting, rather than exit.
	go func() {
		for refused.Load() < 2 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		down.Store(false)
	}()
	for {
		rec, err := store.Job(ctx, j.Name)
		if err == nil && rec.Status == control.Applying { // scanned; no processor here
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the member exited while the store was down: %v", err)
		case <-ctx.Done():
			t.Fatalf("job %s after a minute; want applying (scanned)", rec.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop()
	if err := <-exited; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("the member stopped with %v; want nil or an interrupted task", err)
	}
	if ids := topicKeys(t, e.Kafka); len(ids) != n {
		t.Errorf("%d of %d assets emitted", len(ids), n)
	}
}

// SIGTERM ends a scanner-group member blocked on a broker that is down
// at once, not after the consumer's grace period; its task stays
// uncommitted, so it resumes from its checkpoint.
func TestMemberStopsWhileKafkaIsDown(t *testing.T) {
	e := newEnv(t, 300, nil)
	down := downableKafka(t, e)
	j := spec(t, "memberstop", "rate: {limit: 100}\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := e.Distribute(ctx, j, false); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	mctx, stop := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() { exited <- e.Member(mctx, 2) }()
	assetstest.Eventually(t, 30*time.Second, "the member's tasks to wait for acknowledgements (a produce refused)", func() bool { return down.refused.Load() > 0 })
	stop()
	select {
	case err := <-exited:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the stopped member returned %v; want context.Canceled (its task left uncommitted)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the member did not return within 10s of SIGTERM while kafka was down")
	}
	// Kafka acknowledged nothing: only empty partitions may be done.
	cps, _ := e.Store.Checkpoints(ctx, j.Name)
	for _, c := range cps {
		if c.Position != "" {
			t.Errorf("task %s checkpointed at %s though kafka acknowledged nothing", c.Task, c.Position)
		}
	}
}
