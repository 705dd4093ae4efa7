package sstable

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
)

// Sizing defaults.
const (
	// DefaultSplitBytes is how many uncompressed bytes a split holds.
	DefaultSplitBytes = 128 << 20
	// MinReaderBytes is the least data worth a reader of its own.
	MinReaderBytes = 16 << 20
	// DefaultMemory is the memory readers may hold when the process has
	// no memory limit (GOMEMLIMIT).
	DefaultMemory = 1 << 30
	// MaxSplits is the most splits a snapshot is cut into.
	MaxSplits = 65536
)

// Budget is what a read of a snapshot may use; a zero field takes its
// default.
type Budget struct {
	SplitBytes int64 // uncompressed bytes a split; 0: DefaultSplitBytes
	Cores      int   // 0: runtime.GOMAXPROCS
	Memory     int64 // bytes all readers may hold; 0: half of GOMEMLIMIT, or DefaultMemory without one
}

func (b Budget) withDefaults() Budget {
	if b.SplitBytes <= 0 {
		b.SplitBytes = DefaultSplitBytes
	}
	if b.Cores <= 0 {
		b.Cores = runtime.GOMAXPROCS(0)
	}
	if b.Memory <= 0 {
		b.Memory = DefaultMemory
		if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
			b.Memory = limit / 2
		}
	}
	return b
}

// SizePlan is how a snapshot is read: how many splits it is cut into and
// how many readers run at once, and why.
type SizePlan struct {
	Bytes       int64 // uncompressed bytes of every SSTable
	ReaderBytes int64 // memory one reader holds: a window and chunk buffers per SSTable
	Splits      int   // from Bytes alone, so the same snapshot always gives the same splits
	Parallel    int   // readers at once: cores, within the memory budget, one per MinReaderBytes at most
	Reasons     []string
}

// Plan sizes a read of s within b. Splits depend only on the snapshot's
// data (a job resumed on another machine gets the same tasks); Parallel
// is the fewest of the cores, the readers the memory budget holds, and
// the readers worth having for this much data, and at least 1.
func Plan(s *Snapshot, b Budget) SizePlan {
	b = b.withDefaults()
	var p SizePlan
	for _, t := range s.Tables {
		p.Bytes += t.DataLength()
		p.ReaderBytes += t.readerBytes()
	}
	p.Splits = int(min(MaxSplits, max(1, (p.Bytes+b.SplitBytes-1)/b.SplitBytes)))
	p.Reasons = append(p.Reasons, fmt.Sprintf("%s: %s uncompressed in %s, %s a split",
		plural(p.Splits, "split"), size(p.Bytes), plural(len(s.Tables), "SSTable"), size(b.SplitBytes)))
	p.Parallel = b.Cores
	why := plural(b.Cores, "core")
	if n := b.Memory / max(1, p.ReaderBytes); n < int64(p.Parallel) {
		p.Parallel = int(max(1, n))
		why = fmt.Sprintf("memory budget %s, %s a reader (%s × %s window and chunks)",
			size(b.Memory), size(p.ReaderBytes), plural(len(s.Tables), "SSTable"), size(2*windowSize))
	}
	if n := (p.Bytes + MinReaderBytes - 1) / MinReaderBytes; n < int64(p.Parallel) {
		p.Parallel = int(max(1, n))
		why = fmt.Sprintf("%s of data, %s a reader at least", size(p.Bytes), size(MinReaderBytes))
	}
	p.Reasons = append(p.Reasons, fmt.Sprintf("%d parallel: %s", p.Parallel, why))
	return p
}

// String is the plan on one line: splits, parallel, and why.
func (p SizePlan) String() string {
	return fmt.Sprintf("plan: %s, %d parallel (%s)", plural(p.Splits, "split"), p.Parallel, strings.Join(p.Reasons, "; "))
}

// plural is n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// readerBytes is about what a merge holds of t: its window and the spare
// it reads into next, and a chunk as stored and decompressed.
func (t *Table) readerBytes() int64 {
	n := int64(2 * windowSize)
	switch {
	case t.Compression != nil:
		n += 2 * int64(t.Compression.ChunkLength)
	case t.checksums != nil:
		n += t.checksums.chunk
	}
	return n
}

// size is n bytes in KiB, MiB or GiB.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
