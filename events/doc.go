// Package events is the wire contract between scanners and processors, and
// the Go decoder other teams' consumer groups import: one Kafka record per
// asset id, keyed by the id so every event of one asset lands on one
// partition, in order.
//
// A record's value is a JSON Reprocess envelope; its headers carry the
// CloudEvents binary-mode attributes (ce_id, ce_type, ce_source,
// ce_specversion) plus content-type, so consumers that only route can do it
// without parsing JSON. The JSON Schema of the envelope is
// events/schema/reprocess-event.v1.json.
//
// Compatibility: fields may be added in a minor version (1.1, 1.2, ...) and
// decoders ignore fields they do not know. A change of meaning, or a removed
// field, bumps the major version; Decode rejects a major version it does not
// know, with ErrUnsupportedVersion, rather than guess.
//
// The transport lives in events/kafka (franz-go): client construction,
// topic creation, the idempotent batched publisher, and the in-process
// broker (kfake) the binary uses when no brokers are configured.
package events
