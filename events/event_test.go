package events_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/events"
)

func sample() events.Reprocess {
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	return events.Reprocess{
		JobID: "job-1", AssetID: assets.NewID(at), AssetType: "image", Bucket: at.Truncate(24 * time.Hour),
		Transform: "resolution_class", Version: 2, Attempt: 1, EmittedAt: at.Add(time.Hour),
	}
}

func TestEncodeDecode(t *testing.T) {
	e := sample()
	m, err := events.Encode(e, "reprocess/scan")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != e.AssetID.String() {
		t.Errorf("key = %s, want the asset id", m.Key)
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	for k, want := range map[string]string{"ce_id": e.ID(), "ce_type": events.TypeReprocess, "ce_source": "reprocess/scan", "ce_specversion": "1.0", "content-type": "application/json"} {
		if headers[k] != want {
			t.Errorf("header %s = %q, want %q", k, headers[k], want)
		}
	}
	got, err := events.Decode(m.Value)
	if err != nil {
		t.Fatal(err)
	}
	e.SchemaVersion = events.SchemaVersion
	if got != e {
		t.Errorf("Decode(Encode(e)) = %+v, want %+v", got, e)
	}
}

func TestDecodeRejects(t *testing.T) {
	id := sample().AssetID.String()
	for _, tc := range []struct {
		name, value string
		want        error
		mention     string
	}{
		{"unknown major", `{"schema_version":"2.0","job_id":"j","asset_id":"` + id + `","transform":"t","version":1,"attempt":1}`, events.ErrUnsupportedVersion, "2.0"},
		{"not json", `{"schema_version":`, events.ErrMalformed, ""},
		{"no version", `{"job_id":"j","asset_id":"` + id + `","transform":"t","version":1,"attempt":1}`, events.ErrMalformed, "schema_version"},
		{"bad asset id", `{"schema_version":"1.0","job_id":"j","asset_id":"nope","transform":"t","version":1,"attempt":1}`, events.ErrMalformed, "nope"},
		{"missing transform", `{"schema_version":"1.0","job_id":"j","asset_id":"` + id + `","version":1,"attempt":1}`, events.ErrMalformed, "transform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.Decode([]byte(tc.value))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("Decode: got %v, want %v mentioning %q", err, tc.want, tc.mention)
			}
		})
	}
	// A newer minor version with fields this decoder does not know still decodes.
	v := `{"schema_version":"1.7","job_id":"j","asset_id":"` + id + `","transform":"t","version":1,"attempt":1,"priority":"high"}`
	if _, err := events.Decode([]byte(v)); err != nil {
		t.Errorf("Decode of a newer minor version: %v", err)
	}
}

func TestEncodedEventsMatchTheJSONSchema(t *testing.T) {
	raw, err := os.ReadFile("schema/reprocess-event.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("reprocess-event.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("reprocess-event.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	e := sample()
	m, err := events.Encode(e, "test")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(m.Value))
	if err := schema.Validate(v); err != nil {
		t.Errorf("an encoded event fails the schema: %v", err)
	}
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"schema_version":"2.0","job_id":"j"}`))
	if err := schema.Validate(bad); err == nil {
		t.Error("the schema accepts a 2.0 envelope without required fields")
	}
}

func TestEncodeRejectsIncompleteEvents(t *testing.T) {
	e := sample()
	e.Version = 0
	if _, err := events.Encode(e, "x"); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("Encode with version 0: %v", err)
	}
}
