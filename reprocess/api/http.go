package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Probes adds the process endpoints to mux: /metrics from reg (when not
// nil), /healthz (the process is up) and /readyz (ready answers nil: the
// store and Kafka are reachable).
func Probes(mux *http.ServeMux, reg *prometheus.Registry, ready func(context.Context) error) {
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
}

// Listen serves h on addr until ctx is done, then shuts down, giving
// requests in flight up to grace. It returns the address it listens on
// and a function that waits until the server stopped.
func Listen(ctx context.Context, addr string, h http.Handler, grace time.Duration) (net.Addr, func() error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	stopped := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			stopped <- err
			return
		}
		stopped <- nil
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		srv.Shutdown(shut)
	}()
	return ln.Addr(), func() error { return <-stopped }, nil
}
