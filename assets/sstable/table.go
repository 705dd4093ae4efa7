package sstable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pierrec/lz4/v4"
)

// Table is one SSTable's metadata, read from its TOC, Statistics and
// CompressionInfo components.
type Table struct {
	Dir         string
	Prefix      string // e.g. nb-1-big
	Version     string // e.g. nb
	Format      string // big or bti
	TOC         []string
	Partitioner string
	FPChance    float64
	Header      Header
	Compression *Compression // nil when Data.db is not compressed
}

// Header is the serialization header: column names and types, and the
// bases of every delta in Data.db.
type Header struct {
	MinTimestamp   int64
	MinLDT         uint32 // as stored: read as int32 for m*/n*, uint32 for oa/da
	MinTTL         int32
	PartitionKey   *Type
	Clustering     []*Type
	StaticColumns  []Column
	RegularColumns []Column
}

// Column is a column of the serialization header.
type Column struct {
	Name string
	Type *Type
}

// Compression is CompressionInfo.db.
type Compression struct {
	Compressor       string
	Options          map[string]string
	ChunkLength      int
	MaxCompressedLen int32
	DataLength       int64
	Offsets          []int64
}

var dataName = regexp.MustCompile(`^([a-z]{2})-(\d+|[0-9a-z_]+)-(big|bti)-Data\.db$`)

// Open reads the metadata of the SSTable whose Data.db is at path.
func Open(path string) (*Table, error) {
	m := dataName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return nil, fmt.Errorf("sstable: %s: not a Data.db file name (like nb-1-big-Data.db)", path)
	}
	t := &Table{Dir: filepath.Dir(path), Version: m[1], Format: m[3]}
	t.Prefix = strings.TrimSuffix(filepath.Base(path), "-Data.db")
	toc, err := os.ReadFile(t.component("TOC.txt"))
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	t.TOC = strings.Fields(string(toc))
	if err := t.readStatistics(); err != nil {
		return nil, err
	}
	if t.has("CompressionInfo.db") {
		if err := t.readCompressionInfo(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Table) component(name string) string {
	return filepath.Join(t.Dir, t.Prefix+"-"+name)
}

func (t *Table) has(name string) bool {
	for _, c := range t.TOC {
		if c == name {
			return true
		}
	}
	return false
}

// atLeast reports whether the version is v or newer within its format
// family (BIG m*, n*, o*; BTI d* counts as 5.0, like oa).
func (t *Table) atLeast(v string) bool {
	cur := t.Version
	if t.Format == "bti" {
		cur = "oa"
	}
	return cur >= v
}

// newDeletion reports whether deletion times use the 5.0 encoding.
func (t *Table) newDeletion() bool { return t.atLeast("oa") }

func (t *Table) readStatistics() error {
	path := t.component("Statistics.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sstable: %w", err)
	}
	r := &buf{b: raw, file: path}
	count := int(int32(r.u32()))
	crcs := t.atLeast("na")
	if crcs {
		want := r.u32()
		if r.err == nil && crc32.ChecksumIEEE(raw[:4]) != want {
			r.fail("statistics header checksum mismatch")
		}
	}
	if r.err == nil && (count < 1 || count > 16) {
		r.fail("%d components", count)
	}
	offsets := map[int32]int{}
	for range count {
		typ, off := int32(r.u32()), int(int32(r.u32()))
		offsets[typ] = off
	}
	if crcs {
		want := r.u32()
		// The running checksum covers the count and the table, not the
		// first checksum between them.
		if r.err == nil && crc32.Update(crc32.ChecksumIEEE(raw[:4]), crc32.IEEETable, raw[8:8+8*count]) != want {
			r.fail("statistics table-of-contents checksum mismatch")
		}
	}
	if r.err != nil {
		return r.err
	}
	at := func(typ int32) (*buf, error) {
		off, ok := offsets[typ]
		if !ok || off < 0 || off > len(raw) {
			return nil, fmt.Errorf("%w: %s: statistics component %d missing or out of range", ErrCorrupt, path, typ)
		}
		return &buf{b: raw[off:], base: int64(off), file: path}, nil
	}
	v, err := at(0)
	if err != nil {
		return err
	}
	t.Partitioner = v.utf()
	t.FPChance = float64frombits(v.u64())
	if v.err != nil {
		return v.err
	}
	h, err := at(3)
	if err != nil {
		return err
	}
	t.Header.MinTimestamp = int64(h.uvint() + 1442880000000000)
	t.Header.MinLDT = uint32(h.uvint()) + 1442880000
	t.Header.MinTTL = int32(h.uvint())
	if t.Header.PartitionKey, err = parseHeaderType(h); err != nil {
		return err
	}
	for range h.uvint() {
		ct, err := parseHeaderType(h)
		if err != nil {
			return err
		}
		t.Header.Clustering = append(t.Header.Clustering, ct)
	}
	for _, list := range []*[]Column{&t.Header.StaticColumns, &t.Header.RegularColumns} {
		n := h.uvint()
		if h.err == nil && n > 1<<16 {
			h.fail("%d columns", n)
		}
		for range n {
			name := string(h.bytesV())
			ct, err := parseHeaderType(h)
			if err != nil {
				return err
			}
			*list = append(*list, Column{Name: name, Type: ct})
		}
	}
	return h.err
}

func parseHeaderType(h *buf) (*Type, error) {
	s := string(h.bytesV())
	if h.err != nil {
		return nil, h.err
	}
	t, err := ParseType(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, h.file, err)
	}
	return t, nil
}

func (t *Table) readCompressionInfo() error {
	path := t.component("CompressionInfo.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sstable: %w", err)
	}
	r := &buf{b: raw, file: path}
	c := &Compression{Compressor: r.utf(), Options: map[string]string{}}
	for range int(int32(r.u32())) {
		if r.err != nil {
			break
		}
		k := r.utf()
		c.Options[k] = r.utf()
	}
	c.ChunkLength = int(int32(r.u32()))
	c.MaxCompressedLen = 1<<31 - 1
	if t.atLeast("na") {
		c.MaxCompressedLen = int32(r.u32())
	}
	c.DataLength = int64(r.u64())
	n := int(int32(r.u32()))
	if r.err == nil && (n < 0 || n > len(raw)/8) {
		r.fail("%d chunks", n)
	}
	for range n {
		c.Offsets = append(c.Offsets, int64(r.u64()))
	}
	if r.err == nil && (c.ChunkLength <= 0 || c.ChunkLength > 1<<30) {
		r.fail("chunk length %d", c.ChunkLength)
	}
	if r.err != nil {
		return r.err
	}
	t.Compression = c
	return nil
}

// Data returns the whole uncompressed data stream, every chunk's checksum
// verified.
func (t *Table) Data() ([]byte, error) {
	path := t.component("Data.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	c := t.Compression
	if c == nil {
		return raw, nil
	}
	out := make([]byte, 0, c.DataLength)
	for i, off := range c.Offsets {
		end := int64(len(raw))
		if i+1 < len(c.Offsets) {
			end = c.Offsets[i+1]
		}
		if off < 0 || end-4 < off || end > int64(len(raw)) {
			return nil, fmt.Errorf("%w: %s: chunk %d at offset %d: bounds %d..%d outside the file", ErrCorrupt, path, i, off, off, end)
		}
		stored, sum := raw[off:end-4], binary.BigEndian.Uint32(raw[end-4:end])
		if crc32.ChecksumIEEE(stored) != sum {
			return nil, fmt.Errorf("%w: %s: chunk %d at offset %d: checksum mismatch", ErrCorrupt, path, i, off)
		}
		want := min(int64(c.ChunkLength), c.DataLength-int64(len(out)))
		chunk, err := t.decompress(stored, int(want))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: chunk %d at offset %d: %w", ErrCorrupt, path, i, off, err)
		}
		out = append(out, chunk...)
	}
	if int64(len(out)) != c.DataLength {
		return nil, fmt.Errorf("%w: %s: %d bytes decompressed, CompressionInfo says %d", ErrCorrupt, path, len(out), c.DataLength)
	}
	return out, nil
}

func (t *Table) decompress(stored []byte, want int) ([]byte, error) {
	c := t.Compression
	if len(stored) >= int(c.MaxCompressedLen) {
		if len(stored) < want {
			return nil, fmt.Errorf("uncompressed chunk of %d bytes, want %d", len(stored), want)
		}
		return stored[:want], nil
	}
	switch c.Compressor {
	case "LZ4Compressor", "org.apache.cassandra.io.compress.LZ4Compressor":
		if len(stored) < 4 {
			return nil, errors.New("lz4 chunk shorter than its length prefix")
		}
		n := int(binary.LittleEndian.Uint32(stored))
		if n != want {
			return nil, fmt.Errorf("lz4 chunk holds %d bytes, want %d", n, want)
		}
		out := make([]byte, n)
		got, err := lz4.UncompressBlock(stored[4:], out)
		if err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if got != n {
			return nil, fmt.Errorf("lz4 chunk decoded to %d bytes, want %d", got, n)
		}
		return out, nil
	case "NoopCompressor", "org.apache.cassandra.io.compress.NoopCompressor":
		return stored, nil
	}
	return nil, fmt.Errorf("compressor %s is not supported yet", c.Compressor)
}
