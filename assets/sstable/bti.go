package sstable

import (
	"bytes"
	"fmt"
	"os"
)

// btiIndex walks the Partitions.db trie depth first, children in
// ascending transition order and a node's payload before its children,
// which visits partitions in Data.db order. A payload v < 0 is a partition
// at Data.db position ^v, whose key is read from Data.db (the trie holds
// only a prefix); v >= 0 is a Rows.db entry: bytes16 key, uvint position,
// then vint row index root, uvint block count and the partition deletion.
func (t *Table) btiIndex() ([]IndexEntry, error) {
	path := t.component("Partitions.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sstable: %w", err)
	}
	if len(raw) < 24 {
		return nil, fmt.Errorf("%w: %s: %d bytes, too short for the footer", ErrCorrupt, path, len(raw))
	}
	body := int64(len(raw) - 24)
	f := &buf{b: raw, off: int(body), file: path}
	keysAt, count, root := int64(f.u64()), int64(f.u64()), int64(f.u64())
	if keysAt < 0 || keysAt >= body || root < 0 || root >= body || count < 0 || count > body {
		return nil, fmt.Errorf("%w: %s at offset %d: footer: keys at %d, %d partitions, root at %d in %d bytes", ErrCorrupt, path, body, keysAt, count, root, body)
	}
	k := &buf{b: raw[:body], off: int(keysAt), file: path}
	first, last := k.bytes(int(k.u16())), k.bytes(int(k.u16()))
	if k.err != nil {
		return nil, k.err
	}

	w := &trieWalk{t: t, path: path, b: raw[:body]}
	defer func() {
		if w.data != nil {
			w.data.close()
		}
	}()
	if err := w.walk(root); err != nil {
		return nil, err
	}
	out := w.out
	if int64(len(out)) != count {
		return nil, fmt.Errorf("%w: %s: %d partitions in the trie, the footer says %d", ErrCorrupt, path, len(out), count)
	}
	if len(out) == 0 && t.DataLength() > 0 {
		return nil, fmt.Errorf("%w: %s: no partitions for %d bytes of data", ErrCorrupt, path, t.DataLength())
	}
	if len(out) > 0 && (!bytes.Equal(out[0].Key, first) || !bytes.Equal(out[len(out)-1].Key, last)) {
		return nil, fmt.Errorf("%w: %s at offset %d: first and last keys %x, %x; the trie gives %x, %x", ErrCorrupt, path, keysAt, first, last, out[0].Key, out[len(out)-1].Key)
	}
	return out, nil
}

type trieWalk struct {
	t    *Table
	path string
	b    []byte // the trie nodes: Partitions.db up to the key block
	rows []byte // Rows.db, read when first needed
	data *dataReader
	out  []IndexEntry
}

type trieChild struct {
	transition byte
	pos        int64
}

// walk visits the trie from root, with an explicit stack. Children sit
// before their parent, so a path cannot loop; the visit count is bounded
// by the node bytes so that shared children cannot blow up either.
func (w *trieWalk) walk(root int64) error {
	stack := []int64{root}
	visits := 0
	for len(stack) > 0 {
		pos := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visits++; visits > len(w.b) {
			return fmt.Errorf("%w: %s at offset %d: more nodes visited than the trie has bytes", ErrCorrupt, w.path, pos)
		}
		payload, children, err := w.node(pos)
		if err != nil {
			return err
		}
		if payload != nil {
			if err := w.entry(pos, payload); err != nil {
				return err
			}
		}
		for i := len(children) - 1; i >= 0; i-- {
			stack = append(stack, children[i].pos)
		}
	}
	return nil
}

// distance sizes in bytes of the sparse (5..9) and dense (10..15) node
// types; 0 marks the packed 12-bit ones.
var distanceSize = [16]int{5: 1, 6: 0, 7: 2, 8: 3, 9: 5, 10: 0, 11: 2, 12: 3, 13: 4, 14: 5, 15: 8}

// node decodes the node at pos: its payload value bytes (nil for none)
// and its children in ascending transition order.
func (w *trieWalk) node(pos int64) ([]byte, []trieChild, error) {
	if pos < 0 || pos >= int64(len(w.b)) {
		return nil, nil, fmt.Errorf("%w: %s at offset %d: node outside the trie's %d bytes", ErrCorrupt, w.path, pos, len(w.b))
	}
	r := &buf{b: w.b, off: int(pos), file: w.path}
	b0 := r.u8()
	typ, nib := b0>>4, int(b0&0x0F)
	pb := nib
	var children []trieChild
	child := func(tr byte, dist uint64) {
		children = append(children, trieChild{tr, pos - int64(min(dist, 1<<62))})
	}
	switch typ {
	case 0: // payload only
	case 1: // single, no payload, 4-bit distance
		child(r.u8(), uint64(nib))
		pb = 0
	case 2:
		tr := r.u8()
		child(tr, uint64(r.u8()))
	case 3: // single, no payload, 12-bit distance
		lo := r.u8()
		child(r.u8(), uint64(nib)<<8|uint64(lo))
		pb = 0
	case 4:
		tr := r.u8()
		child(tr, uint64(r.u16()))
	case 5, 6, 7, 8, 9: // sparse
		c := int(r.u8())
		trs := r.bytes(c)
		dists := readDistances(r, c, distanceSize[typ])
		for i := range dists {
			if i > 0 && trs[i] <= trs[i-1] {
				r.fail("sparse node transitions not ascending")
			}
			child(trs[i], dists[i])
		}
	default: // dense
		f := int(r.u8())
		n := int(r.u8()) + 1
		if r.err == nil && f+n > 256 {
			r.fail("dense node transitions %d..%d", f, f+n-1)
		}
		for i, d := range readDistances(r, n, distanceSize[typ]) {
			if d != 0 {
				child(byte(f+i), d)
			}
		}
	}
	// A payload of pb >= 8 is a key hash byte and pb-7 bytes of value.
	var payload []byte
	switch {
	case pb >= 8:
		r.u8()
		payload = r.bytes(pb - 7)
	case pb > 0:
		payload = r.bytes(pb)
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	for _, c := range children {
		if c.pos >= pos || c.pos < 0 {
			return nil, nil, fmt.Errorf("%w: %s at offset %d: child at %d is not before its parent", ErrCorrupt, w.path, pos, c.pos)
		}
	}
	return payload, children, nil
}

// readDistances reads n big-endian distances of size bytes each, or
// packed 12-bit ones when size is 0.
func readDistances(r *buf, n, size int) []uint64 {
	if size == 0 {
		raw := r.bytes((3*n + 1) / 2)
		if r.err != nil {
			return nil
		}
		out := make([]uint64, n)
		for i := range out {
			at := 3 * i / 2
			v := uint16(raw[at]) << 8
			if at+1 < len(raw) {
				v |= uint16(raw[at+1])
			}
			if i%2 == 0 {
				out[i] = uint64(v >> 4)
			} else {
				out[i] = uint64(v & 0xFFF)
			}
		}
		return out
	}
	raw := r.bytes(n * size)
	if r.err != nil {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		for _, b := range raw[i*size : (i+1)*size] {
			out[i] = out[i]<<8 | uint64(b)
		}
	}
	return out
}

// entry decodes the payload value of the node at pos, a big-endian
// signed integer, and appends the partition it names.
func (w *trieWalk) entry(pos int64, payload []byte) error {
	v := int64(0)
	if payload[0]&0x80 != 0 {
		v = -1
	}
	for _, b := range payload {
		v = v<<8 | int64(b)
	}
	if v < 0 {
		at := ^v
		if err := w.t.checkPosition(w.path, pos, uint64(at), w.out); err != nil {
			return err
		}
		key, err := w.dataKey(at)
		if err != nil {
			return err
		}
		w.out = append(w.out, IndexEntry{Key: key, Offset: at})
		return nil
	}
	rowsPath := w.t.component("Rows.db")
	if w.rows == nil {
		raw, err := os.ReadFile(rowsPath)
		if err != nil {
			return fmt.Errorf("sstable: %w", err)
		}
		w.rows = raw
	}
	if v >= int64(len(w.rows)) {
		return fmt.Errorf("%w: %s at offset %d: Rows.db position %d outside its %d bytes", ErrCorrupt, w.path, pos, v, len(w.rows))
	}
	r := &buf{b: w.rows, off: int(v), file: rowsPath}
	key := r.bytes(int(r.u16()))
	at := r.uvint()
	r.uvint() // the row index root, relative
	r.uvint() // row index blocks
	w.t.fixedDeletion(r)
	if r.err != nil {
		return r.err
	}
	if err := w.t.checkPosition(rowsPath, v, at, w.out); err != nil {
		return err
	}
	w.out = append(w.out, IndexEntry{Key: key, Offset: int64(at)})
	return nil
}

// dataKey reads the partition key at position at of the data stream.
func (w *trieWalk) dataKey(at int64) ([]byte, error) {
	if w.data == nil {
		d, err := w.t.openData()
		if err != nil {
			return nil, err
		}
		w.data = d
	}
	n := w.t.DataLength()
	if at+2 > n {
		return nil, fmt.Errorf("%w: %s at offset %d: partition key length past the end", ErrCorrupt, w.data.path, at)
	}
	l, err := w.data.read(at, at+2)
	if err != nil {
		return nil, err
	}
	end := at + 2 + (int64(l[0])<<8 | int64(l[1]))
	if end > n {
		return nil, fmt.Errorf("%w: %s at offset %d: partition key of %d bytes past the end", ErrCorrupt, w.data.path, at, end-at-2)
	}
	return w.data.read(at+2, end)
}
