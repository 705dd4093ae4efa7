package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/dlq"
)

// TestDLQListAndReplayThroughTheCLI dead-letters two events of one job and
// one of another, then runs `dlq list` and `dlq replay --job` as a user
// would: the job filter lists and replays only that job's events, and the
// replayed events reach the events topic with their attempt raised.
func TestDLQListAndReplayThroughTheCLI(t *testing.T) {
	broker, err := kafka.Start(config.Default().Kafka, slog.New(slog.DiscardHandler)) // in process, reached by its address
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	if err := broker.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	sender, err := broker.NewDLQ("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sender.Close)
	deadLetter := func(job string) string {
		ev := events.Reprocess{JobID: job, AssetID: assets.NewID(time.Now()), Transform: "orientation", Version: 2, Attempt: 3, EmittedAt: time.Now().UTC()}
		m, err := events.Encode(ev, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Send(context.Background(), m, errors.New("boom"), 3); err != nil {
			t.Fatal(err)
		}
		return ev.AssetID.String()
	}
	mine := []string{deadLetter("job-a"), deadLetter("job-a")}
	other := deadLetter("job-b")
	addr := strings.Join(broker.Brokers(), ",")

	listed := func(args ...string) []string {
		out, err := cli(t, append([]string{"--kafka-brokers", addr, "dlq", "list", "-o", "json"}, args...)...)
		if err != nil {
			t.Fatalf("dlq list %v: %v\n%s", args, err, out)
		}
		var entries []dlq.Entry
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("dlq list -o json is not JSON: %v\n%s", err, out)
		}
		var ids []string
		for _, e := range entries {
			if e.Attempts != "3" || !strings.Contains(e.Error, "boom") {
				t.Errorf("entry %+v: want attempts 3 and the error", e)
			}
			ids = append(ids, e.AssetID)
		}
		return ids
	}
	if got := listed("--job", "job-a"); !sameIDs(got, mine) {
		t.Errorf("dlq list --job job-a = %v, want %v (not job-b's %s)", got, mine, other)
	}
	if got := listed(); !sameIDs(got, append(slices.Clone(mine), other)) {
		t.Errorf("dlq list = %v, want all three", got)
	}

	out, err := cli(t, "--kafka-brokers", addr, "dlq", "replay", "--job", "job-a")
	if err != nil || !strings.Contains(out, "replayed 2 dead-lettered events of job job-a") {
		t.Fatalf("dlq replay --job job-a: %v\n%s", err, out)
	}
	var replayed []string
	err = broker.ReadAll(context.Background(), broker.Topic(), func(m events.Message) error {
		ev, err := events.Decode(m.Value)
		if ev.JobID != "job-a" || ev.Attempt != 4 {
			t.Errorf("replayed event %+v: want job-a's, attempt 4", ev)
		}
		replayed = append(replayed, ev.AssetID.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(replayed, mine) {
		t.Errorf("events topic after replay = %v, want job-a's %v", replayed, mine)
	}
	if out, err := cli(t, "--kafka-brokers", addr, "dlq", "replay"); err == nil || !strings.Contains(err.Error(), "--job is required") {
		t.Errorf("dlq replay without --job: %v\n%s", err, out)
	}
}

// sameIDs reports whether a and b hold the same ids, in any order.
func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
