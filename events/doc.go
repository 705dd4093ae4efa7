// Package events is the wire contract between scanners and processors: one
// Kafka record per asset id, keyed by the id so every event of one asset
// lands on one partition, in order.
//
// The transport lives in events/kafka (franz-go): client construction from
// configuration, topic creation, and the in-process broker (kfake) the
// binary uses when no brokers are configured.
package events
