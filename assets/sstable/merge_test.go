package sstable_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

// openFixtures opens the SSTable of every fixture directory matching glob
// (relative to root), in name order.
func openFixtures(t *testing.T, root, glob string) []*sstable.Table {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(root, glob))
	if len(dirs) == 0 {
		t.Fatalf("no fixture matches %s", glob)
	}
	var out []*sstable.Table
	for _, dir := range dirs {
		data, _ := filepath.Glob(filepath.Join(dir, "*-Data.db"))
		if len(data) != 1 {
			t.Fatalf("%s: %d Data.db files", dir, len(data))
		}
		tab, err := sstable.Open(data[0])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tab)
	}
	return out
}

// Hand-built partitions: one int clustering column; columns v int, w
// text, s set<text>, l list<text>, c counter.
var (
	mInt    = &sstable.Type{Name: "Int32Type"}
	mText   = &sstable.Type{Name: "UTF8Type"}
	colV    = sstable.Column{Name: "v", Type: mInt}
	colW    = sstable.Column{Name: "w", Type: mText}
	colS    = sstable.Column{Name: "s", Type: &sstable.Type{Name: "SetType", Params: []*sstable.Type{mText}}}
	colL    = sstable.Column{Name: "l", Type: &sstable.Type{Name: "ListType", Params: []*sstable.Type{mText}}}
	colC    = sstable.Column{Name: "c", Type: &sstable.Type{Name: "CounterColumnType"}}
	ckTypes = []*sstable.Type{mInt}
)

func mI32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func mVal(ts int64, v string) sstable.Cell { return sstable.Cell{Timestamp: ts, Value: []byte(v)} }
func mTomb(ts int64) sstable.Cell {
	return sstable.Cell{Timestamp: ts, Tombstone: true, LDT: 1600000000}
}
func mExpiring(ts, ldt int64, v string) sstable.Cell {
	return sstable.Cell{Timestamp: ts, Expiring: true, LDT: ldt, TTL: 100, Value: []byte(v)}
}
func mElem(c sstable.Cell, path string) sstable.Cell { c.Path = []byte(path); return c }

func mSimple(col sstable.Column, c sstable.Cell) sstable.ColumnData {
	return sstable.ColumnData{Column: col, Cells: []sstable.Cell{c}}
}

func mComplex(col sstable.Column, del *sstable.Deletion, cells ...sstable.Cell) sstable.ColumnData {
	return sstable.ColumnData{Column: col, Deletion: del, Cells: cells}
}

func mRow(ck int32, cols ...sstable.ColumnData) sstable.Unfiltered {
	return sstable.Unfiltered{Row: &sstable.Row{Clustering: [][]byte{mI32(ck)}, Columns: cols}}
}

func mRowWith(ck int32, live *sstable.Liveness, del *sstable.Deletion, cols ...sstable.ColumnData) sstable.Unfiltered {
	u := mRow(ck, cols...)
	u.Row.Liveness, u.Row.Deletion = live, del
	return u
}

func mMarker(kind byte, del int64, bound ...int32) sstable.Unfiltered {
	m := &sstable.Marker{Kind: kind, Deletion: sstable.Deletion{MarkedForDeleteAt: del, LocalDeletionTime: 1600000000}}
	for _, b := range bound {
		m.Bound = append(m.Bound, mI32(b))
	}
	return sstable.Unfiltered{Marker: m}
}

func mBoundary(kind byte, end, start int64, bound int32) sstable.Unfiltered {
	u := mMarker(kind, end, bound)
	u.Marker.Start = &sstable.Deletion{MarkedForDeleteAt: start, LocalDeletionTime: 1600000000}
	return u
}

func mPart(del *sstable.Deletion, us ...sstable.Unfiltered) sstable.Partition {
	return sstable.Partition{Key: []byte("k"), Deletion: del, Unfiltereds: us}
}

func mDel(mfda int64) *sstable.Deletion {
	return &sstable.Deletion{MarkedForDeleteAt: mfda, LocalDeletionTime: 1600000000}
}

func mTimeUUID(minute byte) string {
	b := make([]byte, 16)
	b[3], b[6], b[8] = minute, 0x10, 0x80
	return string(b)
}

// counterCtx builds a context of global shards (id byte, clock, count).
func mCounter(shards ...[3]int64) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(shards)))
	for i := range shards {
		out = binary.BigEndian.AppendUint16(out, uint16(int16(i-32768)))
	}
	for _, s := range shards {
		id := make([]byte, 16)
		id[15] = byte(s[0])
		out = append(out, id...)
		out = binary.BigEndian.AppendUint64(out, uint64(s[1]))
		out = binary.BigEndian.AppendUint64(out, uint64(s[2]))
	}
	return out
}

// render prints a live partition compactly: one "ck: col=value@ts" line
// per row, the static row as "static:".
func renderLive(t *testing.T, lp sstable.LivePartition, ok bool) string {
	var lines []string
	line := func(head string, r sstable.LiveRow) {
		parts := []string{head}
		for _, c := range r.Columns {
			switch {
			case c.Column.Type.Counter():
				n, err := sstable.CounterValue(c.Value)
				if err != nil {
					t.Errorf("column %s: %v", c.Column.Name, err)
				}
				parts = append(parts, fmt.Sprintf("%s=%d@%d", c.Column.Name, n, c.Timestamp))
			case c.Column.Type.Complex():
				var es []string
				for _, e := range c.Elements {
					es = append(es, mPrintable(e.Path)+":"+mPrintable(e.Value))
				}
				parts = append(parts, fmt.Sprintf("%s={%s}@%d", c.Column.Name, strings.Join(es, ","), c.Timestamp))
			default:
				parts = append(parts, fmt.Sprintf("%s=%s@%d", c.Column.Name, mPrintable(c.Value), c.Timestamp))
			}
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	if lp.Static != nil {
		line("static:", *lp.Static)
	}
	for _, r := range lp.Rows {
		var cks []string
		for _, v := range r.Clustering {
			cks = append(cks, mPrintable(v))
		}
		line(strings.Join(cks, ",")+":", r)
	}
	if ok != (len(lines) > 0) {
		t.Errorf("ok = %v with %d live rows", ok, len(lines))
	}
	return strings.Join(lines, "\n")
}

// printable shows text as is, int32s as numbers, other bytes as hex.
func mPrintable(b []byte) string {
	if len(b) == 4 && b[0] == 0 {
		return fmt.Sprint(binary.BigEndian.Uint32(b))
	}
	if len(b) == 16 && b[6] == 0x10 {
		return fmt.Sprintf("t%d", b[3])
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", b)
		}
	}
	return string(b)
}

func TestMergePartition(t *testing.T) {
	live := func(ts int64) *sstable.Liveness { return &sstable.Liveness{Timestamp: ts} }
	for _, tc := range []struct {
		name  string
		parts []sstable.Partition
		now   int64
		drop  map[string]int64
		want  string
	}{
		{"newer timestamp wins", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mVal(20, "new")))),
			mPart(nil, mRow(1, mSimple(colW, mVal(10, "old")))),
		}, 0, nil, "1: w=new@20"},
		{"tie: a tombstone beats a live cell", []sstable.Partition{
			mPart(nil, mRowWith(1, live(5), nil, mSimple(colW, mVal(10, "a")))),
			mPart(nil, mRow(1, mSimple(colW, mTomb(10)))),
		}, 0, nil, "1:"},
		{"tie: an expiring cell beats a live one", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mVal(10, "z")))),
			mPart(nil, mRow(1, mSimple(colW, mExpiring(10, 2000, "a")))),
		}, 1000, nil, "1: w=a@10"},
		{"tie: a tombstone beats an expiring cell", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mExpiring(10, 2000, "a")))),
			mPart(nil, mRow(1, mSimple(colW, mTomb(10)))),
		}, 1000, nil, ""},
		{"tie: both expiring, the later expiry wins", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mExpiring(10, 3000, "late")))),
			mPart(nil, mRow(1, mSimple(colW, mExpiring(10, 2000, "soon")))),
		}, 1000, nil, "1: w=late@10"},
		{"tie: both live, the greater value wins", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mVal(10, "a")))),
			mPart(nil, mRow(1, mSimple(colW, mVal(10, "b")))),
		}, 0, nil, "1: w=b@10"},
		{"an older tombstone does not hide a newer cell", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mTomb(9)))),
			mPart(nil, mRow(1, mSimple(colW, mVal(10, "a")))),
		}, 0, nil, "1: w=a@10"},
		{"expiring cell live before its expiry", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mExpiring(10, 2000, "a")))),
		}, 1999, nil, "1: w=a@10"},
		{"expiring cell dead at its expiry", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mExpiring(10, 2000, "a")))),
		}, 2000, nil, ""},
		{"negative (overflowed pre-5.0) expiry is far future", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mExpiring(10, -2146700400, "a")))),
		}, 4294967293, nil, "1: w=a@10"},
		{"partition deletion: ties go to the deletion", []sstable.Partition{
			mPart(mDel(15), mRow(1, mSimple(colW, mVal(10, "a"))), mRow(2, mSimple(colW, mVal(20, "b")))),
			mPart(nil, mRow(3, mSimple(colW, mVal(15, "c")))),
		}, 0, nil, "2: w=b@20"},
		{"range tombstone covers the rows between its bounds", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colV, mVal(50, "a"))), mRow(2, mSimple(colV, mVal(50, "b"))),
				mRow(3, mSimple(colV, mVal(50, "c"))), mRow(4, mSimple(colV, mVal(50, "d")))),
			mPart(nil, mMarker(sstable.KindInclStartBound, 100, 2), mMarker(sstable.KindExclEndBound, 100, 4)),
		}, 0, nil, "1: v=a@50\n4: v=d@50"},
		{"range tombstone with exclusive start and inclusive end", []sstable.Partition{
			mPart(nil, mMarker(sstable.KindExclStartBound, 100, 1), mRow(2, mSimple(colV, mVal(50, "b"))), mMarker(sstable.KindInclEndBound, 100, 2)),
			mPart(nil, mRow(1, mSimple(colV, mVal(50, "a"))), mRow(2, mSimple(colV, mVal(150, "new"))), mRow(3, mSimple(colV, mVal(50, "c")))),
		}, 0, nil, "1: v=a@50\n2: v=new@150\n3: v=c@50"},
		{"boundaries close one deletion and open the next", []sstable.Partition{
			mPart(nil, mMarker(sstable.KindInclStartBound, 100, 1),
				mBoundary(sstable.KindExclEndInclStartBoundary, 100, 30, 3),
				mBoundary(sstable.KindInclEndExclStartBoundary, 30, 60, 5),
				mMarker(sstable.KindInclEndBound, 60, 6)),
			mPart(nil, mRow(1, mSimple(colV, mVal(50, "1"))), mRow(2, mSimple(colV, mVal(50, "2"))),
				mRow(3, mSimple(colV, mVal(50, "3"))), mRow(4, mSimple(colV, mVal(20, "4"))),
				mRow(5, mSimple(colV, mVal(50, "5"))), mRow(6, mSimple(colV, mVal(50, "6"))), mRow(7, mSimple(colV, mVal(50, "7")))),
		}, 0, nil, "3: v=3@50\n5: v=5@50\n7: v=7@50"},
		{"open-ended range tombstone older than the rows", []sstable.Partition{
			mPart(nil, mMarker(sstable.KindInclStartBound, 5), mRow(1, mSimple(colV, mVal(50, "a"))), mMarker(sstable.KindInclEndBound, 5)),
		}, 0, nil, "1: v=a@50"},
		{"row deletion hides older cells and liveness", []sstable.Partition{
			mPart(nil, mRowWith(1, live(10), nil, mSimple(colV, mVal(10, "a")), mSimple(colW, mVal(11, "b")))),
			mPart(nil, mRowWith(1, nil, mDel(10))),
		}, 0, nil, "1: w=b@11"},
		{"complex deletion keeps newer elements", []sstable.Partition{
			mPart(nil, mRow(1, mComplex(colS, nil, mElem(mVal(10, ""), "a"), mElem(mVal(10, ""), "b")))),
			mPart(nil, mRow(1, mComplex(colS, mDel(10), mElem(mVal(11, ""), "c")))),
		}, 0, nil, "1: s={c:}@11"},
		{"element tombstone", []sstable.Partition{
			mPart(nil, mRow(1, mComplex(colS, nil, mElem(mVal(10, ""), "a"), mElem(mVal(10, ""), "b")))),
			mPart(nil, mRow(1, mComplex(colS, nil, mElem(mTomb(12), "b")))),
		}, 0, nil, "1: s={a:}@10"},
		{"elements in path order across SSTables", []sstable.Partition{
			mPart(nil, mRow(1, mComplex(colL, nil, mElem(mVal(10, "x"), mTimeUUID(2)), mElem(mVal(10, "z"), mTimeUUID(9))))),
			mPart(nil, mRow(1, mComplex(colL, nil, mElem(mVal(12, "y"), mTimeUUID(5)), mElem(mVal(11, "X"), mTimeUUID(2))))),
		}, 0, nil, "1: l={t2:X,t5:y,t9:z}@12"},
		{"dropped column: cells at or before the drop are gone", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colV, mVal(15, "old")), mSimple(colW, mVal(15, "w"))), mRow(2, mSimple(colV, mVal(16, "new")))),
		}, 0, map[string]int64{"v": 15}, "1: w=w@15\n2: v=new@16"},
		{"counters merge shard by shard", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colC, sstable.Cell{Timestamp: 10, Value: mCounter([3]int64{1, 3, 3}, [3]int64{2, 1, 10})}))),
			mPart(nil, mRow(1, mSimple(colC, sstable.Cell{Timestamp: 20, Value: mCounter([3]int64{1, 5, 4}, [3]int64{3, 1, 100})}))),
			mPart(nil, mRow(1, mSimple(colC, sstable.Cell{Timestamp: 5, Value: mCounter([3]int64{2, 1, 10})}))),
		}, 0, nil, "1: c=114@20"},
		{"a counter tombstone wins over newer counts", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colC, mTomb(5)))),
			mPart(nil, mRow(1, mSimple(colC, sstable.Cell{Timestamp: 20, Value: mCounter([3]int64{1, 1, 1})}))),
		}, 0, nil, ""},
		{"a row with only its primary-key liveness is live", []sstable.Partition{
			mPart(nil, mRowWith(1, live(10), nil)),
		}, 0, nil, "1:"},
		{"an UPDATE-made row disappears with its last cell", []sstable.Partition{
			mPart(nil, mRow(1, mSimple(colW, mVal(10, "a")))),
			mPart(nil, mRow(1, mSimple(colW, mTomb(20)))),
		}, 0, nil, ""},
		{"an INSERTed row survives the deletion of its cells", []sstable.Partition{
			mPart(nil, mRowWith(1, live(10), nil, mSimple(colW, mVal(10, "a")))),
			mPart(nil, mRow(1, mSimple(colW, mTomb(20)))),
		}, 0, nil, "1:"},
		{"an expired row liveness does not keep the row", []sstable.Partition{
			mPart(nil, mRowWith(1, &sstable.Liveness{Timestamp: 10, TTL: 100, Expires: 500}, nil)),
		}, 500, nil, ""},
		{"static row alone keeps the partition visible", []sstable.Partition{
			{Key: []byte("k"), Static: &sstable.Row{Static: true, Columns: []sstable.ColumnData{mSimple(colW, mVal(10, "s"))}}},
		}, 0, nil, "static: w=s@10"},
		{"partition deletion hides the static row", []sstable.Partition{
			{Key: []byte("k"), Static: &sstable.Row{Static: true, Columns: []sstable.ColumnData{mSimple(colW, mVal(10, "s"))}}},
			mPart(mDel(10), mRow(1, mSimple(colW, mVal(11, "a")))),
		}, 0, nil, "1: w=a@11"},
		{"nothing live", []sstable.Partition{mPart(mDel(100), mRow(1, mSimple(colW, mVal(10, "a"))))}, 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, parts := range [][]sstable.Partition{tc.parts, mReversed(tc.parts)} {
				lp, ok := sstable.MergePartition(ckTypes, sstable.MergeOptions{Now: tc.now, Dropped: tc.drop}, parts)
				if got := renderLive(t, lp, ok); got != tc.want {
					t.Errorf("got\n%s\nwant\n%s", got, tc.want)
				}
			}
		})
	}
}

func mReversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestMergeCounterContexts(t *testing.T) {
	local := func(id byte, clock, count int64) []byte { // one local shard
		b := []byte{0, 1, 0, 0}
		b = append(b, make([]byte, 15)...)
		b = append(b, id)
		b = binary.BigEndian.AppendUint64(b, uint64(clock))
		return binary.BigEndian.AppendUint64(b, uint64(count))
	}
	remote := func(id byte, clock, count int64) []byte {
		b := local(id, clock, count)
		return append([]byte{0, 0}, b[4:]...)
	}
	for _, tc := range []struct {
		name string
		a, b []byte
		want int64
	}{
		{"global: higher clock wins", mCounter([3]int64{1, 2, 7}), mCounter([3]int64{1, 3, 5}), 5},
		{"global: equal clocks, higher count", mCounter([3]int64{1, 3, 7}), mCounter([3]int64{1, 3, 5}), 7},
		{"disjoint ids add up", mCounter([3]int64{1, 1, 1}), mCounter([3]int64{2, 1, 2}), 3},
		{"local + local sum", local(1, 1, 4), local(1, 2, 5), 9},
		{"global beats local", mCounter([3]int64{1, 1, 1}), local(1, 9, 50), 1},
		{"local beats remote", remote(1, 9, 50), local(1, 1, 4), 4},
		{"remote: higher clock wins", remote(1, 9, 50), remote(1, 2, 5), 50},
	} {
		for _, ab := range [][2][]byte{{tc.a, tc.b}, {tc.b, tc.a}} {
			merged, err := sstable.MergeCounterContexts(ab[0], ab[1])
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got, err := sstable.CounterValue(merged); err != nil || got != tc.want {
				t.Errorf("%s: value %d (%v), want %d", tc.name, got, err, tc.want)
			}
		}
	}
	if _, err := sstable.CounterValue([]byte{0, 1, 0, 0, 1}); err == nil {
		t.Error("malformed context: no error")
	}
}

// fixtureNow is 2023-11-14: after every fixture was written.
const fixtureNow = 1700000000

func mergeAll(t *testing.T, tables []*sstable.Table, opts sstable.MergeOptions) []sstable.LivePartition {
	t.Helper()
	var out []sstable.LivePartition
	if err := sstable.Merge(tables, opts, func(pr *sstable.PartitionRows) error {
		lp, err := pr.Collect()
		out = append(out, lp)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func renderAll(t *testing.T, lps []sstable.LivePartition) string {
	var out []string
	for _, lp := range lps {
		out = append(out, "["+mPrintable(lp.Key)+"]\n"+renderLive(t, lp, true))
	}
	return strings.Join(out, "\n")
}

// TestMergeFixtures checks the merged live view of the fixtures the
// README documents one by one.
func TestMergeFixtures(t *testing.T) {
	root := fixtures(t)
	const b70 = "ABCDEFGABCDEFGABCDEFGABCDEFGABCDEFGABCDEFGABCDEFGABCDEFGABCDEFGABCDEFG"
	var reader strings.Builder
	reader.WriteString("[22]")
	for i := range 100 {
		fmt.Fprintf(&reader, "\n%d: b=%s@", i, b70)
		if i == 33 {
			reader.WriteString("1678096974701000")
		} else {
			reader.WriteString("*")
		}
	}
	for _, tc := range []struct {
		fixture string
		now     int64
		want    string // "@*" matches any timestamp
	}{
		{"nb/invalid_range_tombstone_compaction", fixtureNow, "[1]\n1: b=1@1678097846630001\n[0]\n0: b=0@1678097846630000\n[22]\n33:"},
		{"nb/invalid_range_tombstone_reader", fixtureNow, reader.String()},
		{"nc/invalid_partition_deletion", fixtureNow, "[1]\n1: b=1@1677485274991000\n[0]\n0: b=0@1677485274990000"},
		{"nc/invalid_tombstones", fixtureNow, "[1]\n1: b=1@1677141132773000\n[0]\n0: b=0@1677141132772000\n[22]\n33:"},
		// TTL 20 years, expiration overflowed: live, even in 2096.
		{"mc/negative_local_expiration_table1", fixtureNow, "[1]\n: a=1@1517546895669000 b=1@1517546895669000\n[2]\n: a=2@1517546895664000"},
		{"mc/negative_local_expiration_table1", 4000000000, "[1]\n: a=1@1517546895669000 b=1@1517546895669000\n[2]\n: a=2@1517546895664000"},
		{"mc/negative_local_expiration_table2", fixtureNow, "[1]\n1: b=1@1517546895245000\n[2]\n2:"},
		{"mc/negative_local_expiration_table3", fixtureNow, "[1]\n: a=1@1517546896769000 b={v11:,v12:,v13:,v14:}@1517546896769000\n[2]\n: a=2@1517546896759000 b={v21:,v22:,v23:,v24:}@1517546896759000"},
		{"mc/negative_local_expiration_table4", 4000000000, "[1]\n1: b={v11:,v12:,v13:,v14:}@1517546896259000\n[2]\n2: b={v21:,v22:,v23:,v24:}@1517546896248000"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			tables := openFixtures(t, root, tc.fixture)
			got := renderAll(t, mergeAll(t, tables, sstable.MergeOptions{Now: tc.now}))
			if !matchStars(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// matchStars compares line by line; "@*" in want matches "@" and digits.
func matchStars(got, want string) bool {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		before, _, star := strings.Cut(w[i], "@*")
		if star && strings.Count(w[i], "@*") == 1 && strings.HasSuffix(w[i], "@*") {
			if !strings.HasPrefix(g[i], before+"@") || strings.Trim(g[i][len(before)+1:], "0123456789") != "" {
				return false
			}
			continue
		}
		if g[i] != w[i] {
			return false
		}
	}
	return true
}

// The legacy tables: 5 partitions "0".."4", one row each (simple) or 50
// rows in text order (clust), values as the README says.
func TestMergeLegacyFixtures(t *testing.T) {
	root := fixtures(t)
	rs := map[string]string{
		"nb": "lxvwpnwfbdpmayjujittwghygywemwpvlemfkutzstfbiednkferyifrvvauhpdowraebccylljbibrbolnnoifwjkspqzgjdihyknypyzricuymwknfitpvjmvpcxob",
		"oa": "rvuxpepvjxefzigbwqiygtxglwthqvrmbvqhewhyaznsquqbfualplyzbeqjeuylznsjivvrwwiajaxykiodasryolrtzpvduxfukbvcrrrjdokvklidxbzdvenrpddn",
		"da": "wxappmnfhjwtvqhxcmeeupmryhmmvjmcxrcbvtxfdyeaxbeemxusoynrkhgatseiqrrcseynuwevqdipsgplgvqcelsjdtlkeetrcufulrzonyuscrlbowotizznpmcd",
		"me": "oixgnbacuexwrsuuwzjuszpgsdswwtwepgqasmaymumevsvgdpogvetmrhbxgwelokmvkqmqdrhxlhzqbtgddexfvfeymprrbgsnmsnuprimiclezljvhsmmvqxcwzvj",
	}
	long := strings.Repeat("0123456789", 120)
	var cks []string
	for i := range 50 {
		cks = append(cks, fmt.Sprint(i)+long)
	}
	slices.Sort(cks) // text clustering: byte order
	n := 0
	for ver, r := range rs {
		for _, kind := range []string{"simple", "simple_counter", "clust", "clust_counter"} {
			dirs, _ := filepath.Glob(filepath.Join(root, ver, "legacy_"+ver+"_"+kind))
			if len(dirs) == 0 {
				continue // me has no counter tables
			}
			n++
			t.Run(ver+"/"+kind, func(t *testing.T) {
				lps := mergeAll(t, openFixtures(t, root, filepath.Join(ver, "legacy_"+ver+"_"+kind)), sstable.MergeOptions{Now: fixtureNow})
				if len(lps) != 5 {
					t.Fatalf("%d partitions, want 5", len(lps))
				}
				rows := 0
				for i, lp := range lps {
					if string(lp.Key) != fmt.Sprint(i) || lp.Static != nil {
						t.Errorf("partition %d: key %q, static %v", i, lp.Key, lp.Static)
					}
					for j, row := range lp.Rows {
						rows++
						if strings.HasPrefix(kind, "clust") && string(row.Clustering[0]) != cks[j] {
							t.Errorf("partition %d row %d: clustering %.5q…, want %.5q…", i, j, row.Clustering[0], cks[j])
						}
						if len(row.Columns) != 1 || row.Columns[0].Column.Name != "val" {
							t.Fatalf("partition %d row %d: columns %+v", i, j, row.Columns)
						}
						v := row.Columns[0].Value
						switch kind {
						case "simple":
							if string(v) != "foo bar baz" {
								t.Errorf("partition %d: val %q", i, v)
							}
						case "clust":
							if string(v) != r {
								t.Errorf("partition %d row %d: val %q, want %q", i, j, v, r)
							}
						default:
							if c, err := sstable.CounterValue(v); err != nil || c != 1 {
								t.Errorf("partition %d row %d: counter %d (%v), want 1", i, j, c, err)
							}
						}
					}
				}
				if want := map[bool]int{true: 250, false: 5}[strings.HasPrefix(kind, "clust")]; rows != want {
					t.Errorf("%d rows, want %d", rows, want)
				}
			})
		}
	}
	if n != 14 {
		t.Errorf("%d legacy fixtures, want 14", n)
	}
}

// TestMergeInvalidTablesTogether merges the four fixtures that share the
// schema (id int, id2 int, b text): partition 22's deletion (2023-02-27)
// hides invalid_tombstones' older row and b tombstone but none of the
// reader's newer rows; the ms-timestamped range tombstones hide nothing.
func TestMergeInvalidTablesTogether(t *testing.T) {
	root := fixtures(t)
	tables := slices.Concat(openFixtures(t, root, "nb/invalid_*"), openFixtures(t, root, "nc/invalid_*"))
	if len(tables) != 4 {
		t.Fatalf("%d tables", len(tables))
	}
	got := mergeAll(t, tables, sstable.MergeOptions{Now: fixtureNow})
	if s := renderAll(t, got); !strings.HasPrefix(s, "[1]\n1: b=1@1678097846630001\n[0]\n0: b=0@1678097846630000\n[22]\n0: b=ABCDEFG") {
		t.Errorf("got\n%.300s", s)
	}
	if len(got) != 3 || len(got[2].Rows) != 100 {
		t.Fatalf("%d partitions, the last with %d rows; want 3, 100", len(got), len(got[len(got)-1].Rows))
	}
	for i, r := range got[2].Rows {
		if binary.BigEndian.Uint32(r.Clustering[0]) != uint32(i) || len(r.Columns) != 1 || len(r.Columns[0].Value) != 70 {
			t.Errorf("partition 22 row %d: %x %+v", i, r.Clustering[0], r.Columns)
		}
	}
	if again := mergeAll(t, mReversed(tables), sstable.MergeOptions{Now: fixtureNow}); !reflect.DeepEqual(again, got) {
		t.Error("merging the tables in the other order differs")
	}
}

// mergeFixtureSets are the inputs of the self-merge and split tests.
var mergeFixtureSets = []string{
	"nb/legacy_nb_clust", "nb/legacy_nb_clust_counter", "oa/legacy_oa_simple", "da/legacy_da_clust",
	"me/legacy_me_clust", "nb/invalid_*", "nc/invalid_*", "mc/negative_local_expiration_table*",
}

func TestMergeTableWithItself(t *testing.T) {
	root := fixtures(t)
	for _, glob := range mergeFixtureSets {
		for _, tab := range openFixtures(t, root, glob) {
			once := mergeAll(t, []*sstable.Table{tab}, sstable.MergeOptions{Now: fixtureNow})
			twice := mergeAll(t, []*sstable.Table{tab, tab}, sstable.MergeOptions{Now: fixtureNow})
			if len(once) == 0 || !reflect.DeepEqual(once, twice) {
				t.Errorf("%s: merged with itself: %d partitions, alone %d, or they differ", tab.Dir, len(twice), len(once))
			}
		}
	}
}

func TestMergeSplitsAreIndependentOfN(t *testing.T) {
	root := fixtures(t)
	for _, glob := range []string{"nb/legacy_nb_clust", "oa/legacy_oa_simple_counter", "nb/invalid_*", "mc/negative_local_expiration_table*"} {
		tables := slices.Concat(openFixtures(t, root, glob))
		if strings.HasPrefix(glob, "nb/invalid") {
			tables = append(tables, openFixtures(t, root, "nc/invalid_*")...)
		}
		if strings.HasPrefix(glob, "mc/") {
			tables = tables[:1] // the four tables' schemas differ
		}
		want := mergeAll(t, tables, sstable.MergeOptions{Now: fixtureNow})
		maxRanges := 0
		for n := 1; n <= 8; n++ {
			ranges, err := sstable.MergeSplits(tables, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(ranges) < 1 || len(ranges) > n || ranges[0].Start != nil || ranges[len(ranges)-1].End != nil {
				t.Fatalf("%s n=%d: ranges %v", glob, n, ranges)
			}
			maxRanges = max(maxRanges, len(ranges))
			var got []sstable.LivePartition
			for i, r := range ranges {
				if i > 0 && (r.Start == nil || ranges[i-1].End == nil || r.Start.Compare(*ranges[i-1].End) != 0) {
					t.Errorf("%s n=%d: range %d %v does not follow %v", glob, n, i, r, ranges[i-1])
				}
				err := sstable.MergeRange(tables, r, sstable.MergeOptions{Now: fixtureNow}, func(pr *sstable.PartitionRows) error {
					lp, err := pr.Collect()
					got = append(got, lp)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s n=%d (%d ranges): %d partitions, want the %d of Merge", glob, n, len(ranges), len(got), len(want))
			}
		}
		// The legacy partitions are all of a size: n ranges for n <= 5.
		if strings.HasPrefix(glob, "nb/legacy") && maxRanges != 5 {
			t.Errorf("%s: at most %d ranges for %d partitions of a size", glob, maxRanges, len(want))
		}
	}
}
