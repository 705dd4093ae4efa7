package sstable_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

// FuzzPartitions decodes mangled data streams with a real table's header:
// any input may fail, none may panic, and every failure is ErrCorrupt.
func FuzzPartitions(f *testing.F) {
	root := "../../../shared/fixtures/cassandra-sstables"
	if d := os.Getenv("REPROCESS_TEST_SSTABLE_FIXTURES"); d != "" {
		root = d
	}
	var tables []*sstable.Table
	for _, dir := range []string{"nb/legacy_nb_clust", "mc/negative_local_expiration_table3", "oa/legacy_oa_simple_counter", "nb/invalid_range_tombstone_reader"} {
		data, _ := filepath.Glob(filepath.Join(root, dir, "*-Data.db"))
		if len(data) != 1 {
			f.Fatalf("fixture %s not found under %s", dir, root)
		}
		tab, err := sstable.Open(data[0])
		if err != nil {
			f.Fatal(err)
		}
		stream, err := tab.Data()
		if err != nil {
			f.Fatal(err)
		}
		tables = append(tables, tab)
		f.Add(uint8(len(tables)-1), stream[:min(len(stream), 4096)])
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		tab := tables[int(which)%len(tables)]
		err := tab.Partitions(data, func(sstable.Partition) error { return nil })
		if err != nil && !errors.Is(err, sstable.ErrCorrupt) {
			t.Fatalf("error not marked corrupt: %v", err)
		}
	})
}
