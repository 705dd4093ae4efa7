package traffic_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/assets/traffic"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// The safety benchmark's production traffic, the same in every phase.
var safetyTraffic = traffic.Config{Reads: 300, Writes: 30, WriteStyle: traffic.Plain, Concurrency: 1024}

const (
	safetyKeyspace = "reprocess_bench_safety"
	safetyAssets   = 100_000 // seeded once into the keyspace
	safetyWorkers  = 2       // the backfill's consumer-group members, in this process
)

// ---- The backfill every phase runs, in one place. -------------------------
// backfillSpec is its job spec; %[4]s is the rate block's settings. The
// transform's name carries the run (%[1]d), so that markers an earlier run
// left on the shared keyspace make no event a no-op. A new
// throttle setting (such as the latency signal the adaptive rate follows)
// is one more line in adaptiveRate.
const backfillSpec = `name: bench-safety-%[1]d-v%[2]d
source:
  kind: cassandra
  types: [image, video, document, audio, model3d]
  created_from: %[3]s
  page_size: 500
  concurrency: 8
transform:
  name: bench_safety_%[1]d
  version: %[2]d
  facts:
    resolution_class: '!("height" in asset.metadata) ? "none" : int(asset.metadata.height) >= 2160 ? "uhd" : "hd"'
mode: async
rate:
  %[4]s
`

const unthrottledRate = "limit: 0"

func adaptiveRate(limit float64, targetP99 time.Duration) string {
	return fmt.Sprintf("limit: %.0f\n  adaptive: true\n  target_p99: %s", limit, targetP99.Round(100*time.Microsecond))
}

// ---------------------------------------------------------------------------

// BenchmarkSafety prints production's read and write latency with no
// backfill (a), with an unthrottled backfill (b), and with an adaptive one
// targeting 1.2 × a's read p99 at b's rate as its limit (c), each phase
// PHASE long (default 60s), and the ratios p99(c)/p99(a) (goal <= 1.2) and
// rate(c)/rate(b) (goal >= 0.5). Real Cassandra and Kafka only: run it with
// `make bench-safety`.
func BenchmarkSafety(b *testing.B) {
	phase := time.Minute
	if v := os.Getenv("PHASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("PHASE=%q: %v", v, err)
		}
		phase = d
	}
	brokers := need.Service(b, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
	prod := assetstest.Cassandra(b, safetyKeyspace, assets.DefaultLayout) // production's own session
	from := seedOnce(b, prod)
	ids, err := traffic.Sample(context.Background(), prod, assets.DefaultLayout.Partitions(synth.TypeNames(), from, time.Now()), 10_000)
	if err != nil {
		b.Fatal(err)
	}
	bf := &backfill{store: assetstest.Cassandra(b, safetyKeyspace, assets.DefaultLayout), brokers: brokers, from: from, run: time.Now().Unix()}
	cfg := safetyTraffic
	cfg.Duration = phase
	for range b.N {
		var r [3]result
		r[0] = runPhase(b, "a  traffic alone", prod, ids, cfg, nil)
		r[1] = runPhase(b, "b  + unthrottled backfill", prod, ids, cfg, bf.loop(unthrottledRate))
		rate := adaptiveRate(r[1].rate, r[0].Reads.P99*12/10)
		r[2] = runPhase(b, "c  + adaptive backfill", prod, ids, cfg, bf.loop(rate))
		printSafety(b, r, rate)
	}
}

// result is one phase's production figures and the backfill's rate.
type result struct {
	name string
	traffic.Report
	rate float64 // backfill assets applied per second
}

// runPhase sends production traffic for cfg.Duration while backfill (if
// not nil) runs, and stops the backfill when the traffic ends.
func runPhase(b *testing.B, name string, prod assets.Store, ids []assets.ID, cfg traffic.Config, backfill func(context.Context) (int64, error)) result {
	ctx, stop := context.WithCancel(context.Background())
	var applied int64
	var bfErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if backfill != nil {
			applied, bfErr = backfill(ctx)
		}
	}()
	start := time.Now()
	rep, err := traffic.Run(context.Background(), prod, ids, cfg, 0, nil)
	elapsed := time.Since(start)
	stop()
	<-done
	if err = errors.Join(err, bfErr); err != nil {
		b.Fatal(err)
	}
	r := result{name: name, Report: rep, rate: float64(applied) / elapsed.Seconds()}
	fmt.Printf("phase %-27s reads %s\n%34s writes %s\n%34s backfill %.0f assets/s\n", name, rep.Reads, "", rep.Writes, "", r.rate)
	return r
}

func printSafety(b *testing.B, r [3]result, adaptive string) {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	fmt.Printf("\nproduction latency in ms (%.0f reads/s, %.0f %s writes/s), backfill over %d assets with %d workers\n",
		safetyTraffic.Reads, safetyTraffic.Writes, safetyTraffic.WriteStyle, safetyAssets, safetyWorkers)
	fmt.Printf("%-27s %8s %8s %8s | %8s %8s %8s | %10s\n", "phase", "read p50", "p99", "p999", "write p50", "p99", "p999", "backfill/s")
	for _, x := range r {
		fmt.Printf("%-27s %8s %8s %8s | %8s %8s %8s | %10.0f\n", x.name, ms(x.Reads.P50), ms(x.Reads.P99), ms(x.Reads.P999),
			ms(x.Writes.P50), ms(x.Writes.P99), ms(x.Writes.P999), x.rate)
	}
	readRatio := float64(r[2].Reads.P99) / float64(r[0].Reads.P99)
	writeRatio := float64(r[2].Writes.P99) / float64(r[0].Writes.P99)
	rateRatio := r[2].rate / r[1].rate
	fmt.Printf("phase c's rate block: %q\n", adaptive)
	fmt.Printf("p99(c)/p99(a): reads %.2f, writes %.2f (goal <= 1.2); rate(c)/rate(b): %.2f (goal >= 0.5)\n", readRatio, writeRatio, rateRatio)
	b.ReportMetric(readRatio, "read-p99(c)/p99(a)")
	b.ReportMetric(writeRatio, "write-p99(c)/p99(a)")
	b.ReportMetric(rateRatio, "rate(c)/rate(b)")
}

// seedOnce seeds safetyAssets assets over 30 days unless an earlier run
// did, and returns the start of their creation times.
func seedOnce(b *testing.B, s assets.Store) time.Time {
	ctx := context.Background()
	const marker = "bench-safety-seeded"
	if j, err := s.Job(ctx, marker); err == nil && j.Counters["assets"] == safetyAssets {
		return j.CreatedAt.AddDate(0, 0, -31)
	} else if err != nil && !errors.Is(err, assets.ErrNotFound) {
		b.Fatal(err)
	}
	fmt.Printf("seeding %d assets into keyspace %s (once)\n", safetyAssets, safetyKeyspace)
	n, err := synth.Seed(ctx, s, synth.Config{Count: safetyAssets, Span: 30 * 24 * time.Hour, Seed: 11, Concurrency: 64}, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	err = s.SaveJob(ctx, assets.Job{ID: marker, Status: "succeeded", Counters: map[string]int64{"assets": n}, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		b.Fatal(err)
	}
	return now.AddDate(0, 0, -31)
}

// backfill runs the benchmark's backfill jobs in this process.
type backfill struct {
	store   assets.Store // the backfill's own session
	brokers []string
	from    time.Time
	run     int64 // names this run's jobs and topics
	version int
}

// loop returns a backfill that runs the job with rate settings again and
// again (a new transform version each time) until ctx is done, and
// returns the assets it applied.
func (bf *backfill) loop(rate string) func(context.Context) (int64, error) {
	return func(ctx context.Context) (applied int64, err error) {
		for ctx.Err() == nil {
			bf.version++
			n, err := bf.once(ctx, rate)
			applied += n
			if err != nil && ctx.Err() == nil {
				return applied, fmt.Errorf("backfill v%d: %w", bf.version, err)
			}
		}
		return applied, nil
	}
}

// once runs one job on its own topics with safetyWorkers workers.
func (bf *backfill) once(ctx context.Context, rate string) (int64, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	timed, err := instrument.Wrap(bf.store, reg)
	if err != nil {
		return 0, err
	}
	kcfg := kafka.DefaultConfig
	kcfg.Brokers = bf.brokers
	prefix := fmt.Sprintf("reprocess.bench-safety.%d.v%d", bf.run, bf.version)
	kcfg.Topic, kcfg.DLQTopic, kcfg.TasksTopic = prefix+".assets", prefix+".dlq", prefix+".tasks"
	kc, err := kafka.Start(kcfg, log)
	if err != nil {
		return 0, err
	}
	defer kc.Close()
	if err := kc.EnsureTopics(ctx); err != nil {
		return 0, err
	}
	j, err := job.Read(fmt.Appendf(nil, backfillSpec, bf.run, bf.version, bf.from.Format(time.RFC3339), rate))
	if err != nil {
		return 0, err
	}
	env := &run.Env{Store: timed, Kafka: kc, Metrics: reg, Log: log, Layout: assets.DefaultLayout, Transforms: transform.NewRegistry()}
	r, err := env.Start(ctx, j, run.Options{Takeover: true, Workers: safetyWorkers})
	if err != nil {
		return 0, err
	}
	err = r.Run(ctx)
	return r.Progress(context.WithoutCancel(ctx)).Outcomes[apply.Applied], err
}
