package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/reprocess/reprocess/events"
)

// Handler handles one message. Returning nil means the message is done
// (applied, skipped or dead-lettered) and its offset may be committed; an
// error stops the consumer without committing the message (one returned
// while shutting down counts as an interruption: context.Canceled).
type Handler func(ctx context.Context, m events.Message) error

// ConsumerConfig configures a consumer-group member.
type ConsumerConfig struct {
	Group       string
	Topics      []string
	Concurrency int           // records handled at once across partitions
	Grace       time.Duration // how long shutdown waits for in-flight records
	// IdleExit, when set, ends Consume (gracefully) once no record arrived
	// for this long and the group has committed every record of its topics
	// (a dead member's partitions may still be waiting for reassignment):
	// for draining a topic in batch runs and tests.
	IdleExit time.Duration
	// SessionTimeout is how long the group waits for a silent member
	// (a killed worker) before giving its partitions to others (default 10s).
	SessionTimeout time.Duration
	// Owned, if set, is told how many of Topics' partitions this member
	// owns, of how many, after each assignment and revocation.
	Owned func(owned, total int)
}

// Consume runs a consumer-group member until ctx is done or a handler
// fails. Partitions are balanced cooperative-sticky; each assigned
// partition gets a goroutine that handles its records in order, so one
// asset's events stay ordered; at most Concurrency records are handled at
// once. Offsets are committed only for handled records. On shutdown it
// lets in-flight records finish (up to Grace), commits, and leaves the
// group.
func (c *Cluster) Consume(ctx context.Context, cfg ConsumerConfig, handle Handler) error {
	cfg = cfg.withDefaults()
	hctx, stopGrace := graceful(ctx, cfg.Grace)
	defer stopGrace()
	m := &members{handle: handle, sem: make(chan struct{}, cfg.Concurrency), parts: map[tp]*partition{}, ctx: hctx, stop: ctx.Done(), log: c.log,
		owned: cfg.Owned, topics: cfg.Topics}
	if cfg.IdleExit > 0 { // before the client, whose callbacks call m.seen
		var stop func()
		ctx, stop = c.exitWhenIdle(ctx, cfg, m)
		defer stop()
	}
	cl, err := c.NewClient(
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.SessionTimeout/10),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(m.assigned),
		kgo.OnPartitionsRevoked(m.revoked),
		kgo.OnPartitionsLost(m.revoked),
	)
	if err != nil {
		return err
	}
	m.cl = cl
	defer cl.Close() // leaves the group

	for {
		fetches := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			cl.AllowRebalance() // or leaving the group on Close waits forever
			break
		}
		waiting, ferr := c.fetchErrors(fetches)
		if ferr != nil {
			cl.AllowRebalance()
			m.stopAll()
			return ferr
		}
		if waiting {
			pause(ctx, time.Second)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			m.dispatch(p)
		})
		cl.AllowRebalance()
		if err := m.failed(); err != nil {
			m.stopAll()
			return err
		}
	}
	m.stopAll()
	return m.failed()
}

func (cfg ConsumerConfig) withDefaults() ConsumerConfig {
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	return cfg
}

// graceful is the context handlers run on: it outlives ctx by grace, so
// SIGTERM lets the record in hand finish instead of failing it.
func graceful(ctx context.Context, grace time.Duration) (context.Context, func()) {
	hctx, hcancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(grace, func() { hcancel(errors.New("shutdown grace period over")) })
	})
	return hctx, func() { stop(); hcancel(nil) }
}

// exitWhenIdle returns ctx ended once no record arrived for cfg.IdleExit
// and the group has committed every record of its topics.
func (c *Cluster) exitWhenIdle(ctx context.Context, cfg ConsumerConfig, m *members) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	seen := make(chan struct{}, 1)
	m.seen = func() {
		select {
		case seen <- struct{}{}:
		default:
		}
	}
	go func() {
		idle := time.NewTimer(cfg.IdleExit)
		defer idle.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-seen:
			case <-idle.C:
				if lag, err := c.lag(ctx, cfg.Group, cfg.Topics...); err == nil && lag == 0 {
					cancel()
					return
				} // records are left: keep waiting for them
			}
			idle.Reset(cfg.IdleExit)
		}
	}()
	return ctx, cancel
}

// fetchErrors sorts a poll's errors: a transient one (a broker
// restarting) is waited out, any other ends the member.
func (c *Cluster) fetchErrors(fetches kgo.Fetches) (waiting bool, err error) {
	fetches.EachError(func(t string, p int32, ferr error) {
		switch {
		case errors.Is(ferr, context.Canceled):
		case Transient(ferr):
			c.log.Warn("waiting for kafka: fetch failed; retrying while the broker recovers", "topic", t, "partition", p, "error", ferr)
			waiting = true
		default:
			err = fmt.Errorf("fetch %s/%d: %w", t, p, ferr)
		}
	})
	return waiting, err
}

type tp struct {
	topic     string
	partition int32
}

type partition struct {
	recs chan []*kgo.Record
	quit chan struct{}
	done chan struct{}
}

type members struct {
	cl     *kgo.Client
	handle Handler
	sem    chan struct{}
	ctx    context.Context
	stop   <-chan struct{} // closed on shutdown

	seen   func() // called for every fetched batch (idle exit), may be nil
	owned  func(owned, total int)
	topics []string
	log    *slog.Logger

	mu    sync.Mutex
	parts map[tp]*partition
	err   error
}

func (m *members) failed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// fail records the first handler error, which ends Consume with it. A
// handler that fails once shutdown began was interrupted, not wrong: its
// record stays uncommitted, comes again, and Consume ends with
// context.Canceled.
func (m *members) fail(err error) {
	select {
	case <-m.stop:
		if !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: interrupted: %v", context.Canceled, err)
		}
	default:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
	}
}

func (m *members) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	if m.seen != nil {
		m.seen()
	}
	m.mu.Lock()
	for topic, ps := range assigned {
		for _, p := range ps {
			pc := &partition{recs: make(chan []*kgo.Record, 4), quit: make(chan struct{}), done: make(chan struct{})}
			m.parts[tp{topic, p}] = pc
			go m.run(pc)
		}
	}
	m.mu.Unlock()
	m.tell(ctx, cl)
}

// tell reports how many partitions this member owns, of how many, to
// Owned if it is set.
func (m *members) tell(ctx context.Context, cl *kgo.Client) {
	if m.owned == nil || ctx.Err() != nil {
		return
	}
	m.mu.Lock()
	owned := len(m.parts)
	m.mu.Unlock()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, m.topics...)
	if err != nil {
		m.log.Warn("read the topics' partitions: this member's share is not known", "error", err)
		return
	}
	total := 0
	for _, t := range topics {
		total += len(t.Partitions)
	}
	m.owned(owned, total)
}

// revoked stops the partitions' goroutines and waits for them: each
// commits what it handled before it returns.
func (m *members) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	m.mu.Lock()
	var stop []*partition
	for topic, ps := range revoked {
		for _, p := range ps {
			if pc, ok := m.parts[tp{topic, p}]; ok {
				stop = append(stop, pc)
				delete(m.parts, tp{topic, p})
			}
		}
	}
	m.mu.Unlock()
	for _, pc := range stop {
		close(pc.quit)
	}
	for _, pc := range stop {
		<-pc.done
	}
	m.tell(ctx, cl)
}

func (m *members) stopAll() {
	m.mu.Lock()
	all := make(map[string][]int32)
	for k := range m.parts {
		all[k.topic] = append(all[k.topic], k.partition)
	}
	m.mu.Unlock()
	m.revoked(context.Background(), m.cl, all)
}

func (m *members) dispatch(p kgo.FetchTopicPartition) {
	m.mu.Lock()
	pc := m.parts[tp{p.Topic, p.Partition}]
	m.mu.Unlock()
	if pc == nil || len(p.Records) == 0 {
		return
	}
	if m.seen != nil {
		m.seen()
	}
	select {
	case pc.recs <- p.Records:
	case <-pc.quit:
	}
}

// run handles one partition's records in order and commits after each
// batch.
func (m *members) run(pc *partition) {
	defer close(pc.done)
	for {
		select {
		case <-pc.quit:
			return
		case recs := <-pc.recs:
			var last *kgo.Record
			for _, r := range recs {
				select {
				case <-pc.quit:
					m.commit(last)
					return
				case m.sem <- struct{}{}:
				}
				err := m.handle(m.ctx, message(r))
				<-m.sem
				if err != nil {
					m.fail(fmt.Errorf("record %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
					m.commit(last)
					return
				}
				last = r
			}
			m.commit(last)
		}
	}
}

// commit commits through last, waiting out a broker that cannot take the
// commit for now (restarting, its coordinator moving); it gives up only on
// an error that will not pass, or when the handlers' context ends (the
// records are then delivered again, which idempotent handlers make
// no-ops).
func (m *members) commit(last *kgo.Record) {
	if last == nil {
		return
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 10*time.Second)
		err := m.cl.CommitRecords(ctx, last)
		cancel()
		switch {
		case err == nil:
			return
		case !Transient(err):
			m.fail(fmt.Errorf("commit %s/%d@%d: %w", last.Topic, last.Partition, last.Offset, err))
			return
		}
		m.log.Warn("waiting for kafka: commit failed; retrying while the broker recovers", "partition", last.Partition, "offset", last.Offset, "error", err)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Transient reports whether a Kafka error passes by itself: a broker
// restarting or unreachable for now ("unable to dial" wraps a net.Error),
// a coordinator moving or loading. Such errors are waited out rather than
// ending a worker or a scanner.
func Transient(err error) bool {
	var (
		netErr    net.Error
		firstRead *kgo.ErrFirstReadEOF
	)
	return kerr.IsRetriable(err) || errors.As(err, &netErr) || errors.As(err, &firstRead) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// pause waits d or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
