package sstable

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// SSTableFile identifies one SSTable by its content: the name of its
// Data.db, the size of Data.db on disk and, when the SSTable has one, its
// Digest.crc32 (the CRC32 of Data.db). The name alone is not enough:
// generations start again at 1 in a re-created table or on another node.
type SSTableFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Digest string `json:"digest,omitempty"`
}

// Manifest lists the SSTables a read of a snapshot saw. An export writes
// one next to its output, so that a later read of a newer snapshot can
// tell which SSTables are new since (see ChangedSince).
type Manifest struct {
	Table     string    `json:"table,omitempty"` // keyspace.table, when the snapshot has schema.cql
	CreatedAt time.Time `json:"created_at,omitzero"`
	// AsOf is when the read judged TTLs; zero means CreatedAt.
	AsOf     time.Time     `json:"as_of,omitzero"`
	SSTables []SSTableFile `json:"sstables"`
}

// Manifest lists the snapshot's SSTables.
func (s *Snapshot) Manifest() (Manifest, error) {
	m := Manifest{CreatedAt: s.CreatedAt, SSTables: make([]SSTableFile, 0, len(s.Tables))}
	if s.Schema != nil {
		m.Table = s.Schema.Keyspace + "." + s.Schema.Table
	}
	for _, t := range s.Tables {
		f, err := t.file()
		if err != nil {
			return Manifest{}, err
		}
		m.SSTables = append(m.SSTables, f)
	}
	return m, nil
}

// file identifies the SSTable.
func (t *Table) file() (SSTableFile, error) {
	name := t.Prefix + "-Data.db"
	st, err := os.Stat(filepath.Join(t.Dir, name))
	if err != nil {
		return SSTableFile{}, fmt.Errorf("sstable: %w", err)
	}
	f := SSTableFile{Name: name, Size: st.Size()}
	digest, err := os.ReadFile(filepath.Join(t.Dir, t.Prefix+"-Digest.crc32"))
	switch {
	case err == nil:
		f.Digest = strings.TrimSpace(string(digest))
	case !errors.Is(err, os.ErrNotExist):
		return SSTableFile{}, fmt.Errorf("sstable: %w", err)
	}
	return f, nil
}

// ReadManifest reads a manifest Manifest.Write wrote.
func ReadManifest(path string) (Manifest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("sstable: manifest: %w", err)
	}
	return ParseManifest(path, raw)
}

// ParseManifest parses the JSON of a manifest read from path.
func ParseManifest(path string, raw []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("sstable: manifest %s: %w", path, err)
	}
	if m.SSTables == nil {
		return m, fmt.Errorf("sstable: manifest %s: no \"sstables\" list: not a manifest of SSTables", path)
	}
	for i, f := range m.SSTables {
		if !strings.HasSuffix(f.Name, "-Data.db") || f.Size < 0 {
			return m, fmt.Errorf("sstable: manifest %s: sstables[%d]: want a *-Data.db name and a size, got %q, %d", path, i, f.Name, f.Size)
		}
	}
	return m, nil
}

// Write writes the manifest to path, whole or not at all.
func (m Manifest) Write(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	part := path + ".part"
	if err := os.WriteFile(part, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(part, path)
}

// Changes is what separates an older snapshot of a table from a newer one.
type Changes struct {
	New  []*Table      // SSTables of the newer snapshot the older did not have
	Gone []SSTableFile // SSTables of the older the newer no longer has
	// Expiring are SSTables of both with cells whose TTL may run out
	// between the two reads' times.
	Expiring []*Table
	Keys     []PartitionKey // the partitions touched, in partition order, each once
}

// ChangedSince compares s with an older snapshot of the same table, given
// by its manifest: every SSTable of s that the manifest does not list
// (by name, size and digest) is new, and the partitions touched are those
// in the new SSTables' partition indexes. Compaction writes new SSTables
// too, so a compaction since widens the change set to every partition it
// rewrote: correct, only less incremental. When older, the older snapshot
// opened, is given, the partitions of its SSTables that s no longer has
// are touched too, which covers partitions compaction purged (deletions
// past gc_grace_seconds) and truncation; from a manifest alone those
// cannot be seen. An SSTable of both whose local deletion times (Stats)
// reach past the older read's time (m.AsOf) and up to asOf, the time the
// newer read judges TTLs at (zero: s's CreatedAt, else now), may hold
// cells that expired in between: its partitions are touched too.
// Re-merge the partitions with ReadPartitions.
func (s *Snapshot) ChangedSince(m Manifest, older *Snapshot, asOf time.Time) (*Changes, error) {
	if s.Schema != nil && m.Table != "" && m.Table != s.Schema.Keyspace+"."+s.Schema.Table {
		return nil, fmt.Errorf("sstable: the older snapshot is of %s, the newer of %s.%s", m.Table, s.Schema.Keyspace, s.Schema.Table)
	}
	p, err := ParsePartitioner(s.Tables[0].Partitioner)
	if err != nil {
		return nil, err
	}
	now, err := s.Manifest()
	if err != nil {
		return nil, err
	}
	had, has, gone := set(m.SSTables), set(now.SSTables), map[SSTableFile]bool{}
	c := &Changes{}
	var touched []*Table
	for i, t := range s.Tables {
		if !had[now.SSTables[i]] {
			c.New = append(c.New, t)
			touched = append(touched, t)
			continue
		}
		expiring, err := t.expiresBetween(cmp.Or(m.AsOf, m.CreatedAt), cmp.Or(asOf, s.CreatedAt, time.Now()))
		if err != nil {
			return nil, err
		}
		if expiring {
			c.Expiring = append(c.Expiring, t)
			touched = append(touched, t)
		}
	}
	for _, f := range m.SSTables {
		if !has[f] && !gone[f] {
			c.Gone = append(c.Gone, f)
			gone[f] = true
		}
	}
	for _, t := range tablesOf(older) {
		f, err := t.file()
		if err != nil {
			return nil, err
		}
		if gone[f] {
			touched = append(touched, t)
		}
	}
	if err := c.addKeys(p, s.Tables[0].Partitioner, touched); err != nil {
		return nil, err
	}
	slices.SortFunc(c.Keys, PartitionKey.Compare)
	c.Keys = slices.CompactFunc(c.Keys, func(a, b PartitionKey) bool { return a.Compare(b) == 0 })
	return c, nil
}

func tablesOf(s *Snapshot) []*Table {
	if s == nil {
		return nil
	}
	return s.Tables
}

// addKeys adds the partitions in the indexes of tables, which must use
// partitioner.
func (c *Changes) addKeys(p Partitioner, partitioner string, tables []*Table) error {
	for _, t := range tables {
		if t.Partitioner != partitioner {
			return fmt.Errorf("sstable: %s uses %s, the newer snapshot %s", t.component("Data.db"), t.Partitioner, partitioner)
		}
		idx, err := t.Index()
		if err != nil {
			return err
		}
		for _, e := range idx {
			c.Keys = append(c.Keys, p.Decorate(e.Key))
		}
	}
	return nil
}

// expiresBetween reports whether the SSTable may hold a cell that was
// live at from and has expired by to: it has cells with a TTL (Stats' max
// TTL), and its local deletion times (of tombstones, expirations and, as
// the maximum, live cells) start by to and reach past from. A zero from is
// the distant past. It errs on the side of yes.
func (t *Table) expiresBetween(from, to time.Time) (bool, error) {
	st, err := t.stats()
	if err != nil || st.maxTTL <= 0 {
		return false, err
	}
	return st.minLDT <= to.Unix() && (from.IsZero() || st.maxLDT > from.Unix()), nil
}

// ttlStats is part of the Stats component of Statistics.db.
type ttlStats struct {
	minLDT, maxLDT int64
	maxTTL         int32
}

// stats reads the local deletion times and the max TTL of Statistics.db's
// Stats component, which come after two histograms (i32 n, n × 16 bytes),
// the commit log position (12 bytes) and the min and max timestamps.
func (t *Table) stats() (ttlStats, error) {
	path := t.component("Statistics.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return ttlStats{}, fmt.Errorf("sstable: %w", err)
	}
	ok := true
	u32 := func(at int) uint32 {
		if at < 0 || at+4 > len(raw) {
			ok = false
			return 0
		}
		return binary.BigEndian.Uint32(raw[at:])
	}
	toc := 4
	if t.atLeast("na") {
		toc += 4
	}
	off := -1
	for i := range min(int(u32(0)), 16) {
		if u32(toc+8*i) == 2 {
			off = int(int32(u32(toc + 8*i + 4)))
		}
	}
	at := off + 4 + 16*min(int(u32(off)), 1<<20)
	at += 4 + 16*min(int(u32(at)), 1<<20) + 12 + 16
	lo, hi, maxTTL := u32(at), u32(at+4), int32(u32(at+12))
	if !ok {
		return ttlStats{}, fmt.Errorf("%w: %s: no stats component, or one cut short", ErrCorrupt, path)
	}
	if t.atLeast("oa") {
		return ttlStats{int64(lo), int64(hi), maxTTL}, nil
	}
	return ttlStats{int64(int32(lo)), int64(int32(hi)), maxTTL}, nil
}

func set(files []SSTableFile) map[SSTableFile]bool {
	out := make(map[SSTableFile]bool, len(files))
	for _, f := range files {
		out[f] = true
	}
	return out
}

// ReadPartitions re-merges each of keys (in partition order, each once)
// across every SSTable of s and calls fn in partition order with each
// live row of each partition, or once with a nil row when nothing of the
// partition is live in s (it was deleted, or expired): the key with no
// live row. Sparse keys are read one point range over their token at a
// time; keys that are at least a quarter of the partitions between the
// first and the last (after a compaction, say) are read as one range.
func (s *Snapshot) ReadPartitions(keys []PartitionKey, o ReadOptions, fn func(PartitionKey, *CQLRow) error) error {
	if len(keys) == 0 {
		return nil
	}
	if o.Progress != nil {
		fn = countPartitions(fn, len(keys), o.Progress)
	}
	types := keyTypes(s.Tables[0].Header.PartitionKey)
	span := TokenRange{Start: pointRange(keys[0].Token).Start, End: &keys[len(keys)-1].Token}
	n, err := s.entriesIn(span)
	if err != nil {
		return err
	}
	if 4*len(keys) >= n {
		return s.readSpan(keys, span, types, o, fn)
	}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].Token.Compare(keys[i].Token) == 0 {
			j++
		}
		if err := s.readSpan(keys[i:j], pointRange(keys[i].Token), types, o, fn); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// countPartitions calls progress with the partitions fn has been called
// with so far, of total, before calling fn: a partition's rows come one
// after the other.
func countPartitions(fn func(PartitionKey, *CQLRow) error, total int, progress func(done, total int)) func(PartitionKey, *CQLRow) error {
	done, last := 0, []byte(nil)
	return func(k PartitionKey, r *CQLRow) error {
		if done == 0 || !bytes.Equal(k.Key, last) {
			done, last = done+1, k.Key
			progress(done, total)
		}
		return fn(k, r)
	}
}

// entriesIn counts the index entries of s in r, a partition in several
// SSTables once in each.
func (s *Snapshot) entriesIn(r TokenRange) (int, error) {
	p, err := ParsePartitioner(s.Tables[0].Partitioner)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range s.Tables {
		idx, err := t.Index()
		if err != nil {
			return 0, err
		}
		after := func(bound *Token) int {
			if bound == nil {
				return 0
			}
			return sort.Search(len(idx), func(i int) bool { return p.Token(idx[i].Key).Compare(*bound) > 0 })
		}
		to := len(idx)
		if r.End != nil {
			to = after(r.End)
		}
		n += max(0, to-after(r.Start))
	}
	return n, nil
}

// readSpan reads the partitions group, all in r. The range may hold other
// partitions (of the same token, of a ByteOrdered range that cannot be
// cut to one key, or between the keys of a span): rows are told apart by
// their key values.
func (s *Snapshot) readSpan(group []PartitionKey, r TokenRange, types []*Type, o ReadOptions, fn func(PartitionKey, *CQLRow) error) error {
	ids := make(map[string]int, len(group))
	for g, k := range group {
		id, err := keyID(types, k.Key)
		if err != nil {
			return err
		}
		ids[id] = g
	}
	next := 0 // the first key of group not yet handed to fn
	err := s.ReadRange(r, o, func(r CQLRow) error {
		g, ok := ids[rowKeyID(r, len(types))]
		if !ok {
			return nil
		}
		for ; next < g; next++ {
			if err := fn(group[next], nil); err != nil {
				return err
			}
		}
		next = g + 1
		return fn(group[g], &r)
	})
	if err != nil {
		return err
	}
	for ; next < len(group); next++ {
		if err := fn(group[next], nil); err != nil {
			return err
		}
	}
	return nil
}

// pointRange is a token range holding t and as little else as the
// partitioner allows: exactly t for Murmur3 and Random; for ByteOrdered,
// whose tokens have no predecessor, the keys from t with its last byte
// decremented.
func pointRange(t Token) TokenRange {
	start := t
	switch t.Partitioner {
	case Murmur3Partitioner:
		if t.Long == minLong {
			return TokenRange{End: &t}
		}
		start.Long = t.Long - 1
	case RandomPartitioner:
		start.Big = new(big.Int).Sub(t.Big, big.NewInt(1))
	default:
		n := len(t.Bytes)
		if n == 0 {
			return TokenRange{End: &t}
		}
		start.Bytes = slices.Clone(t.Bytes[:n-1])
		if last := t.Bytes[n-1]; last > 0 {
			start.Bytes = append(start.Bytes, last-1)
		}
	}
	return TokenRange{Start: &start, End: &t}
}

const minLong = -1 << 63

// keyTypes is the types of the partition key's columns.
func keyTypes(key *Type) []*Type {
	if key.Name == "CompositeType" {
		return key.Params
	}
	return []*Type{key}
}

// KeyValues decodes a partition key into the values of its columns, as
// they lead the key's rows (CQLRow.Values).
func (s *Snapshot) KeyValues(k PartitionKey) ([]any, error) {
	return keyValues(keyTypes(s.Tables[0].Header.PartitionKey), k.Key)
}

// KeysWhere returns the partitions of s, in partition order and each once,
// whose key values (KeyValues) match: a scan of every SSTable's index.
func (s *Snapshot) KeysWhere(match func([]any) bool) ([]PartitionKey, error) {
	p, err := ParsePartitioner(s.Tables[0].Partitioner)
	if err != nil {
		return nil, err
	}
	types := keyTypes(s.Tables[0].Header.PartitionKey)
	var keys []PartitionKey
	for _, t := range s.Tables {
		idx, err := t.Index()
		if err != nil {
			return nil, err
		}
		for _, e := range idx {
			vals, err := keyValues(types, e.Key)
			if err != nil {
				return nil, err
			}
			if match(vals) {
				keys = append(keys, p.Decorate(e.Key))
			}
		}
	}
	slices.SortFunc(keys, PartitionKey.Compare)
	return slices.CompactFunc(keys, func(a, b PartitionKey) bool { return a.Compare(b) == 0 }), nil
}

// keyValues decodes a partition key of the column types.
func keyValues(types []*Type, key []byte) ([]any, error) {
	comps := [][]byte{key}
	if len(types) > 1 {
		var err error
		if comps, err = (&Type{Name: "CompositeType", Params: types}).Components(key); err != nil {
			return nil, fmt.Errorf("partition key %x: %w", key, err)
		}
	}
	if len(comps) != len(types) {
		return nil, fmt.Errorf("%w: partition key %x: %d components, want %d", ErrCorrupt, key, len(comps), len(types))
	}
	vals := make([]any, len(comps))
	for i, c := range comps {
		v, err := types[i].Decode(c)
		if err != nil {
			return nil, fmt.Errorf("partition key %x: %w", key, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// keyID is the identity of a partition key as its row values give it.
func keyID(types []*Type, key []byte) (string, error) {
	vals, err := keyValues(types, key)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, v := range vals {
		b.Write(JSON(v))
		b.WriteByte(0)
	}
	return b.String(), nil
}

// rowKeyID is keyID of a row's partition key: its first n values.
func rowKeyID(r CQLRow, n int) string {
	var b strings.Builder
	for _, v := range r.Values[:n] {
		b.Write(JSON(v))
		b.WriteByte(0)
	}
	return b.String()
}
