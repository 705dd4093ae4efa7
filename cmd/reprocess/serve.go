package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/run"
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
  /api/v1/assets/ID     one asset (GET)
  /api/v1/plan          preview a job spec (POST), writing nothing
  /api/v1/openapi.yaml  the API description
  /metrics /healthz /readyz
Every /api/v1 request needs "Authorization: Bearer TOKEN" with serve.token
(REPROCESS_SERVE_TOKEN); the page asks for it once. Jobs started through the
API scan in this process and publish to kafka.topic for the workers; an id
list comes in the spec (source.ids), a file only from serve.ids_dir; an
export writes only under serve.export_dir.`,
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
			addr, wait, err := api.Listen(ctx, a.cfg.Serve.Addr, h, 10*time.Second)
			if err != nil {
				return err
			}
			a.log.Info("serving", "addr", addr.String())
			fmt.Fprintf(cmd.OutOrStdout(), "job page at http://%s/\n", addr)
			return wait()
		},
	}
}

// apiHandler opens the store and Kafka, resumes what an earlier serve left, and
// returns the API's handler and a function that stops its jobs and closes all.
func (a *app) apiHandler(ctx context.Context) (http.Handler, func(), error) {
	env, closeEnv, err := a.open(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	jobs := run.NewBackground(env)
	jobs.Resume(ctx) // it logs what it resumes, and why not
	srv := &api.Server{Store: env.Store, Runner: jobs, Planner: a.planner(env.Store), Token: a.cfg.Serve.Token, IDsDir: a.cfg.Serve.IDsDir,
		ExportDir: a.cfg.Serve.ExportDir, Registry: env.Metrics, Log: a.log, Ready: env.Ready, DeadLetters: env.DeadLetters(), Missing: env}
	return srv.Handler(), func() { jobs.Stop(); closeEnv() }, nil
}
