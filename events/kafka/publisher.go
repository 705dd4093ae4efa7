package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/reprocess/reprocess/events"
)

// Publisher sends events to the events topic: idempotent (the franz-go
// default, with acks from all in-sync replicas), batched with a short
// linger, zstd-compressed (lz4, snappy as fallbacks), and bounded in
// memory: Publish blocks while too many records are buffered.
type Publisher struct {
	cl     *kgo.Client
	topic  string
	source string
	acks   prometheus.Histogram
}

// Register exposes reprocess_kafka_produce_seconds, the time from handing a
// batch of events to Kafka to its last acknowledgement.
func (p *Publisher) Register(reg prometheus.Registerer) error {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "reprocess_kafka_produce_seconds",
		Help:        "Time from publishing a batch of events to Kafka acknowledging all of them.",
		ConstLabels: prometheus.Labels{"topic": p.topic},
		Buckets:     prometheus.ExponentialBuckets(0.001, 2, 14), // 1ms .. 8s
	})
	if err := reg.Register(h); err != nil {
		return err
	}
	p.acks = h
	return nil
}

// NewPublisher returns a publisher; source names the emitter in the
// ce_source header (e.g. "reprocess/scan/JOB").
func (c *Cluster) NewPublisher(source string, opts ...kgo.Opt) (*Publisher, error) {
	cl, err := c.NewClient(append([]kgo.Opt{
		kgo.DefaultProduceTopic(c.cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()),
		kgo.ProducerLinger(5e6), // 5ms
		kgo.MaxBufferedRecords(50_000),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Publisher{cl: cl, topic: c.cfg.Topic, source: source}, nil
}

// Emit publishes evs and returns once Kafka acknowledged every one, with
// how many it acknowledged and the first error, or when ctx ends: a broker that is down is waited for
// (records are retried until it answers) but never past ctx, so a stopped
// process does not hang on acknowledgements that are not coming. Events
// not acknowledged may still reach Kafka; a caller checkpoints only after
// a nil return. Records of one asset keep their order (key = asset id).
func (p *Publisher) Emit(ctx context.Context, evs []events.Reprocess) (int, error) {
	if p.acks != nil {
		defer func(start time.Time) { p.acks.Observe(time.Since(start).Seconds()) }(time.Now())
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		acked atomic.Int64
	)
	for _, e := range evs {
		m, err := events.Encode(e, p.source)
		if err != nil {
			wg.Wait()
			return int(acked.Load()), err
		}
		wg.Add(1)
		p.cl.Produce(ctx, record(p.topic, m), func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err == nil {
				acked.Add(1)
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("produce event for asset %s to %s: %w", e.AssetID, p.topic, err)
				}
				mu.Unlock()
			}
		})
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-ctx.Done():
		// Records whose context ended fail as soon as a broker answers;
		// waiting briefly for that keeps them from failing the records a
		// later Emit queues behind them on the same partitions.
		select {
		case <-all:
		case <-time.After(settleAfterStop):
		}
		return int(acked.Load()), fmt.Errorf("publish %d events to %s: stopped waiting for acknowledgements: %w", len(evs), p.topic, context.Cause(ctx))
	}
	mu.Lock()
	defer mu.Unlock()
	return int(acked.Load()), first
}

// settleAfterStop bounds how long Emit still waits for its records to
// settle once its context ended.
const settleAfterStop = 2 * time.Second

// Close flushes and closes the client.
func (p *Publisher) Close() { p.cl.Close() }

func record(topic string, m events.Message) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// message is a record as the rest of the program sees it.
func message(r *kgo.Record) events.Message {
	m := events.Message{Key: r.Key, Value: r.Value, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, events.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

// Lag returns the events the consumer group has not yet committed on the
// events topic; a group that committed nothing lags by every record.
func (c *Cluster) Lag(ctx context.Context, group string) (int64, error) {
	return c.lag(ctx, group, c.cfg.Topic)
}

// Members returns how many members the consumer group has now (0 for a
// group that does not exist).
func (c *Cluster) Members(ctx context.Context, group string) (int, error) {
	cl, err := c.adminClient()
	if err != nil {
		return 0, err
	}
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	g, ok := groups[group]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return 0, nil
	}
	if g.Err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, g.Err)
	}
	return len(g.Members), nil
}

// lag is the group's uncommitted records on topics.
func (c *Cluster) lag(ctx context.Context, group string, topics ...string) (int64, error) {
	cl, err := c.adminClient()
	if err != nil {
		return 0, err
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("end offsets of %v: %w", topics, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("start offsets of %v: %w", topics, err)
	}
	committed, err := adm.FetchOffsetsForTopics(ctx, group, topics...)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // no member has committed yet
	}
	if err != nil {
		return 0, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	var lag int64
	ends.Each(func(end kadm.ListedOffset) {
		from := int64(0)
		if s, ok := starts.Lookup(end.Topic, end.Partition); ok {
			from = s.Offset
		}
		if o, ok := committed.Lookup(end.Topic, end.Partition); ok && o.At >= 0 {
			from = max(from, o.At)
		}
		lag += max(0, end.Offset-from)
	})
	return lag, nil
}

// Produce writes messages to topic as they are and returns once Kafka has
// them all: for tools and tests that put on a topic what no encoder would
// write.
func (c *Cluster) Produce(ctx context.Context, topic string, ms ...events.Message) error {
	cl, err := c.NewClient(kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return err
	}
	defer cl.Close()
	rs := make([]*kgo.Record, len(ms))
	for i, m := range ms {
		rs[i] = record(topic, m)
	}
	return cl.ProduceSync(ctx, rs...).FirstErr()
}
