package cassandra

import (
	"context"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// A reverse index table is created when missing, creating it again is a
// no-op, its rows are upserts, and a bad table name is refused before it
// reaches a statement. (An internal test: it drops its table afterwards.)
func TestReverseIndexTable(t *testing.T) {
	cfg := DefaultConfig
	cfg.Hosts, cfg.Keyspace, cfg.Consistency, cfg.ApplySchema = need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra"), "reprocess_reverse_test", "ONE", true
	ctx := context.Background()
	s, err := Open(ctx, cfg, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	table := fmt.Sprintf("assets_by_t%08x", rand.Uint32())
	defer s.query(`DROP TABLE IF EXISTS {ks}.` + table).Exec()
	for range 2 {
		if err := s.EnsureReverseIndex(ctx, table); err != nil {
			t.Fatal(err)
		}
	}
	a, b := assets.NewID(time.Now()), assets.NewID(time.Now())
	for _, id := range []assets.ID{a, b, a} {
		if err := s.IndexValue(ctx, table, "v", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UnindexValue(ctx, table, "v", b); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.Lookup(ctx, table, "v", 10); err != nil || len(ids) != 1 || ids[0] != a {
		t.Errorf("lookup: %v, %v; want [%s]", ids, err, a)
	}
	if err := s.EnsureReverseIndex(ctx, "assets; DROP TABLE x"); err == nil || !strings.Contains(err.Error(), "lower-case") {
		t.Errorf("a bad table name: %v; want it refused", err)
	}
}
