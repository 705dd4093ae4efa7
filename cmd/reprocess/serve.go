package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/dlq"
	"github.com/reprocess/reprocess/reprocess/job"
)

func (a *app) serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API, the job page and metrics; run the jobs it is given",
		Long: `Serve on serve.addr:
  /                     the job page: jobs, status, progress, rates, errors,
                        and pause / resume / cancel buttons
  /api/v1/jobs          list (GET) and start (POST a job spec) jobs
  /api/v1/jobs/ID       one job (GET); .../pause, .../resume, .../cancel (POST)
  /api/v1/openapi.yaml  the API description
  /metrics /healthz /readyz
Every /api/v1 request needs "Authorization: Bearer TOKEN" with serve.token
(REPROCESS_SERVE_TOKEN); the page asks for it once. Jobs started through the
API scan in this process and publish to kafka.topic for the workers.`,
		Example: `  REPROCESS_SERVE_TOKEN=s3cret reprocess --kafka-brokers 127.0.0.1:9092 serve
  curl -H "Authorization: Bearer s3cret" --data-binary @job.yaml localhost:8080/api/v1/jobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.Serve.Token == "" {
				return errors.New("serve.token must be set (REPROCESS_SERVE_TOKEN or --set serve.token=...): the API is not served without auth")
			}
			ctx := cmd.Context()
			h, stop, err := a.apiHandler(ctx)
			if err != nil {
				return err
			}
			defer stop()
			ln, err := net.Listen("tcp", a.cfg.Serve.Addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				srv.Shutdown(shut)
			}()
			a.log.Info("serving", "addr", ln.Addr().String())
			fmt.Fprintf(cmd.OutOrStdout(), "job page at http://%s/\n", ln.Addr())
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
}

// apiHandler opens the store and Kafka and returns the API's handler and a
// function that stops its jobs and closes what it opened.
func (a *app) apiHandler(ctx context.Context) (http.Handler, func(), error) {
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
	jctx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	r := &jobRunner{a: a, ctx: jctx, s: s, kc: kc, reg: reg}
	srv := &api.Server{Store: s, Runner: r, Token: a.cfg.Serve.Token, Registry: reg, Log: a.log,
		Ready: func(ctx context.Context) error { return ready(ctx, s, kc) }}
	if len(a.cfg.Kafka.Brokers) > 0 {
		srv.DeadLetters = &dlq.DLQ{Kafka: kc, Log: a.log}
	}
	stop := func() {
		cancelJobs() // scans stop; their jobs stay running and resume on restart
		r.wg.Wait()
		kc.Close()
		raw.Close()
	}
	return srv.Handler(), stop, nil
}

// jobRunner runs jobs started through the API in this process.
type jobRunner struct {
	a   *app
	ctx context.Context
	s   assets.Store
	kc  *kafka.Cluster
	reg prometheus.Registerer
	wg  sync.WaitGroup
}

func (r *jobRunner) Start(j *job.Job) error {
	if j.Source.Kind == job.SourceIDs && j.Source.File == "-" {
		return errors.New("source.file -: standard input is not available to a served job; give a path")
	}
	src, err := r.a.source(j, nil)
	if err != nil {
		return err
	}
	if _, err := control.Start(r.ctx, r.s, j.Name, j.Text, false); err != nil {
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		// Start above claimed the job, so the scan takes it over.
		if err := r.a.runScan(r.ctx, j, src, r.s, r.kc, r.reg, io.Discard, runOpts{takeover: true}); err != nil && r.ctx.Err() == nil {
			r.a.log.Warn("job ended with an error", "job", j.Name, "error", err)
		}
	}()
	return nil
}
