package scan_test

import (
	"context"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"path/filepath"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// TestBackupSplitsAreSizedUnlessPinned reads a fixture snapshot of five
// partitions (336,016 bytes): with no splits, its tasks are the plan's
// splits of SplitBytes each; pinned splits are kept.
func TestBackupSplitsAreSizedUnlessPinned(t *testing.T) {
	snap, err := sstable.OpenSnapshot(filepath.Join(need.Fixtures(t), "nb", "legacy_nb_clust"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		splits     int
		splitBytes int64
		want       int
	}{
		{"auto, default split size", 0, 0, 1},
		{"auto, 100 KiB splits", 0, 100 << 10, 4},
		{"auto, 200 KiB splits", 0, 200 << 10, 2},
		{"pinned", 3, 100 << 10, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &scan.Backup{Snapshot: snap, Splits: c.splits, SplitBytes: c.splitBytes}
			tasks, err := b.Tasks(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(tasks) != c.want {
				t.Errorf("%d tasks %v, want %d", len(tasks), tasks, c.want)
			}
		})
	}
}
