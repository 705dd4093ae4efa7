package cassandra

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Config configures the Cassandra store. Keys are under store.cassandra.
type Config struct {
	Hosts    []string `mapstructure:"hosts"`    // host or host:port of contact points
	Keyspace string   `mapstructure:"keyspace"` // created by ApplySchema when missing
	// Replication is the keyspace's replication map as CQL, used when the
	// schema is applied, e.g. {'class': 'NetworkTopologyStrategy', 'dc1': 3}.
	Replication       string        `mapstructure:"replication"`
	LocalDC           string        `mapstructure:"local_dc"` // prefer this datacenter's replicas
	Consistency       string        `mapstructure:"consistency"`
	SerialConsistency string        `mapstructure:"serial_consistency"`
	ConnectTimeout    time.Duration `mapstructure:"connect_timeout"`
	Timeout           time.Duration `mapstructure:"timeout"` // per request
	Retries           int           `mapstructure:"retries"` // retries of idempotent requests
	MinBackoff        time.Duration `mapstructure:"min_backoff"`
	MaxBackoff        time.Duration `mapstructure:"max_backoff"`
	Username          string        `mapstructure:"username"`
	Password          string        `mapstructure:"password"`
	// ApplySchema creates the keyspace and tables (idempotently) on Open.
	ApplySchema bool `mapstructure:"apply_schema"`
	// LWTUpdates makes Update bump version through a lightweight
	// transaction (IF version = the version read, re-read and retried on
	// a conflict): the strict contract under which a conditional write
	// never misses a metadata write (README, "Safety contract").
	LWTUpdates bool `mapstructure:"lwt_updates"`
}

// DefaultConfig is a local single node.
var DefaultConfig = Config{
	Hosts:             []string{"127.0.0.1:9042"},
	Keyspace:          "reprocess",
	Replication:       "{'class': 'SimpleStrategy', 'replication_factor': 1}",
	Consistency:       "LOCAL_QUORUM",
	SerialConsistency: "LOCAL_SERIAL",
	ConnectTimeout:    5 * time.Second,
	Timeout:           10 * time.Second,
	Retries:           3,
	MinBackoff:        100 * time.Millisecond,
	MaxBackoff:        2 * time.Second,
	ApplySchema:       true,
}

var keyspaceName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,47}$`)

// Validate reports every bad setting, each with its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("store.cassandra."+key+": "+format, args...))
	}
	if len(c.Hosts) == 0 {
		bad("hosts", "at least one contact point is required")
	}
	if !keyspaceName.MatchString(c.Keyspace) {
		bad("keyspace", "%q is not a valid keyspace name (letter, then letters, digits, _; at most 48)", c.Keyspace)
	}
	if r := strings.TrimSpace(c.Replication); !strings.HasPrefix(r, "{") || !strings.Contains(r, "'class'") {
		bad("replication", "want a CQL map with a 'class', got %q", c.Replication)
	}
	if _, err := gocql.ParseConsistencyWrapper(c.Consistency); err != nil {
		bad("consistency", "%q is not a consistency level (ONE, LOCAL_QUORUM, QUORUM, ALL, ...)", c.Consistency)
	}
	if s := strings.ToUpper(c.SerialConsistency); s != "SERIAL" && s != "LOCAL_SERIAL" {
		bad("serial_consistency", "want SERIAL or LOCAL_SERIAL, got %q", c.SerialConsistency)
	}
	if c.ConnectTimeout <= 0 {
		bad("connect_timeout", "want a positive duration, got %s", c.ConnectTimeout)
	}
	if c.Timeout <= 0 {
		bad("timeout", "want a positive duration, got %s", c.Timeout)
	}
	if c.Retries < 0 {
		bad("retries", "want >= 0, got %d", c.Retries)
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		bad("min_backoff", "want 0 < min_backoff <= max_backoff, got %s and %s", c.MinBackoff, c.MaxBackoff)
	}
	if (c.Username == "") != (c.Password == "") {
		bad("username", "username and password go together")
	}
	return errors.Join(errs...)
}
