package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/config"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/dlq"
	"github.com/reprocess/reprocess/reprocess/jobctl"
)

// tallerJob is a job whose fact reads metadata.height, which documents,
// audio and 3D models lack: those assets are dead-lettered.
func tallerJob(t *testing.T, name, mode string, rate int) string {
	spec := filepath.Join(t.TempDir(), name+".yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`name: %s
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, page_size: 20}
transform: {name: taller, version: 1, facts: {taller: 'string(int(asset.metadata.height) + 1)'}}
mode: %s
rate: {limit: %d}
budget: {max_dead_letters: 100000, max_ratio: 1}
`, name, time.Now().Add(-3*24*time.Hour).UTC().Format(time.RFC3339), mode, rate)), 0o600)
	return spec
}

// heightless returns the ids of the assets in data with no height.
func heightless(t *testing.T, data string) []string {
	var ids []string
	eachAsset(t, data, func(a assets.Asset) {
		if _, ok := a.Metadata["height"]; !ok {
			ids = append(ids, a.ID.String())
		}
	})
	return ids
}

// listDeadLetters runs `dlq list --job` on the default setup and returns
// the listed asset ids.
func listDeadLetters(t *testing.T, data, job string) []string {
	t.Helper()
	out, err := cli(t, "--data-dir", data, "dlq", "list", "--job", job, "-o", "json")
	if err != nil {
		t.Fatalf("dlq list: %v\n%s", err, out)
	}
	var entries []dlq.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("dlq list -o json: %v\n%s", err, out)
	}
	ids := []string{}
	for _, e := range entries {
		ids = append(ids, e.AssetID)
	}
	return ids
}

// On the default setup (embedded store, no kafka.brokers) a job's dead
// letters outlive its process: a later process lists exactly them and,
// once their cause is fixed, replays them and applies them itself.
func TestDeadLettersOutliveTheJobOnTheDefaultSetup(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "400", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	run := exec.Command(bin, "--data-dir", data, "run", tallerJob(t, "taller", "sync", 100000))
	run.Env = childEnv()
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	want := heightless(t, data)
	if len(want) == 0 || len(want) == 400 {
		t.Fatalf("%d of 400 seeded assets lack a height; want some", len(want))
	}
	if got := listDeadLetters(t, data, "taller"); !sameIDs(got, want) {
		t.Fatalf("a later process lists %d dead letters of the ended job, want the %d assets with no height", len(got), len(want))
	}

	// The cause fixed: the assets get a height, then the dead letters are replayed.
	s, err := embedded.Open(embedded.Config{Dir: data}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range want {
		aid, err := assets.ParseID(id)
		if err == nil {
			err = s.Update(context.Background(), aid, assets.Update{Metadata: map[string]string{"height": "7"}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	out, err := cli(t, "--data-dir", data, "dlq", "replay", "--job", "taller")
	if err != nil || !strings.Contains(out, fmt.Sprintf("replayed %d dead-lettered events of job taller", len(want))) {
		t.Fatalf("dlq replay: %v\n%s", err, out)
	}
	unapplied := 0
	eachAsset(t, data, func(a assets.Asset) {
		if a.Transforms["taller"] != 1 || a.Facts["taller"] == "" || a.Metadata["height"] == "7" && a.Facts["taller"] != "8" {
			unapplied++
		}
	})
	if unapplied > 0 {
		t.Errorf("%d assets not applied after the replay", unapplied)
	}
	if out, err := cli(t, "--data-dir", data, "dlq", "replay", "--job", "taller"); err != nil || !strings.Contains(out, "replayed 0 ") {
		t.Errorf("a second replay: %v\n%s; want nothing replayed", err, out)
	}
}

// A job killed with SIGKILL on the default setup keeps every dead letter
// it logged as sent: a later process lists each of them, and at least as
// many as the job's record counts.
func TestDeadLettersSurviveAKilledJob(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "1500", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	scan := exec.Command(bin, "--data-dir", data, "--log-level", "debug", "scan", tallerJob(t, "killed", "async", 150))
	scan.Env = childEnv()
	logs, _ := scan.StderrPipe()
	if err := scan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { scan.Process.Kill(); scan.Wait() })
	var (
		mu     sync.Mutex
		logged []string
		enough = make(chan struct{})
		once   sync.Once
		read   = make(chan struct{})
	)
	id := regexp.MustCompile(`msg="dead-lettered event" .*asset_id=(\S+)`)
	go func() {
		defer close(read)
		for sc := bufio.NewScanner(logs); sc.Scan(); {
			if m := id.FindStringSubmatch(sc.Text()); m != nil {
				mu.Lock()
				if logged = append(logged, m[1]); len(logged) >= 30 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}
	}()
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("the scan logged no 30 dead letters within 60s")
	}
	scan.Process.Kill()
	var exit *exec.ExitError
	if err := scan.Wait(); !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("the scan was not killed midway: %v", err)
	}
	<-read
	listed := listDeadLetters(t, data, "killed")
	missing := 0
	for _, a := range logged {
		if !strings.Contains(strings.Join(listed, ","), a) {
			missing++
		}
	}
	if missing > 0 || len(listed) >= len(heightless(t, data)) {
		t.Errorf("after SIGKILL %d of the %d logged dead letters are not listed (%d listed, of %d assets with no height)", missing, len(logged), len(listed), len(heightless(t, data)))
	}
	out, err := cli(t, "--data-dir", data, "job", "status", "killed", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"dlq": (\d+)`).FindStringSubmatch(out)
	if m != nil && atoi(m[1]) > len(listed) { // none is counted before the first report
		t.Errorf("the killed job's record counts %v dead letters, over the %d listed:\n%s", m, len(listed), out)
	}
	t.Logf("killed after %d logged dead letters: %d listed, the record counts %v", len(logged), len(listed), m)
}

// The in-process broker's directory is opened only by the process that
// holds the embedded store: dead-letter and job commands from a second
// terminal neither start a broker on it nor create it.
func TestSecondTerminalLeavesTheBrokerDirectory(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s, err := embedded.Open(embedded.Config{Dir: data}, config.Default().Layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := control.Start(context.Background(), s, "held", "name: held\n", false); err != nil {
		t.Fatal(err)
	}
	stop := jobctl.Serve(s, slog.New(slog.DiscardHandler))
	defer stop()
	for _, args := range [][]string{{"dlq", "list"}, {"dlq", "replay", "--job", "held"}} {
		if out, err := cli(t, append([]string{"--data-dir", data}, args...)...); err == nil || !strings.Contains(err.Error(), "is held by this process") {
			t.Errorf("%v while the store is held: %v\n%s; want an error naming the holder", args, err, out)
		}
	}
	if out, err := cli(t, "--data-dir", data, "job", "status", "held"); err != nil {
		t.Errorf("job status through the control socket: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "broker")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a second terminal's commands touched the held store's broker directory: %v", err)
	}
}

// Fix, then replay: replaying a transform bug's dead letters with the
// transform unchanged says so and fails; the documented path, a job with
// the fixed transform under a raised version over `dlq list -o ids`,
// applies it to exactly the dead-lettered assets.
func TestFixThenReplay(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "400", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if out, err := cli(t, "--data-dir", data, "run", tallerJob(t, "taller", "sync", 100000)); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	bad := heightless(t, data)
	countsAre(t, data, "taller", "after the run", len(bad), len(bad), 0)
	out, err := cli(t, "--data-dir", data, "dlq", "replay", "--job", "taller")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("all %d replayed events of job taller failed again", len(bad))) {
		t.Errorf("replay with the bug unfixed: %v\n%s; want an error saying all %d failed again", err, out, len(bad))
	}
	countsAre(t, data, "taller", "after the replay failed again", len(bad), 2*len(bad), len(bad))
	ids, err := cli(t, "--data-dir", data, "dlq", "list", "--job", "taller", "-o", "ids")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(ids); len(got) != len(bad) || len(bad) == 0 {
		t.Fatalf("dlq list -o ids: %d ids; want each of the %d dead-lettered assets once", len(got), len(bad))
	}
	list := filepath.Join(dir, "failed.ids")
	os.WriteFile(list, []byte(ids), 0o600)
	fix := filepath.Join(dir, "fix.yaml")
	os.WriteFile(fix, []byte(`name: taller-fix
source: {kind: ids, file: `+list+`}
transform: {name: taller, version: 2, facts: {taller: '"height" in asset.metadata ? string(int(asset.metadata.height) + 1) : "none"'}}
mode: sync
`), 0o600)
	if out, err := cli(t, "--data-dir", data, "run", fix); err != nil {
		t.Fatalf("run the fix: %v\n%s", err, out)
	}
	fixed := 0
	eachAsset(t, data, func(a assets.Asset) {
		_, tall := a.Metadata["height"]
		switch {
		case !tall && (a.Transforms["taller"] != 2 || a.Facts["taller"] != "none"):
			t.Errorf("dead-lettered asset %s: transforms %v, facts %v; want taller v2 = none", a.ID, a.Transforms, a.Facts)
		case !tall:
			fixed++
		case a.Transforms["taller"] != 1:
			t.Errorf("asset %s with a height: transforms %v; want taller v1 only (the fix ran over the dead letters only)", a.ID, a.Transforms)
		}
	})
	if fixed != len(bad) {
		t.Errorf("%d of %d dead-lettered assets fixed", fixed, len(bad))
	}
	_, listed, events, superseded := deadLetterCounts(t, data, "taller")
	if listed != 0 || superseded != events {
		t.Errorf("after the fix, dlq list says %d dead letters of %d events, %d superseded; want none counting, all superseded", listed, events, superseded)
	}
}

// A job stopped over its budget says the count of dead letters its
// record, dlq list and the page (the record's counter) say.
func TestOverBudgetCountsAgree(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "400", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := tallerJob(t, "over", "sync", 100000)
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, []byte(strings.Replace(string(b), "max_dead_letters: 100000", "max_dead_letters: 5", 1)), 0o600)
	_, err := cli(t, "--data-dir", data, "run", spec)
	if err == nil {
		t.Fatal("run over budget: no error")
	}
	m := regexp.MustCompile(`error budget: (\d+) dead letters, over`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("run over budget: %v; want it to say how many dead letters", err)
	}
	said, _ := strconv.Atoi(m[1])
	countsAre(t, data, "over", "over budget", said, said, 0)
}

// countsAre checks a job's dead letters: its record's counter and dlq
// list count those that count; the list has events in all, superseded of
// them not counting.
func countsAre(t *testing.T, data, job, when string, count, events, superseded int) {
	t.Helper()
	counter, listed, e, s := deadLetterCounts(t, data, job)
	if counter != int64(count) || listed != count || e != events || s != superseded {
		t.Errorf("%s: dlq counter %d, dlq list %d dead letters of %d events, %d superseded; want %d, %d of %d, %d",
			when, counter, listed, e, s, count, count, events, superseded)
	}
}

// deadLetterCounts reads a job's dlq counter (job status) and what dlq
// list's table says of its dead letters.
func deadLetterCounts(t *testing.T, data, job string) (counter int64, listed, events, superseded int) {
	t.Helper()
	out, err := cli(t, "--data-dir", data, "job", "status", job, "-o", "json")
	if err != nil {
		t.Fatalf("job status: %v\n%s", err, out)
	}
	var j assets.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, "--data-dir", data, "dlq", "list", "--job", job)
	if err != nil {
		t.Fatalf("dlq list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%d dead letters (%d events, %d superseded)", &listed, &events, &superseded); err != nil {
		t.Fatalf("dlq list's last line %q: %v", lines[len(lines)-1], err)
	}
	assetstest.Ledger(t, j)
	return j.Counters["dlq"], listed, events, superseded
}
