package main

import (
	"context"
	"fmt"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
)

// openStore opens the configured store.
func (a *app) openStore(ctx context.Context) (assets.Store, error) {
	switch a.cfg.Store.Backend {
	case "cassandra":
		s, err := cassandra.Open(ctx, a.cfg.Store.Cassandra, a.cfg.Layout)
		if err != nil {
			return nil, err
		}
		a.log.Info("opened store", "backend", "cassandra", "hosts", a.cfg.Store.Cassandra.Hosts, "keyspace", a.cfg.Store.Cassandra.Keyspace)
		return s, nil
	case "embedded":
		s, err := embedded.Open(a.cfg.Store.Embedded, a.cfg.Layout)
		if err != nil {
			return nil, err
		}
		a.log.Info("opened store", "backend", "embedded", "dir", a.cfg.Store.Embedded.Dir)
		return s, nil
	}
	return nil, fmt.Errorf("store.backend %q: want embedded or cassandra", a.cfg.Store.Backend)
}

// open opens what jobs and workers run on: the store, timed for metrics
// and the throttle, and Kafka with its topics created where missing.
// closeEnv closes both.
func (a *app) open(ctx context.Context) (env *run.Env, closeEnv func(), err error) {
	raw, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	reg := newRegistry()
	s, err := instrument.Wrap(raw, reg)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	kc, err := kafka.Start(a.cfg.Kafka, a.log)
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
		Backup: a.cfg.Backup, Transforms: transform.NewRegistry(orientation.All()...)}
	return env, func() { kc.Close(); raw.Close() }, nil
}
