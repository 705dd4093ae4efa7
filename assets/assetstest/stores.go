package assetstest

import (
	"context"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/assets/embedded"
)

// Embedded opens an embedded store in a fresh temporary directory, closed
// when the test ends.
func Embedded(t testing.TB, layout assets.Layout) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(embedded.Config{Dir: t.TempDir()}, layout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Cassandra opens keyspace on the real Cassandra (see need.Service for when
// that skips or fails), applying the schema, at consistency ONE; closed
// when the test ends.
func Cassandra(t testing.TB, keyspace string, layout assets.Layout) *cassandra.Store {
	t.Helper()
	cfg := cassandra.DefaultConfig
	cfg.Hosts = need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra")
	cfg.Keyspace, cfg.Consistency = keyspace, "ONE"
	s, err := cassandra.Open(context.Background(), cfg, layout)
	if err != nil {
		t.Fatalf("open the real Cassandra at %v: %v", cfg.Hosts, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
