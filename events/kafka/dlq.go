package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/reprocess/reprocess/events"
)

// Dead-letter headers, added to the original record's headers.
const (
	HeaderDLQError    = "dlq_error"
	HeaderDLQAttempts = "dlq_attempts"
	HeaderDLQFailedAt = "dlq_failed_at"
	HeaderDLQOrigin   = "dlq_origin" // topic/partition@offset, or "sync"
	HeaderDLQGroup    = "dlq_group"
)

// DLQ sends records that failed for good to the dead-letter topic.
type DLQ struct {
	cl    *kgo.Client
	topic string
	group string
}

// NewDLQ returns a dead-letter producer; group names the consumer group
// (or job) that gave up.
func (c *Cluster) NewDLQ(group string) (*DLQ, error) {
	cl, err := c.NewClient(kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return nil, err
	}
	return &DLQ{cl: cl, topic: c.cfg.DLQTopic, group: group}, nil
}

// Send writes m (key, value, original headers) to the dead-letter topic
// with the error and attempt count, and returns once Kafka has it.
func (d *DLQ) Send(ctx context.Context, m events.Message, cause error, attempts int) error {
	origin := m.Origin()
	out := record(d.topic, m)
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
		kgo.RecordHeader{Key: HeaderDLQFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: HeaderDLQOrigin, Value: []byte(origin)},
		kgo.RecordHeader{Key: HeaderDLQGroup, Value: []byte(d.group)},
	)
	if err := d.cl.ProduceSync(ctx, out).FirstErr(); err != nil {
		return fmt.Errorf("dead-letter record %s: %w", origin, err)
	}
	return nil
}

// Close closes the producer.
func (d *DLQ) Close() { d.cl.Close() }

// ReadAll calls fn with every message of topic from the start to the end
// offsets as of the call (messages written later are not waited for).
func (c *Cluster) ReadAll(ctx context.Context, topic string, fn func(events.Message) error) error {
	cl, err := c.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			offsets[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	return pollUntil(ctx, cl, topic, want, func(r *kgo.Record) error { return fn(message(r)) })
}

// pollUntil polls cl, calling fn with each record below its partition's
// offset in ends, until every partition reached its end.
func pollUntil(ctx context.Context, cl *kgo.Client, topic string, ends map[int32]int64, fn func(*kgo.Record) error) error {
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("read %s: %w", topic, ferr)
		}
		for _, r := range fs.Records() {
			end, ok := ends[r.Partition]
			if !ok || r.Offset >= end {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
			if r.Offset+1 >= end {
				delete(ends, r.Partition)
			}
		}
	}
	return nil
}

// Replay calls fn with every dead-lettered message the consumer group has
// not seen yet, up to the end offsets as of the call, committing each
// message after fn returns nil for it.
func (c *Cluster) Replay(ctx context.Context, group string, fn func(events.Message) error) error {
	cl, err := c.NewClient(kgo.ConsumerGroup(group), kgo.ConsumeTopics(c.cfg.DLQTopic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, c.cfg.DLQTopic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", c.cfg.DLQTopic, err)
	}
	committed, err := adm.FetchOffsetsForTopics(ctx, group, c.cfg.DLQTopic)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("offsets of %s: %w", group, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		from := int64(0)
		if cm, ok := committed.Lookup(o.Topic, o.Partition); ok && cm.At >= 0 {
			from = cm.At
		}
		if o.Offset > from {
			left[o.Partition] = o.Offset
		}
	})
	return pollUntil(ctx, cl, c.cfg.DLQTopic, left, func(r *kgo.Record) error {
		if err := fn(message(r)); err != nil {
			return err
		}
		if err := cl.CommitRecords(ctx, r); err != nil {
			return fmt.Errorf("commit replay progress: %w", err)
		}
		return nil
	})
}
