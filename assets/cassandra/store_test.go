package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/cassandra"
)

// testConfig points at the real Cassandra started by deployments/local/services.
func testConfig(t testing.TB) cassandra.Config {
	cfg := cassandra.DefaultConfig
	cfg.Hosts = assetstest.RealService(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra")
	cfg.Keyspace = "reprocess_test"
	cfg.Consistency = "ONE"
	return cfg
}

// TestContract holds both ways Update may write (plain, and through a
// lightweight transaction) to the contract.
func TestContract(t *testing.T) {
	for _, lwt := range []bool{false, true} {
		t.Run(fmt.Sprintf("lwt_updates=%t", lwt), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.LWTUpdates = lwt
			layout := assets.Layout{BucketWidth: assets.DefaultLayout.BucketWidth, Shards: 4}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := cassandra.Open(ctx, cfg, layout)
			if err != nil {
				t.Fatalf("open the real Cassandra at %v: %v", cfg.Hosts, err)
			}
			defer s.Close()
			t.Logf("contract suite against real Cassandra at %v, keyspace %s", cfg.Hosts, cfg.Keyspace)
			assetstest.Run(t, assetstest.Config{
				Store:  s,
				Layout: layout,
				Unreachable: func(ctx context.Context) error {
					bad := cfg
					bad.Hosts, bad.ConnectTimeout = []string{"127.0.0.1:1"}, 2*time.Second
					s, err := cassandra.Open(ctx, bad, layout)
					if err == nil {
						s.Close()
					}
					return err
				},
				Target: "127.0.0.1:1",
			})
		})
	}
}

func TestOpenWithoutSchemaSaysHowToFix(t *testing.T) {
	cfg := testConfig(t)
	cfg.Keyspace = "reprocess_no_such_keyspace"
	cfg.ApplySchema = false
	s, err := cassandra.Open(context.Background(), cfg, assets.DefaultLayout)
	if err == nil {
		s.Close()
		t.Fatal("Open of a missing keyspace without apply_schema succeeded")
	}
	for _, want := range []string{cfg.Keyspace, "reprocess schema apply"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// A keyspace remembers the layout it was first opened with; opening it
// with another is an error naming both, since paging it so misses assets.
func TestLayoutIsRecorded(t *testing.T) {
	cfg := testConfig(t)
	cfg.Keyspace = "reprocess_layout_test" // recorded with 4 shards, run after run
	ctx := context.Background()
	four := assets.Layout{BucketWidth: time.Hour, Shards: 4}
	s, err := cassandra.Open(ctx, cfg, four)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again, err := cassandra.Open(ctx, cfg, four); err != nil {
		t.Errorf("reopen with the same layout: %v", err)
	} else {
		again.Close()
	}
	_, err = cassandra.Open(ctx, cfg, assets.Layout{BucketWidth: time.Hour, Shards: 8})
	if !errors.Is(err, assets.ErrLayoutMismatch) || !strings.Contains(err.Error(), "shards=4") || !strings.Contains(err.Error(), "shards=8") {
		t.Errorf("open with 8 shards a keyspace written with 4: %v; want ErrLayoutMismatch naming both", err)
	}
}
