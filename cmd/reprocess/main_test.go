package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"github.com/reprocess/reprocess/reprocess/api"
)

// clearEnv unsets the REPROCESS_* settings for one test (t.Setenv
// restores them); the REPROCESS_TEST_* service addresses stay.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "REPROCESS_") && !strings.HasPrefix(name, "REPROCESS_TEST_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// cli executes the CLI in-process with a clean REPROCESS_* environment.
// The jobs of the embedded store args name are checked when the test
// ends (ledgersAtEnd).
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	clearEnv(t)
	if i := slices.Index(args, "--data-dir"); i >= 0 && i+1 < len(args) {
		ledgersAtEnd(t, args[i+1])
	}
	var out bytes.Buffer
	err := execute(&out, &out, args...)
	return out.String(), err
}

// execute runs the CLI in-process with args.
func execute(stdout, stderr io.Writer, args ...string) error {
	root := newRoot()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	return root.ExecuteContext(context.Background())
}

// checked is the data directories whose jobs a test checks at its end.
var checked sync.Map

// ledgersAtEnd checks, when the test ends, the ledger of every job that
// ended in the embedded store in dir, as `job list` shows it (through
// the holder's control socket if a process still holds the store).
func ledgersAtEnd(t *testing.T, dir string) {
	if _, seen := checked.LoadOrStore(dir, true); seen {
		return
	}
	t.Cleanup(func() {
		defer checked.Delete(dir)
		var out, logs bytes.Buffer
		if err := execute(&out, &logs, "--data-dir", dir, "job", "list", "-o", "json"); err != nil {
			if !strings.Contains(err.Error(), "no embedded store") {
				t.Errorf("reading the jobs in %s to check their ledgers: %v", dir, err)
			}
			return
		}
		var views []api.JobView
		if err := json.Unmarshal(out.Bytes(), &views); err != nil {
			t.Fatalf("job list -o json: %v\n%s%s", err, &out, &logs)
		}
		for _, v := range views {
			assetstest.LedgerIfEnded(t, v.Job)
		}
	})
}

// --version says the version, the commit and the Go version it was
// built with.
func TestVersion(t *testing.T) {
	out, err := cli(t, "--version")
	if err != nil || !strings.HasPrefix(out, "reprocess ") || !strings.Contains(out, "commit ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: %q (%v); want the version, commit and %s", out, err, runtime.Version())
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("store:\n  cassandra:\n    username: app\n    password: s3cret\n"), 0o600)
	out, err := cli(t, "--config", cfg, "config", "print", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "s3cret") || !strings.Contains(out, "REDACTED") {
		t.Errorf("config print leaks or hides wrongly:\n%s", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("--output json is not JSON: %v", err)
	}
}

func TestBadConfigIsAnErrorNamingTheKey(t *testing.T) {
	_, err := cli(t, "--set", "layout.shards=zero", "config", "print")
	if err == nil || !strings.Contains(err.Error(), "layout.shards") {
		t.Errorf("got %v, want an error naming layout.shards", err)
	}
}

func TestSeedThenPartitionsCountsEveryAsset(t *testing.T) {
	dir := t.TempDir()
	out, err := cli(t, "--data-dir", dir, "seed", "--count", "1500", "--days", "3")
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "seeded 1500 assets") {
		t.Errorf("seed output: %s", out)
	}
	out, err = cli(t, "--data-dir", dir, "partitions", "--days", "4", "-o", "json")
	if err != nil {
		t.Fatalf("partitions: %v", err)
	}
	var counts []struct {
		Type  string `json:"asset_type"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal([]byte(out), &counts); err != nil {
		t.Fatalf("partitions -o json: %v\n%s", err, out)
	}
	total := 0
	for _, c := range counts {
		total += c.Count
	}
	if total != 1500 {
		t.Errorf("partitions count %d ids, want 1500", total)
	}
}

func TestPartitionsAdvise(t *testing.T) {
	dir := t.TempDir()
	if out, err := cli(t, "--data-dir", dir, "seed", "--count", "1500", "--days", "3"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	out, err := cli(t, "--data-dir", dir, "partitions", "--days", "4", "--advise", "--target-mib", "2")
	if err != nil {
		t.Fatalf("partitions --advise: %v\n%s", err, out)
	}
	for _, w := range []string{"(1500 ids)", "p99", "estimated as ids x 28 B", "target partition size 2.0 MiB", "current layout:  bucket_width=24h0m0s shards=8", "recommended:", "new time buckets only"} {
		if !strings.Contains(out, w) {
			t.Errorf("partitions --advise does not say %q:\n%s", w, out)
		}
	}
	out, err = cli(t, "--data-dir", dir, "partitions", "--days", "4", "--advise", "-o", "json")
	var r struct {
		IDs    struct{ IDs int } `json:"ids_per_partition"`
		Advice struct {
			Layout struct{ Shards int }
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &r) != nil || r.IDs.IDs != 1500 || r.Advice.Layout.Shards < 1 {
		t.Errorf("partitions --advise -o json: %v, %+v\n%s", err, r, out)
	}
}

func TestDemoVerifies(t *testing.T) {
	out, err := cli(t, "demo", "--count", "3000")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if !strings.Contains(out, "verified: all 3000 assets carry resolution_class v1") {
		t.Errorf("demo output lacks the verification:\n%s", out)
	}
}

func TestSchemaApplyRefusesEmbedded(t *testing.T) {
	_, err := cli(t, "schema", "apply")
	if err == nil || !strings.Contains(err.Error(), "embedded store needs no schema") {
		t.Errorf("got %v", err)
	}
}

func TestSchemaApplySeedAndCountOnRealCassandra(t *testing.T) {
	hosts := strings.Join(need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), ",")
	ks := fmt.Sprintf("reprocess_cli_%x", rand.Uint32())
	t.Cleanup(func() { dropKeyspace(t, hosts, ks) })
	common := []string{"--store", "cassandra", "--cassandra-hosts", hosts, "--keyspace", ks, "--set", "store.cassandra.consistency=ONE"}
	for range 2 { // the second apply must be a no-op
		if out, err := cli(t, append(common, "--set", "store.cassandra.apply_schema=false", "schema", "apply")...); err != nil {
			t.Fatalf("schema apply: %v\n%s", err, out)
		}
	}
	if out, err := cli(t, append(common, "--set", "store.cassandra.apply_schema=false", "seed", "--count", "400", "--days", "2")...); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	out, err := cli(t, append(common, "partitions", "--days", "3")...)
	if err != nil {
		t.Fatalf("partitions: %v", err)
	}
	if !regexp.MustCompile(`total\s+\d+ partitions\s+400`).MatchString(out) {
		t.Errorf("partitions on Cassandra do not total 400:\n%s", out)
	}
}

func dropKeyspace(t *testing.T, hosts, ks string) {
	c := gocql.NewCluster(strings.Split(hosts, ",")...)
	s, err := c.CreateSession()
	if err != nil {
		t.Errorf("drop keyspace %s: %v", ks, err)
		return
	}
	defer s.Close()
	if err := s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
		t.Errorf("drop keyspace %s: %v", ks, err)
	}
}

// seeded gives a test its own keyspace (dropped at its end) and Kafka
// topics on the real Cassandra and Kafka, named after name, seeds n assets
// over 2 days into it with the CLI, and returns the flags that address
// them, and the keyspace.
func seeded(t *testing.T, name string, n int) (common []string, ks string) {
	t.Helper()
	hosts := strings.Join(need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), ",")
	brokers := strings.Join(need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka"), ",")
	id := fmt.Sprintf("%08x", rand.Uint32())
	ks = "reprocess_" + name + "_" + id
	t.Cleanup(func() { dropKeyspace(t, hosts, ks) })
	topic := name + "." + id
	common = []string{"--store", "cassandra", "--cassandra-hosts", hosts, "--keyspace", ks, "--set", "store.cassandra.consistency=ONE",
		"--kafka-brokers", brokers, "--set", "kafka.topic=" + topic, "--set", "kafka.dlq_topic=" + topic + ".dlq",
		"--set", "kafka.tasks_topic=" + topic + ".tasks", "--set", "kafka.partitions=6"}
	if out, err := cli(t, append(common, "seed", "--count", fmt.Sprint(n), "--days", "2", "--concurrency", "64")...); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	return common, ks
}

func TestScanRejectsBadInputBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	ids := write("ids.txt", assets.NewID(time.Now()).String()+"\nnot-a-uuid\n\n"+"zzz\n")
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"bad CEL", "name: j\nsource: {kind: cassandra, types: [image], created_from: 2025-01-01T00:00:00Z}\nfilter: 'asset.metadata.height > 5'\ntransform: {name: t, version: 1}\n",
			[]string{"filter", "no matching overload"}},
		{"unknown field", "name: j\nsource: {kind: ids, file: x}\ntransform: {name: t, version: 1, colour: red}\n",
			[]string{"colour", "not found"}},
		{"CEL over its cost limit", "name: j\nsource: {kind: ids, file: x}\ntransform:\n  name: t\n  version: 1\n  facts:\n    n: 'string(asset.metadata.exists(k, asset.metadata.exists(j, asset.metadata[j].contains(asset.metadata[k]))))'\n",
			[]string{"transform.facts", "exceeds the cost limit"}},
		{"CEL fact of the wrong type", "name: j\nsource: {kind: ids, file: x}\ntransform: {name: t, version: 1, facts: {n: 'asset.metadata'}}\n",
			[]string{"transform.facts", "n: result is map(string, string)"}},
		{"delete without confirmation", "name: j\nsource: {kind: ids, file: x}\ntransform: {name: delete, version: 1, dry_run: false}\n",
			[]string{"--confirm-delete"}},
		{"bad id file", "name: j\nsource: {kind: ids, file: " + ids + "}\ntransform: {name: t, version: 1}\n",
			[]string{"2 invalid asset ids", "line 2", "not-a-uuid", "line 4", "zzz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(dir, "data-"+strings.ReplaceAll(tc.name, " ", "-"))
			_, err := cli(t, "--data-dir", data, "scan", write("job.yaml", tc.spec))
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not mention %q", err, w)
				}
			}
			if _, statErr := os.Stat(data); statErr == nil {
				t.Errorf("the store was opened (%s exists) although the job was rejected", data)
			}
		})
	}
}

func TestDeleteIsDryRunUnlessConfirmed(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "600", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	from := time.Now().Add(-3 * 24 * time.Hour).UTC().Format(time.RFC3339)
	spec := func(name, dryRun string) string {
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`name: %s
source: {kind: cassandra, types: [audio], created_from: %s}
filter: 'asset.metadata.codec == "mp3"'
transform: {name: delete, version: 1%s}
mode: sync
`, name, from, dryRun)), 0o600)
		return p
	}
	count := func() int {
		out, err := cli(t, "--data-dir", data, "partitions", "--type", "audio", "--days", "3", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var cs []struct{ Count int }
		json.Unmarshal([]byte(out), &cs)
		n := 0
		for _, c := range cs {
			n += c.Count
		}
		return n
	}
	audio := count()
	out, err := cli(t, "--data-dir", data, "scan", spec("dry", ""))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`would delete (\d+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" || count() != audio {
		t.Fatalf("dry run: %q, and %d of %d audio assets left; want a count and nothing deleted", out, count(), audio)
	}
	out, err = cli(t, "--data-dir", data, "scan", "--confirm-delete", spec("real", ", dry_run: false"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "deleted "+m[1]) {
		t.Errorf("confirmed delete: %q, want deleted %s", out, m[1])
	}
	if left, want := count(), audio-atoi(m[1]); left != want {
		t.Errorf("%d audio assets left, want %d", left, want)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

func TestRunFollowsASyncJobAndRefusesAsyncWithoutKafka(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := cli(t, "--data-dir", data, "seed", "--count", "800", "--days", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	spec := func(name, mode string) string {
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`name: %s
source: {kind: cassandra, types: [image, video], created_from: %s}
transform: {name: orientation, version: 1}
mode: %s
`, name, time.Now().Add(-72*time.Hour).UTC().Format(time.RFC3339), mode)), 0o600)
		return p
	}
	if _, err := cli(t, "--data-dir", data, "run", spec("async", "async")); err == nil || !strings.Contains(err.Error(), "kafka.brokers") {
		t.Errorf("run of an async job with no brokers: %v", err)
	}
	out, err := cli(t, "--data-dir", data, "run", spec("sync", "sync"))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`emitted (\d+).*\napplied (\d+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" || m[1] != m[2] {
		t.Errorf("run summary: %q; want every emitted event applied", out)
	}
	status, err := cli(t, "--data-dir", data, "job", "status", "sync", "-o", "json")
	if err != nil || !strings.Contains(status, `"status": "succeeded"`) || !strings.Contains(status, `"applied": `+m[2]) {
		t.Errorf("job status after run: %v\n%s", err, status)
	}
	var j assets.Job
	json.Unmarshal([]byte(status), &j)
	assetstest.Ledger(t, j)
}

// A command that only reads refuses a store directory that does not
// exist instead of creating an empty store there.
func TestReadOnlyCommandsNeedAStore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{{"job", "list"}, {"job", "status", "j"}, {"partitions"}} {
		_, err := cli(t, append([]string{"--data-dir", missing}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "no embedded store in "+missing) {
			t.Errorf("%v on a missing store: %v; want an error naming %s", args, err, missing)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("read-only commands created %s", missing)
	}
}
