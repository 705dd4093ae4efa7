package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/config"
)

func TestMetricsEndpoints(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.Default()
	cfg.Metrics.Addr = addr
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	reg := newRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "reprocess_test_things_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	ready := errors.New("kafka at 127.0.0.1:1 does not answer")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.serveMetrics(ctx, reg, func(context.Context) error { return ready }); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "reprocess_test_things_total 3") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "does not answer") {
		t.Errorf("/readyz with Kafka down: %d %s", code, body)
	}
	ready = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz with everything up: %d", code)
	}
}
