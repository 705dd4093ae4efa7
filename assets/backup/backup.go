// Package backup is where snapshots of a Cassandra table are fetched from
// and opened: local snapshot directories as they are, s3://bucket/prefix
// URLs copied into a local cache first (an interrupted fetch resumes), all
// opened as one merged sstable.Snapshot. It also reads the rows of the
// assets table as assets.
package backup

import (
	"context"
	"log/slog"

	"github.com/reprocess/reprocess/assets/sstable"
)

// Config is the backup section of the configuration.
type Config struct {
	CacheDir string `mapstructure:"cache_dir"` // s3:// snapshots are fetched under it
	S3       S3     `mapstructure:"s3"`
}

// Open opens the snapshot in locations (one per replica, merged): local
// directories as they are, s3:// ones fetched into cfg.CacheDir first.
func Open(ctx context.Context, cfg Config, locations []string, log *slog.Logger) (*sstable.Snapshot, error) {
	dirs := make([]string, len(locations))
	for i, loc := range locations {
		dirs[i] = loc
		if !IsRemote(loc) {
			continue
		}
		log.Info("fetching snapshot", "from", loc, "cache", cfg.CacheDir)
		dir, err := cfg.S3.Fetch(ctx, loc, cfg.CacheDir)
		if err != nil {
			return nil, err
		}
		dirs[i] = dir
	}
	return sstable.OpenSnapshot(dirs...)
}
