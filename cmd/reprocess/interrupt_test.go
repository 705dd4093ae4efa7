package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
)

// Every interruption a job meets in production, through `serve` and
// through `run`, on the embedded default and on real Cassandra and
// Kafka, ends with the job succeeded and every asset in its scope
// carrying the result, or incomplete with the exact count of those that
// lack it, the store (read by the test, not by reprocess) being the
// judge; and the job's ledger balances.
func TestInterruptedJobsEndComplete(t *testing.T) {
	interruptions := []struct {
		name     string
		realOnly bool // on the embedded default the worker is the process running the job
		run      func(t *testing.T, b *bench)
	}{
		{"serve stopped with SIGTERM and started again", false, func(t *testing.T, b *bench) {
			s := b.serve(t)
			s.post(t, b.spec)
			b.waitEmitted(t, s)
			s.stop(t, syscall.SIGTERM)
			b.serve(t).waitEnd(t)
		}},
		{"serve killed with SIGKILL and started again", false, func(t *testing.T, b *bench) {
			s := b.serve(t)
			s.post(t, b.spec)
			b.waitEmitted(t, s)
			s.stop(t, syscall.SIGKILL)
			b.serve(t).waitEnd(t)
		}},
		{"cancelled, then the same spec posted again", false, func(t *testing.T, b *bench) {
			s := b.serve(t)
			s.post(t, b.spec)
			b.waitEmitted(t, s)
			if code, body := s.call(t, "POST", "/api/v1/jobs/"+jobName+"/cancel", ""); code != http.StatusOK {
				t.Fatalf("cancel: %d %s", code, body)
			}
			s.waitStatus(t, control.Cancelled)
			s.post(t, b.spec)
			s.waitEnd(t)
		}},
		{"run killed with SIGKILL and run again", false, func(t *testing.T, b *bench) {
			r := b.start(t, "run", b.specFile)
			r.opened(t) // else job status, from this process, may open the store first
			b.waitEmitted(t, nil)
			r.stop(t, syscall.SIGKILL)
			if b.real {
				time.Sleep(3*control.Heartbeat + time.Second) // its record must look abandoned
			}
			if err := b.start(t, "run", b.specFile).wait(3 * time.Minute); err != nil && !b.real {
				t.Errorf("run again: %v", err) // incomplete exits non-zero: judged below
			}
			b.waitEnd(t)
		}},
		{"worker killed with SIGKILL, another started", true, func(t *testing.T, b *bench) {
			r := b.start(t, "run", b.specFile)
			r.opened(t)
			b.waitApplied(t)
			b.workers[0].stop(t, syscall.SIGKILL)
			b.workers[0] = b.worker(t)
			r.wait(3 * time.Minute)
			b.waitEnd(t)
		}},
	}
	for _, stack := range []string{"embedded", "cassandra and kafka"} {
		for _, in := range interruptions {
			if in.realOnly && stack == "embedded" {
				continue
			}
			t.Run(stack+"/"+in.name, func(t *testing.T) {
				b := newBench(t, stack == "cassandra and kafka")
				in.run(t, b)
				b.judge(t)
			})
		}
	}
}

const (
	jobName  = "intr"
	intrSize = 3000
	apiToken = "intr-token"
)

// bench is one store and broker with seeded assets, a job spec over
// them, and the processes started on them.
type bench struct {
	bin, dir, specFile, spec string
	common                   []string // flags every process gets
	real                     bool     // Cassandra and Kafka: worker processes apply the job
	hosts, ks                string
	workers                  []*proc
	children                 []*proc
}

func newBench(t *testing.T, real bool) *bench {
	b := &bench{bin: buildBinary(t), dir: t.TempDir(), real: real}
	if real {
		b.hosts = strings.Join(need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), ",")
		brokers := strings.Join(need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka"), ",")
		id := fmt.Sprintf("%08x", rand.Uint32())
		b.ks = "reprocess_intr_" + id
		t.Cleanup(func() { dropKeyspace(t, b.hosts, b.ks) })
		b.common = []string{"--store", "cassandra", "--cassandra-hosts", b.hosts, "--keyspace", b.ks,
			"--kafka-brokers", brokers, "--set", "kafka.topic=intr." + id, "--set", "kafka.dlq_topic=intr.dlq." + id,
			"--set", "kafka.tasks_topic=intr.tasks." + id, "--set", "kafka.partitions=4"}
	} else {
		b.common = []string{"--data-dir", filepath.Join(b.dir, "data")}
	}
	if out, err := cli(t, append(b.common, "seed", "--count", fmt.Sprint(intrSize), "--days", "2", "--concurrency", "16")...); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	b.spec = fmt.Sprintf(`name: %s
mode: async
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 50}
filter: 'asset.type != "audio"'
transform: {name: expf, version: 1, facts: {expf: 'asset.type'}}
rate: {limit: 400}
`, jobName, time.Now().Add(-3*24*time.Hour).UTC().Format(time.RFC3339))
	// run follows an async job only with brokers its workers share: on
	// the embedded default it runs the job in-process.
	b.specFile = filepath.Join(b.dir, "job.yaml")
	runSpec := b.spec
	if !real {
		runSpec = strings.Replace(runSpec, "mode: async", "mode: sync", 1)
	}
	if err := os.WriteFile(b.specFile, []byte(runSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	if real {
		b.workers = []*proc{b.worker(t)}
	}
	return b
}

// worker starts a worker process for the job's transform.
func (b *bench) worker(t *testing.T) *proc {
	return b.start(t, "worker", "--transform", "expf", "--version", "1")
}

// start starts reprocess with the bench's flags and args; it is killed
// when the test ends.
func (b *bench) start(t *testing.T, args ...string) *proc {
	t.Helper()
	c := &proc{cmd: exec.Command(b.bin, append(append([]string{}, b.common...), args...)...), done: make(chan struct{})}
	c.cmd.Env = append(childEnv(), "REPROCESS_SERVE_TOKEN="+apiToken)
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = &c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.log.Write(append(sc.Bytes(), '\n'))
		}
		io.Copy(io.Discard, out)
		c.err = c.cmd.Wait()
	}()
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	b.children = append(b.children, c)
	return c
}

// serve starts serve on a free port and waits for it to answer.
func (b *bench) serve(t *testing.T) *proc {
	t.Helper()
	c := b.start(t, "--set", "serve.addr=127.0.0.1:0", "serve")
	deadline := time.Now().Add(time.Minute)
	for c.url == "" {
		if _, addr, ok := strings.Cut(c.log.String(), "job page at http://"); ok {
			c.url = "http://" + strings.TrimSuffix(strings.Fields(addr)[0], "/")
			break
		}
		select {
		case <-c.done:
			t.Fatalf("serve exited: %v\n%s", c.err, c.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not say its address in a minute\n%s", c.log.String())
		}
	}
	return c
}

// status reads the job's record: through serve's API when s is given,
// else with `job status`.
func (b *bench) status(t *testing.T, s *proc) api.JobView {
	t.Helper()
	var j api.JobView
	if s != nil {
		code, body := s.call(t, "GET", "/api/v1/jobs/"+jobName, "")
		if code == http.StatusNotFound {
			return j
		}
		if code != http.StatusOK {
			t.Fatalf("GET job: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &j); err != nil {
			t.Fatalf("GET job: %v\n%s", err, body)
		}
		return j
	}
	out, err := cli(t, append(b.common, "job", "status", jobName, "-o", "json")...)
	if err != nil {
		return j // not recorded yet, or its holder is starting
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("job status -o json: %v\n%s", err, out)
	}
	return j
}

// waitEmitted waits until a third of the assets were emitted: the job is
// well under way, far from its end.
func (b *bench) waitEmitted(t *testing.T, s *proc) {
	t.Helper()
	b.waitFor(t, "a third emitted", func() bool { return b.status(t, s).Counters["emitted"] >= intrSize/3 })
}

// waitApplied waits until a worker applied a third of the assets.
func (b *bench) waitApplied(t *testing.T) {
	t.Helper()
	b.waitFor(t, "a third applied", func() bool { return b.status(t, nil).Counters["applied"] >= intrSize/3 })
}

// waitEnd waits until the job's record says it ended.
func (b *bench) waitEnd(t *testing.T) {
	t.Helper()
	b.waitFor(t, "the job's end", func() bool { return ended(b.status(t, nil).Status) })
}

func (b *bench) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); !ok(); time.Sleep(200 * time.Millisecond) {
		for _, c := range b.children {
			if c.exited() && !c.told {
				t.Fatalf("%v exited (%v) while waiting for %s\n%s", c.cmd.Args[len(b.common)+1:], c.err, what, b.logs())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 3 minutes for %s\n%s", what, b.logs())
		}
	}
}

// judge stops every process, then checks the job's end against the store.
func (b *bench) judge(t *testing.T) {
	t.Helper()
	for _, c := range b.children {
		c.stop(t, syscall.SIGTERM)
	}
	j := b.status(t, nil)
	scope, lacking := b.lacking(t)
	switch {
	case j.Status == control.Succeeded && len(lacking) == 0:
	case j.Status == control.Incomplete && j.Counters["lacking"] == int64(len(lacking)):
		t.Logf("job incomplete with %d lacking, as the store says", len(lacking))
	default:
		t.Errorf("job %s (lacking counter %d) with %d of %d assets in scope lacking the result (first: %v)\n%s",
			j.Status, j.Counters["lacking"], len(lacking), scope, lacking[:min(3, len(lacking))], b.logs())
	}
	assetstest.Ledger(t, j.Job)
	if !j.Ledger.Balanced || !strings.HasSuffix(j.Ledger.Text, "(balanced)") {
		t.Errorf("job status shows the ledger %+v; want it balanced", j.Ledger)
	}
	if c := j.Counters; c["emitted"] != int64(scope) || c["applied"]+c["skipped"] != int64(scope-len(lacking)) {
		t.Errorf("ledger: emitted %d, applied %d + skipped %d; the store holds %d assets in scope, %d with the result",
			c["emitted"], c["applied"], c["skipped"], scope, scope-len(lacking))
	}
	t.Logf("job %s: %d assets in scope, %d lacking; counters %v", j.Status, scope, len(lacking), j.Counters)
}

// lacking reads the store: the assets in the job's scope (not audio) and
// those of them without the transform's marker and fact.
func (b *bench) lacking(t *testing.T) (scope int, lacking []assets.ID) {
	t.Helper()
	check := func(id assets.ID, typ string, marks map[string]int, facts map[string]string) {
		if typ == "audio" {
			return
		}
		scope++
		if marks["expf"] != 1 || facts["expf"] != typ {
			lacking = append(lacking, id)
		}
	}
	if !b.real {
		eachAsset(t, filepath.Join(b.dir, "data"), func(a assets.Asset) { check(a.ID, a.Type, a.Transforms, a.Facts) })
		return scope, lacking
	}
	sess, err := gocql.NewCluster(strings.Split(b.hosts, ",")...).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	iter := sess.Query(`SELECT asset_id, asset_type, transforms, facts FROM ` + b.ks + `.assets`).Iter()
	var (
		raw   []byte
		typ   string
		marks map[string]int
		facts map[string]string
	)
	for iter.Scan(&raw, &typ, &marks, &facts) {
		check(assets.ID(raw), typ, marks, facts)
		marks, facts = nil, nil
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return scope, lacking
}

func (b *bench) logs() string {
	var sb strings.Builder
	for _, c := range b.children {
		fmt.Fprintf(&sb, "--- %s\n%s", strings.Join(c.cmd.Args[len(b.common)+1:], " "), tail(c.log.String(), 25))
	}
	return sb.String()
}

func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "")
}

// proc is a reprocess process.
type proc struct {
	cmd  *exec.Cmd
	log  syncBuffer // stdout and stderr
	done chan struct{}
	err  error
	url  string // serve's
	told bool   // to stop, or to be waited for
}

func (c *proc) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// opened waits until the process opened its store, failing if it could not.
func (c *proc) opened(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		for _, line := range strings.Split(c.log.String(), "\n") {
			if strings.Contains(line, `msg="open store"`) {
				if !strings.Contains(line, "error=<nil>") {
					t.Fatalf("%v: %s", c.cmd.Args, line)
				}
				return
			}
		}
		if c.exited() || time.Now().After(deadline) {
			t.Fatalf("%v did not open its store (exit: %v)\n%s", c.cmd.Args, c.err, c.log.String())
		}
	}
}

// stop sends sig and waits for the exit.
func (c *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	c.told = true
	if c.exited() {
		return
	}
	c.cmd.Process.Signal(sig)
	if c.wait(time.Minute) == errTimeout {
		t.Fatalf("%v did not exit a minute after %v\n%s", c.cmd.Args, sig, c.log.String())
	}
}

var errTimeout = fmt.Errorf("timed out")

// wait waits for the exit, up to d.
func (c *proc) wait(d time.Duration) error {
	c.told = true
	select {
	case <-c.done:
		return c.err
	case <-time.After(d):
		return errTimeout
	}
}

func (c *proc) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, c.log.String())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (c *proc) post(t *testing.T, spec string) {
	t.Helper()
	if code, body := c.call(t, "POST", "/api/v1/jobs", spec); code != http.StatusCreated {
		t.Fatalf("POST job: %d %s", code, body)
	}
}

func (c *proc) waitStatus(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		_, body := c.call(t, "GET", "/api/v1/jobs/"+jobName, "")
		var j assets.Job
		json.Unmarshal([]byte(body), &j)
		if j.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s after a minute; want %s", j.Status, want)
		}
	}
}

// waitEnd waits until serve's API says the job ended.
func (c *proc) waitEnd(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, body := c.call(t, "GET", "/api/v1/jobs/"+jobName, "")
		var j assets.Job
		json.Unmarshal([]byte(body), &j)
		if ended(j.Status) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s after 3 minutes\n%s", j.Status, c.log.String())
		}
	}
}

// ended reports whether a job in status s ended.
func ended(s string) bool {
	return slices.Contains([]string{control.Succeeded, control.Failed, control.Cancelled, control.Incomplete}, s)
}

// syncBuffer is a strings.Builder safe for a writer and readers.
type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.String()
}
