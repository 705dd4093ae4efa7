package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/jobctl"
)

// The job commands from a second terminal while this process holds the
// embedded store and serves its control socket, as run and serve do.
func TestJobCommandsFromASecondTerminal(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s, err := embedded.Open(embedded.Config{Dir: data}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := control.Start(ctx, s, "orient", "name: orient\n", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetThrottle(ctx, "orient", assets.Throttle{Rate: 1000, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Without the socket the commands say who holds the store.
	if _, err := cli(t, "--data-dir", data, "job", "status", "orient"); err == nil ||
		!strings.Contains(err.Error(), "held by this process, which serves no control socket") {
		t.Errorf("status of a store held without a socket: %v", err)
	}
	stop := jobctl.Serve(s, slog.New(slog.DiscardHandler))
	defer stop()
	for _, step := range []struct {
		args   []string
		says   string // in the output, or the error if err
		err    bool
		status string // the job's state in the holder's store after
		rate   float64
	}{
		{[]string{"status", "orient"}, `(?s)status\s+running\n.*\nrate\s+now 1000/s\n`, false, control.Running, 0},
		{[]string{"pause", "orient"}, "job orient is paused", false, control.Paused, 0},
		{[]string{"resume", "orient"}, "job orient is running", false, control.Running, 0},
		{[]string{"rate", "orient", "50"}, "job orient is running; its rate limit is 50/s", false, control.Running, 50},
		{[]string{"status", "orient"}, `rate\s+now 1000/s; limit 50/s set by job rate`, false, control.Running, 50},
		{[]string{"status", "orient", "-o", "json"}, `"rate_limit": 50`, false, control.Running, 50},
		{[]string{"rate", "orient", "0"}, `rate "0": want a positive whole number`, true, control.Running, 50},
		{[]string{"rate", "orient", "2.5"}, `rate "2.5": want a positive whole number`, true, control.Running, 50},
		{[]string{"rate", "nope", "10"}, "job nope: assets: not found", true, control.Running, 50},
		{[]string{"list"}, `orient\s+running`, false, control.Running, 50},
		{[]string{"cancel", "orient"}, "job orient is cancelled", false, control.Cancelled, 50},
		{[]string{"rate", "orient", "10"}, "job orient is cancelled: only a job that has not ended takes a rate", true, control.Cancelled, 50},
	} {
		out, err := cli(t, append([]string{"--data-dir", data, "job"}, step.args...)...)
		got := out
		if step.err {
			got = fmt.Sprint(err)
		}
		if (err != nil) != step.err || !regexp.MustCompile(step.says).MatchString(got) {
			t.Errorf("job %v: %v\n%s\nwant it to say %q", step.args, err, out, step.says)
		}
		j, _ := s.Job(ctx, "orient")
		if rate, _ := s.RateLimit(ctx, "orient"); j.Status != step.status || rate != step.rate {
			t.Errorf("after job %v the holder's store has %s, rate limit %v; want %s, %v", step.args, j.Status, rate, step.status, step.rate)
		}
	}
}

// A real run in another process, steered from this one: its rate change
// shows in job status and holds its scan; pause and resume reach it; once
// its socket is gone, the error names its pid.
func TestSecondTerminalSteersARun(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "3000", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "job.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: steered
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 5}
transform: {name: orientation, version: 1}
mode: sync
rate: {limit: 300}
`, time.Now().Add(-72*time.Hour).UTC().Format(time.RFC3339))), 0o600)
	child := exec.Command(bin, "--data-dir", data, "run", spec)
	child.Env = childEnv()
	logs, _ := child.StderrPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	waitLog(t, logs, "job commands served")
	job := func(args ...string) string {
		t.Helper()
		out, err := cli(t, append([]string{"--data-dir", data, "job"}, args...)...)
		if err != nil {
			t.Fatalf("job %v: %v\n%s", args, err, out)
		}
		return out
	}
	// The socket is served from the store's opening; the job is recorded
	// a moment later.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := cli(t, "--data-dir", data, "job", "status", "steered"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the running job is not there after 10s: %v", err)
		}
	}
	job("rate", "steered", "20")
	var status string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if status = job("status", "steered"); strings.Contains(status, "now 20/s; limit 20/s set by job rate") {
			break
		}
	}
	if !strings.Contains(status, "now 20/s; limit 20/s set by job rate") {
		t.Fatalf("status within 30s of job rate 20:\n%s", status)
	}
	// A heartbeat after the new rate took hold records the counters.
	before := emitted(t, job("status", "steered", "-o", "json"))
	assetstest.Eventually(t, 30*time.Second, "a heartbeat to record the counters", func() bool {
		n := emitted(t, job("status", "steered", "-o", "json"))
		changed := n != before
		before = n
		return changed
	})
	time.Sleep(4 * time.Second) // the claim: at most 20/s over these 4 s
	// The heartbeat saves counters every 2s: allow a heartbeat's worth.
	if n := emitted(t, job("status", "steered", "-o", "json")) - before; before == 0 || n > 4*20+2*20+10 {
		t.Errorf("at 20/s the run emitted %d in 4s (from %d)", n, before)
	}
	if out := job("pause", "steered"); !strings.Contains(out, "job steered is paused") {
		t.Errorf("pause: %s", out)
	}
	job("resume", "steered")
	os.Remove(filepath.Join(data, jobctl.SocketName))
	_, err := cli(t, "--data-dir", data, "job", "status", "steered")
	if want := fmt.Sprintf("held by process %d (reprocess), which serves no control socket", child.Process.Pid); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("status once the socket is gone: %v; want it to say %q", err, want)
	}
	child.Process.Signal(syscall.SIGINT)
	child.Wait()
	if out := job("status", "steered"); !regexp.MustCompile(`status\s+interrupted`).MatchString(out) {
		t.Errorf("status after the run was stopped:\n%s", out)
	}
}

// waitLog reads r until a line contains s, for at most 30s.
func waitLog(t *testing.T, r io.Reader, s string) {
	t.Helper()
	found := make(chan bool, 1)
	var seen strings.Builder
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), s) {
				found <- true
				io.Copy(io.Discard, r)
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("the child ended before it logged %q", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the child did not log %q within 30s", s)
	}
}

// emitted is the emitted counter in job status -o json.
func emitted(t *testing.T, status string) int {
	t.Helper()
	m := regexp.MustCompile(`"emitted": (\d+)`).FindStringSubmatch(status)
	if m == nil {
		return 0
	}
	return atoi(m[1])
}

// On Cassandra the job commands go to the store: a rate set from one
// terminal is what the job's controller, in any process, reads.
func TestJobRateOnCassandra(t *testing.T) {
	hosts := strings.Join(need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), ",")
	ks := fmt.Sprintf("reprocess_cli_rate_%x", rand.Uint32())
	t.Cleanup(func() { dropKeyspace(t, hosts, ks) })
	s := assetstest.Cassandra(t, ks, config.Default().Layout)
	ctx := context.Background()
	if _, err := control.Start(ctx, s, "orient", "name: orient\n", false); err != nil {
		t.Fatal(err)
	}
	common := []string{"--store", "cassandra", "--cassandra-hosts", hosts, "--keyspace", ks, "--set", "store.cassandra.consistency=ONE", "job"}
	if out, err := cli(t, append(common, "rate", "orient", "30")...); err != nil {
		t.Fatalf("job rate: %v\n%s", err, out)
	}
	if got, err := s.RateLimit(ctx, "orient"); got != 30 || err != nil {
		t.Errorf("rate limit in the store: %v, %v; want 30", got, err)
	}
	if out, err := cli(t, append(common, "status", "orient")...); err != nil || !regexp.MustCompile(`rate\s+limit 30/s set by job rate`).MatchString(out) {
		t.Errorf("job status: %v\n%s", err, out)
	}
}

// job missing walks a job's scope in the store: after the job succeeded
// none lacks its result; assets seeded into its scope since do, and are
// the ones listed.
func TestJobMissingListsWhatLacksTheResult(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "300", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "tag.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: tag
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s}
transform: {name: tag, version: 1, facts: {tag: '"x"'}}
mode: sync
`, time.Now().Add(-72*time.Hour).UTC().Format(time.RFC3339))), 0o600)
	if out, err := cli(t, "--data-dir", data, "run", spec); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, err := cli(t, "--data-dir", data, "job", "missing", "tag")
	if err != nil || !strings.Contains(out, "job tag: 0 of 300 assets checked lack its result") {
		t.Fatalf("job missing after the run: %v\n%s", err, out)
	}
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "40", "--days", "2", "--seed", "9"); err != nil {
		t.Fatalf("seed more: %v\n%s", err, out)
	}
	out, err = cli(t, "--data-dir", data, "job", "missing", "tag", "--limit", "0", "-o", "json")
	var v missingView
	if err != nil || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("job missing -o json: %v\n%s", err, out)
	}
	s, err := embedded.Open(embedded.Config{Dir: data}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lack := 0
	for _, id := range v.Assets {
		if a, err := s.Get(context.Background(), id); err != nil || a.Transforms["tag"] != 0 {
			t.Errorf("listed asset %s: %v, transforms %v; want one without tag", id, err, a.Transforms)
		}
		lack++
	}
	if v.Missing != 40 || v.Checked != 340 || lack != 40 {
		t.Errorf("job missing after 40 more assets: %d missing of %d checked, %d listed; want 40 of 340", v.Missing, v.Checked, lack)
	}
}
