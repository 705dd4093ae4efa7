package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reprocess/reprocess/assets"
)

// SchemaVersion is the envelope version this package writes.
const SchemaVersion = "1.0"

// supportedMajor is the only major version Decode accepts.
const supportedMajor = 1

// CloudEvents attributes written as headers.
const (
	TypeReprocess = "dev.reprocess.asset.reprocess.v1"
	SpecVersion   = "1.0"
	ContentType   = "application/json"
)

// ErrUnsupportedVersion is returned for an envelope of an unknown major version.
var ErrUnsupportedVersion = errors.New("events: unsupported schema version")

// ErrMalformed is returned for a record that is not a valid envelope.
var ErrMalformed = errors.New("events: malformed event")

// Reprocess asks a processor to apply one transform version to one asset.
type Reprocess struct {
	SchemaVersion string    `json:"schema_version"`
	JobID         string    `json:"job_id"`
	AssetID       assets.ID `json:"asset_id"`
	AssetType     string    `json:"asset_type,omitempty"`
	Bucket        time.Time `json:"time_bucket,omitzero"`
	Transform     string    `json:"transform"`
	Version       int       `json:"version"`
	Attempt       int       `json:"attempt"` // 1 for the first delivery; replays count up
	EmittedAt     time.Time `json:"emitted_at"`
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is an encoded event: what goes into a Kafka record. A message
// read from Kafka also says where it was read (Topic is "" for one that
// never was, such as an event applied in sync mode).
type Message struct {
	Key     []byte
	Value   []byte
	Headers []Header

	Topic     string
	Partition int32
	Offset    int64
}

// Header returns the value of the header key ("" when absent).
func (m Message) Header(key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Origin is where the message was read, topic/partition@offset, or
// "sync" for one that was never on Kafka.
func (m Message) Origin() string {
	if m.Topic == "" {
		return "sync"
	}
	return fmt.Sprintf("%s/%d@%d", m.Topic, m.Partition, m.Offset)
}

// ID is the event's CloudEvents id: unique per job, asset, transform
// version and attempt, so a consumer can drop exact duplicates.
func (e Reprocess) ID() string {
	return fmt.Sprintf("%s/%s/%s/v%d/%d", e.JobID, e.AssetID, e.Transform, e.Version, e.Attempt)
}

// Validate checks the fields every event must have.
func (e Reprocess) Validate() error {
	var errs []error
	if e.JobID == "" {
		errs = append(errs, errors.New("job_id is empty"))
	}
	if e.AssetID.IsZero() {
		errs = append(errs, errors.New("asset_id is empty"))
	}
	if e.Transform == "" {
		errs = append(errs, errors.New("transform is empty"))
	}
	if e.Version < 1 {
		errs = append(errs, fmt.Errorf("version %d: want >= 1", e.Version))
	}
	if e.Attempt < 1 {
		errs = append(errs, fmt.Errorf("attempt %d: want >= 1", e.Attempt))
	}
	return errors.Join(errs...)
}

// Encode returns the record for e: key = asset id, JSON value, CloudEvents
// headers. source names the emitter (e.g. "reprocess/scan").
func Encode(e Reprocess, source string) (Message, error) {
	if e.SchemaVersion == "" {
		e.SchemaVersion = SchemaVersion
	}
	if err := e.Validate(); err != nil {
		return Message{}, fmt.Errorf("encode event for asset %s: %w", e.AssetID, err)
	}
	v, err := json.Marshal(e)
	if err != nil {
		return Message{}, fmt.Errorf("encode event for asset %s: %w", e.AssetID, err)
	}
	return Message{
		Key:   []byte(e.AssetID.String()),
		Value: v,
		Headers: []Header{
			{"ce_id", []byte(e.ID())},
			{"ce_type", []byte(TypeReprocess)},
			{"ce_source", []byte(source)},
			{"ce_specversion", []byte(SpecVersion)},
			{"ce_time", []byte(e.EmittedAt.UTC().Format(time.RFC3339Nano))},
			{"content-type", []byte(ContentType)},
		},
	}, nil
}

// Decode parses a record value. It rejects unknown major versions
// (ErrUnsupportedVersion) and values that are not envelopes (ErrMalformed);
// unknown fields of a known major version are ignored.
func Decode(value []byte) (Reprocess, error) {
	var e Reprocess
	if err := json.Unmarshal(value, &e); err != nil {
		return e, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	major, err := majorOf(e.SchemaVersion)
	if err != nil {
		return e, fmt.Errorf("%w: schema_version %q: %w", ErrMalformed, e.SchemaVersion, err)
	}
	if major != supportedMajor {
		return e, fmt.Errorf("%w: schema_version %s (this decoder reads %d.x)", ErrUnsupportedVersion, e.SchemaVersion, supportedMajor)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return e, nil
}

func majorOf(v string) (int, error) {
	major, _, _ := strings.Cut(v, ".")
	return strconv.Atoi(major)
}

// Group is the consumer group that applies a transform's major version:
// renaming a group re-reads its topic from scratch, so the name changes
// only with the transform.
func Group(transform string, version int) string {
	return fmt.Sprintf("reprocess.%s.v%d", transform, version)
}

// ScanTask asks a scanner-group member to walk one task of a job. It is
// the value of a record on the tasks topic, keyed by Key.
type ScanTask struct {
	JobID string `json:"job_id"`
	Task  string `json:"task"`
}

// Key spreads a job's tasks over the topic's partitions.
func (t ScanTask) Key() []byte { return []byte(t.JobID + "/" + t.Task) }

// DecodeTask parses a tasks-topic record value.
func DecodeTask(value []byte) (ScanTask, error) {
	var t ScanTask
	if err := json.Unmarshal(value, &t); err != nil {
		return t, fmt.Errorf("%w: scan task: %w", ErrMalformed, err)
	}
	if t.JobID == "" || t.Task == "" {
		return t, fmt.Errorf("%w: scan task without job_id or task", ErrMalformed)
	}
	return t, nil
}
