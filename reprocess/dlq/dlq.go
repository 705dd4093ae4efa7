// Package dlq lists and replays dead-lettered events: events that failed
// for good, kept on kafka.dlq_topic with the error, the attempt count and
// where they were read in their headers.
package dlq

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

// Entry is one dead-lettered event. Job, Transform and Version are empty
// for a record that is not an event; AssetID is then the record key.
type Entry struct {
	Job       string `json:"job_id"`
	AssetID   string `json:"asset_id"`
	Transform string `json:"transform"`
	Version   int    `json:"version"`
	Attempts  string `json:"attempts"`
	Error     string `json:"error"`
	FailedAt  string `json:"failed_at"`
	Origin    string `json:"origin"`
	Offset    int64  `json:"dlq_offset"`
	Partition int32  `json:"dlq_partition"`
	// Superseded says why the dead letter no longer counts (a later one
	// of the same asset, a later version, a fix that ran); empty when it
	// counts.
	Superseded string `json:"superseded,omitempty"`
}

func entry(m events.Message) Entry {
	e := Entry{Attempts: m.Header(kafka.HeaderDLQAttempts), Error: m.Header(kafka.HeaderDLQError),
		FailedAt: m.Header(kafka.HeaderDLQFailedAt), Origin: m.Header(kafka.HeaderDLQOrigin),
		Offset: m.Offset, Partition: m.Partition, AssetID: string(m.Key)}
	if ev, err := events.Decode(m.Value); err == nil {
		e.Job, e.AssetID, e.Transform, e.Version = ev.JobID, ev.AssetID.String(), ev.Transform, ev.Version
	}
	return e
}

// DLQ reads and replays the dead-letter topic of Kafka. Log, if not nil,
// gets a line per replayed event.
type DLQ struct {
	Kafka *kafka.Cluster
	Log   *slog.Logger

	replaying sync.Mutex // one replay at a time: members of one group would split the topic
}

// List returns the dead-lettered events of job, or of every job when job
// is "", in topic order per partition.
func (d *DLQ) List(ctx context.Context, job string) ([]Entry, error) {
	var entries []Entry
	err := d.Kafka.ReadAll(ctx, d.Kafka.DLQTopic(), func(m events.Message) error {
		if e := entry(m); job == "" || e.Job == job {
			entries = append(entries, e)
		}
		return nil
	})
	return entries, err
}

// Replay sends job's dead-lettered events back to the events topic, each
// with its attempt raised by one, and returns how many it sent (also when
// it stops with an error). The consumer group reprocess.dlq-replay.JOB
// keeps its progress, so a later replay sends only what was dead-lettered
// since.
func (d *DLQ) Replay(ctx context.Context, job string) (int, error) {
	if job == "" {
		return 0, errors.New("replay: job is required")
	}
	d.replaying.Lock()
	defer d.replaying.Unlock()
	pub, err := d.Kafka.NewPublisher("reprocess/dlq-replay/" + job)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	n := 0
	err = d.Kafka.Replay(ctx, "reprocess.dlq-replay."+job, func(m events.Message) error {
		ev, err := events.Decode(m.Value)
		if err != nil || ev.JobID != job {
			return nil // another job's, or not an event at all
		}
		ev.Attempt = max(ev.Attempt, 1) + 1
		ev.EmittedAt = time.Now().UTC()
		if _, err := pub.Emit(ctx, []events.Reprocess{ev}); err != nil {
			return err
		}
		n++
		if d.Log != nil {
			prev, _ := strconv.Atoi(m.Header(kafka.HeaderDLQAttempts))
			d.Log.Info("replayed", "job", job, "asset_id", ev.AssetID, "attempt", ev.Attempt, "previous_tries", prev)
		}
		return nil
	})
	return n, err
}
