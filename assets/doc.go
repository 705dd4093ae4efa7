// Package assets is the domain of the pipeline: what an asset is, how asset
// ids order and partition, and the Store every backend implements.
//
// An asset id is a version-1 (time-based) UUID, a Cassandra timeuuid. Ids
// order as Cassandra's TimeUUIDType orders them: by embedded timestamp, then
// by the remaining eight bytes compared as signed bytes (Compare).
//
// Assets are found for reprocessing through a paging index partitioned by
// (type, time bucket, shard): the bucket is the creation time truncated to a
// configured width, the shard spreads one hot (type, bucket) over several
// partitions (Layout). Inside a partition ids are kept newest first, and a
// page is "the next N ids below the last one seen", so the whole resume
// position of a partition walk is one id.
//
// Writes are field-scoped: Update sets only the map entries it names (facts,
// transform versions, metadata fields) and never rewrites a whole row, so
// concurrent writers to different fields never lose each other's work. Every
// write changes Version; UpdateIf applies only when Version is still the one
// the caller read, which is how a transform that read production fields
// guards against a concurrent production write.
//
// Backends live in sub-packages: assets/cassandra (gocql) and
// assets/embedded (Pebble). assets/assetstest holds the contract suite both
// pass.
package assets
