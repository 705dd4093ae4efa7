package sstable_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/reprocess/reprocess/assets/sstable"
)

// fixture is one fixture directory and its expected contents.
type fixture struct {
	name, dir, data string
	want            expected
	summary         *struct {
		MinIndexInterval int `json:"min_index_interval"`
		SamplingLevel    int `json:"sampling_level"`
		Entries          []struct {
			KeyHex        string `json:"key_hex"`
			IndexPosition int64  `json:"index_position"`
		} `json:"entries"`
		FirstKeyHex string `json:"first_key_hex"`
		LastKeyHex  string `json:"last_key_hex"`
	}
}

// loadFixtures returns every fixture of the versions given.
func loadFixtures(t *testing.T, versions ...string) []fixture {
	t.Helper()
	root := fixtures(t)
	var out []fixture
	for _, ver := range versions {
		dirs, _ := filepath.Glob(filepath.Join(root, ver, "*"))
		for _, dir := range dirs {
			f := fixture{name: ver + "/" + filepath.Base(dir), dir: dir}
			data, _ := filepath.Glob(filepath.Join(dir, "*-Data.db"))
			if len(data) != 1 {
				t.Fatalf("%s: %d Data.db files", f.name, len(data))
			}
			f.data = data[0]
			raw, err := os.ReadFile(filepath.Join(root, "expected", ver, filepath.Base(dir)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				Summary json.RawMessage `json:"summary_db"`
			}
			if err := json.Unmarshal(raw, &f.want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			if len(s.Summary) > 0 && string(s.Summary) != "null" {
				if err := json.Unmarshal(s.Summary, &f.summary); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no fixtures for %v", versions)
	}
	return out
}

// loadFixture returns one fixture by its name, e.g. "nb/legacy_nb_clust".
func loadFixture(t *testing.T, name string) fixture {
	t.Helper()
	for _, f := range loadFixtures(t, strings.Split(name, "/")[0]) {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fixture %s", name)
	return fixture{}
}

// copyFixture copies a fixture directory to a temporary one and returns
// the copy's Data.db path.
func copyFixture(t *testing.T, f fixture) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(f.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.Base(f.data))
}

func open(t *testing.T, path string) *sstable.Table {
	t.Helper()
	tab, err := sstable.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestIndexGivesEveryPartitionKeyAndOffset(t *testing.T) {
	n := 0
	for _, f := range loadFixtures(t, "nb", "oa", "da", "nc", "mc", "me") {
		t.Run(f.name, func(t *testing.T) {
			tab := open(t, f.data)
			idx, err := tab.Index()
			if err != nil {
				t.Fatal(err)
			}
			if len(idx) != len(f.want.Partitions) {
				t.Fatalf("%d index entries, want %d", len(idx), len(f.want.Partitions))
			}
			for i, p := range f.want.Partitions {
				if idx[i].Offset != p.DataOffset || hex.EncodeToString(idx[i].Key) != p.Key.Hex {
					t.Errorf("entry %d: key %x at %d, want %s at %d", i, idx[i].Key, idx[i].Offset, p.Key.Hex, p.DataOffset)
				}
			}
		})
		n++
	}
	if n != 22 {
		t.Errorf("%d fixtures, want 22", n)
	}
}

func TestSummaryAndSample(t *testing.T) {
	for _, f := range loadFixtures(t, "nb", "oa", "nc", "mc", "me") {
		t.Run(f.name, func(t *testing.T) {
			if f.summary == nil {
				t.Fatal("no summary_db in the expected JSON")
			}
			tab := open(t, f.data)
			s, err := tab.Summary()
			if err != nil {
				t.Fatal(err)
			}
			w := f.summary
			if s.MinIndexInterval != w.MinIndexInterval || s.SamplingLevel != w.SamplingLevel || len(s.Entries) != len(w.Entries) ||
				hex.EncodeToString(s.First) != w.FirstKeyHex || hex.EncodeToString(s.Last) != w.LastKeyHex {
				t.Fatalf("summary %+v, want %+v", s, w)
			}
			for i, e := range w.Entries {
				if hex.EncodeToString(s.Entries[i].Key) != e.KeyHex || s.Entries[i].IndexPosition != e.IndexPosition {
					t.Errorf("summary entry %d: %x at %d, want %s at %d", i, s.Entries[i].Key, s.Entries[i].IndexPosition, e.KeyHex, e.IndexPosition)
				}
			}
			sample, err := tab.Sample()
			if err != nil {
				t.Fatal(err)
			}
			idx, _ := tab.Index()
			if len(sample) == 0 {
				t.Fatal("empty sample")
			}
			for _, e := range sample {
				if !slices.ContainsFunc(idx, func(x sstable.IndexEntry) bool { return x.Offset == e.Offset && bytes.Equal(x.Key, e.Key) }) {
					t.Errorf("sample entry %x at %d is not in the index", e.Key, e.Offset)
				}
			}
		})
	}
	tab := open(t, loadFixture(t, "da/legacy_da_simple").data)
	if _, err := tab.Summary(); err == nil {
		t.Error("a BTI table has no Summary.db, yet Summary succeeded")
	}
}

func TestReadRangeEqualsTheWholeStream(t *testing.T) {
	for _, name := range []string{"nb/legacy_nb_clust", "da/legacy_da_clust_counter", "me/legacy_me_clust", "oa/legacy_oa_simple"} {
		t.Run(name, func(t *testing.T) {
			tab := open(t, loadFixture(t, name).data)
			checkRanges(t, tab)
		})
	}
}

// checkRanges compares ReadRange over ranges that start, end and cross
// chunk boundaries with the whole stream.
func checkRanges(t *testing.T, tab *sstable.Table) {
	t.Helper()
	all, err := tab.Data()
	if err != nil {
		t.Fatal(err)
	}
	n := tab.DataLength()
	if int64(len(all)) != n {
		t.Fatalf("Data gives %d bytes, DataLength %d", len(all), n)
	}
	L := int64(16384)
	if tab.Compression != nil {
		L = int64(tab.Compression.ChunkLength)
	}
	ranges := [][2]int64{{0, 0}, {0, 1}, {0, n}, {n, n}, {n - 1, n}, {1, n - 1}, {n / 3, 2 * n / 3}}
	for k := int64(1); k*L < n && k < 6; k++ {
		ranges = append(ranges, [2]int64{k*L - 1, k*L + 1}, [2]int64{k * L, min(n, (k+1)*L)}, [2]int64{k*L - 100, min(n, k*L+2*L+7)})
	}
	for _, r := range ranges {
		from, to := max(0, r[0]), max(0, r[1])
		got, err := tab.ReadRange(from, to)
		if err != nil {
			t.Errorf("ReadRange(%d, %d): %v", from, to, err)
		} else if !bytes.Equal(got, all[from:to]) {
			t.Errorf("ReadRange(%d, %d): %d bytes differ from the stream's", from, to, len(got))
		}
	}
	for _, r := range [][2]int64{{-1, 1}, {2, 1}, {0, n + 1}} {
		if _, err := tab.ReadRange(r[0], r[1]); err == nil {
			t.Errorf("ReadRange(%d, %d) of %d bytes succeeded", r[0], r[1], n)
		}
	}
}

// codecs are the chunk encoders of the compressors Cassandra ships.
var codecs = []struct {
	class string
	enc   func(chunk []byte) ([]byte, error)
}{
	{"LZ4Compressor", func(c []byte) ([]byte, error) {
		out := make([]byte, 4+lz4.CompressBlockBound(len(c)))
		binary.LittleEndian.PutUint32(out, uint32(len(c)))
		n, err := lz4.CompressBlock(c, out[4:], nil)
		if n == 0 && err == nil {
			err = errors.New("lz4: incompressible")
		}
		return out[:4+n], err
	}},
	{"org.apache.cassandra.io.compress.SnappyCompressor", func(c []byte) ([]byte, error) { return snappy.Encode(nil, c), nil }},
	{"DeflateCompressor", func(c []byte) ([]byte, error) {
		var b bytes.Buffer
		z := zlib.NewWriter(&b)
		z.Write(c)
		err := z.Close()
		return b.Bytes(), err
	}},
	{"ZstdCompressor", func(c []byte) ([]byte, error) {
		z, err := zstd.NewWriter(nil)
		if err != nil {
			return nil, err
		}
		return z.EncodeAll(c, nil), z.Close()
	}},
	{"NoopCompressor", func(c []byte) ([]byte, error) { return c, nil }},
}

// table describes an SSTable to write from a fixture's metadata.
type table struct {
	from      fixture // Statistics.db and TOC come from here
	stream    []byte  // the uncompressed data stream
	class     string  // compressor; "" writes Data.db uncompressed
	chunk     int
	maxLen    int32                             // CompressionInfo's max compressed length
	enc       func([]byte) ([]byte, error)      // chunk encoder
	mangle    func(i int, stored []byte) []byte // changes stored chunks before their CRC
	index     []sstable.IndexEntry              // written to Index.db when set
	noSummary bool
}

// write writes the table to a temporary directory and returns its Data.db.
func (tb table) write(t *testing.T) string {
	t.Helper()
	path := copyFixture(t, tb.from)
	prefix := strings.TrimSuffix(filepath.Base(path), "Data.db")
	comp := func(name string) string { return filepath.Join(filepath.Dir(path), prefix+name) }
	toc, _ := os.ReadFile(comp("TOC.txt"))
	var keep []string
	for _, c := range strings.Fields(string(toc)) {
		if (c == "CompressionInfo.db" && tb.class == "") || c == "Digest.crc32" || (c == "Summary.db" && tb.noSummary) {
			continue
		}
		keep = append(keep, c)
	}
	must(t, os.WriteFile(comp("TOC.txt"), []byte(strings.Join(keep, "\n")+"\n"), 0o644))
	if tb.index != nil {
		var b []byte
		for _, e := range tb.index {
			b = binary.BigEndian.AppendUint16(b, uint16(len(e.Key)))
			b = append(b, e.Key...)
			b = appendUvint(b, uint64(e.Offset))
			b = append(b, 0)
		}
		must(t, os.WriteFile(comp("Index.db"), b, 0o644))
	}
	if tb.class == "" {
		must(t, os.WriteFile(path, tb.stream, 0o644))
		return path
	}
	var data []byte
	var offsets []int64
	for i := 0; i*tb.chunk < len(tb.stream) || (i == 0 && len(tb.stream) > 0); i++ {
		c := tb.stream[i*tb.chunk : min(len(tb.stream), (i+1)*tb.chunk)]
		stored, err := tb.enc(c)
		must(t, err)
		if tb.mangle != nil {
			stored = tb.mangle(i, stored)
		}
		offsets = append(offsets, int64(len(data)))
		data = append(data, stored...)
		data = binary.BigEndian.AppendUint32(data, crc32.ChecksumIEEE(stored))
	}
	must(t, os.WriteFile(path, data, 0o644))
	var ci []byte
	ci = binary.BigEndian.AppendUint16(ci, uint16(len(tb.class)))
	ci = append(ci, tb.class...)
	ci = binary.BigEndian.AppendUint32(ci, 0)
	ci = binary.BigEndian.AppendUint32(ci, uint32(tb.chunk))
	if filepath.Base(path) >= "na" {
		ci = binary.BigEndian.AppendUint32(ci, uint32(tb.maxLen))
	}
	ci = binary.BigEndian.AppendUint64(ci, uint64(len(tb.stream)))
	ci = binary.BigEndian.AppendUint32(ci, uint32(len(offsets)))
	for _, o := range offsets {
		ci = binary.BigEndian.AppendUint64(ci, uint64(o))
	}
	must(t, os.WriteFile(comp("CompressionInfo.db"), ci, 0o644))
	return path
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// appendUvint appends Cassandra's unsigned vint.
func appendUvint(b []byte, v uint64) []byte {
	n := 0
	for n < 8 && v >= 1<<(7*(n+1)) {
		n++
	}
	if n == 8 {
		return append(append(b, 0xFF), binary.BigEndian.AppendUint64(nil, v)...)
	}
	first := byte(0xFF<<(8-n)) | byte(v>>(8*n))
	b = append(b, first)
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func TestEveryCompressorReadsBack(t *testing.T) {
	for _, name := range []string{"oa/legacy_oa_clust", "me/legacy_me_clust"} {
		f := loadFixture(t, name)
		stream, err := open(t, f.data).Data()
		must(t, err)
		lz4enc := codecs[0].enc
		cases := []table{{from: f, stream: stream}} // uncompressed Data.db
		for _, c := range codecs {
			cases = append(cases, table{from: f, stream: stream, class: c.class, chunk: 4096, maxLen: 1<<31 - 1, enc: c.enc})
		}
		// From na, chunks at least maxLen long are stored as they are,
		// the last one zero-padded: every other chunk here.
		if name[:2] >= "na" {
			i := 0
			cases = append(cases, table{from: f, stream: stream, class: "LZ4Compressor", chunk: 4096, maxLen: 4096, enc: func(c []byte) ([]byte, error) {
				if i++; i%2 == 1 {
					return append(slices.Clone(c), make([]byte, 4096-len(c))...), nil
				}
				return lz4enc(c)
			}})
		}
		for _, tb := range cases {
			t.Run(fmt.Sprintf("%s/%s/%d", name, tb.class, tb.maxLen), func(t *testing.T) {
				tab := open(t, tb.write(t))
				if (tab.Compression == nil) != (tb.class == "") {
					t.Fatalf("compression %+v for class %q", tab.Compression, tb.class)
				}
				checkRanges(t, tab)
				got, _ := tab.Data()
				if !bytes.Equal(got, stream) {
					t.Fatal("stream differs from the fixture's")
				}
				checkSplits(t, tab, 20000)
			})
		}
	}
}

func TestDamagedChunkIsCorruptNamingFileChunkAndOffset(t *testing.T) {
	f := loadFixture(t, "oa/legacy_oa_clust")
	stream, err := open(t, f.data).Data()
	must(t, err)
	for _, c := range codecs {
		for _, how := range []string{"checksum", "payload"} {
			t.Run(c.class+"/"+how, func(t *testing.T) {
				const bad = 5
				tb := table{from: f, stream: stream, class: c.class, chunk: 4096, maxLen: 1<<31 - 1, enc: c.enc}
				if how == "payload" {
					// Half the chunk's stored bytes under a valid checksum.
					tb.mangle = func(i int, stored []byte) []byte {
						if i == bad {
							return stored[:len(stored)/2]
						}
						return stored
					}
				}
				path := tb.write(t)
				tab := open(t, path)
				off := tab.Compression.Offsets[bad]
				if how == "checksum" {
					b, _ := os.ReadFile(path)
					b[off+3] ^= 0x20
					must(t, os.WriteFile(path, b, 0o644))
				}
				if _, err := tab.ReadRange(0, int64(bad)*4096); err != nil {
					t.Errorf("chunks before the damaged one: %v", err)
				}
				_, err := tab.ReadRange(int64(bad)*4096+10, int64(bad)*4096+20)
				want := fmt.Sprintf("chunk %d at offset %d", bad, off)
				if !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(path)) || !strings.Contains(err.Error(), want) {
					t.Errorf("got %v; want ErrCorrupt naming %s and %q", err, filepath.Base(path), want)
				}
				if how == "checksum" && !strings.Contains(fmt.Sprint(err), "checksum mismatch") {
					t.Errorf("got %v, want a checksum mismatch", err)
				}
			})
		}
	}
}

func TestDamagedIndexFilesAreCorrupt(t *testing.T) {
	cases := []struct{ fixture, component string }{
		{"nb/legacy_nb_clust", "Index.db"},
		{"nb/legacy_nb_simple", "Index.db"},
		{"me/legacy_me_simple", "Summary.db"},
		{"da/legacy_da_clust", "Partitions.db"},
		{"da/legacy_da_simple", "Partitions.db"},
		{"da/legacy_da_clust", "Rows.db"},
	}
	for _, c := range cases {
		t.Run(c.fixture+"/"+c.component, func(t *testing.T) {
			path := copyFixture(t, loadFixture(t, c.fixture))
			comp := strings.TrimSuffix(path, "Data.db") + c.component
			orig, _ := os.ReadFile(comp)
			// A fresh Table per cut: Index caches its result and error.
			read := func() error {
				tab := open(t, path)
				if c.component == "Summary.db" {
					_, err := tab.Summary()
					return err
				}
				_, err := tab.Index()
				return err
			}
			// Every truncation of small files; of big ones, a sample and
			// the cuts at and around Index.db entry boundaries.
			var cuts []int
			for n := 0; n < len(orig); n += max(1, len(orig)/256) {
				cuts = append(cuts, n)
			}
			for at := 0; c.component == "Index.db" && at < len(orig); {
				_, next := uvint(orig, at+2+int(binary.BigEndian.Uint16(orig[at:])))
				size, next := uvint(orig, next)
				at = next + int(size)
				cuts = append(cuts, at-1, at, at+1)
			}
			for _, n := range cuts {
				if n >= len(orig) {
					continue
				}
				cut := orig[:n]
				must(t, os.WriteFile(comp, cut, 0o644))
				err := read()
				if !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Dir(path)) {
					t.Fatalf("%s cut to %d bytes: %v; want ErrCorrupt naming the file", c.component, len(cut), err)
				}
			}
		})
	}
}

// copyDir copies the files of a directory to a temporary one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		must(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	return dir
}

// readAll returns the JSON rows of the snapshot in dirs, read with
// parallel token ranges at once.
func readAll(dirs []string, parallel int) ([]string, error) {
	s, err := sstable.OpenSnapshot(dirs...)
	if err != nil {
		return nil, err
	}
	var rows []string
	err = s.Rows(context.Background(), sstable.ReadOptions{Parallel: parallel}, func(r sstable.CQLRow) error {
		b, err := json.Marshal(r)
		rows = append(rows, string(b))
		return err
	})
	return rows, err
}

// uncompressedSnapshot is a snapshot the real Cassandra 5.0 wrote: 190
// rows of `k int PRIMARY KEY, a text, n int, b boolean`, some of them
// 0, empty text and false, in two uncompressed SSTables (with CRC.db).
const uncompressedSnapshot = "testdata/uncompressed-snapshot"

// TestFlippedIndexByteIsAnErrorOrChangesNothing flips each byte of an
// Index.db in turn: every read, at every parallelism, is then either an
// error naming the damaged file or the snapshot's full row set, never a
// part of it.
func TestFlippedIndexByteIsAnErrorOrChangesNothing(t *testing.T) {
	want, err := readAll([]string{uncompressedSnapshot}, 1)
	if err != nil || len(want) != 190 {
		t.Fatalf("%d rows, %v; want 190", len(want), err)
	}
	dir := copyDir(t, uncompressedSnapshot)
	index := filepath.Join(dir, "nb-1-big-Index.db")
	orig, _ := os.ReadFile(index)
	errs := 0
	// All bits of a byte; the lowest (a position one off keeps the
	// positions in order); and 0x63, which turns a promoted index size of
	// 0 into 99 bytes that swallow the entries after it, so that a range
	// ending there would drop their partitions (found by fuzzing).
	for _, mask := range []byte{0xFF, 0x01, 0x63} {
		for at := range orig {
			b := slices.Clone(orig)
			b[at] ^= mask
			must(t, os.WriteFile(index, b, 0o644))
			for _, parallel := range []int{1, 5} {
				got, err := readAll([]string{dir}, parallel)
				switch {
				case err != nil && (!errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), "nb-1-big-")):
					t.Fatalf("byte %d ^ %#x, parallel %d: %v; want ErrCorrupt naming the SSTable", at, mask, parallel, err)
				case err != nil:
					errs++
				case !slices.Equal(got, want):
					t.Fatalf("byte %d ^ %#x, parallel %d: %d rows and no error; want all %d", at, mask, parallel, len(got), len(want))
				}
			}
		}
	}
	t.Logf("%d of %d reads of a damaged Index.db were errors, the others read every row", errs, 3*2*len(orig))
}

// TestIndexKeysOutOfOrderAreCorrupt swaps the keys of two Index.db
// entries in the middle (the summary names the first and last), leaving
// the positions in order: Index reports the entry out of partitioner
// order.
func TestIndexKeysOutOfOrderAreCorrupt(t *testing.T) {
	dir := copyDir(t, uncompressedSnapshot)
	index := filepath.Join(dir, "nb-1-big-Index.db")
	b, _ := os.ReadFile(index)
	var starts []int // of the entries: u16 length, key, uvint position, uvint size, row index
	for at := 0; at < len(b); {
		starts = append(starts, at)
		_, next := uvint(b, at+2+int(binary.BigEndian.Uint16(b[at:])))
		size, next := uvint(b, next)
		at = next + int(size)
	}
	k1, k2 := slices.Clone(b[starts[1]+2:starts[1]+6]), slices.Clone(b[starts[2]+2:starts[2]+6]) // int keys
	copy(b[starts[1]+2:], k2)
	copy(b[starts[2]+2:], k1)
	must(t, os.WriteFile(index, b, 0o644))
	_, err := open(t, filepath.Join(dir, "nb-1-big-Data.db")).Index()
	if !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), "nb-1-big-Index.db: entry 2") || !strings.Contains(err.Error(), "does not follow") {
		t.Errorf("keys of entries 1 and 2 swapped: %v; want ErrCorrupt naming Index.db, entry 2 out of order", err)
	}
}

// TestDamagedUncompressedDataIsCorrupt flips bytes of an uncompressed
// Data.db: the chunk checksums of CRC.db catch every one, and the error
// names the file and the chunk. A CRC.db that holds other checksums than
// Cassandra writes for Data.db is corrupt when the table opens.
func TestDamagedUncompressedDataIsCorrupt(t *testing.T) {
	dir := copyDir(t, uncompressedSnapshot)
	data := filepath.Join(dir, "nb-1-big-Data.db")
	orig, _ := os.ReadFile(data)
	for at := 0; at < len(orig); at += 5 {
		b := slices.Clone(orig)
		b[at] ^= 0x10
		must(t, os.WriteFile(data, b, 0o644))
		_, err := readAll([]string{dir}, 2)
		if !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), "nb-1-big-Data.db: chunk 0 at offset 0: checksum mismatch") {
			t.Fatalf("byte %d flipped: %v; want ErrCorrupt naming Data.db and chunk 0", at, err)
		}
	}
	must(t, os.WriteFile(data, orig, 0o644))
	crc := filepath.Join(dir, "nb-1-big-CRC.db")
	sums, _ := os.ReadFile(crc)
	for _, c := range []struct {
		name  string
		sums  []byte
		valid bool
	}{
		{"as flushed", sums, true},
		{"then the 0 of an empty flush, as compacted", append(slices.Clone(sums), 0, 0, 0, 0), true},
		{"one checksum short", sums[:len(sums)-4], false},
		{"then a checksum that is not 0", append(slices.Clone(sums), 0, 0, 0, 1), false},
		{"then two 0s", append(slices.Clone(sums), 0, 0, 0, 0, 0, 0, 0, 0), false},
	} {
		must(t, os.WriteFile(crc, c.sums, 0o644))
		rows, err := readAll([]string{dir}, 2)
		switch {
		case c.valid && (err != nil || len(rows) != 190):
			t.Errorf("CRC.db %s: %d rows, %v; want all 190", c.name, len(rows), err)
		case !c.valid && (!errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), "nb-1-big-CRC.db: ")):
			t.Errorf("CRC.db %s: %v; want ErrCorrupt naming CRC.db", c.name, err)
		}
	}
}
