// Package kafka is the franz-go transport for events: clients built from
// configuration, topics created when missing, and an in-process
// Kafka-protocol broker (kfake) for running with no Kafka at all.
package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/reprocess/reprocess/events"
)

// Config configures the Kafka connection and topics. Keys are under kafka.
type Config struct {
	// Brokers are seed brokers; empty runs an in-process broker.
	Brokers []string `mapstructure:"brokers"`
	// Topic carries one event per asset id.
	Topic string `mapstructure:"topic"`
	// DLQTopic receives events that failed for good.
	DLQTopic string `mapstructure:"dlq_topic"`
	// TasksTopic carries scan tasks to the scanner group.
	TasksTopic string `mapstructure:"tasks_topic"`
	// Partitions and ReplicationFactor apply when a topic is created.
	Partitions        int    `mapstructure:"partitions"`
	ReplicationFactor int    `mapstructure:"replication_factor"`
	ClientID          string `mapstructure:"client_id"`
	Username          string `mapstructure:"username"` // SASL/PLAIN when set
	Password          string `mapstructure:"password"`
	// DataDir keeps the in-process broker's topics, committed offsets and
	// groups, so they outlive the process: the next in-process broker on
	// it has them. Empty keeps them in memory. One process at a time may
	// use it: the process holding the embedded store it lies in. A batch
	// the broker acknowledges is written there first (to the OS), so it
	// survives the process being killed.
	DataDir string `mapstructure:"-"`
	// SyncWrites also fsyncs each batch written to DataDir before it is
	// acknowledged, so it survives the machine stopping.
	SyncWrites bool `mapstructure:"-"`
}

// DefaultConfig uses the in-process broker.
var DefaultConfig = Config{
	Topic:             "reprocess.assets",
	DLQTopic:          "reprocess.assets.dlq",
	TasksTopic:        "reprocess.tasks",
	Partitions:        12,
	ReplicationFactor: 1,
	ClientID:          "reprocess",
}

// Validate reports every bad setting, each with its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("kafka."+key+": "+format, args...))
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad("brokers", "%q: want host:port", b)
		}
	}
	if c.Topic == "" {
		bad("topic", "must be set")
	}
	if c.DLQTopic == "" || c.DLQTopic == c.Topic {
		bad("dlq_topic", "must be set and differ from kafka.topic, got %q", c.DLQTopic)
	}
	if c.TasksTopic == "" || c.TasksTopic == c.Topic || c.TasksTopic == c.DLQTopic {
		bad("tasks_topic", "must be set and differ from the other topics, got %q", c.TasksTopic)
	}
	if c.Partitions < 1 {
		bad("partitions", "want >= 1, got %d", c.Partitions)
	}
	if c.ReplicationFactor < 1 {
		bad("replication_factor", "want >= 1, got %d", c.ReplicationFactor)
	}
	if (c.Username == "") != (c.Password == "") {
		bad("username", "username and password go together")
	}
	return errors.Join(errs...)
}

// Cluster is where clients connect: the configured brokers, or an
// in-process broker that Close shuts down.
type Cluster struct {
	cfg  Config
	fake *kfake.Cluster
	log  *slog.Logger

	mu    sync.Mutex
	admin *kgo.Client // shared by the periodic lag reads
}

// Start returns the configured cluster, starting an in-process broker on
// loopback when cfg.Brokers is empty, kept in cfg.DataDir if it is set.
func Start(cfg Config, log *slog.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: log}
	if len(cfg.Brokers) == 0 {
		opts := []kfake.Opt{kfake.NumBrokers(1)}
		if cfg.DataDir != "" {
			opts = append(opts, kfake.DataDir(cfg.DataDir))
		}
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
		fake, err := kfake.NewCluster(opts...)
		if err != nil {
			return nil, fmt.Errorf("start in-process kafka (data dir %q): %w", cfg.DataDir, err)
		}
		c.fake = fake
		c.cfg.Brokers = fake.ListenAddrs()
		log.Info("started in-process kafka", "brokers", c.cfg.Brokers, "data_dir", cfg.DataDir)
	}
	return c, nil
}

// Brokers are the seed brokers clients use.
func (c *Cluster) Brokers() []string { return c.cfg.Brokers }

// InProcess reports whether the cluster is the in-process broker.
func (c *Cluster) InProcess() bool { return c.fake != nil }

// Ephemeral reports whether the cluster's records end with this process:
// an in-process broker with no DataDir.
func (c *Cluster) Ephemeral() bool { return c.fake != nil && c.cfg.DataDir == "" }

// Close closes the shared admin client and stops the in-process broker,
// if any.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	c.mu.Unlock()
	if c.fake != nil {
		c.fake.Close()
		c.fake = nil
	}
}

// adminClient returns the client lag reads share, made on first use.
func (c *Cluster) adminClient() (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		cl, err := c.NewClient()
		if err != nil {
			return nil, err
		}
		c.admin = cl
	}
	return c.admin, nil
}

// NewClient returns a franz-go client for the cluster with the options
// every reprocess client shares, plus opts.
func (c *Cluster) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ClientID(c.cfg.ClientID),
		kgo.WithLogger(kgoLogger{kslog.New(c.log)}),
	}
	if c.cfg.Username != "" {
		base = append(base, kgo.SASL(plain.Auth{User: c.cfg.Username, Pass: c.cfg.Password}.AsMechanism()))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", strings.Join(c.cfg.Brokers, ","), err)
	}
	return cl, nil
}

// Ping checks that a broker answers a metadata request.
func (c *Cluster) Ping(ctx context.Context) error {
	cl, err := c.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	brokers, err := kadm.NewClient(cl).ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("kafka at %s does not answer: %w", strings.Join(c.cfg.Brokers, ","), err)
	}
	if len(brokers) == 0 {
		return fmt.Errorf("kafka at %s lists no brokers", strings.Join(c.cfg.Brokers, ","))
	}
	return nil
}

// EnsureTopics creates the event, DLQ and scan-task topics where missing, with the
// configured partitions and replication factor. Existing topics are left
// as they are.
func (c *Cluster) EnsureTopics(ctx context.Context) error {
	cl, err := c.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var resp kadm.CreateTopicResponses
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) { // a broker starting is waited for
		resp, err = adm.CreateTopics(ctx, int32(c.cfg.Partitions), int16(c.cfg.ReplicationFactor), nil, c.cfg.Topic, c.cfg.DLQTopic, c.cfg.TasksTopic)
		if err == nil || !Transient(err) || ctx.Err() != nil {
			break
		}
		c.log.Warn("waiting for kafka: not reachable yet; retrying", "brokers", c.cfg.Brokers, "retry_in", wait, "error", err)
		pause(ctx, wait)
	}
	if err != nil {
		return fmt.Errorf("create topics %s, %s, %s: %w", c.cfg.Topic, c.cfg.DLQTopic, c.cfg.TasksTopic, err)
	}
	for _, r := range resp.Sorted() {
		switch {
		case r.Err == nil:
			c.log.Info("created topic", "topic", r.Topic, "partitions", c.cfg.Partitions, "replication_factor", c.cfg.ReplicationFactor)
		case errors.Is(r.Err, kerr.TopicAlreadyExists):
		default:
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// EnsureTopic creates topic, with the configured partitions and
// replication factor, unless it exists.
func (c *Cluster) EnsureTopic(ctx context.Context, topic string) error {
	cl, err := c.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(c.cfg.Partitions), int16(c.cfg.ReplicationFactor), nil, topic)
	if err == nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// kgoLogger keeps franz-go's chatty info messages (connections, producer
// ids, metrics subscriptions) for debug runs.
type kgoLogger struct{ *kslog.Logger }

func (l kgoLogger) Level() kgo.LogLevel {
	if lvl := l.Logger.Level(); lvl == kgo.LogLevelDebug {
		return kgo.LogLevelInfo
	} else {
		return min(lvl, kgo.LogLevelWarn)
	}
}

// PublishTasks puts scan tasks on the tasks topic and returns once Kafka
// has them all.
func (c *Cluster) PublishTasks(ctx context.Context, tasks []events.ScanTask) error {
	cl, err := c.NewClient(kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(tasks))
	for i, t := range tasks {
		v, err := json.Marshal(t)
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{Topic: c.cfg.TasksTopic, Key: t.Key(), Value: v}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("publish %d scan tasks to %s: %w", len(tasks), c.cfg.TasksTopic, err)
	}
	return nil
}

// TasksTopic is the scan-task topic.
func (c *Cluster) TasksTopic() string { return c.cfg.TasksTopic }

// Topic is the events topic.
func (c *Cluster) Topic() string { return c.cfg.Topic }

// DLQTopic is the dead-letter topic.
func (c *Cluster) DLQTopic() string { return c.cfg.DLQTopic }
