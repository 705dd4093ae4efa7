package dlq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/dlq"
)

var quiet = slog.New(slog.DiscardHandler)

// backends are the Kafkas every test runs on: the in-process broker and,
// when configured, the real one.
var backends = map[string]func(testing.TB) []string{
	"kfake": func(testing.TB) []string { return nil },
	"kafka": func(t testing.TB) []string {
		return need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
	},
}

// env is a Kafka with fresh topics and a DLQ on it.
type env struct {
	kcfg kafka.Config
	kc   *kafka.Cluster
	dlq  *dlq.DLQ
	sent *kafka.DLQ
}

func newEnv(t testing.TB, brokers []string) *env {
	t.Helper()
	topic := fmt.Sprintf("test.dlq.%08x", rand.Uint32())
	e := &env{kcfg: kafka.DefaultConfig}
	e.kcfg.Brokers, e.kcfg.Topic, e.kcfg.DLQTopic, e.kcfg.TasksTopic, e.kcfg.Partitions = brokers, topic, topic+".dlq", topic+".tasks", 3
	kc, err := kafka.Start(e.kcfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if err := kc.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.kc, e.dlq = kc, &dlq.DLQ{Kafka: kc, Log: quiet}
	if e.sent, err = kc.NewDLQ("test"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.sent.Close)
	return e
}

// deadLetter sends an event of job to the dead-letter topic as a worker
// would after reading it at events/2@7, and returns it.
func (e *env) deadLetter(t testing.TB, job string, attempt int) events.Reprocess {
	t.Helper()
	ev := events.Reprocess{JobID: job, AssetID: assets.NewID(time.Now()), Transform: "orientation", Version: 2, Attempt: attempt, EmittedAt: time.Now().UTC()}
	m, err := events.Encode(ev, "test")
	if err != nil {
		t.Fatal(err)
	}
	m.Topic, m.Partition, m.Offset = "events", 2, 7
	if err := e.sent.Send(context.Background(), m, errors.New("boom"), 3); err != nil {
		t.Fatal(err)
	}
	return ev
}

// replayed returns the events on the events topic.
func (e *env) replayed(t testing.TB) []events.Reprocess {
	t.Helper()
	var evs []events.Reprocess
	err := e.kc.ReadAll(context.Background(), e.kcfg.Topic, func(m events.Message) error {
		ev, err := events.Decode(m.Value)
		evs = append(evs, ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestEntryJSONFields(t *testing.T) {
	raw, err := json.Marshal(dlq.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"asset_id", "attempts", "dlq_offset", "dlq_partition", "error", "failed_at", "job_id", "origin", "transform", "version"}
	if !slices.Equal(got, want) {
		t.Errorf("Entry JSON fields %v, want %v", got, want)
	}
}

func TestList(t *testing.T) {
	for name, brokers := range backends {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, brokers(t))
			a1, a2, b := e.deadLetter(t, "job-a", 1), e.deadLetter(t, "job-a", 1), e.deadLetter(t, "job-b", 2)
			if err := e.sent.Send(context.Background(), events.Message{Key: []byte("garbage-key"), Value: []byte("{not json")}, errors.New("malformed"), 1); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				job    string
				assets []string
			}{
				{"", []string{a1.AssetID.String(), a2.AssetID.String(), b.AssetID.String(), "garbage-key"}},
				{"job-a", []string{a1.AssetID.String(), a2.AssetID.String()}},
				{"job-b", []string{b.AssetID.String()}},
				{"job-c", nil},
			} {
				entries, err := e.dlq.List(context.Background(), tc.job)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, en := range entries {
					got = append(got, en.AssetID)
				}
				slices.Sort(got)
				slices.Sort(tc.assets)
				if !slices.Equal(got, tc.assets) {
					t.Errorf("List(%q) = assets %v, want %v", tc.job, got, tc.assets)
				}
			}
			entries, err := e.dlq.List(context.Background(), "job-b")
			if err != nil || len(entries) != 1 {
				t.Fatalf("List(job-b) = %v, %v", entries, err)
			}
			en := entries[0]
			if _, err := time.Parse(time.RFC3339Nano, en.FailedAt); err != nil {
				t.Errorf("failed_at %q: %v", en.FailedAt, err)
			}
			want := dlq.Entry{Job: "job-b", AssetID: b.AssetID.String(), Transform: "orientation", Version: 2, Attempts: "3",
				Error: "boom", FailedAt: en.FailedAt, Origin: "events/2@7", Offset: en.Offset, Partition: en.Partition}
			if en != want || en.Offset < 0 || en.Partition < 0 || int(en.Partition) >= e.kcfg.Partitions {
				t.Errorf("entry %+v, want %+v at a valid dlq offset", en, want)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	for name, brokers := range backends {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, brokers(t))
			ctx := context.Background()
			if _, err := e.dlq.Replay(ctx, ""); err == nil || !strings.Contains(err.Error(), "job") {
				t.Errorf("Replay of no job: %v, want an error naming the job", err)
			}
			sent := map[assets.ID]int{} // asset -> attempt dead-lettered
			for i, step := range []struct {
				deadLetter []string // jobs of events dead-lettered before the replay
				job        string
				want       int
			}{
				{[]string{"job-a", "job-a", "job-b"}, "job-a", 2},
				{nil, "job-a", 0},                        // nothing new
				{[]string{"job-a", "job-b"}, "job-a", 1}, // only what came since
				{nil, "job-b", 2},                        // job-b's own progress
				{nil, "job-c", 0},
			} {
				for k, job := range step.deadLetter {
					ev := e.deadLetter(t, job, k+1)
					sent[ev.AssetID] = ev.Attempt
				}
				n, err := e.dlq.Replay(ctx, step.job)
				if err != nil || n != step.want {
					t.Errorf("step %d: Replay(%s) = %d, %v; want %d", i, step.job, n, err, step.want)
				}
			}
			evs := e.replayed(t)
			if len(evs) != len(sent) {
				t.Errorf("%d events back on the topic, want %d", len(evs), len(sent))
			}
			for _, ev := range evs {
				prev, ok := sent[ev.AssetID]
				if !ok {
					t.Errorf("replayed %s, which was not dead-lettered", ev.AssetID)
				}
				if ev.Attempt != max(prev, 1)+1 || time.Since(ev.EmittedAt) > time.Minute {
					t.Errorf("replayed %s with attempt %d emitted %v; want attempt %d, emitted now", ev.AssetID, ev.Attempt, ev.EmittedAt, max(prev, 1)+1)
				}
				delete(sent, ev.AssetID)
			}
		})
	}
}

// Concurrent replays of one job send each event once and both finish.
func TestConcurrentReplays(t *testing.T) {
	for name, brokers := range backends {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, brokers(t))
			for range 20 {
				e.deadLetter(t, "job-a", 1)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			ns, errs := make([]int, 2), make([]error, 2)
			for i := range ns {
				wg.Go(func() { ns[i], errs[i] = e.dlq.Replay(ctx, "job-a") })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil || ns[0]+ns[1] != 20 {
				t.Errorf("two replays sent %v events (%v), want 20 in all", ns, err)
			}
		})
	}
}
