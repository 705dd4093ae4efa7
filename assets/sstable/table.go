package sstable

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
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

	plan      plan       // how rows decode
	dataSize  int64      // size of Data.db as stored
	checksums *checksums // CRC.db, for an uncompressed Data.db

	indexOnce sync.Once // Index reads the partition index once
	index     []IndexEntry
	indexErr  error
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

// versions are the SSTable versions this reader decodes, per format. BIG
// ma to me (3.x), na and nb (4.x, 5.0), nc (5.0 development) and oa (5.0);
// BTI da (5.0).
var versions = map[string][]string{
	"big": {"ma", "mb", "mc", "md", "me", "na", "nb", "nc", "oa"},
	"bti": {"da"},
}

var dataName = regexp.MustCompile(`^([a-z]{2})-(\d+|[0-9a-z_]+)-(big|bti)-Data\.db$`)

// Open reads the metadata of the SSTable whose Data.db is at path.
func Open(path string) (*Table, error) {
	m := dataName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return nil, fmt.Errorf("sstable: %s: not a Data.db file name (like nb-1-big-Data.db)", path)
	}
	t := &Table{Dir: filepath.Dir(path), Version: m[1], Format: m[3]}
	if !slices.Contains(versions[t.Format], t.Version) {
		return nil, fmt.Errorf("%w: %s: version %s of the %s format (this reader knows %s %v)", ErrUnsupported, path, t.Version, t.Format, t.Format, versions[t.Format])
	}
	t.Prefix = strings.TrimSuffix(filepath.Base(path), "-Data.db")
	toc, err := os.ReadFile(t.component("TOC.txt"))
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	t.TOC = strings.Fields(string(toc))
	if err := t.readStatistics(); err != nil {
		return nil, err
	}
	t.makePlan()
	st, err := os.Stat(t.component("Data.db"))
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("sstable: %s: %s, not a regular file", t.component("Data.db"), fileKind(st.Mode()))
	}
	t.dataSize = st.Size()
	if t.has("CompressionInfo.db") {
		if err := t.readCompressionInfo(); err != nil {
			return nil, err
		}
	} else if t.has("CRC.db") {
		if err := t.readChecksums(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// fileKind names what a file that is not a regular one is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file (" + m.Type().String() + ")"
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

func (t *Table) readStatistics() error {
	path := t.component("Statistics.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sstable: %w", err)
	}
	r := &buf{b: raw, file: path}
	count := int(int32(r.u32()))
	crcs := t.atLeast("na")
	if !crcs && len(raw) >= 8 && crc32.ChecksumIEEE(raw[:4]) == binary.BigEndian.Uint32(raw[4:]) {
		return fmt.Errorf("%w: %s: checksummed like version na or later, but the file name says version %s", ErrCorrupt, path, t.Version)
	}
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
	if crcs {
		if err := checkComponents(path, raw, offsets); err != nil {
			return err
		}
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
	return t.Header.read(h)
}

// read decodes the serialization header (Statistics.db component 3).
func (hd *Header) read(h *buf) error {
	var err error
	hd.MinTimestamp = int64(h.uvint() + 1442880000000000)
	hd.MinLDT = uint32(h.uvint()) + 1442880000
	hd.MinTTL = int32(h.uvint())
	if hd.PartitionKey, err = parseHeaderType(h); err != nil {
		return err
	}
	for range h.uvint() {
		ct, err := parseHeaderType(h)
		if err != nil {
			return err
		}
		hd.Clustering = append(hd.Clustering, ct)
	}
	for _, list := range []*[]Column{&hd.StaticColumns, &hd.RegularColumns} {
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

// checkComponents verifies the checksum that ends each component of a
// Statistics.db of version na or later: the component runs to the next
// one's offset, or to the end of the file.
func checkComponents(path string, raw []byte, offsets map[int32]int) error {
	starts := slices.Sorted(maps.Values(offsets))
	for i, off := range starts {
		end := len(raw)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		if off < 0 || end > len(raw) || end-off < 4 {
			return fmt.Errorf("%w: %s: statistics component at offset %d runs to %d", ErrCorrupt, path, off, end)
		}
		if crc32.ChecksumIEEE(raw[off:end-4]) != binary.BigEndian.Uint32(raw[end-4:end]) {
			return fmt.Errorf("%w: %s: statistics component at offset %d: checksum mismatch", ErrCorrupt, path, off)
		}
	}
	return nil
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
	if r.err != nil {
		return r.err // before reading n offsets: a damaged n is millions
	}
	c.Offsets = make([]int64, 0, n)
	for range n {
		c.Offsets = append(c.Offsets, int64(r.u64()))
	}
	if r.err == nil && (c.ChunkLength <= 0 || c.ChunkLength > 1<<30) {
		r.fail("chunk length %d", c.ChunkLength)
	}
	if r.err != nil {
		return r.err
	}
	// Cassandra may end the file with one empty chunk (seen from
	// upgradesstables with Zstd and Deflate); it is never read.
	if want := (c.DataLength + int64(c.ChunkLength) - 1) / int64(c.ChunkLength); c.DataLength < 0 || int64(n) != want && int64(n) != want+1 {
		r.fail("%d chunks of %d bytes for %d uncompressed bytes", n, c.ChunkLength, c.DataLength)
		return r.err
	}
	// Every chunk holds at least its checksum, and the last ends the file.
	for i, off := range c.Offsets {
		end := t.dataSize
		if i+1 < n {
			end = c.Offsets[i+1]
		}
		if off < 0 || end-off < 4 || end > t.dataSize {
			return fmt.Errorf("%w: %s: chunk %d at offset %d ends at %d, Data.db holds %d bytes", ErrCorrupt, path, i, off, end, t.dataSize)
		}
	}
	if n == 0 && t.dataSize != 0 {
		return fmt.Errorf("%w: %s: no chunks for %d bytes of Data.db", ErrCorrupt, path, t.dataSize)
	}
	switch codec(c.Compressor) {
	case "LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor", "NoopCompressor":
	default:
		return fmt.Errorf("sstable: %s: compressor %s is not supported", path, c.Compressor)
	}
	t.Compression = c
	return nil
}

// DataLength is the length of the uncompressed data stream.
func (t *Table) DataLength() int64 {
	if t.Compression != nil {
		return t.Compression.DataLength
	}
	return t.dataSize
}

// Data returns the whole uncompressed data stream, every chunk's checksum
// (CompressionInfo.db's chunks, or CRC.db's) verified.
func (t *Table) Data() ([]byte, error) {
	return t.ReadRange(0, t.DataLength())
}

// ReadRange returns the uncompressed bytes [from, to) of the data stream,
// reading and decompressing only the chunks that cover them and verifying
// each one's checksum (for uncompressed data, CRC.db's when there is one).
func (t *Table) ReadRange(from, to int64) ([]byte, error) {
	d, err := t.openData()
	if err != nil {
		return nil, err
	}
	defer d.close()
	return d.read(from, to)
}

// dataReader reads ranges of the uncompressed stream from an open
// Data.db, keeping the last chunk it decompressed for nearby reads.
type dataReader struct {
	t     *Table
	f     *os.File
	path  string
	chunk int // index of cached, -1 for none
	cache []byte
	raw   []byte // a chunk as stored, reused
}

func (t *Table) openData() (*dataReader, error) {
	path := t.component("Data.db")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	return &dataReader{t: t, f: f, path: path, chunk: -1}, nil
}

func (d *dataReader) close() { d.f.Close() }

func (d *dataReader) read(from, to int64) ([]byte, error) {
	return d.readInto(nil, from, to)
}

// readInto is read into buf when it has room for the range.
func (d *dataReader) readInto(buf []byte, from, to int64) ([]byte, error) {
	n := d.t.DataLength()
	if from < 0 || to < from || to > n {
		return nil, fmt.Errorf("sstable: %s: range [%d, %d) outside the %d uncompressed bytes", d.path, from, to, n)
	}
	c := d.t.Compression
	if c == nil && d.t.checksums != nil {
		return d.readChecked(from, to)
	}
	out := buf[:0]
	if int64(cap(buf)) < to-from {
		out = make([]byte, 0, to-from)
	}
	out = out[:to-from]
	if c == nil {
		if _, err := d.f.ReadAt(out, from); err != nil {
			return nil, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, d.path, from, err)
		}
		return out, nil
	}
	L := int64(c.ChunkLength)
	for pos := from; pos < to; {
		i := int(pos / L)
		lo, hi := int64(i)*L, min(int64(i+1)*L, c.DataLength)
		if lo == pos && hi <= to && i != d.chunk {
			// A whole chunk: decompressed in place.
			if err := d.readChunkInto(i, out[pos-from:hi-from]); err != nil {
				return nil, err
			}
			pos = hi
			continue
		}
		chunk, err := d.readChunk(i)
		if err != nil {
			return nil, err
		}
		end := min(hi, to)
		copy(out[pos-from:end-from], chunk[pos-lo:end-lo])
		pos = end
	}
	return out, nil
}

// readChunk returns chunk i uncompressed, its checksum verified, keeping
// it for the next read.
func (d *dataReader) readChunk(i int) ([]byte, error) {
	if i == d.chunk {
		return d.cache, nil
	}
	c := d.t.Compression
	chunk := make([]byte, min(int64(c.ChunkLength), c.DataLength-int64(i)*int64(c.ChunkLength)))
	if err := d.readChunkInto(i, chunk); err != nil {
		return nil, err
	}
	d.chunk, d.cache = i, chunk
	return chunk, nil
}

// readChunkInto decompresses chunk i into dst, its length, verifying the
// chunk's checksum.
func (d *dataReader) readChunkInto(i int, dst []byte) error {
	c := d.t.Compression
	off, end := c.Offsets[i], d.t.dataSize
	if i+1 < len(c.Offsets) {
		end = c.Offsets[i+1]
	}
	if end-off < 4 || end-off > 1<<31 {
		return fmt.Errorf("%w: %s: chunk %d at offset %d: %d bytes", ErrCorrupt, d.path, i, off, end-off)
	}
	if int64(cap(d.raw)) < end-off {
		d.raw = make([]byte, end-off)
	}
	raw := d.raw[:end-off]
	if _, err := d.f.ReadAt(raw, off); err != nil {
		return fmt.Errorf("%w: %s: chunk %d at offset %d: %w", ErrCorrupt, d.path, i, off, err)
	}
	stored, sum := raw[:len(raw)-4], binary.BigEndian.Uint32(raw[len(raw)-4:])
	if crc32.ChecksumIEEE(stored) != sum {
		return fmt.Errorf("%w: %s: chunk %d at offset %d: checksum mismatch", ErrCorrupt, d.path, i, off)
	}
	if err := d.t.decompress(dst, stored); err != nil {
		return fmt.Errorf("%w: %s: chunk %d at offset %d: %w", ErrCorrupt, d.path, i, off, err)
	}
	return nil
}

// codec is the simple name of a compressor class.
func codec(class string) string { return class[strings.LastIndexByte(class, '.')+1:] }

// zstdDecoder is shared: DecodeAll is safe for concurrent use.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(1<<30))
})

// decompress fills dst with the len(dst) bytes a stored chunk holds.
func (t *Table) decompress(dst, stored []byte) error {
	c, want := t.Compression, len(dst)
	if len(stored) >= int(c.MaxCompressedLen) {
		if len(stored) < want {
			return fmt.Errorf("uncompressed chunk of %d bytes, want %d", len(stored), want)
		}
		copy(dst, stored)
		return nil
	}
	n, err := 0, error(nil)
	switch codec(c.Compressor) {
	case "LZ4Compressor":
		if len(stored) < 4 {
			return errors.New("lz4 chunk shorter than its length prefix")
		}
		if n := int(binary.LittleEndian.Uint32(stored)); n != want {
			return fmt.Errorf("lz4 chunk holds %d bytes, want %d", n, want)
		}
		if n, err = lz4.UncompressBlock(stored[4:], dst); err != nil {
			return fmt.Errorf("lz4: %w", err)
		}
	case "SnappyCompressor":
		if n, err := snappy.DecodedLen(stored); err != nil || n != want {
			return fmt.Errorf("snappy chunk holds %d bytes (%v), want %d", n, err, want)
		}
		out, err := snappy.Decode(dst, stored)
		if err != nil {
			return fmt.Errorf("snappy: %w", err)
		}
		n = len(out)
	case "DeflateCompressor":
		n, err = inflate(dst, stored)
		if err != nil {
			return fmt.Errorf("deflate: %w", err)
		}
	case "ZstdCompressor":
		dec, err := zstdDecoder()
		if err != nil {
			return err
		}
		out, err := dec.DecodeAll(stored, dst[:0])
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		n = copy(dst, out) // in place unless it did not fit
		n = max(n, len(out))
	case "NoopCompressor":
		n = max(copy(dst, stored), len(stored))
	default:
		return fmt.Errorf("compressor %s is not supported", c.Compressor)
	}
	if n != want {
		return fmt.Errorf("%s chunk decoded to %d bytes, want %d", codec(c.Compressor), n, want)
	}
	return nil
}

// inflate decompresses a zlib stream into dst: the bytes it holds, or
// len(dst)+1 when it holds more; the checksum at its end is verified.
func inflate(dst, stored []byte) (int, error) {
	z, err := zlib.NewReader(bytes.NewReader(stored))
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(z, dst)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	rest, err := io.ReadAll(io.LimitReader(z, 1))
	return n + len(rest), err
}
