package sstable

import (
	"strings"
	"testing"
)

// tables makes n synthetic SSTables of bytes uncompressed bytes each,
// compressed in chunks of chunk bytes (0: uncompressed, with CRC.db).
func tables(n int, bytes int64, chunk int) []*Table {
	out := make([]*Table, n)
	for i := range out {
		t := &Table{dataSize: bytes, checksums: &checksums{chunk: 64 << 10}}
		if chunk > 0 {
			t.checksums = nil
			t.Compression = &Compression{ChunkLength: chunk, DataLength: bytes}
		}
		out[i] = t
	}
	return out
}

func TestPlan(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	cases := []struct {
		name     string
		tables   []*Table
		budget   Budget
		splits   int
		parallel int
		bound    string // what the reasons say limits parallel
	}{
		{"tiny table", tables(1, 1*MiB, 16<<10), Budget{Cores: 8, Memory: GiB}, 1, 1, "of data"},
		{"283 MB in 17 on 2 cores", tables(17, 16_647_058, 16<<10), Budget{Cores: 2, Memory: GiB}, 3, 2, "2 cores"},
		{"64 MiB splits", tables(17, 16_647_058, 16<<10), Budget{SplitBytes: 64 * MiB, Cores: 2, Memory: GiB}, 5, 2, "2 cores"},
		{"40 MB on 8 cores", tables(4, 10e6, 16<<10), Budget{Cores: 8, Memory: GiB}, 1, 3, "of data"},
		{"10 GiB on 16 cores", tables(4, 10*GiB/4, 64<<10), Budget{Cores: 16, Memory: GiB}, 80, 16, "16 cores"},
		{"1000 SSTables, 1 GiB", tables(1000, 160*MiB, 16<<10), Budget{Cores: 16, Memory: GiB}, 1250, 1, "memory budget"},
		{"1000 SSTables, 4 GiB", tables(1000, 160*MiB, 16<<10), Budget{Cores: 16, Memory: 4 * GiB}, 1250, 3, "memory budget"},
		{"uncompressed", tables(2, 300*MiB, 0), Budget{Cores: 4, Memory: 2 * MiB}, 5, 1, "memory budget"},
		{"splits capped", tables(1, MaxSplits*DefaultSplitBytes+1, 64<<10), Budget{Cores: 1, Memory: GiB}, MaxSplits, 1, "1 parallel: 1 core"},
		{"empty table", tables(1, 0, 16<<10), Budget{Cores: 4, Memory: GiB}, 1, 1, "of data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Plan(&Snapshot{Tables: c.tables}, c.budget)
			if p.Splits != c.splits || p.Parallel != c.parallel {
				t.Errorf("got %d splits, %d parallel; want %d, %d (%s)", p.Splits, p.Parallel, c.splits, c.parallel, p)
			}
			if len(p.Reasons) != 2 || !strings.Contains(p.Reasons[1], c.bound) {
				t.Errorf("reasons %q: want parallel bound by %q", p.Reasons, c.bound)
			}
		})
	}
}

func TestPlanDefaults(t *testing.T) {
	b := Budget{}.withDefaults()
	if b.SplitBytes != DefaultSplitBytes || b.Cores < 1 || b.Memory <= 0 {
		t.Errorf("defaults %+v", b)
	}
	pinned := Budget{SplitBytes: 1, Cores: 3, Memory: 7}
	if got := pinned.withDefaults(); got != pinned {
		t.Errorf("pinned %+v became %+v", pinned, got)
	}
}
