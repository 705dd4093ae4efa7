//go:build restart

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
)

// TestRestartOfStoreAndBroker is the outage acceptance test. It stops
// the shared services, so it is built only with -tags restart and run on
// its own (make test runs it after everything else). A job runs as a
// `reprocess run` process with two `reprocess worker` processes while a
// production writer keeps writing; midway Cassandra is stopped and started,
// later Kafka. Every asset must be applied exactly once (the transform
// counts its applications), with no dead letters, no process exiting
// before it is told to, every acknowledged production write kept, and
// the job succeeded.
func TestRestartOfStoreAndBroker(t *testing.T) {
	const n = 3000
	hosts := strings.Join(assetstest.RealService(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), ",")
	brokers := assetstest.RealService(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
	t.Cleanup(func() { services(t, "up") }) // whatever happens, leave them running
	bin := buildBinary(t)
	id := fmt.Sprintf("%08x", rand.Uint32())
	ks := "reprocess_restart_" + id
	t.Cleanup(func() { dropKeyspace(t, hosts, ks) })
	kcfg := kafka.DefaultConfig
	kcfg.Brokers, kcfg.Topic, kcfg.DLQTopic, kcfg.TasksTopic, kcfg.Partitions = brokers, "rs."+id, "rs.dlq."+id, "rs.tasks."+id, 6
	common := []string{"--store", "cassandra", "--cassandra-hosts", hosts, "--keyspace", ks, "--set", "store.cassandra.consistency=ONE",
		"--kafka-brokers", strings.Join(brokers, ","), "--set", "kafka.topic=" + kcfg.Topic, "--set", "kafka.dlq_topic=" + kcfg.DLQTopic,
		"--set", "kafka.tasks_topic=" + kcfg.TasksTopic, "--set", "kafka.partitions=6"}
	if out, err := cli(t, append(common, "seed", "--count", fmt.Sprint(n), "--days", "2", "--concurrency", "32")...); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: restart
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 50, concurrency: 2}
transform:
  name: tally
  version: 1
  facts:
    applies: 'string(int(asset.facts[?"applies"].orValue("0")) + 1)'
rate: {limit: 40}
`, time.Now().Add(-3*24*time.Hour).UTC().Format(time.RFC3339))), 0o600)

	store := assetstest.Cassandra(t, ks, config.Default().Layout)
	ctx := context.Background()
	ids := allIDs(t, store)
	procs := &children{t: t, bin: bin, common: common}
	workers := []*child{procs.start("worker", "--transform", "tally", "--version", "1"), procs.start("worker", "--transform", "tally", "--version", "1")}
	job := procs.start("run", spec)
	prod := writeProduction(ctx, store, ids)

	start := time.Now()
	waitApplied(t, store, ids, n/10, procs)
	restart(t, "cassandra", 10*time.Second)
	waitApplied(t, store, ids, n/2, procs)
	restart(t, "kafka", 10*time.Second)
	if err := job.wait(8 * time.Minute); err != nil {
		t.Fatalf("reprocess run: %v\n%s", err, job.tail())
	}
	took := time.Since(start)
	acked := prod.stop()
	procs.alive() // the workers are still running

	once, wrong := tallies(t, store, ids)
	if once != n || wrong > 0 {
		t.Errorf("%d of %d assets applied exactly once, %d otherwise", once, n, wrong)
	}
	if j, err := store.Job(ctx, "restart"); err != nil || j.Status != "succeeded" || j.Counters["dlq"] != 0 {
		t.Errorf("job %s, dlq counter %d (%v); want succeeded with no dead letters", j.Status, j.Counters["dlq"], err)
	}
	dead := deadLetters(t, kcfg)
	if len(dead) != 0 {
		t.Errorf("%d dead letters; want none: %v", len(dead), dead)
	}
	lost := prod.lost(t, store, acked)
	if lost > 0 {
		t.Errorf("%d of %d acknowledged production writes are missing", lost, len(acked))
	}
	for _, w := range workers {
		if err := w.stop(); err != nil {
			t.Errorf("worker on SIGTERM: %v\n%s", err, w.tail())
		}
	}
	t.Logf("restart test: %d assets in %s through a cassandra and a kafka restart; %d applied exactly once, %d dead letters, "+
		"%d production writes acknowledged (%d missing), 0 process exits", n, took.Round(time.Second), once, len(dead), len(acked), lost)
}

// services runs deployments/local/services with args.
func services(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("../../deployments/local/services", args...).CombinedOutput()
	if err != nil {
		t.Errorf("services %v: %v\n%s", args, err, out)
	}
}

// restart stops svc, leaves it down for down, and starts it again.
func restart(t *testing.T, svc string, down time.Duration) {
	t.Helper()
	t0 := time.Now()
	services(t, "down", svc)
	time.Sleep(down)
	services(t, "up")
	t.Logf("%s was down for %s", svc, time.Since(t0).Round(time.Second))
}

type children struct {
	t      *testing.T
	bin    string
	common []string
	mu     sync.Mutex
	all    []*child
}

// child is a reprocess process; exited is closed when it ends.
type child struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
	told   bool
}

func (cs *children) start(args ...string) *child {
	c := &child{cmd: exec.Command(cs.bin, append(append([]string{}, cs.common...), args...)...), exited: make(chan struct{})}
	c.cmd.Env = childEnv()
	c.log = filepath.Join(cs.t.TempDir(), args[0]+".log")
	f, _ := os.Create(c.log)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		cs.t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); f.Close(); close(c.exited) }()
	cs.t.Cleanup(func() { c.cmd.Process.Kill(); <-c.exited })
	cs.mu.Lock()
	cs.all = append(cs.all, c)
	cs.mu.Unlock()
	return c
}

// alive fails the test if a process that was not told to stop exited.
func (cs *children) alive() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range cs.all {
		select {
		case <-c.exited:
			if !c.told {
				cs.t.Fatalf("%s exited (%v) before it was told to\n%s", c.cmd.Args[len(cs.common)+1], c.err, c.tail())
			}
		default:
		}
	}
}

// wait waits for the process to end by itself.
func (c *child) wait(d time.Duration) error {
	c.told = true
	select {
	case <-c.exited:
		return c.err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (c *child) stop() error {
	c.told = true
	c.cmd.Process.Signal(syscall.SIGTERM)
	return c.wait(time.Minute)
}

// tail is the end of the process's log.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func allIDs(t *testing.T, s assets.Store) []assets.ID {
	var ids []assets.ID
	for _, p := range config.Default().Layout.Partitions([]string{"image", "video", "document", "audio", "model3d"}, time.Now().Add(-3*24*time.Hour), time.Now()) {
		if err := assets.Walk(context.Background(), s, p, assets.ID{}, 1000, func(b []assets.ID) error { ids = append(ids, b...); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// tallies counts the assets applied exactly once and those applied
// otherwise.
func tallies(t *testing.T, s assets.Store, ids []assets.ID) (once, wrong int) {
	for _, id := range ids {
		a, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("read asset %s: %v", id, err)
		}
		switch {
		case a.Transforms["tally"] == 1 && a.Facts["applies"] == "1":
			once++
		case a.Transforms["tally"] != 0 || a.Facts["applies"] != "":
			wrong++
		}
	}
	return once, wrong
}

// waitApplied waits until at least want assets carry the transform,
// failing if a process exits meanwhile.
func waitApplied(t *testing.T, s assets.Store, ids []assets.ID, want int, cs *children) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		cs.alive()
		if once, wrong := tallies(t, s, ids); once >= want || wrong > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d assets applied after 5 minutes", want)
		}
		time.Sleep(time.Second)
	}
}

// production writes a metadata field of random assets, 50 times a
// second, and remembers the writes Cassandra acknowledged.
type production struct {
	cancel context.CancelFunc
	done   chan map[assets.ID]int
}

func writeProduction(ctx context.Context, s assets.Store, ids []assets.ID) *production {
	ctx, cancel := context.WithCancel(ctx)
	p := &production{cancel: cancel, done: make(chan map[assets.ID]int, 1)}
	go func() {
		acked := map[assets.ID]int{}
		for seq := 1; ctx.Err() == nil; seq++ {
			id := ids[rand.IntN(len(ids))]
			wctx, stop := context.WithTimeout(ctx, 5*time.Second)
			if err := s.Update(wctx, id, assets.Update{Metadata: map[string]string{"prod_seq": strconv.Itoa(seq)}}); err == nil {
				acked[id] = seq
			}
			stop()
			time.Sleep(20 * time.Millisecond)
		}
		p.done <- acked
	}()
	return p
}

func (p *production) stop() map[assets.ID]int {
	p.cancel()
	return <-p.done
}

// lost counts acknowledged writes not found: an asset's field must hold
// its last acknowledged write or a later one.
func (p *production) lost(t *testing.T, s assets.Store, acked map[assets.ID]int) int {
	lost := 0
	for id, seq := range acked {
		a, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := strconv.Atoi(a.Metadata["prod_seq"]); got < seq {
			lost++
		}
	}
	return lost
}

// deadLetters returns the errors of the records on the dead-letter topic.
func deadLetters(t *testing.T, cfg kafka.Config) []string {
	kc, err := kafka.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var errs []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = kc.ReadAll(ctx, cfg.DLQTopic, func(m events.Message) error {
		errs = append(errs, m.Header(kafka.HeaderDLQError))
		return nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	return errs
}
