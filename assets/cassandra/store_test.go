package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/cassandra"
	"github.com/reprocess/reprocess/assets/synth"
)

// testConfig points at the real Cassandra started by deployments/local/services.
func testConfig(t testing.TB) cassandra.Config {
	cfg := cassandra.DefaultConfig
	cfg.Hosts = need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra")
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

// PutAll, which seeding uses, writes each asset and its paging index row
// as Put does.
func TestPutAllWritesWhatPutDoes(t *testing.T) {
	layout := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 2}
	s := assetstest.Cassandra(t, "reprocess_putall_test", layout)
	suffix := fmt.Sprintf("_%08x", rand.Uint32())
	end := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	gen := synth.NewGenerator(synth.Config{Span: 3 * 24 * time.Hour, End: end, Seed: 5})
	var as []assets.Asset
	for range 250 {
		a := gen.Next()
		a.Type += suffix
		as = append(as, a)
	}
	ctx := context.Background()
	if err := s.PutAll(ctx, as); err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		got, err := s.Get(ctx, a.ID)
		if err != nil {
			t.Fatalf("get %s after PutAll: %v", a.ID, err)
		}
		if got.Type != a.Type || !got.CreatedAt.Equal(a.CreatedAt.Truncate(time.Millisecond)) || !maps.Equal(got.Metadata, a.Metadata) {
			t.Errorf("PutAll wrote %+v, read back %+v", a, got)
		}
	}
	var types []string
	for _, typ := range synth.TypeNames() {
		types = append(types, typ+suffix)
	}
	counts, err := assets.Count(ctx, s, layout.Partitions(types, end.Add(-3*24*time.Hour), end), 100, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += c.Count
	}
	if n != len(as) {
		t.Errorf("the paging index holds %d of the %d assets PutAll wrote", n, len(as))
	}
}
