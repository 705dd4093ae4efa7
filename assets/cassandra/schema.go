package cassandra

import (
	"context"
	"fmt"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// schema is applied in order; every statement is idempotent. %[1]s is the
// keyspace, %[2]s its replication map.
var schema = []string{
	`CREATE KEYSPACE IF NOT EXISTS %[1]s WITH replication = %[2]s`,
	`CREATE TABLE IF NOT EXISTS %[1]s.assets (
		asset_id   timeuuid PRIMARY KEY,
		asset_type text,
		created_at timestamp,
		metadata   map<text, text>,
		facts      map<text, text>,
		transforms map<text, int>,
		version    bigint)`,
	`CREATE TABLE IF NOT EXISTS %[1]s.assets_by_type_bucket (
		asset_type  text,
		time_bucket timestamp,
		shard       int,
		asset_id    timeuuid,
		PRIMARY KEY ((asset_type, time_bucket, shard), asset_id)
	) WITH CLUSTERING ORDER BY (asset_id DESC)`,
	`CREATE TABLE IF NOT EXISTS %[1]s.asset_types (
		asset_type text PRIMARY KEY)`,
	`CREATE TABLE IF NOT EXISTS %[1]s.jobs (
		job_id     text PRIMARY KEY,
		spec       text,
		status     text,
		counters   map<text, bigint>,
		error      text,
		created_at timestamp,
		started_at timestamp,
		ended_at   timestamp,
		updated_at timestamp)`,
	`CREATE TABLE IF NOT EXISTS %[1]s.job_counters (
		job_id text,
		name   text,
		value  counter,
		PRIMARY KEY (job_id, name))`,
	`CREATE TABLE IF NOT EXISTS %[1]s.settings (
		name  text PRIMARY KEY,
		value text)`,
	`CREATE TABLE IF NOT EXISTS %[1]s.job_throttle (
		job_id     text PRIMARY KEY,
		rate       double,
		signal_us  bigint,
		target_us  bigint,
		baseline_us bigint,
		reason     text,
		updated_at timestamp)`,
	`CREATE TABLE IF NOT EXISTS %[1]s.job_runs (
		job_id     text,
		run        int,
		owner      text,
		status     text,
		counters   map<text, bigint>,
		started_at timestamp,
		ended_at   timestamp,
		PRIMARY KEY (job_id, run))`,
	`CREATE TABLE IF NOT EXISTS %[1]s.job_rate_limit (
		job_id     text PRIMARY KEY,
		rate       double,
		updated_at timestamp)`,
	`CREATE TABLE IF NOT EXISTS %[1]s.checkpoints (
		job_id     text,
		task       text,
		position   text,
		done       boolean,
		updated_at timestamp,
		PRIMARY KEY (job_id, task))`,
}

// Schema returns the CQL statements that create the keyspace and tables.
func Schema(keyspace, replication string) []string {
	out := make([]string, len(schema))
	for i, s := range schema {
		out[i] = fmt.Sprintf(s, keyspace, replication)
	}
	return out
}

// ApplySchema creates the keyspace and tables where missing. It connects
// without a keyspace, so it works on an empty cluster.
func ApplySchema(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ks := cfg.Keyspace
	cfg.Keyspace = ""
	sess, err := connect(cfg)
	if err != nil {
		return err
	}
	defer sess.Close()
	return applySchema(ctx, sess, ks, cfg.Replication)
}

func applySchema(ctx context.Context, sess *gocql.Session, keyspace, replication string) error {
	for _, stmt := range Schema(keyspace, replication) {
		if err := sess.Query(stmt).ExecContext(ctx); err != nil {
			return fmt.Errorf("apply schema of keyspace %s: %w", keyspace, classify(err))
		}
	}
	return nil
}
