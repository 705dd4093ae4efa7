package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/jobctl"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
)

// openStore opens the configured store. With existing (read-only commands)
// an embedded one must exist; without, a silent Cassandra is waited for.
func (a *app) openStore(ctx context.Context, existing bool) (s assets.Store, err error) {
	switch c := a.cfg.Store; c.Backend {
	case "cassandra":
		if s, err = cassandra.Open(ctx, c.Cassandra, a.cfg.Layout); !existing && errors.Is(err, assets.ErrUnavailable) {
			s, err = cassandra.OpenWaiting(ctx, c.Cassandra, a.cfg.Layout, a.log)
		}
		a.log.Info("open store", "backend", "cassandra", "hosts", c.Cassandra.Hosts, "keyspace", c.Cassandra.Keyspace, "error", err)
	case "embedded":
		c.Embedded.MustExist = existing
		s, err = embedded.Open(c.Embedded, a.cfg.Layout)
		a.log.Info("open store", "backend", "embedded", "dir", c.Embedded.Dir, "error", err)
	default:
		err = fmt.Errorf("store.backend %q: want embedded or cassandra", c.Backend)
	}
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// open opens what jobs and workers run on: the store (existing: one that
// exists), timed, serving job commands if it is embedded, and Kafka with
// its topics created where missing. closeEnv closes both.
func (a *app) open(ctx context.Context, existing bool) (env *run.Env, closeEnv func(), err error) {
	raw, err := a.openStore(ctx, existing)
	if err != nil {
		return nil, nil, err
	}
	reg := newRegistry()
	s, err := instrument.Wrap(raw, reg)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	kc, err := kafka.Start(a.cfg.ProcessKafka(), a.log) // after the store: only its holder opens the broker's data
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	if err := kc.EnsureTopics(ctx); err != nil {
		kc.Close()
		raw.Close()
		return nil, nil, err
	}
	env = &run.Env{Store: s, Kafka: kc, Metrics: reg, Log: a.log, Layout: a.cfg.Layout, Elastic: a.cfg.Elasticsearch,
		Backup: a.cfg.Backup, Iceberg: a.cfg.Iceberg, Transforms: transform.NewRegistry(orientation.All()...)}
	unserve := jobctl.Serve(raw, a.log) // job commands of other processes
	return env, func() { unserve(); kc.Close(); raw.Close() }, nil
}
