package sstable_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

// fixtures is the directory of real Cassandra SSTables beside the repo.
func fixtures(t *testing.T) string {
	t.Helper()
	return need.Fixtures(t)
}

// expected mirrors the fixtures' expected/<ver>/<fixture>.json.
type expected struct {
	Partitioner         string `json:"partitioner"`
	SerializationHeader struct {
		MinTimestamp int64                         `json:"min_timestamp"`
		MinTTL       int32                         `json:"min_ttl"`
		PartitionKey string                        `json:"partition_key_type"`
		Clustering   []string                      `json:"clustering_types"`
		Regular      []struct{ Name, Type string } `json:"regular_columns"`
		Static       []struct{ Name, Type string } `json:"static_columns"`
	} `json:"serialization_header"`
	UncompressedLength int64 `json:"uncompressed_data_length"`
	Partitions         []struct {
		Key         value        `json:"key"`
		DataOffset  int64        `json:"data_offset"`
		EndOffset   int64        `json:"end_offset"`
		Deletion    *deletion    `json:"partition_deletion"`
		Static      *unfiltered  `json:"static_row"`
		Unfiltereds []unfiltered `json:"unfiltereds"`
	} `json:"partitions"`
}

type value struct {
	Hex    string `json:"hex"`
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"`
}

type deletion struct {
	MFDA int64 `json:"marked_for_delete_at"`
	LDT  int64 `json:"local_deletion_time"`
}

type cell struct {
	Column          string                 `json:"column"`
	Flags           byte                   `json:"flags"`
	Timestamp       int64                  `json:"timestamp"`
	Tombstone       bool                   `json:"tombstone"`
	Expiring        bool                   `json:"expiring"`
	TTL             int32                  `json:"ttl"`
	LDT             *int64                 `json:"local_deletion_time"`
	Path            *value                 `json:"path"`
	Value           *value                 `json:"value"`
	Counter         *struct{ Total int64 } `json:"counter"`
	Complex         bool                   `json:"complex"`
	ComplexDeletion *deletion              `json:"complex_deletion"`
	Cells           []cell                 `json:"cells"`
}

type unfiltered struct {
	Type       string  `json:"type"`
	Clustering []value `json:"clustering"`
	Flags      byte    `json:"flags"`
	Liveness   *struct {
		Timestamp int64  `json:"timestamp"`
		TTL       int32  `json:"ttl"`
		Expires   *int64 `json:"local_expiration_time"`
	} `json:"liveness"`
	Deletion      *deletion `json:"deletion"`
	Cells         []cell    `json:"cells"`
	Kind          string    `json:"kind"`
	Bound         []value   `json:"bound"`
	EndDeletion   *deletion `json:"end_deletion"`
	StartDeletion *deletion `json:"start_deletion"`
}

// matches compares decoded bytes with an expected value (hex, or length
// and SHA-256 for long values).
func matches(b []byte, v value) bool {
	if v.SHA256 != "" {
		sum := sha256.Sum256(b)
		return len(b) == v.Len && hex.EncodeToString(sum[:]) == v.SHA256
	}
	return hex.EncodeToString(b) == v.Hex
}

func counterTotal(ctx []byte) (int64, error) {
	if len(ctx) < 2 {
		return 0, errors.New("short counter context")
	}
	h := int(int16(binary.BigEndian.Uint16(ctx)))
	if h < 0 {
		h = -h
	}
	body := ctx[2+2*h:]
	var total int64
	for len(body) >= 32 {
		total += int64(binary.BigEndian.Uint64(body[24:32]))
		body = body[32:]
	}
	if len(body) != 0 {
		return 0, errors.New("counter context is not whole shards")
	}
	return total, nil
}

// bigFixtures are the fixture versions this reader reads: every BIG one
// and da, the BTI format, whose Data.db is oa's.
var bigFixtures = []string{"nb", "oa", "da", "nc", "mc", "me"}

func TestFixturesDecodeToTheirExpectedContents(t *testing.T) {
	root := fixtures(t)
	n := 0
	for _, ver := range bigFixtures {
		dirs, _ := filepath.Glob(filepath.Join(root, ver, "*"))
		for _, dir := range dirs {
			name := ver + "/" + filepath.Base(dir)
			t.Run(name, func(t *testing.T) {
				data, _ := filepath.Glob(filepath.Join(dir, "*-Data.db"))
				if len(data) != 1 {
					t.Fatalf("%d Data.db files", len(data))
				}
				raw, err := os.ReadFile(filepath.Join(root, "expected", ver, filepath.Base(dir)+".json"))
				if err != nil {
					t.Fatal(err)
				}
				var want expected
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				compareTable(t, data[0], want)
			})
			n++
		}
	}
	if n < 20 {
		t.Errorf("read %d fixtures, want the 20 there are", n)
	}
}

func compareTable(t *testing.T, path string, want expected) {
	tab, err := sstable.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := tab.Header
	if tab.Partitioner != want.Partitioner || h.MinTimestamp != want.SerializationHeader.MinTimestamp || h.MinTTL != want.SerializationHeader.MinTTL ||
		h.PartitionKey.Raw != want.SerializationHeader.PartitionKey || len(h.Clustering) != len(want.SerializationHeader.Clustering) ||
		len(h.RegularColumns) != len(want.SerializationHeader.Regular) || len(h.StaticColumns) != len(want.SerializationHeader.Static) {
		t.Fatalf("metadata: partitioner %s, header %+v; want %s, %+v", tab.Partitioner, h, want.Partitioner, want.SerializationHeader)
	}
	for i, c := range want.SerializationHeader.Regular {
		if h.RegularColumns[i].Name != c.Name || h.RegularColumns[i].Type.Raw != c.Type {
			t.Errorf("regular column %d: %s %s, want %s %s", i, h.RegularColumns[i].Name, h.RegularColumns[i].Type.Raw, c.Name, c.Type)
		}
	}
	data, err := tab.Data()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != want.UncompressedLength {
		t.Errorf("%d uncompressed bytes, want %d", len(data), want.UncompressedLength)
	}
	var got []sstable.Partition
	if err := tab.Partitions(data, func(p sstable.Partition) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.Partitions) {
		t.Fatalf("%d partitions, want %d", len(got), len(want.Partitions))
	}
	for i, wp := range want.Partitions {
		p := got[i]
		where := fmt.Sprintf("partition %d (%s)", i, wp.Key.Hex)
		if !matches(p.Key, wp.Key) || p.Offset != wp.DataOffset || p.End != wp.EndOffset {
			t.Errorf("%s: key %x at %d..%d, want %s at %d..%d", where, p.Key, p.Offset, p.End, wp.Key.Hex, wp.DataOffset, wp.EndOffset)
		}
		compareDeletion(t, where+" deletion", p.Deletion, wp.Deletion)
		if (p.Static == nil) != (wp.Static == nil) {
			t.Errorf("%s: static row %v, want %v", where, p.Static != nil, wp.Static != nil)
		} else if p.Static != nil {
			compareRow(t, where+" static row", p.Static, *wp.Static)
		}
		if len(p.Unfiltereds) != len(wp.Unfiltereds) {
			t.Errorf("%s: %d unfiltereds, want %d", where, len(p.Unfiltereds), len(wp.Unfiltereds))
			continue
		}
		for j, wu := range wp.Unfiltereds {
			u := p.Unfiltereds[j]
			w := fmt.Sprintf("%s unfiltered %d", where, j)
			switch wu.Type {
			case "row":
				if u.Row == nil {
					t.Errorf("%s: got a marker, want a row", w)
					continue
				}
				compareRow(t, w, u.Row, wu)
			case "range_tombstone_marker":
				if u.Marker == nil {
					t.Errorf("%s: got a row, want a marker", w)
					continue
				}
				m := u.Marker
				if sstable.KindName(m.Kind) != wu.Kind || len(m.Bound) != len(wu.Bound) {
					t.Errorf("%s: kind %s with %d values, want %s with %d", w, sstable.KindName(m.Kind), len(m.Bound), wu.Kind, len(wu.Bound))
				}
				for k, v := range wu.Bound {
					if k < len(m.Bound) && !matches(m.Bound[k], v) {
						t.Errorf("%s: bound value %d = %x, want %+v", w, k, m.Bound[k], v)
					}
				}
				if wu.Deletion != nil {
					compareDeletion(t, w, &m.Deletion, wu.Deletion)
				} else {
					compareDeletion(t, w+" end", &m.Deletion, wu.EndDeletion)
					compareDeletion(t, w+" start", m.Start, wu.StartDeletion)
				}
			default:
				t.Errorf("%s: unknown type %s", w, wu.Type)
			}
		}
	}
}

func compareDeletion(t *testing.T, where string, got *sstable.Deletion, want *deletion) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s: %+v, want %+v", where, got, want)
	case got.MarkedForDeleteAt != want.MFDA || got.LocalDeletionTime != want.LDT:
		t.Errorf("%s: %+v, want %+v", where, *got, *want)
	}
}

func compareRow(t *testing.T, where string, r *sstable.Row, w unfiltered) {
	t.Helper()
	if r.Flags != w.Flags || len(r.Clustering) != len(w.Clustering) {
		t.Errorf("%s: flags %d, %d clustering values; want %d, %d", where, r.Flags, len(r.Clustering), w.Flags, len(w.Clustering))
		return
	}
	for i, v := range w.Clustering {
		if !matches(r.Clustering[i], v) {
			t.Errorf("%s: clustering %d = %x, want %+v", where, i, r.Clustering[i], v)
		}
	}
	switch {
	case (r.Liveness == nil) != (w.Liveness == nil):
		t.Errorf("%s: liveness %+v, want %+v", where, r.Liveness, w.Liveness)
	case r.Liveness != nil:
		if r.Liveness.Timestamp != w.Liveness.Timestamp || r.Liveness.TTL != w.Liveness.TTL ||
			(w.Liveness.Expires != nil && r.Liveness.Expires != *w.Liveness.Expires) {
			t.Errorf("%s: liveness %+v, want %+v", where, *r.Liveness, *w.Liveness)
		}
	}
	compareDeletion(t, where+" row deletion", r.Deletion, w.Deletion)
	if len(r.Columns) != len(w.Cells) {
		t.Errorf("%s: %d columns, want %d", where, len(r.Columns), len(w.Cells))
		return
	}
	for i, wc := range w.Cells {
		cd := r.Columns[i]
		cw := fmt.Sprintf("%s column %s", where, wc.Column)
		if cd.Column.Name != wc.Column {
			t.Errorf("%s: got column %s", cw, cd.Column.Name)
			continue
		}
		if wc.Complex {
			compareDeletion(t, cw+" complex deletion", cd.Deletion, wc.ComplexDeletion)
			if len(cd.Cells) != len(wc.Cells) {
				t.Errorf("%s: %d cells, want %d", cw, len(cd.Cells), len(wc.Cells))
				continue
			}
			for k, we := range wc.Cells {
				compareCell(t, fmt.Sprintf("%s element %d", cw, k), cd.Cells[k], we)
			}
			continue
		}
		if len(cd.Cells) != 1 {
			t.Errorf("%s: %d cells for a simple column", cw, len(cd.Cells))
			continue
		}
		compareCell(t, cw, cd.Cells[0], wc)
	}
}

func compareCell(t *testing.T, where string, c sstable.Cell, w cell) {
	t.Helper()
	if c.Flags != w.Flags || c.Timestamp != w.Timestamp || c.Tombstone != w.Tombstone || c.Expiring != w.Expiring || c.TTL != w.TTL {
		t.Errorf("%s: %+v, want %+v", where, c, w)
		return
	}
	if w.LDT != nil && c.LDT != *w.LDT {
		t.Errorf("%s: local deletion time %d, want %d", where, c.LDT, *w.LDT)
	}
	if w.Path != nil && !matches(c.Path, *w.Path) {
		t.Errorf("%s: path %x, want %+v", where, c.Path, *w.Path)
	}
	switch {
	case w.Counter != nil:
		total, err := counterTotal(c.Value)
		if err != nil || total != w.Counter.Total {
			t.Errorf("%s: counter total %d (%v), want %d", where, total, err, w.Counter.Total)
		}
	case w.Value != nil:
		if !matches(c.Value, *w.Value) {
			t.Errorf("%s: value %x, want %+v", where, c.Value, *w.Value)
		}
	case len(c.Value) > 0:
		t.Errorf("%s: value %x, want none", where, c.Value)
	}
}

func TestCorruptChunkNamesFileChunkAndOffset(t *testing.T) {
	src := filepath.Join(fixtures(t), "nb", "legacy_nb_clust")
	dir := t.TempDir()
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	data := filepath.Join(dir, "nb-1-big-Data.db")
	tab, err := sstable.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	chunk := 3
	b, _ := os.ReadFile(data)
	b[tab.Compression.Offsets[chunk]+10] ^= 0xFF
	os.WriteFile(data, b, 0o644)
	_, err = tab.Data()
	want := fmt.Sprintf("chunk %d at offset %d: checksum mismatch", chunk, tab.Compression.Offsets[chunk])
	if !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), "nb-1-big-Data.db") || !strings.Contains(err.Error(), want) {
		t.Errorf("flipped byte in chunk %d: %v; want ErrCorrupt naming the file and %q", chunk, err, want)
	}
}

// TestUnknownVersionIsAnError renames SSTables to versions they are not:
// an unknown version is unsupported, and a known one whose Statistics.db
// is laid out for another is corrupt; either error names the file, and
// neither reads as an SSTable with no rows.
func TestUnknownVersionIsAnError(t *testing.T) {
	for _, tc := range []struct {
		fixture, to string
		err         error
		want        string
	}{
		{"nb/legacy_nb_simple", "zz", sstable.ErrUnsupported, "version zz of the big format"},
		{"nb/legacy_nb_simple", "ea", sstable.ErrUnsupported, "version ea of the big format"},
		{"nb/legacy_nb_simple", "pa", sstable.ErrUnsupported, "version pa of the big format"},
		{"da/legacy_da_simple", "db", sstable.ErrUnsupported, "version db of the bti format"},
		{"da/legacy_da_simple", "oa", sstable.ErrUnsupported, "version oa of the bti format"},
		{"nb/legacy_nb_simple", "ma", sstable.ErrCorrupt, "file name says version ma"},
		{"oa/legacy_oa_simple", "md", sstable.ErrCorrupt, "file name says version md"},
	} {
		t.Run(tc.fixture+"->"+tc.to, func(t *testing.T) {
			src := copyFixture(t, loadFixture(t, tc.fixture))
			dir, from := filepath.Dir(src), filepath.Base(src)[:2]
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				must(t, os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dir, tc.to+strings.TrimPrefix(e.Name(), from))))
			}
			s, err := sstable.OpenSnapshot(dir)
			if err == nil {
				err = s.Rows(context.Background(), sstable.ReadOptions{}, func(sstable.CQLRow) error { return nil })
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.to+"-1-") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want %v naming the file and %q", err, tc.err, tc.want)
			}
		})
	}
}

// TestDamagedStatisticsIsCorrupt flips every seventh byte of a
// Statistics.db of version nb in turn: the checksums of its header, table of contents and
// components catch every one when the table opens.
func TestDamagedStatisticsIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"nb-1-big-Data.db", "nb-1-big-Statistics.db", "nb-1-big-TOC.txt", "nb-1-big-CRC.db"} {
		b, err := os.ReadFile(filepath.Join("testdata/uncompressed-snapshot", name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	stats := filepath.Join(dir, "nb-1-big-Statistics.db")
	orig, _ := os.ReadFile(stats)
	for at := 0; at < len(orig); at += 7 {
		b := bytes.Clone(orig)
		b[at] ^= 0x04
		must(t, os.WriteFile(stats, b, 0o644))
		if _, err := sstable.Open(filepath.Join(dir, "nb-1-big-Data.db")); !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(err.Error(), "nb-1-big-Statistics.db") {
			t.Fatalf("byte %d of %d flipped: %v; want ErrCorrupt naming Statistics.db", at, len(orig), err)
		}
	}
}

// TestDataThatIsNotAFileIsNamed puts a named pipe and a directory where
// Data.db belongs: opening the table says so, naming Data.db, instead of
// blaming the CRC.db that does not cover an empty file.
func TestDataThatIsNotAFileIsNamed(t *testing.T) {
	for _, c := range []struct {
		kind string
		make func(path string) error
	}{
		{"a named pipe", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o755) }},
	} {
		t.Run(c.kind, func(t *testing.T) {
			dir := copyDir(t, uncompressedSnapshot)
			data := filepath.Join(dir, "nb-1-big-Data.db")
			must(t, os.Remove(data))
			must(t, c.make(data))
			_, err := sstable.Open(data)
			if want := data + ": " + c.kind + ", not a regular file"; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "CRC.db") {
				t.Errorf("Data.db is %s: %v; want an error with %q", c.kind, err, want)
			}
		})
	}
}
