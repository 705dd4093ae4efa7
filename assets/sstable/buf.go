package sstable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// ErrCorrupt marks input that does not decode; errors name file and offset.
var ErrCorrupt = errors.New("sstable: corrupt")

// ErrUnsupported is wrapped by the errors of SSTables this package cannot
// read: an unknown version, a component or feature it does not decode.
var ErrUnsupported = errors.New("sstable: unsupported")

// buf reads big-endian values and vints from a byte slice, remembering the
// first error; reads past the end return zero values and set the error.
type buf struct {
	b    []byte
	off  int
	file string
	base int64 // offset of b[0] in the file's stream, for messages
	err  error
	// short is set with err when a read ran past the end of b: more of
	// the stream may complete it.
	short bool
	slabs slabs
}

// slabs hand out what decoding rows makes from shared chunks, a few
// allocations for many rows. A chunk lives as long as anything in it.
type slabs struct {
	rows   []Row
	lives  []Liveness
	cols   []ColumnData
	cells  []Cell
	values [][]byte
	dels   []Deletion
}

const slabLen = 128

// reset makes the chunks' room free again, for a decoder whose earlier
// rows are no longer used.
func (s *slabs) reset() {
	clear(s.rows)
	clear(s.lives)
	clear(s.cols)
	clear(s.cells)
	clear(s.values)
	clear(s.dels)
	s.rows, s.lives, s.cols, s.cells, s.values, s.dels = s.rows[:0], s.lives[:0], s.cols[:0], s.cells[:0], s.values[:0], s.dels[:0]
}

// take returns n zero elements (nil for none) from the chunk s, starting a new chunk when
// s has fewer left; appending to them never reaches their neighbours.
func take[T any](s *[]T, n int) []T {
	if n == 0 {
		return nil
	}
	if cap(*s)-len(*s) < n {
		*s = make([]T, 0, max(slabLen, n))
	}
	l := len(*s)
	*s = (*s)[:l+n]
	return (*s)[l : l+n : l+n]
}

func (r *buf) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, r.file, r.base+int64(r.off), fmt.Sprintf(format, args...))
	}
}

func (r *buf) need(n int) bool {
	if r.err == nil && n >= 0 && r.off+n <= len(r.b) {
		return true
	}
	return r.needSlow(n)
}

func (r *buf) needSlow(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || r.off+n > len(r.b) {
		r.fail("want %d more bytes, %d left", n, len(r.b)-r.off)
		r.short = n >= 0
		return false
	}
	return true
}

func (r *buf) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *buf) u8() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *buf) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *buf) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *buf) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// uvint reads Cassandra's unsigned vint.
func (r *buf) uvint() uint64 {
	if r.off+9 <= len(r.b) && r.err == nil {
		b0 := r.b[r.off]
		n := bits.LeadingZeros8(^b0)
		v := uint64(b0) & (0xFF >> n) // 0 when n == 8
		for _, b := range r.b[r.off+1 : r.off+1+n] {
			v = v<<8 | uint64(b)
		}
		r.off += 1 + n
		return v
	}
	return r.uvintSlow()
}

func (r *buf) uvintSlow() uint64 {
	b0 := r.u8()
	if r.err != nil {
		return 0
	}
	n := bits.LeadingZeros8(^b0)
	v := uint64(b0 & (0xFF >> n))
	if n == 8 {
		v = 0
	}
	for range n {
		v = v<<8 | uint64(r.u8())
	}
	return v
}

// length reads a uvint length and checks it against what is left.
func (r *buf) length() int {
	v := r.uvint()
	if r.err == nil && v > uint64(len(r.b)-r.off) {
		r.fail("length %d exceeds the %d bytes left", v, len(r.b)-r.off)
		r.short = true
		return 0
	}
	return int(v)
}

// value reads a value of the fixed length n, or with a uvint length
// when n < 0.
func (r *buf) value(n int) []byte {
	if n >= 0 {
		return r.bytes(n)
	}
	return r.bytesV()
}

func (r *buf) utf() string    { return string(r.bytes(int(r.u16()))) }
func (r *buf) bytesV() []byte { return r.bytes(r.length()) }

func float64frombits(b uint64) float64 { return math.Float64frombits(b) }
