//go:build restart

package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/control"
)

// TestRestartOfStoreAndBroker is the safety acceptance test. It stops
// the shared services, so it is built only with -tags restart and run on
// its own (make test runs it after everything else). A job runs as a
// `reprocess run` process with two `reprocess worker` processes while a
// production writer keeps rewriting, the way Store.Update writes, the very
// metadata field the transform derives a fact from. Midway Cassandra is
// stopped and started; then a worker and the scanner are killed -9 and
// started again, as a supervisor would; production stops writing (so
// that the job's end sees its last writes); then Kafka is stopped and
// started. Every asset must be applied exactly once (the transform counts
// its applications), every fact must equal f(the input in force when the
// fact was written, per WRITETIME and the writer's log) and the input at
// the job's end, with no dead letters, no process exiting before it is
// told to, every acknowledged production write kept, and the job
// succeeded.
func TestRestartOfStoreAndBroker(t *testing.T) {
	const n = 3000
	hosts := strings.Join(need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), ",")
	brokers := need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
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
    applies: 'asset.transforms[?"tally"].orValue(0) >= 1 ? asset.facts[?"applies"].orValue("0") : string(int(asset.facts[?"applies"].orValue("0")) + 1)'
    seen: 'asset.metadata[?"prod_seq"].orValue("none")'
    redundant: 'asset.transforms[?"tally"].orValue(0) >= 1 && asset.facts[?"seen"].orValue("") == asset.metadata[?"prod_seq"].orValue("none") ? string(int(asset.facts[?"redundant"].orValue("0")) + 1) : asset.facts[?"redundant"].orValue("0")'
rate: {limit: 30}
`, time.Now().Add(-3*24*time.Hour).UTC().Format(time.RFC3339))), 0o600)

	store := assetstest.Cassandra(t, ks, config.Default().Layout)
	ctx := context.Background()
	ids := allIDs(t, store)
	procs := &children{t: t, bin: bin, common: common}
	workers := []*child{procs.start("worker", "--transform", "tally", "--version", "1"), procs.start("worker", "--transform", "tally", "--version", "1")}
	job := procs.start("run", spec)
	prod := writeProduction(ctx, t, hosts, ks, store, ids)

	start := time.Now()
	waitApplied(t, store, ids, n/10, procs)
	restart(t, "cassandra", 10*time.Second)
	waitApplied(t, store, ids, n/3, procs)
	workers[0] = procs.kill9(workers[0], func() *child { return procs.start("worker", "--transform", "tally", "--version", "1") })
	job = procs.kill9(job, func() *child {
		time.Sleep(3*control.Heartbeat + time.Second) // its record must look abandoned, or the new scanner refuses
		return procs.start("run", spec)
	})
	waitApplied(t, store, ids, n/2, procs)
	acked := prod.stop()
	if j, err := store.Job(ctx, "restart"); err != nil || j.Status != "running" {
		t.Fatalf("job %s (%v) when production stopped writing; want running, so that its end sees the last writes", j.Status, err)
	}
	restart(t, "kafka", 10*time.Second)
	if err := job.wait(8 * time.Minute); err != nil {
		t.Fatalf("reprocess run: %v\n%s", err, job.tail())
	}
	took := time.Since(start)
	procs.alive() // the workers are still running

	once, wrong := tallies(t, store, ids)
	if once != n || wrong > 0 {
		t.Errorf("%d of %d assets applied exactly once, %d otherwise", once, n, wrong)
	}
	j, err := store.Job(ctx, "restart")
	if err != nil || j.Status != "succeeded" || j.Counters["dlq"] != 0 {
		t.Errorf("job %s, dlq counter %d (%v); want succeeded with no dead letters", j.Status, j.Counters["dlq"], err)
	}
	assetstest.Ledger(t, j)
	dead := deadLetterErrors(t, kcfg)
	if len(dead) != 0 {
		t.Errorf("%d dead letters; want none: %v", len(dead), dead)
	}
	lost := prod.lost(t, store)
	if lost > 0 {
		t.Errorf("%d of %d acknowledged production writes are missing", lost, acked)
	}
	stale, outdated := prod.stale(t, store)
	if stale+outdated > 0 {
		t.Errorf("%d facts derived from stale input, %d outdated at the job's end, of %d assets", stale, outdated, n)
	}
	for _, w := range workers {
		if err := w.stop(); err != nil {
			t.Errorf("worker on SIGTERM: %v\n%s", err, w.tail())
		}
	}
	t.Logf("restart test: %d assets in %s through a cassandra restart, a worker and the scanner killed -9, a kafka restart; "+
		"%d applied exactly once, %d dead letters, %d production writes acknowledged (%d missing), %d stale and %d outdated facts, "+
		"%d re-applied over changed input, %d guarded conflicts, 0 unplanned process exits",
		n, took.Round(time.Second), once, len(dead), acked, lost, stale, outdated, j.Counters["reapplied"], j.Counters["conflicts"])
}

// servicesEnv is the environment the services script runs with, taken
// before the CLI tests clear REPROCESS_* (REPROCESS_SERVICES_HOME and the
// port variables choose which services it stops).
var servicesEnv = os.Environ()

// services runs deployments/local/services with args.
func services(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("../../deployments/local/services", args...)
	cmd.Env = servicesEnv
	out, err := cmd.CombinedOutput()
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

// kill9 kills c with SIGKILL, after checking it is alive and the job is
// under way, and returns what restart starts in its place.
func (cs *children) kill9(c *child, restart func() *child) *child {
	cs.alive()
	c.told = true
	if err := c.cmd.Process.Kill(); err != nil {
		cs.t.Fatalf("kill -9 %s: %v", c.cmd.Args[len(cs.common)+1], err)
	}
	<-c.exited
	cs.t.Logf("killed -9: %s", c.cmd.Args[len(cs.common)+1])
	return restart()
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
// otherwise, waiting (up to two minutes) for a store that is restarting.
// applies counts applications onto an asset without the marker;
// redundant, applications onto one with the marker and unchanged input
// (a re-application over changed input is the safety net, not a double).
func tallies(t *testing.T, s assets.Store, ids []assets.ID) (once, wrong int) {
	for _, id := range ids {
		a, err := s.Get(context.Background(), id)
		for wait := time.Now().Add(2 * time.Minute); errors.Is(err, assets.ErrUnavailable) && time.Now().Before(wait); {
			time.Sleep(time.Second)
			a, err = s.Get(context.Background(), id)
		}
		if err != nil {
			t.Fatalf("read asset %s: %v", id, err)
		}
		switch {
		case a.Transforms["tally"] == 1 && a.Facts["applies"] == "1" && a.Facts["redundant"] == "0":
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

// production rewrites prod_seq of random assets, 50 times a second, the
// way Store.Update writes (read the version, write unconditionally), and
// logs each write that landed with when it was sent and its WRITETIME. It is the only writer
// of prod_seq, so the cell read back after a write is that write's; a
// write whose answer was lost in an outage is read back once Cassandra
// answers again, and logged if it landed.
type production struct {
	cql    *gocql.Session
	ks     string
	cancel context.CancelFunc
	done   chan struct{}
	log    map[assets.ID][]landed
	acked  int
	// unsure are writes that failed and were not found by the read after
	// them (in flight in an outage, they may still land), and a write
	// acknowledged as production stopped, before its read back.
	unsure map[assets.ID][]landed
}

func writeProduction(ctx context.Context, t *testing.T, hosts, ks string, s assets.Store, ids []assets.ID) *production {
	c := gocql.NewCluster(strings.Split(hosts, ",")...)
	c.Consistency = gocql.One
	sess, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	ctx, cancel := context.WithCancel(ctx)
	p := &production{cql: sess, ks: ks, cancel: cancel, done: make(chan struct{}), log: map[assets.ID][]landed{}, unsure: map[assets.ID][]landed{}}
	t.Cleanup(func() { p.stop() }) // before the test ends, whatever happens
	go func() {
		defer close(p.done)
		for seq := 1; ctx.Err() == nil; seq++ {
			id, v, sent := ids[rand.IntN(len(ids))], strconv.Itoa(seq), time.Now().UnixMicro()
			wctx, stop := context.WithTimeout(ctx, 5*time.Second)
			err := s.Update(wctx, id, assets.Update{Metadata: map[string]string{"prod_seq": v}})
			stop()
			if err == nil {
				p.acked++
			}
			switch w, ok := p.readBack(ctx, id); {
			case ok && w.seq == v:
				w.sent = sent
				p.log[id] = append(p.log[id], w)
			case err == nil && ok:
				t.Errorf("asset %s: production wrote prod_seq %s, read back %s", id, v, w.seq)
			default: // failed, or acknowledged as production stopped, before the read back
				p.unsure[id] = append(p.unsure[id], landed{seq: v, sent: sent})
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return p
}

// readBack reads prod_seq and its WRITETIME, waiting for Cassandra to
// answer; ok is false only when ctx ended first.
func (p *production) readBack(ctx context.Context, id assets.ID) (w landed, ok bool) {
	for ctx.Err() == nil {
		var seq *string
		var at *int64
		err := p.cql.Query(`SELECT metadata['prod_seq'], WRITETIME(metadata['prod_seq']) FROM `+p.ks+`.assets WHERE asset_id = ?`, id[:]).
			ScanContext(ctx, &seq, &at)
		if err == nil {
			if seq != nil && at != nil {
				w = landed{seq: *seq, at: *at}
			}
			return w, true
		}
		time.Sleep(time.Second)
	}
	return w, false
}

// stop ends the writes, logs the unsure writes found landed (the last
// value of their asset), and returns how many writes were acknowledged.
func (p *production) stop() int {
	p.cancel()
	<-p.done
	for id, tries := range p.unsure {
		w, _ := p.readBack(context.Background(), id)
		i := slices.IndexFunc(tries, func(u landed) bool { return u.seq == w.seq })
		if i >= 0 && (len(p.log[id]) == 0 || p.log[id][len(p.log[id])-1].at < w.at) {
			w.sent = tries[i].sent
			p.log[id] = append(p.log[id], w)
		}
	}
	p.unsure = nil
	return p.acked
}

// lost counts assets whose prod_seq is not the last write that landed.
func (p *production) lost(t *testing.T, s assets.Store) int {
	lost := 0
	for id, log := range p.log {
		a, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if last := log[len(log)-1].seq; a.Metadata["prod_seq"] != last {
			if lost++; lost <= 5 {
				t.Errorf("asset %s: prod_seq %q; production's last write was %s", id, a.Metadata["prod_seq"], last)
			}
		}
	}
	return lost
}

// stale counts the assets whose fact seen is not a prod_seq that may
// have been in force when the fact was written (its WRITETIME against the
// writer's log, see inForce), and
// those whose fact is not the prod_seq they hold at the end.
func (p *production) stale(t *testing.T, s assets.Store) (stale, outdated int) {
	iter := p.cql.Query(`SELECT asset_id, facts['seen'], WRITETIME(facts['seen']), metadata['prod_seq'] FROM ` + p.ks + `.assets`).Iter()
	var (
		raw       []byte
		seen, now *string
		at        *int64
	)
	for iter.Scan(&raw, &seen, &at, &now) {
		id := assets.ID(raw)
		if seen == nil || at == nil {
			continue // not applied: tallies says so
		}
		if may := inForce(p.log[id], *at); !slices.Contains(may, *seen) {
			if stale++; stale <= 5 {
				t.Errorf("asset %s: stale fact: seen %s, written at %d when prod_seq %v was in force (writes %v)", id, *seen, *at, may, p.log[id])
			}
		}
		cur := "none"
		if now != nil {
			cur = *now
		}
		if *seen != cur {
			if outdated++; outdated <= 5 {
				t.Errorf("asset %s: outdated fact: seen %s, prod_seq is %s at the job's end", id, *seen, cur)
			}
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return stale, outdated
}
