package config_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/config"
)

// clearEnv unsets REPROCESS_* settings for one test (t.Setenv restores them).
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, config.EnvPrefix) && !strings.HasPrefix(name, "REPROCESS_TEST_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func load(t *testing.T, args ...string) (config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return config.Load(fs)
}

func TestDefaults(t *testing.T) {
	clearEnv(t)
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Backend != "embedded" || len(c.Kafka.Brokers) != 0 || c.Layout.Shards != 8 {
		t.Errorf("defaults: backend %q, brokers %v, shards %d; want embedded, none, 8", c.Store.Backend, c.Kafka.Brokers, c.Layout.Shards)
	}
}

func TestGoodFile(t *testing.T) {
	clearEnv(t)
	c, err := load(t, "--config", "testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Store.Cassandra
	if cc.Keyspace != "media" || len(cc.Hosts) != 2 || cc.Timeout != 3*time.Second || cc.Password != "hunter2" {
		t.Errorf("cassandra = %+v", cc)
	}
	if cc.ConnectTimeout != 5*time.Second {
		t.Errorf("an unset key lost its default: connect_timeout = %s", cc.ConnectTimeout)
	}
	if c.Layout.BucketWidth != 6*time.Hour || c.Kafka.Partitions != 48 || c.Log.Format != "json" {
		t.Errorf("layout %+v, kafka partitions %d, log %+v", c.Layout, c.Kafka.Partitions, c.Log)
	}
}

func TestPrecedence(t *testing.T) {
	clearEnv(t)
	t.Setenv("REPROCESS_LAYOUT_SHARDS", "32")
	t.Setenv("REPROCESS_STORE_CASSANDRA_HOSTS", "a:9042,b:9042")
	t.Setenv("REPROCESS_KAFKA_PARTITIONS", "7")
	c, err := load(t, "--config", "testdata/full.good.yaml", "--keyspace", "fromflag", "--set", "kafka.partitions=9")
	if err != nil {
		t.Fatal(err)
	}
	if c.Layout.Shards != 32 {
		t.Errorf("env over file: shards = %d, want 32", c.Layout.Shards)
	}
	if got := strings.Join(c.Store.Cassandra.Hosts, ","); got != "a:9042,b:9042" {
		t.Errorf("env list: hosts = %s", got)
	}
	if c.Store.Cassandra.Keyspace != "fromflag" {
		t.Errorf("flag over file: keyspace = %s", c.Store.Cassandra.Keyspace)
	}
	if c.Kafka.Partitions != 9 {
		t.Errorf("--set over env: partitions = %d, want 9", c.Kafka.Partitions)
	}
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"unknown-key.bad.yaml", []string{"hostz"}},
		{"bad-type.bad.yaml", []string{"layout.shards", "many"}},
		{"bad-duration.bad.yaml", []string{"timeout", "soon"}},
		{"bad-values.bad.yaml", []string{"store.cassandra.keyspace", "store.cassandra.consistency", "layout.shards", "kafka.partitions", "log.level"}},
		{"bad-backend.bad.yaml", []string{"store.backend", "postgres"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			clearEnv(t)
			_, err := load(t, "--config", filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestBadEnvAndFlags(t *testing.T) {
	clearEnv(t)
	t.Setenv("REPROCESS_STORE_BACKEN", "cassandra")
	if _, err := load(t); err == nil || !strings.Contains(err.Error(), "REPROCESS_STORE_BACKEN") {
		t.Errorf("misspelt env var: got %v", err)
	}
	clearEnv(t)
	t.Setenv("REPROCESS_LAYOUT_SHARDS", "lots")
	if _, err := load(t); err == nil || !strings.Contains(err.Error(), "layout.shards") {
		t.Errorf("bad env value: got %v", err)
	}
	clearEnv(t)
	if _, err := load(t, "--set", "layout.shardz=3"); err == nil || !strings.Contains(err.Error(), "layout.shardz") {
		t.Errorf("unknown --set key: got %v", err)
	}
	if _, err := load(t, "--config", "testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: got %v", err)
	}
}

func TestRedactedMap(t *testing.T) {
	clearEnv(t)
	c, err := load(t, "--config", "testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Redacted().Map()
	cass := m["store"].(map[string]any)["cassandra"].(map[string]any)
	if cass["password"] != "REDACTED" || cass["username"] != "reprocess" {
		t.Errorf("password %v, username %v; want REDACTED, reprocess", cass["password"], cass["username"])
	}
	if cass["timeout"] != "3s" {
		t.Errorf("durations print as text: timeout = %v", cass["timeout"])
	}
	if c.Store.Cassandra.Password != "hunter2" {
		t.Error("Redacted changed the original")
	}
}

// TestBackupKeys sets every backup key: they fill backup.Config, and the
// S3 secret is redacted.
func TestBackupKeys(t *testing.T) {
	clearEnv(t)
	c, err := load(t, "--set", "backup.cache_dir=/cache", "--set", "backup.s3.endpoint=minio:9000", "--set", "backup.s3.region=eu",
		"--set", "backup.s3.access_key=ak", "--set", "backup.s3.secret_key=shh", "--set", "backup.s3.insecure=true")
	if err != nil {
		t.Fatal(err)
	}
	want := backup.Config{CacheDir: "/cache", S3: backup.S3{Endpoint: "minio:9000", Region: "eu", AccessKey: "ak", SecretKey: "shh", Insecure: true}}
	if c.Backup != want {
		t.Errorf("backup %+v, want %+v", c.Backup, want)
	}
	s3 := c.Redacted().Map()["backup"].(map[string]any)["s3"].(map[string]any)
	if s3["secret_key"] != "REDACTED" || s3["access_key"] != "ak" {
		t.Errorf("backup.s3 prints as %v: want the secret key REDACTED, the rest as set", s3)
	}
}

// TestIcebergKeys sets every iceberg key: they fill iceberg.Catalog, and
// the token is redacted.
func TestIcebergKeys(t *testing.T) {
	clearEnv(t)
	t.Setenv("REPROCESS_ICEBERG_TOKEN", "shh")
	c, err := load(t, "--set", "iceberg.catalog=https://cat:8181", "--set", "iceberg.warehouse=s3://lake/wh",
		"--set", "iceberg.s3.endpoint=minio:9000", "--set", "iceberg.s3.secret_key=psst")
	if err != nil {
		t.Fatal(err)
	}
	want := iceberg.Catalog{URI: "https://cat:8181", Token: "shh", Warehouse: "s3://lake/wh", S3: backup.S3{Endpoint: "minio:9000", SecretKey: "psst"}}
	if c.Iceberg != want {
		t.Errorf("iceberg %+v, want %+v", c.Iceberg, want)
	}
	m := c.Redacted().Map()["iceberg"].(map[string]any)
	if m["token"] != "REDACTED" || m["s3"].(map[string]any)["secret_key"] != "REDACTED" || m["catalog"] != "https://cat:8181" {
		t.Errorf("iceberg prints as %v: want the token and S3 secret REDACTED, the rest as set", m)
	}
}

// TestServicesEnvIsAccepted loads the configuration with every variable
// `deployments/local/services env` prints set, as a developer's shell has
// them after eval: none may be mistaken for an unknown setting.
func TestServicesEnvIsAccepted(t *testing.T) {
	out, err := exec.Command("../deployments/local/services", "env").Output()
	if err != nil {
		t.Fatalf("services env: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, value, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(name, config.EnvPrefix) {
			continue
		}
		t.Setenv(name, value)
		n++
	}
	if n < 5 {
		t.Fatalf("services env printed %d REPROCESS_ variables:\n%s", n, out)
	}
	if _, err := config.Load(nil); err != nil {
		t.Errorf("with the services' environment: %v", err)
	}
}
