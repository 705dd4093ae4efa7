// Package config assembles the binary's configuration from defaults, a YAML
// file, REPROCESS_* environment variables and command-line flags, in rising
// order of precedence. It is the only package that uses viper; every other
// package owns a typed Config with its own Validate.
//
// Every key has a default, so every key can be set from the environment:
// store.cassandra.hosts is REPROCESS_STORE_CASSANDRA_HOSTS (lists are
// comma-separated). An unknown key in the file, an unknown REPROCESS_*
// variable or a value of the wrong type is an error naming the key.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/events/kafka"
)

// Config is the whole configuration.
type Config struct {
	Store  Store         `mapstructure:"store"`
	Layout assets.Layout `mapstructure:"layout"`
	Kafka  kafka.Config  `mapstructure:"kafka"`
	// Elasticsearch is where the elasticsearch source queries.
	Elasticsearch elastic.Config `mapstructure:"elasticsearch"`
	// Backup is where SSTable snapshots are read from: the backup source
	// and `reprocess sstable`.
	Backup backup.Config `mapstructure:"backup"`
	// Iceberg is the catalog `reprocess sstable export --format iceberg`
	// writes to.
	Iceberg iceberg.Catalog `mapstructure:"iceberg"`
	Log     Log             `mapstructure:"log"`
	Metrics Metrics         `mapstructure:"metrics"`
	Serve   Serve           `mapstructure:"serve"`
}

// Serve configures `reprocess serve`.
type Serve struct {
	Addr  string `mapstructure:"addr"`  // listen address of the API and job page
	Token string `mapstructure:"token"` // bearer token every /api/v1 request needs
	// IDsDir is the one directory whose files a job posted to the API may
	// name as source.file; empty: the API reads no files.
	IDsDir string `mapstructure:"ids_dir"`
	// ExportDir is the one directory an export job posted to the API may
	// write under (transform.dir, a SQLite catalog); empty: none.
	ExportDir string `mapstructure:"export_dir"`
}

// Metrics configures the HTTP endpoint of scan and worker processes.
type Metrics struct {
	// Addr serves /metrics, /healthz and /readyz (e.g. ":9464"); empty: off.
	Addr string `mapstructure:"addr"`
}

// Store picks and configures the asset store.
type Store struct {
	Backend   string           `mapstructure:"backend"` // embedded or cassandra
	Embedded  embedded.Config  `mapstructure:"embedded"`
	Cassandra cassandra.Config `mapstructure:"cassandra"`
}

// Log configures the process log.
type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text or json
}

// Default is the configuration with nothing set: the embedded store under
// .reprocess/data and the in-process Kafka broker.
func Default() Config {
	return Config{
		Store: Store{
			Backend:   "embedded",
			Embedded:  embedded.Config{Dir: ".reprocess/data", Sync: true},
			Cassandra: cassandra.DefaultConfig,
		},
		Layout:        assets.DefaultLayout,
		Kafka:         kafka.DefaultConfig,
		Elasticsearch: elastic.DefaultConfig,
		Backup:        backup.Config{CacheDir: ".reprocess/backups"},
		Log:           Log{Level: "info", Format: "text"},
		Serve:         Serve{Addr: "127.0.0.1:8080"},
	}
}

// EnvPrefix starts every environment variable the configuration reads.
const EnvPrefix = "REPROCESS_"

// envExempt are REPROCESS_* variables that are not settings.
var envExempt = []string{"REPROCESS_CONFIG", "REPROCESS_SERVICES_HOME", "REPROCESS_TEST_"}

// flagKeys maps the common command-line flags onto keys.
var flagKeys = map[string]string{
	"store":           "store.backend",
	"data-dir":        "store.embedded.dir",
	"cassandra-hosts": "store.cassandra.hosts",
	"keyspace":        "store.cassandra.keyspace",
	"kafka-brokers":   "kafka.brokers",
	"log-level":       "log.level",
	"metrics-addr":    "metrics.addr",
}

// AddFlags registers the configuration flags on fs.
func AddFlags(fs *pflag.FlagSet) {
	fs.StringP("config", "c", "", "YAML configuration file (also REPROCESS_CONFIG)")
	fs.String("store", "", "asset store: embedded or cassandra (store.backend)")
	fs.String("data-dir", "", "embedded store directory (store.embedded.dir)")
	fs.StringSlice("cassandra-hosts", nil, "Cassandra contact points, host:port (store.cassandra.hosts)")
	fs.String("keyspace", "", "Cassandra keyspace (store.cassandra.keyspace)")
	fs.StringSlice("kafka-brokers", nil, "Kafka seed brokers; none runs an in-process broker (kafka.brokers)")
	fs.String("log-level", "", "debug, info, warn or error (log.level)")
	fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz on this address, e.g. :9464 (metrics.addr)")
	fs.StringArray("set", nil, "set any key, e.g. --set layout.shards=16 (repeatable)")
}

// Load reads the configuration: defaults, then the file named by --config
// or REPROCESS_CONFIG (if any), then the environment, then flags from fs
// (which may be nil).
func Load(fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	leaves := map[string]any{}
	flatten("", reflect.ValueOf(Default()), leaves)
	keys := make([]string, 0, len(leaves))
	for k, d := range leaves {
		v.SetDefault(k, d)
		if err := v.BindEnv(k, EnvPrefix+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))); err != nil {
			return Config{}, err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if err := checkEnv(keys); err != nil {
		return Config{}, err
	}

	path := os.Getenv("REPROCESS_CONFIG")
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if fs != nil {
		for name, key := range flagKeys {
			if f := fs.Lookup(name); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return Config{}, err
				}
			}
		}
		if sets, err := fs.GetStringArray("set"); err == nil {
			for _, kv := range sets {
				key, val, ok := strings.Cut(kv, "=")
				if !ok {
					return Config{}, fmt.Errorf("--set %q: want key=value", kv)
				}
				if _, known := leaves[key]; !known {
					return Config{}, fmt.Errorf("--set %s: no such key (see `reprocess config print`)", key)
				}
				v.Set(key, val)
			}
		}
	}

	var c Config
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		where := "configuration"
		if path != "" {
			where = "config file " + path
		}
		return Config{}, fmt.Errorf("%s: %w%s", where, err, badValues(err, v, leaves))
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var quotedKey = regexp.MustCompile(`'([a-z0-9_.]+)'`)

// badValues lists the values of the keys a decode error names, which the
// decoder's own message leaves out.
func badValues(err error, v *viper.Viper, leaves map[string]any) string {
	var b strings.Builder
	for _, m := range quotedKey.FindAllStringSubmatch(err.Error(), -1) {
		if _, ok := leaves[m[1]]; ok {
			fmt.Fprintf(&b, "\n  %s = %q", m[1], fmt.Sprint(v.Get(m[1])))
		}
	}
	return b.String()
}

// checkEnv rejects REPROCESS_* variables that name no key.
func checkEnv(keys []string) error {
	known := map[string]bool{}
	for _, k := range keys {
		known[EnvPrefix+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = true
	}
	var errs []error
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] ||
			slices.ContainsFunc(envExempt, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		errs = append(errs, fmt.Errorf("environment variable %s: no such setting (see `reprocess config print` for the keys)", name))
	}
	return errors.Join(errs...)
}

// flatten records every leaf of a config struct under its dotted key.
func flatten(prefix string, v reflect.Value, out map[string]any) {
	t := v.Type()
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			flatten(key, f, out)
			continue
		}
		out[key] = f.Interface()
	}
}

// Validate reports every bad setting at once, each with its key.
func (c Config) Validate() error {
	var errs []error
	switch c.Store.Backend {
	case "embedded":
		errs = append(errs, c.Store.Embedded.Validate())
	case "cassandra":
		errs = append(errs, c.Store.Cassandra.Validate())
	default:
		errs = append(errs, fmt.Errorf("store.backend: want embedded or cassandra, got %q", c.Store.Backend))
	}
	errs = append(errs, c.Layout.Validate(), c.Kafka.Validate(), c.Elasticsearch.Validate())
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
		errs = append(errs, fmt.Errorf("log.level: want debug, info, warn or error, got %q", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: want text or json, got %q", c.Log.Format))
	}
	return errors.Join(errs...)
}

// ProcessKafka is the Kafka configuration of a process that holds the
// embedded store: with no brokers, the in-process broker keeps its data in
// the store's directory, <dir>/broker (fsynced as the store is), so its
// topics and offsets (dead letters among them) outlive the process. Only
// the store's holder may start it: one process at a time.
func (c Config) ProcessKafka() kafka.Config {
	k := c.Kafka
	if c.Store.Backend == "embedded" {
		k.DataDir, k.SyncWrites = filepath.Join(c.Store.Embedded.Dir, "broker"), c.Store.Embedded.Sync
	}
	return k
}

// Redacted returns c with every secret replaced.
func (c Config) Redacted() Config {
	hide := func(s *string) {
		if *s != "" {
			*s = "REDACTED"
		}
	}
	hide(&c.Store.Cassandra.Password)
	hide(&c.Kafka.Password)
	hide(&c.Elasticsearch.Password)
	hide(&c.Backup.S3.SecretKey)
	hide(&c.Iceberg.Token)
	hide(&c.Iceberg.S3.SecretKey)
	hide(&c.Serve.Token)
	return c
}

// Map returns c as nested maps keyed like the file, durations as text:
// what `reprocess config print` shows.
func (c Config) Map() map[string]any {
	leaves := map[string]any{}
	flatten("", reflect.ValueOf(c), leaves)
	root := map[string]any{}
	for key, val := range leaves {
		if d, ok := val.(time.Duration); ok {
			val = d.String()
		}
		parts := strings.Split(key, ".")
		m := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = val
	}
	return root
}

// Logger builds the process logger.
func (c Config) Logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Log.Level)) // validated by Load
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
