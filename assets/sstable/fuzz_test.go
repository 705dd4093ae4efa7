package sstable_test

import (
	"encoding/binary"
	"errors"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

// FuzzPartitions decodes mangled data streams with a real table's header:
// any input may fail, none may panic, and every failure is ErrCorrupt.
func FuzzPartitions(f *testing.F) {
	root := need.Fixtures(f)
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

// fuzzCopy copies a fixture directory to dir and returns the copy's
// Data.db path.
func fuzzCopy(f testing.TB, fixture, dir string) string {
	src := filepath.Join(need.Fixtures(f), fixture)
	entries, err := os.ReadDir(src)
	if err != nil {
		f.Fatal(err)
	}
	data := ""
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			f.Fatal(err)
		}
		if strings.HasSuffix(e.Name(), "-Data.db") {
			data = filepath.Join(dir, e.Name())
		}
	}
	return data
}

// FuzzChunk reads mangled chunks: with mode < 5 the input is the stored
// bytes of the one chunk of a table compressed with codecs[mode], under a
// valid checksum, so the decompressor sees it; otherwise the input is a
// whole mangled Data.db of a table of 21 chunks. Any read may fail, none
// may panic, every failure is ErrCorrupt, and a success has the length
// CompressionInfo gives.
func FuzzChunk(f *testing.F) {
	one := fuzzCopy(f, "nb/legacy_nb_simple", f.TempDir())
	many := fuzzCopy(f, "nb/legacy_nb_clust", f.TempDir())
	ciPath := strings.TrimSuffix(one, "Data.db") + "CompressionInfo.db"
	ci, err := os.ReadFile(ciPath)
	if err != nil {
		f.Fatal(err)
	}
	rest := ci[2+int(binary.BigEndian.Uint16(ci)):]
	tab, err := sstable.Open(one)
	if err != nil {
		f.Fatal(err)
	}
	stream, err := tab.Data()
	if err != nil {
		f.Fatal(err)
	}
	for i, c := range codecs {
		stored, err := c.enc(stream)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), stored)
	}
	whole, err := os.ReadFile(many)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(len(codecs)), whole)
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		path := many
		if int(mode) < len(codecs) {
			path = one
			class := codecs[mode].class
			info := binary.BigEndian.AppendUint16(nil, uint16(len(class)))
			info = append(append(info, class...), rest...)
			if err := os.WriteFile(ciPath, info, 0o644); err != nil {
				t.Fatal(err)
			}
			data = binary.BigEndian.AppendUint32(slices.Clone(data), crc32.ChecksumIEEE(data))
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tab, err := sstable.Open(path)
		if err != nil {
			if !errors.Is(err, sstable.ErrCorrupt) {
				t.Fatalf("Open: error not marked corrupt: %v", err)
			}
			return
		}
		got, err := tab.Data()
		if err != nil && !errors.Is(err, sstable.ErrCorrupt) {
			t.Fatalf("error not marked corrupt: %v", err)
		}
		if err == nil && int64(len(got)) != tab.DataLength() {
			t.Fatalf("%d bytes read, DataLength %d", len(got), tab.DataLength())
		}
	})
}

// FuzzIndex reads mangled index files: Index.db, Summary.db,
// Partitions.db and Rows.db of real tables. Any may fail, none may panic,
// every failure is ErrCorrupt, and a success gives increasing positions
// inside the data stream.
func FuzzIndex(f *testing.F) {
	type target struct{ data, component string }
	var targets []target
	for _, c := range []struct{ fixture, component string }{
		{"nb/legacy_nb_simple", "Index.db"},
		{"me/legacy_me_simple", "Summary.db"},
		{"da/legacy_da_clust", "Partitions.db"},
		{"da/legacy_da_clust", "Rows.db"},
		{"da/legacy_da_simple", "Partitions.db"},
	} {
		data := fuzzCopy(f, c.fixture, f.TempDir())
		seed, err := os.ReadFile(strings.TrimSuffix(data, "Data.db") + c.component)
		if err != nil {
			f.Fatal(err)
		}
		targets = append(targets, target{data, c.component})
		f.Add(uint8(len(targets)-1), seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		tg := targets[int(which)%len(targets)]
		if err := os.WriteFile(strings.TrimSuffix(tg.data, "Data.db")+tg.component, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tab, err := sstable.Open(tg.data)
		if err != nil {
			t.Fatal(err)
		}
		if tg.component == "Summary.db" {
			if _, err := tab.Summary(); err != nil && !errors.Is(err, sstable.ErrCorrupt) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			return
		}
		idx, err := tab.Index()
		if err != nil {
			if !errors.Is(err, sstable.ErrCorrupt) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			return
		}
		for i, e := range idx {
			if e.Offset >= tab.DataLength() || (i > 0 && e.Offset <= idx[i-1].Offset) {
				t.Fatalf("entry %d at %d after %v", i, e.Offset, idx[:i])
			}
		}
	})
}

// A CompressionInfo.db whose chunk count was damaged into millions is
// refused as corrupt before the reader makes room for that many offsets
// (the CLI fuzz target found one that took 7 s and 1.4 GB to refuse).
func TestHugeChunkCountIsRefusedAtOnce(t *testing.T) {
	data := fuzzCopy(t, "nb/legacy_nb_simple", t.TempDir())
	ciPath := strings.TrimSuffix(data, "Data.db") + "CompressionInfo.db"
	ci, err := os.ReadFile(ciPath)
	if err != nil {
		t.Fatal(err)
	}
	// The count is the 4 bytes before its offsets, which end the file.
	at := -1
	for n := 1; 8*n+4 <= len(ci); n++ {
		if int(binary.BigEndian.Uint32(ci[len(ci)-8*n-4:])) == n {
			at = len(ci) - 8*n - 4
			break
		}
	}
	if at < 0 {
		t.Fatal("no chunk count found in CompressionInfo.db")
	}
	binary.BigEndian.PutUint32(ci[at:], 184549377)
	if err := os.WriteFile(ciPath, ci, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = sstable.Open(data)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), "184549377 chunks") {
		t.Errorf("Open with 184549377 chunks recorded: %v; want ErrCorrupt naming the count", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("refusing it allocated %d MB; want next to nothing", grew>>20)
	}
}
