package backup

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/reprocess/reprocess/assets/sstable"
)

// Since opens what an incremental read of a newer snapshot compares with:
// a manifest of SSTables an export wrote (a file), or an older snapshot (a
// directory or s3:// URL, opened as Open does). It returns the manifest
// and, for a snapshot, the snapshot itself, so that the partitions of its
// SSTables gone since count as changed too (see sstable.ChangedSince).
func Since(ctx context.Context, cfg Config, location string, log *slog.Logger) (sstable.Manifest, *sstable.Snapshot, error) {
	if !IsRemote(location) {
		st, err := os.Stat(location)
		if err != nil {
			return sstable.Manifest{}, nil, err
		}
		if !st.IsDir() {
			m, err := sstable.ReadManifest(location)
			return m, nil, err
		}
	}
	old, err := Open(ctx, cfg, []string{location}, log)
	if err != nil {
		return sstable.Manifest{}, nil, err
	}
	m, err := old.Manifest()
	return m, old, err
}

// Changed opens the newer snapshot's changes since location (see Since),
// for a read of s judging TTLs at asOf (zero: s's created_at, else now).
func Changed(ctx context.Context, cfg Config, s *sstable.Snapshot, location string, asOf time.Time, log *slog.Logger) (*sstable.Changes, error) {
	m, old, err := Since(ctx, cfg, location, log)
	if err != nil {
		return nil, err
	}
	c, err := s.ChangedSince(m, old, asOf)
	if err != nil {
		return nil, err
	}
	log.Info("changes since the older snapshot", "since", location, "new_sstables", len(c.New), "gone_sstables", len(c.Gone), "expiring_sstables", len(c.Expiring), "partitions", len(c.Keys))
	if len(c.Gone) > 0 && old == nil {
		log.Warn("SSTables the manifest lists are gone (compacted): a partition compaction purged is not seen from a manifest; give the older snapshot itself to see it",
			"gone", len(c.Gone))
	}
	return c, nil
}
