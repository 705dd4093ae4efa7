package cassandra

import (
	"context"
	"fmt"
	"regexp"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets"
)

var _ assets.ReverseIndexer = (*Store)(nil)

// reverseTable is what a reverse index table may be named: it is spliced
// into statements.
var reverseTable = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// EnsureReverseIndex creates table in the keyspace unless it exists,
// then waits for the cluster to agree on the schema. It reads the schema
// first, so the processors of a job that all start at once rarely race to
// create one table.
func (s *Store) EnsureReverseIndex(ctx context.Context, table string) error {
	if err := checkTable(table); err != nil {
		return err
	}
	var n int
	if err := s.query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, s.ks, table).
		ScanContext(ctx, &n); err != nil {
		return fmt.Errorf("look for table %s.%s: %w", s.ks, table, classify(err))
	}
	if n == 1 {
		return nil
	}
	if err := s.query(`CREATE TABLE IF NOT EXISTS {ks}.` + table + ` (
		value    text,
		asset_id timeuuid,
		PRIMARY KEY ((value), asset_id))`).ExecContext(ctx); err != nil {
		return fmt.Errorf("create table %s.%s: %w", s.ks, table, classify(err))
	}
	if err := s.sess.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("create table %s.%s: %w", s.ks, table, classify(err))
	}
	return nil
}

func checkTable(table string) error {
	if !reverseTable.MatchString(table) {
		return fmt.Errorf("reverse index table %q: want lower-case letters, digits and '_', starting with a letter, at most 48", table)
	}
	return nil
}

// IndexValue implements assets.ReverseIndexer: an upsert.
func (s *Store) IndexValue(ctx context.Context, table, value string, id assets.ID) error {
	if err := checkTable(table); err != nil {
		return err
	}
	if err := s.query(`INSERT INTO {ks}.`+table+` (value, asset_id) VALUES (?, ?)`, value, id[:]).ExecContext(ctx); err != nil {
		return fmt.Errorf("index asset %s under %q in %s: %w", id, value, table, classify(err))
	}
	return nil
}

// UnindexValue implements assets.ReverseIndexer.
func (s *Store) UnindexValue(ctx context.Context, table, value string, id assets.ID) error {
	if err := checkTable(table); err != nil {
		return err
	}
	if err := s.query(`DELETE FROM {ks}.`+table+` WHERE value = ? AND asset_id = ?`, value, id[:]).ExecContext(ctx); err != nil {
		return fmt.Errorf("unindex asset %s under %q in %s: %w", id, value, table, classify(err))
	}
	return nil
}

// Lookup implements assets.ReverseIndexer.
func (s *Store) Lookup(ctx context.Context, table, value string, limit int) ([]assets.ID, error) {
	if err := checkTable(table); err != nil {
		return nil, err
	}
	iter := s.query(`SELECT asset_id FROM {ks}.`+table+` WHERE value = ? LIMIT ?`, value, limit).IterContext(ctx)
	var (
		ids []assets.ID
		u   gocql.UUID
	)
	for iter.Scan(&u) {
		ids = append(ids, assets.ID(u))
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("look up %q in %s: %w", value, table, classify(err))
	}
	return ids, nil
}
