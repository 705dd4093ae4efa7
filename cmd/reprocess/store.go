package main

import (
	"context"
	"fmt"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/events/kafka"
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

// connect opens the store and Kafka, creating the topics where missing;
// closeAll closes both.
func (a *app) connect(ctx context.Context) (assets.Store, *kafka.Cluster, func(), error) {
	s, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	kc, err := kafka.Start(a.cfg.Kafka, a.log)
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	if err := kc.EnsureTopics(ctx); err != nil {
		kc.Close()
		s.Close()
		return nil, nil, nil, err
	}
	return s, kc, func() { kc.Close(); s.Close() }, nil
}
