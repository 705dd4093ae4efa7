package reprocess_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/instrument"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOneAssetIDEndToEnd follows one asset id through every hop in one
// process, on the embedded store and the in-process Kafka broker: the
// scan finds it in its partition and publishes one event keyed by it; a
// worker in the transform's consumer group applies the CEL fact and
// commits the event; the store holds the fact and the transform's
// version, and the job's record says it succeeded.
func TestOneAssetIDEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	layout := assets.Layout{BucketWidth: 24 * time.Hour, Shards: 4}
	created := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	traveller := assets.Asset{ID: assets.NewID(created), Type: "image", CreatedAt: created,
		Metadata: map[string]string{"height": "2160", "width": "3840"}}
	bystander := assets.Asset{ID: assets.NewID(created.Add(-48 * time.Hour)), Type: "image", CreatedAt: created.Add(-48 * time.Hour),
		Metadata: map[string]string{"height": "720"}}
	env := newEnv(t, layout, traveller, bystander)

	j, err := job.Read([]byte(`name: e2e
source: {kind: cassandra, types: [image], created_from: 2026-03-14T00:00:00Z, created_to: 2026-03-15T00:00:00Z}
transform:
  name: resolution_class
  version: 3
  facts: {resolution_class: 'int(asset.metadata.height) >= 2160 ? "uhd" : "hd"'}
`))
	if err != nil {
		t.Fatal(err)
	}

	// The scan walks the job's partitions and publishes; a worker of the
	// transform's group, in this process, applies what it publishes.
	r, err := env.Start(ctx, j, run.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}

	// Hop 1: one event for the asset on the topic, keyed by its id.
	var got []events.Reprocess
	err = env.Kafka.ReadAll(ctx, env.Kafka.Topic(), func(m events.Message) error {
		ev, err := events.Decode(m.Value)
		if err != nil {
			return err
		}
		if string(m.Key) != ev.AssetID.String() {
			t.Errorf("event for %s keyed %q", ev.AssetID, m.Key)
		}
		got = append(got, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].AssetID != traveller.ID || got[0].JobID != "e2e" || got[0].Transform != "resolution_class" || got[0].Version != 3 {
		t.Fatalf("hop 1, scan -> kafka: events %+v; want one for %s of job e2e, resolution_class v3", got, traveller.ID)
	}

	// Hop 2: the transform's group applied it and committed it.
	lag, err := env.Kafka.Lag(ctx, events.Group("resolution_class", 3))
	if p := r.Progress(ctx); p.Outcomes[apply.Applied] != 1 || p.Handled != 1 || lag != 0 || err != nil {
		t.Fatalf("hop 2, kafka -> worker: outcomes %v, group lag %d (%v); want the one event applied and committed", p.Outcomes, lag, err)
	}

	// Hop 3: the store holds the fact, the marker, and the job's end.
	a, err := env.Store.Get(ctx, traveller.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Facts["resolution_class"] != "uhd" || a.Transforms["resolution_class"] != 3 || a.Metadata["width"] != "3840" {
		t.Errorf("hop 3, worker -> store: facts %v, transforms %v, metadata %v; want uhd at v3 beside the metadata", a.Facts, a.Transforms, a.Metadata)
	}
	if b, err := env.Store.Get(ctx, bystander.ID); err != nil || len(b.Facts) != 0 || len(b.Transforms) != 0 {
		t.Errorf("an asset outside the job's range was touched: %+v, %v", b, err)
	}
	rec, err := env.Store.Job(ctx, "e2e")
	if err != nil || rec.Status != control.Succeeded || rec.Counters["emitted"] != 1 || rec.Counters["scanned"] != 1 {
		t.Errorf("job record: %+v, %v; want succeeded with 1 scanned and emitted", rec, err)
	}
	assetstest.Ledger(t, rec)
}

// newEnv is an embedded store holding as and an in-process Kafka.
func newEnv(t *testing.T, layout assets.Layout, as ...assets.Asset) *run.Env {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := instrument.Wrap(assetstest.Embedded(t, layout), reg)
	if err != nil {
		t.Fatal(err)
	}
	assetstest.LedgersAtEnd(t, s)
	for _, a := range as {
		if err := s.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	kc, err := kafka.Start(kafka.DefaultConfig, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if err := kc.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &run.Env{Store: s, Kafka: kc, Metrics: reg, Log: log, Layout: layout}
}
