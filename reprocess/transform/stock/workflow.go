package stock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events/kafka"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Workflow triggers a workflow for each asset its job selects: it sends
// one CloudEvent (structured JSON mode) to a Kafka topic, keyed by the
// asset id, or posts it to an HTTP endpoint, and returns once the event
// is acknowledged. The transforms[workflow] marker makes a re-run a
// no-op; an event redelivered before its marker was written is sent
// again with the same CloudEvents id (EventID), on which consumers
// deduplicate. It does not read production for its decision: a later
// change of metadata does not trigger the workflow again.
type Workflow struct {
	version int
	spec    job.Workflow
	source  string
	send    func(ctx context.Context, key string, event []byte) error
	close   func()
}

// CloudEvent is what Workflow sends (CloudEvents 1.0, structured mode).
type CloudEvent struct {
	SpecVersion     string       `json:"specversion"`
	ID              string       `json:"id"`
	Source          string       `json:"source"`
	Type            string       `json:"type"`
	Subject         string       `json:"subject"`
	DataContentType string       `json:"datacontenttype"`
	Data            WorkflowData `json:"data"`
}

// WorkflowData is a workflow event's data.
type WorkflowData struct {
	Workflow     string            `json:"workflow"`
	Version      int               `json:"version"` // the transform's
	AssetID      string            `json:"asset_id"`
	AssetType    string            `json:"asset_type"`
	AssetVersion int64             `json:"asset_version"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// cloudEventsJSON is the content type of a structured CloudEvent.
const cloudEventsJSON = "application/cloudevents+json; charset=utf-8"

// EventID is the CloudEvents id of the event triggering workflow (at
// transform version) for asset: a name-based UUID, the same on every
// delivery.
func EventID(asset assets.ID, workflow string, version int) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "reprocess:workflow:%s/%s/%d", asset, workflow, version)).String()
}

func newWorkflow(ctx context.Context, kc *kafka.Cluster, version int, jobName string, spec job.Workflow) (*Workflow, error) {
	w := &Workflow{version: version, spec: spec, source: spec.Source, close: func() {}}
	if w.source == "" {
		w.source = "/reprocess/" + jobName
	}
	if spec.URL != "" {
		client := &http.Client{Timeout: 30 * time.Second}
		w.send = func(ctx context.Context, _ string, event []byte) error {
			return postEvent(ctx, client, spec.URL, event)
		}
		return w, nil
	}
	if kc == nil {
		return nil, errors.New("workflow: no Kafka configured for workflow.topic")
	}
	if err := kc.EnsureTopic(ctx, spec.Topic); err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	cl, err := kc.NewClient(kgo.DefaultProduceTopic(spec.Topic))
	if err != nil {
		return nil, err
	}
	w.close = cl.Close
	w.send = func(ctx context.Context, key string, event []byte) error {
		rec := &kgo.Record{Key: []byte(key), Value: event, Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(cloudEventsJSON)}}}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return fmt.Errorf("publish to %s: %w", spec.Topic, err)
		}
		return nil
	}
	return w, nil
}

func (w *Workflow) Name() string { return "workflow" }
func (w *Workflow) Version() int { return w.version }

// Apply sends a's event and returns once it is acknowledged.
func (w *Workflow) Apply(ctx context.Context, a assets.Asset) (transform.Result, error) {
	data := WorkflowData{Workflow: w.spec.Name, Version: w.version, AssetID: a.ID.String(), AssetType: a.Type, AssetVersion: a.Version, Metadata: a.Metadata}
	if len(w.spec.Fields) > 0 {
		data.Metadata = map[string]string{}
		for _, k := range w.spec.Fields {
			if v, ok := a.Metadata[k]; ok {
				data.Metadata[k] = v
			}
		}
	}
	event, err := json.Marshal(CloudEvent{SpecVersion: "1.0", ID: EventID(a.ID, w.spec.Name, w.version), Source: w.source,
		Type: "reprocess.workflow." + w.spec.Name, Subject: a.ID.String(), DataContentType: "application/json", Data: data})
	if err != nil {
		return transform.Result{}, err
	}
	if err := w.send(ctx, a.ID.String(), event); err != nil {
		return transform.Result{}, fmt.Errorf("workflow %s: %w", w.spec.Name, err)
	}
	return transform.Result{}, nil
}

// postEvent posts event: 2xx is done, 408, 429 and 5xx may pass on a
// retry, any other answer is a rejection.
func postEvent(ctx context.Context, client *http.Client, url string, event []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
	if err != nil {
		return transform.Permanent(err)
	}
	req.Header.Set("Content-Type", cloudEventsJSON)
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<12))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case retryStatus(res.StatusCode):
		return fmt.Errorf("post to %s: %s: %s", url, res.Status, excerpt(body))
	}
	return transform.Permanent(fmt.Errorf("post to %s: rejected: %s: %s", url, res.Status, excerpt(body)))
}

// Close closes the Kafka client.
func (w *Workflow) Close() error {
	w.close()
	return nil
}
