package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/reprocess/reprocess/reprocess/api"
)

// newRegistry is a registry with the Go runtime and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves /metrics, /healthz and /readyz on metrics.addr until
// ctx is done. With no address configured it does nothing.
func (a *app) serveMetrics(ctx context.Context, reg *prometheus.Registry, ready func(context.Context) error) error {
	if a.cfg.Metrics.Addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	api.Probes(mux, reg, ready)
	addr, wait, err := api.Listen(ctx, a.cfg.Metrics.Addr, mux, 5*time.Second)
	if err != nil {
		return err
	}
	a.log.Info("serving metrics", "addr", addr.String())
	go func() {
		if err := wait(); err != nil {
			a.log.Error("metrics server", "error", err)
		}
	}()
	return nil
}
