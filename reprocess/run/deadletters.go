package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/dlq"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// drainIdle is how long the worker that applies replayed dead letters on
// the in-process broker waits for more once its group is caught up.
const drainIdle = time.Second

// DeadLetters lists and replays the dead letters of the env's Kafka.
type DeadLetters struct {
	env   *Env
	dlq   *dlq.DLQ
	store assets.Store // judges them; nil: not judged against the store
}

// DeadLetters returns the env's dead letters.
func (e *Env) DeadLetters() *DeadLetters {
	d := &DeadLetters{env: e, dlq: &dlq.DLQ{Kafka: e.Kafka, Log: e.Log}}
	if e.Store != nil {
		d.store = e.Store
	}
	return d
}

// errEphemeral is the error of the dead letters of an in-process broker
// kept in memory: they ended with the process that ran the job.
var errEphemeral = errors.New("dead letters are kept on kafka.brokers (--kafka-brokers) or with the embedded store; " +
	"with neither, the in-process broker kept them in memory and they ended with the process that ran the job")

// KafkaDeadLetters starts a client of the Kafka at cfg.Brokers and returns
// its dead letters, which replay sends back for the workers there, and a
// function that closes the client.
func KafkaDeadLetters(cfg kafka.Config, log *slog.Logger) (*DeadLetters, func(), error) {
	kc, err := kafka.Start(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return (&Env{Kafka: kc, Log: log}).DeadLetters(), kc.Close, nil
}

// List returns the dead letters of job, or of every job when job is "",
// each judged (judge): those that count are the job's dead letters.
func (d *DeadLetters) List(ctx context.Context, job string) ([]dlq.Entry, error) {
	if d.env.Kafka.Ephemeral() {
		return nil, errEphemeral
	}
	return d.list(ctx, job)
}

// list is List in the process that ran the job, where an in-process
// broker kept in memory still holds them.
func (d *DeadLetters) list(ctx context.Context, job string) ([]dlq.Entry, error) {
	es, err := d.dlq.List(ctx, job)
	if err != nil {
		return nil, err
	}
	return es, d.judge(ctx, es)
}

// WithStore lets the dead letters of a Kafka alone (KafkaDeadLetters) be
// judged against the store s too.
func (d *DeadLetters) WithStore(s assets.Store) { d.store = s }

// judge marks superseded the dead letters that no longer count: one of
// an asset dead-lettered again later by the same job and version, one of
// a version older than the job's spec now runs (a --restart or a raised
// version), and, with a store, one whose asset now carries the
// transform's result at its version or later (a fix ran), or is gone.
func (d *DeadLetters) judge(ctx context.Context, es []dlq.Entry) error {
	type key struct {
		job, asset string
		version    int
	}
	last := map[key]int{}
	for i, e := range es {
		last[key{e.Job, e.AssetID, e.Version}] = i
	}
	runs := map[string]int{} // job -> the version its spec runs; 0 when unknown
	for i := range es {
		e := &es[i]
		if last[key{e.Job, e.AssetID, e.Version}] != i {
			e.Superseded = "dead-lettered again later"
			continue
		}
		if d.store == nil {
			continue
		}
		v, ok := runs[e.Job]
		if !ok {
			if rec, err := d.store.Job(ctx, e.Job); err == nil {
				if spec, err := job.Parse([]byte(rec.Spec)); err == nil {
					v = spec.Transform.Version
				}
			}
			runs[e.Job] = v
		}
		if v > e.Version {
			e.Superseded = fmt.Sprintf("job %s now runs version %d", e.Job, v)
			continue
		}
		id, err := assets.ParseID(e.AssetID)
		if err != nil {
			continue
		}
		a, err := d.store.Get(ctx, id)
		switch {
		case errors.Is(err, assets.ErrNotFound):
			e.Superseded = "the asset is gone"
		case err != nil:
			return fmt.Errorf("judge the dead letters against the store: %w", err)
		case a.Transforms[e.Transform] >= e.Version:
			e.Superseded = fmt.Sprintf("the asset carries %s v%d", e.Transform, a.Transforms[e.Transform])
		}
	}
	return nil
}

// Counted is how many of es count, each an asset of a job's version.
func Counted(es []dlq.Entry) int {
	n := 0
	for _, e := range es {
		if e.Superseded == "" {
			n++
		}
	}
	return n
}

// Replay sends job's dead letters back to the events topic and returns
// how many it sent. On the in-process broker no worker process can reach
// them, so it then applies them here with a member of the job's
// transform's group, returning once the group has handled every event.
func (d *DeadLetters) Replay(ctx context.Context, id string) (int, error) {
	if d.env.Kafka.Ephemeral() {
		return 0, errEphemeral
	}
	n, err := d.dlq.Replay(ctx, id)
	if err != nil || n == 0 || !d.env.Kafka.InProcess() {
		return n, err
	}
	rec, err := d.env.Store.Job(ctx, id)
	if err != nil {
		return n, fmt.Errorf("apply the replayed events of job %s: %w", id, err)
	}
	spec, err := job.Parse([]byte(rec.Spec))
	if err != nil {
		return n, fmt.Errorf("apply the replayed events of job %s: its spec: %w", id, err)
	}
	d.env.Log.Info("applying replayed dead letters in this process", "job", id, "events", n)
	e := d.env
	counts := &worker.Counts{}
	cfg := worker.Config{Reports: e.Store, Throttle: e.Store, Counts: counts}
	if err := e.member(ctx, &members{set: map[*worker.Worker]bool{}}, cfg, kafka.ConsumerConfig{IdleExit: drainIdle}, spec.Transform); err != nil {
		return n, err
	}
	if dead := counts.Get(worker.DeadLettered); dead > 0 && dead == counts.Handled() {
		return n, fmt.Errorf("%w: all %d replayed events of job %s failed again (first errors: %s); "+
			"fix the transform under a raised version and run it over these assets (reprocess dlq list --job %s -o ids gives them as an id list)",
			ErrFailedAgain, dead, id, strings.Join(counts.FirstErrors(), "; "), id)
	}
	return n, nil
}

// ErrFailedAgain is a replay whose every event failed again: the cause
// was not fixed.
var ErrFailedAgain = errors.New("replay changed nothing")
