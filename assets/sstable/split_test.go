package sstable_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

// checkSplits checks the splits of tab for target: they cover the stream
// with no gap or overlap, start on partition starts, keep partitions
// larger than target alone, and scanning them all gives exactly the
// partitions of the whole-stream decode, in order.
func checkSplits(t *testing.T, tab *sstable.Table, target int64) {
	t.Helper()
	data, err := tab.Data()
	if err != nil {
		t.Fatal(err)
	}
	var whole []sstable.Partition
	if err := tab.Partitions(data, func(p sstable.Partition) error { whole = append(whole, p); return nil }); err != nil {
		t.Fatal(err)
	}
	splits, err := tab.Splits(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) == 0 || splits[0].From != 0 || splits[len(splits)-1].To != tab.DataLength() {
		t.Fatalf("target %d: splits %v do not cover [0, %d)", target, splits, tab.DataLength())
	}
	if target <= 0 && len(splits) != 1 {
		t.Errorf("target %d: %d splits, want 1", target, len(splits))
	}
	var got []sstable.Partition
	for i, s := range splits {
		if s.From >= s.To || (i > 0 && s.From != splits[i-1].To) {
			t.Fatalf("target %d: split %d %v after %v", target, i, s, splits[max(0, i-1)])
		}
		var in []sstable.Partition
		if err := tab.Scan(s, func(p sstable.Partition) error { in = append(in, p); return nil }); err != nil {
			t.Fatalf("target %d: split %v: %v", target, s, err)
		}
		if len(in) == 0 || in[0].Offset != s.From || in[len(in)-1].End != s.To {
			t.Fatalf("target %d: split %v scans %d partitions", target, s, len(in))
		}
		for _, p := range in {
			if len(in) > 1 && target > 0 && p.End-p.Offset > target {
				t.Errorf("target %d: split %v holds a %d-byte partition and others", target, s, p.End-p.Offset)
			}
		}
		if target > 0 && len(in) > 1 && s.To-s.From > target+target/2 {
			t.Errorf("target %d: split %v of %d partitions is %d bytes", target, s, len(in), s.To-s.From)
		}
		got = append(got, in...)
	}
	if len(got) != len(whole) {
		t.Fatalf("target %d: %d partitions over %d splits, want %d", target, len(got), len(splits), len(whole))
	}
	for i := range whole {
		if !reflect.DeepEqual(got[i], whole[i]) {
			t.Fatalf("target %d: partition %d differs: key %x at %d..%d, want %x at %d..%d", target, i, got[i].Key, got[i].Offset, got[i].End, whole[i].Key, whole[i].Offset, whole[i].End)
		}
	}
}

var targets = []int64{-1, 0, 1, 23, 100, 4096, 16384, 50000, 67182, 67183, 100000, 200000, 1 << 20}

func TestSplitsScanToTheWholeDecode(t *testing.T) {
	for _, name := range []string{"nb/legacy_nb_clust", "da/legacy_da_clust", "da/legacy_da_simple", "oa/legacy_oa_simple_counter",
		"me/legacy_me_clust", "nb/invalid_range_tombstone_compaction", "nb/invalid_range_tombstone_reader", "mc/negative_local_expiration_table3"} {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			tab := open(t, f.data)
			ts := targets
			for n := int64(1); n <= 6; n++ { // n ranges, as the fixtures' README asks
				ts = append(ts, f.want.UncompressedLength/n)
			}
			for _, target := range ts {
				checkSplits(t, tab, target)
			}
		})
	}
}

// TestSplitsOfManyPartitions splits a table of 400 partitions of 0 to 50
// rows each, built from the rows of oa/legacy_oa_clust.
func TestSplitsOfManyPartitions(t *testing.T) {
	f := loadFixture(t, "oa/legacy_oa_clust")
	src := open(t, f.data)
	data, err := src.Data()
	must(t, err)
	// The first partition: u16 key length, key, 1-byte live deletion, rows, 0x01.
	first := data[:f.want.Partitions[0].EndOffset]
	body := first[2+int(binary.BigEndian.Uint16(first))+1:]
	var rows [][]byte
	for len(body) > 0 && body[0] != 0x01 {
		n := rowLength(t, body)
		rows = append(rows, body[:n])
		body = body[n:]
	}
	if len(rows) != 50 {
		t.Fatalf("%d rows in the first partition, want 50", len(rows))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var index []sstable.IndexEntry
	for i := range 400 {
		n := rng.IntN(4)
		switch r := rng.IntN(100); {
		case r < 5:
			n = 50
		case r < 20:
			n = 4 + rng.IntN(12)
		}
		key := []byte(fmt.Sprintf("k%04d", i))
		index = append(index, sstable.IndexEntry{Key: key, Offset: int64(len(stream))})
		stream = binary.BigEndian.AppendUint16(stream, uint16(len(key)))
		stream = append(stream, key...)
		stream = append(stream, 0x80)
		for _, r := range rows[:n] {
			stream = append(stream, r...)
		}
		stream = append(stream, 0x01)
	}
	for _, tb := range []table{
		{from: f, stream: stream, class: "LZ4Compressor", chunk: 4096, maxLen: 1<<31 - 1, enc: codecs[0].enc, index: index, noSummary: true},
		{from: f, stream: stream, index: index, noSummary: true},
	} {
		t.Run("compressed="+fmt.Sprint(tb.class != ""), func(t *testing.T) {
			tab := open(t, tb.write(t))
			idx, err := tab.Index()
			if err != nil || !reflect.DeepEqual(idx, index) {
				t.Fatalf("index of %d entries (%v), want the %d written", len(idx), err, len(index))
			}
			for _, target := range append(targets, 7, 999, 5000, 30000, 250000, int64(len(stream))) {
				checkSplits(t, tab, target)
			}
		})
	}
}

// rowLength is the length of the oa_clust row (flags, clustering of one
// text value, uvint size, the rest) at the start of b.
func rowLength(t *testing.T, b []byte) int {
	t.Helper()
	off := 1
	if b[0]&0x80 != 0 {
		off++
	}
	_, off = uvint(b, off)  // clustering header
	n, off := uvint(b, off) // value length
	off += int(n)
	size, off := uvint(b, off)
	return off + int(size)
}

func uvint(b []byte, off int) (uint64, int) {
	extra := 0
	for extra < 8 && b[off]&(0x80>>extra) != 0 {
		extra++
	}
	v := uint64(b[off]) & (0xFF >> (extra + 1))
	for i := 1; i <= extra; i++ {
		v = v<<8 | uint64(b[off+i])
	}
	return v, off + 1 + extra
}
