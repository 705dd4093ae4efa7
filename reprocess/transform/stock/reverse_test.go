package stock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
)

const reverseSpec = `name: by-owner
source: {kind: ids, ids: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]}
transform: {name: reverse_index, version: 1, reverse_index: {field: owner}}
`

// A reverse index on the real Cassandra: its table is created if missing
// (building it twice is harmless), each asset is found under its owner,
// an asset without one is nowhere, a redelivery changes nothing, and an
// asset whose owner changed moves to the new value's partition.
func TestReverseIndexOnRealCassandra(t *testing.T) {
	store := assetstest.Cassandra(t, "reprocess_stock_reverse_test", assets.DefaultLayout)
	ctx := context.Background()
	j, err := job.Read([]byte(reverseSpec))
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Store: store}
	tr, err := b.Build(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(j); err != nil {
		t.Fatalf("a second build, the table existing: %v", err)
	}
	run := fmt.Sprintf("%08x", rand.Uint32()) // this run's owners: the table outlives runs
	as := someAssets(31)
	want := map[string][]assets.ID{}
	for i := range as {
		as[i].Metadata = map[string]string{"owner": fmt.Sprintf("o-%s-%d", run, i%3)}
		if i == 30 {
			as[i].Metadata = nil // no owner: no row
		} else {
			want[as[i].Metadata["owner"]] = append(want[as[i].Metadata["owner"]], as[i].ID)
		}
		if err := store.Put(ctx, as[i]); err != nil {
			t.Fatal(err)
		}
	}
	h := &apply.Handler{Store: store, Transforms: resolver{tr}}
	handleAll := func(want apply.Outcome) {
		t.Helper()
		for _, a := range as {
			out, err := h.Handle(ctx, events.Reprocess{JobID: "by-owner", AssetID: a.ID, Transform: "reverse_index", Version: 1})
			if err != nil || out != want {
				t.Fatalf("asset %s: %s, %v; want %s", a.ID, out, err, want)
			}
		}
	}
	handleAll(apply.Applied)
	handleAll(apply.Skipped) // redelivered
	checkIndex(t, store, want)

	// Production moves asset 0 to another owner: a re-application moves
	// its row.
	moved, to := as[0].ID, "o-"+run+"-new"
	if err := store.Update(ctx, moved, assets.Update{Metadata: map[string]string{"owner": to}}); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Handle(ctx, events.Reprocess{JobID: "by-owner", AssetID: moved, Transform: "reverse_index", Version: 1}); err != nil || out != apply.Applied {
		t.Fatalf("the moved asset: %s, %v; want applied again", out, err)
	}
	from := as[0].Metadata["owner"]
	want[from] = slices.DeleteFunc(want[from], func(id assets.ID) bool { return id == moved })
	want[to] = []assets.ID{moved}
	checkIndex(t, store, want)
}

// checkIndex asserts each value's partition holds exactly its ids.
func checkIndex(t *testing.T, ri assets.ReverseIndexer, want map[string][]assets.ID) {
	t.Helper()
	for value, ids := range want {
		got, err := ri.Lookup(context.Background(), "assets_by_owner", value, 1000)
		if err != nil {
			t.Fatal(err)
		}
		sortIDs := func(s []assets.ID) []string {
			out := make([]string, len(s))
			for i, id := range s {
				out[i] = id.String()
			}
			slices.Sort(out)
			return out
		}
		if g, w := sortIDs(got), sortIDs(ids); !slices.Equal(g, w) {
			t.Errorf("assets_by_owner[%s] = %v; want %v", value, g, w)
		}
	}
}

// The embedded store keeps no reverse index: the transform is refused,
// saying what it needs.
func TestReverseIndexRefusedOnTheEmbeddedStore(t *testing.T) {
	j, err := job.Read([]byte(reverseSpec))
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Store: assetstest.Embedded(t, assets.DefaultLayout)}
	if _, err := b.Build(j); !errors.Is(err, ErrNoReverseIndex) {
		t.Errorf("built on the embedded store: %v; want ErrNoReverseIndex", err)
	}
}
