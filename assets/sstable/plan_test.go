package sstable_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

// TestPlanOfFixtureSnapshots sizes real snapshots: their bytes are the
// uncompressed lengths Cassandra recorded, a split holds SplitBytes, and
// each SSTable costs a reader two windows and two chunks.
func TestPlanOfFixtureSnapshots(t *testing.T) {
	for _, f := range loadFixtures(t, "nb", "oa", "da") {
		t.Run(f.name, func(t *testing.T) {
			s, err := sstable.OpenSnapshot(f.dir)
			must(t, err)
			p := sstable.Plan(s, sstable.Budget{SplitBytes: 100, Cores: 4, Memory: 1 << 30})
			L := f.want.UncompressedLength
			if p.Bytes != L || p.Splits != int((L+99)/100) || p.Parallel != 1 {
				t.Errorf("%s; want %d bytes, %d splits, 1 parallel", p, L, (L+99)/100)
			}
			if want := int64(2<<19 + 2*s.Tables[0].Compression.ChunkLength); p.ReaderBytes != want {
				t.Errorf("reader bytes %d, want %d", p.ReaderBytes, want)
			}
			var out bytes.Buffer
			must(t, s.WriteInfo(&out))
			if want := fmt.Sprintf("%s\n", sstable.Plan(s, sstable.Budget{})); !strings.HasSuffix(out.String(), want) {
				t.Errorf("info does not end with the plan %q:\n%s", want, out.String())
			}
			if !strings.Contains(out.String(), "plan: 1 split, 1 parallel (1 split: ") {
				t.Errorf("info's plan: %s", out.String())
			}
			if auto, one := jsonRows(t, s, sstable.ReadOptions{}), jsonRows(t, s, sstable.ReadOptions{Parallel: 1}); !reflect.DeepEqual(auto, one) || len(one) == 0 {
				t.Errorf("planned read: %d rows, differing from --parallel 1's %d", len(auto), len(one))
			}
		})
	}
}
