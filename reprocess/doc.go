// Package reprocess is the pipeline's story; its sub-packages are the
// hops. Read this first, then the folders in the order an asset id
// travels through them.
//
// # A job enters
//
// A job spec (reprocess/job) says what to scan, which assets to keep (a
// CEL filter, reprocess/expr), which transform version to apply and how
// fast. The CLI (cmd/reprocess) and the HTTP API (reprocess/api) read a
// spec, check all of it, and hand it to reprocess/run, the one place a job
// is assembled: its source, filter, rate limiter and lag gate
// (reprocess/throttle), its emitter, its heartbeat and its lifecycle
// record (reprocess/control: pending, running, paused, succeeded, failed,
// cancelled).
//
// # The scan finds ids
//
// reprocess/scan splits the job into tasks and walks each from its
// checkpoint in batches: the (asset type, time bucket, shard) partitions of
// the store paged by timeuuid (assets, with assets/cassandra and
// assets/embedded behind one contract), an Elasticsearch query
// (assets/elastic), an id list, or a Cassandra snapshot read from its
// SSTable files (assets/backup fetches it, assets/sstable reads it). Each
// batch waits for the throttle, is filtered, and is emitted; only once the
// emitter accepted every event is the batch's position checkpointed, so a
// killed scan resumes and emits at most the batches in flight twice.
//
// # Kafka carries one event per id
//
// The emitter is events/kafka's publisher: one events.Reprocess per asset
// id, keyed by the id, in a JSON envelope with CloudEvents headers (events
// holds the envelope and its JSON Schema, for other teams' consumers too).
// In sync mode the emitter is the processor itself and Kafka carries only
// dead letters.
//
// # A worker applies the transform
//
// reprocess/worker is a member of the transform version's consumer group.
// Each message passes a chain of handlers: counted, dead-lettered if it
// fails for good, decoded, kept if it is this worker's transform, retried
// while it may pass on a retry, and applied by reprocess/apply: read the
// asset, skip it if the transform is already at this version, run the
// transform (reprocess/transform: Go, CEL, or stock reindex, export to the
// lake through assets/lake, delete), and write only the cells it owns in
// one write, conditional on the asset's version when the transform reads
// what production may change, with a digest of the metadata it read; it
// reads the asset again after the write and re-applies while that digest
// is stale, and a job ends with a verification pass (reprocess/verify)
// that re-applies any fact still derived from changed metadata. Dead
// letters can be listed and replayed (reprocess/dlq) from the CLI, the
// API and the job page.
//
// # What watches
//
// Every store request is timed once (assets/instrument); that measurement
// feeds the metrics and, by default, the adaptive throttle, which can
// instead watch production's own latency (Cassandra's system_views, or a
// timed probe query: assets/cassandra). The throttle's rate is recorded in
// the store every second and every processor paces the job's events at its
// share of it (reprocess/throttle's Pacer). Scans, workers and the API
// serve Prometheus metrics; deployments/ holds the dashboard and alerts.
package reprocess
