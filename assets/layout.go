package assets

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Layout says how assets are spread over paging partitions. It must be the
// same for every process that reads or writes one store.
type Layout struct {
	// BucketWidth is the span of creation time one partition covers.
	BucketWidth time.Duration `mapstructure:"bucket_width"`
	// Shards splits every (type, bucket) into this many partitions.
	Shards int `mapstructure:"shards"`
}

// DefaultLayout is one-day buckets split over eight shards.
var DefaultLayout = Layout{BucketWidth: 24 * time.Hour, Shards: 8}

// ErrLayoutMismatch is returned when a store was written with another
// layout than the one a process is configured with: reading it so would
// miss assets.
var ErrLayoutMismatch = errors.New("assets: layout differs from the store's")

// String is the layout as a store records it.
func (l Layout) String() string {
	return fmt.Sprintf("bucket_width=%s shards=%d", l.BucketWidth, l.Shards)
}

// Check compares l with the layout a store recorded.
func (l Layout) Check(recorded string) error {
	if recorded == l.String() {
		return nil
	}
	return fmt.Errorf("%w: the store is laid out %s, this process %s: set layout.bucket_width and layout.shards to the store's (every process on one store must agree)",
		ErrLayoutMismatch, recorded, l)
}

// Validate reports every bad setting, each with its key.
func (l Layout) Validate() error {
	var errs []error
	if l.BucketWidth < time.Minute {
		errs = append(errs, fmt.Errorf("layout.bucket_width: want at least 1m, got %s", l.BucketWidth))
	}
	if l.Shards < 1 || l.Shards > 1024 {
		errs = append(errs, fmt.Errorf("layout.shards: want 1 to 1024, got %d", l.Shards))
	}
	return errors.Join(errs...)
}

// Partition names one paging partition: a (type, time bucket, shard).
type Partition struct {
	Type   string    `json:"asset_type"`
	Bucket time.Time `json:"time_bucket"` // start of the bucket, UTC
	Shard  int       `json:"shard"`
}

// String is a stable, readable name, used as a checkpoint task key.
func (p Partition) String() string {
	return fmt.Sprintf("%s/%s/%d", p.Type, p.Bucket.UTC().Format(time.RFC3339), p.Shard)
}

// ParsePartition reads a partition back from its String form.
func ParsePartition(s string) (Partition, error) {
	i := strings.LastIndexByte(s, '/')
	j := -1
	if i > 0 {
		j = strings.LastIndexByte(s[:i], '/')
	}
	if j <= 0 {
		return Partition{}, fmt.Errorf("partition %q: want type/bucket/shard", s)
	}
	bucket, err := time.Parse(time.RFC3339, s[j+1:i])
	if err != nil {
		return Partition{}, fmt.Errorf("partition %q: bucket: %w", s, err)
	}
	shard, err := strconv.Atoi(s[i+1:])
	if err != nil || shard < 0 {
		return Partition{}, fmt.Errorf("partition %q: shard %q is not a number", s, s[i+1:])
	}
	return Partition{Type: s[:j], Bucket: bucket.UTC(), Shard: shard}, nil
}

// Bucket returns the start of the bucket that holds creation time t.
func (l Layout) Bucket(t time.Time) time.Time {
	w := l.BucketWidth.Nanoseconds()
	n := t.UnixNano()
	start := n - n%w
	if n%w < 0 {
		start -= w
	}
	return time.Unix(0, start).UTC()
}

// Shard returns the shard of id: the 64-bit FNV-1a hash of its bytes, high
// half folded into the low half (FNV's low bits alone depend only on the
// inputs' low bits), modulo Shards. It is part of the stored layout: never
// change it.
func (l Layout) Shard(id ID) int {
	h := fnv.New64a()
	h.Write(id[:])
	sum := h.Sum64()
	return int((sum ^ sum>>32) % uint64(l.Shards))
}

// PartitionOf returns the partition that indexes a.
func (l Layout) PartitionOf(a Asset) Partition {
	return Partition{Type: a.Type, Bucket: l.Bucket(a.CreatedAt), Shard: l.Shard(a.ID)}
}

// Partitions lists every partition of the given types whose bucket overlaps
// [from, to), in type, bucket, shard order.
func (l Layout) Partitions(types []string, from, to time.Time) []Partition {
	var ps []Partition
	for _, typ := range types {
		for b := l.Bucket(from); b.Before(to); b = b.Add(l.BucketWidth) {
			for s := 0; s < l.Shards; s++ {
				ps = append(ps, Partition{Type: typ, Bucket: b, Shard: s})
			}
		}
	}
	return ps
}

// TableSize is what a store reports of its paging index's partitions
// (Cassandra: system.size_estimates, over flushed data, and
// system_views.max_partition_size, to the MiB).
type TableSize struct {
	Partitions int64 `json:"partitions"` // estimated
	MeanBytes  int64 `json:"mean_partition_bytes"`
	MaxBytes   int64 `json:"max_partition_bytes"`
}
