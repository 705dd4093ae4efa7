package stock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

func workflowJob(t *testing.T, dest string) *job.Job {
	t.Helper()
	j, err := job.Read([]byte(`name: thumbs
source: {kind: ids, ids: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]}
transform: {name: workflow, version: 2, workflow: {name: thumbnail, fields: [title], ` + dest + `}}
`))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A workflow on the real Kafka publishes one CloudEvent per asset, keyed
// by its id, with an id derived from (asset, workflow, version); a re-run
// publishes nothing; a redelivery before the marker publishes an event
// with the same id.
func TestWorkflowOnRealKafka(t *testing.T) {
	kc := realKafka(t)
	topic := fmt.Sprintf("workflow-test-%08x", rand.Uint32())
	t.Cleanup(func() { deleteTopic(t, kc, topic) })
	store := assetstest.Embedded(t, assets.DefaultLayout)
	ctx := context.Background()
	b := &Builder{Kafka: kc}
	defer b.Close()
	tr, err := b.Build(workflowJob(t, "topic: "+topic))
	if err != nil {
		t.Fatal(err)
	}
	as := someAssets(12)
	h := &apply.Handler{Store: store, Transforms: resolver{tr}}
	for _, want := range []apply.Outcome{apply.Applied, apply.Skipped} { // then the job run again
		for _, a := range as {
			if want == apply.Applied {
				if err := store.Put(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			out, err := h.Handle(ctx, events.Reprocess{JobID: "thumbs", AssetID: a.ID, Transform: "workflow", Version: 2})
			if err != nil || out != want {
				t.Fatalf("asset %s: %s, %v; want %s", a.ID, out, err, want)
			}
		}
	}
	if _, err := tr.Apply(ctx, as[0]); err != nil { // redelivered before its marker
		t.Fatal(err)
	}
	got := map[string][]CloudEvent{}
	err = kc.ReadAll(ctx, topic, func(m events.Message) error {
		var ev CloudEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			return fmt.Errorf("record %s: %w", m.Key, err)
		}
		if ev.Subject != string(m.Key) {
			t.Errorf("event subject %s under key %s", ev.Subject, m.Key)
		}
		got[string(m.Key)] = append(got[string(m.Key)], ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		evs := got[a.ID.String()]
		if want := 1 + btoi(i == 0); len(evs) != want {
			t.Fatalf("asset %s: %d events; want %d", a.ID, len(evs), want)
		}
		for _, ev := range evs {
			checkEvent(t, ev, a)
		}
	}
}

// realKafka is the real Kafka, closed when the test ends; topics it
// creates have three partitions.
func realKafka(t *testing.T) *kafka.Cluster {
	cfg := kafka.DefaultConfig
	cfg.Brokers = need.Service(t, "REPROCESS_TEST_KAFKA_BROKERS", "real Kafka")
	cfg.Partitions = 3
	kc, err := kafka.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return kc
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkEvent(t *testing.T, ev CloudEvent, a assets.Asset) {
	t.Helper()
	want := CloudEvent{SpecVersion: "1.0", ID: EventID(a.ID, "thumbnail", 2), Source: "/reprocess/thumbs", Type: "reprocess.workflow.thumbnail",
		Subject: a.ID.String(), DataContentType: "application/json",
		Data: WorkflowData{Workflow: "thumbnail", Version: 2, AssetID: a.ID.String(), AssetType: a.Type, AssetVersion: ev.Data.AssetVersion,
			Metadata: map[string]string{"title": a.Metadata["title"]}}}
	if fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Errorf("event\n%+v\nwant\n%+v", ev, want)
	}
}

func deleteTopic(t *testing.T, kc *kafka.Cluster, topic string) {
	cl, err := kc.NewClient()
	if err != nil {
		t.Log(err)
		return
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).DeleteTopics(context.Background(), topic); err != nil {
		t.Logf("delete topic %s: %v", topic, err)
	}
}

// Ids differ by asset, workflow and version, and only by them.
func TestEventID(t *testing.T) {
	a, b := someAssets(2)[0].ID, someAssets(2)[1].ID
	ids := map[string]bool{EventID(a, "w", 1): true, EventID(b, "w", 1): true, EventID(a, "x", 1): true, EventID(a, "w", 2): true}
	again := EventID(a, "w", 1)
	if len(ids) != 4 || !ids[again] {
		t.Errorf("event ids %v: want four distinct, each stable", ids)
	}
}

// Over HTTP the event is posted as structured JSON; the endpoint's 5xx may
// pass on a retry, its 4xx rejects the asset for good.
func TestWorkflowOverHTTP(t *testing.T) {
	var mu sync.Mutex
	status, bodies := http.StatusAccepted, []string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
			t.Errorf("content type %q", ct)
		}
		var ev CloudEvent
		json.NewDecoder(r.Body).Decode(&ev)
		bodies = append(bodies, ev.ID)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	b := &Builder{}
	defer b.Close()
	tr, err := b.Build(workflowJob(t, "url: "+srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	a := someAssets(1)[0]
	for _, tc := range []struct {
		status    int
		fails     bool
		permanent bool
	}{{http.StatusAccepted, false, false}, {http.StatusServiceUnavailable, true, false}, {http.StatusBadRequest, true, true}} {
		mu.Lock()
		status = tc.status
		mu.Unlock()
		_, err := tr.Apply(context.Background(), a)
		if (err != nil) != tc.fails || errors.Is(err, transform.ErrPermanent) != tc.permanent {
			t.Errorf("endpoint answering %d: %v; want failure %t, permanent %t", tc.status, err, tc.fails, tc.permanent)
		}
	}
	if len(bodies) != 3 || bodies[0] != EventID(a.ID, "thumbnail", 2) || bodies[1] != bodies[0] {
		t.Errorf("posted ids %v; want the asset's one id each time", bodies)
	}
}
