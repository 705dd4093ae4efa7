package assets

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ID is an asset id: a version-1 UUID (Cassandra timeuuid).
type ID [16]byte

// uuidEpoch is the start of the Gregorian calendar, the origin of UUID time,
// as 100 ns intervals before the Unix epoch.
const uuidEpoch = 122192928000000000

// NewID returns a timeuuid for time t with a random clock sequence and node,
// so ids made for the same instant still differ.
func NewID(t time.Time) ID {
	var id ID
	ts := uint64(t.UnixNano()/100) + uuidEpoch
	binary.BigEndian.PutUint32(id[0:4], uint32(ts))
	binary.BigEndian.PutUint16(id[4:6], uint16(ts>>32))
	binary.BigEndian.PutUint16(id[6:8], uint16(ts>>48)&0x0fff|0x1000)
	if _, err := rand.Read(id[8:]); err != nil {
		panic(fmt.Sprintf("assets: crypto/rand failed: %v", err))
	}
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

// ParseID parses the canonical text form and insists on a version-1 UUID.
func ParseID(s string) (ID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return ID{}, fmt.Errorf("asset id %q: %w", s, err)
	}
	if u.Version() != 1 {
		return ID{}, fmt.Errorf("asset id %q: want a timeuuid (version 1), got version %d", s, u.Version())
	}
	return ID(u), nil
}

// String returns the canonical 36-character form.
func (id ID) String() string { return uuid.UUID(id).String() }

// IsZero reports whether id is the zero value, which no asset has.
func (id ID) IsZero() bool { return id == ID{} }

// timestamp returns the 60-bit UUID timestamp (100 ns since 1582-10-15).
func (id ID) timestamp() uint64 {
	lo := uint64(binary.BigEndian.Uint32(id[0:4]))
	mid := uint64(binary.BigEndian.Uint16(id[4:6]))
	hi := uint64(binary.BigEndian.Uint16(id[6:8]) & 0x0fff)
	return hi<<48 | mid<<32 | lo
}

// Time returns the instant embedded in the id.
func (id ID) Time() time.Time {
	return time.Unix(0, int64(id.timestamp()-uuidEpoch)*100).UTC()
}

// SortKey returns 16 bytes whose byte order is Cassandra's timeuuid order:
// the timestamp big-endian, then the low eight bytes with each byte's sign
// bit flipped (Cassandra compares them as signed bytes).
func (id ID) SortKey() [16]byte {
	var k [16]byte
	binary.BigEndian.PutUint64(k[0:8], id.timestamp())
	for i := 8; i < 16; i++ {
		k[i] = id[i] ^ 0x80
	}
	return k
}

// IDFromSortKey inverts SortKey.
func IDFromSortKey(k []byte) (ID, error) {
	if len(k) != 16 {
		return ID{}, fmt.Errorf("asset id sort key: want 16 bytes, got %d", len(k))
	}
	var id ID
	ts := binary.BigEndian.Uint64(k[0:8])
	binary.BigEndian.PutUint32(id[0:4], uint32(ts))
	binary.BigEndian.PutUint16(id[4:6], uint16(ts>>32))
	binary.BigEndian.PutUint16(id[6:8], uint16(ts>>48)&0x0fff|0x1000)
	for i := 8; i < 16; i++ {
		id[i] = k[i] ^ 0x80
	}
	return id, nil
}

// MinID returns the smallest id (in Compare order) with time t: every id
// of an asset created before t sorts below it, so it serves as a paging
// bound, like CQL's minTimeuuid.
func MinID(t time.Time) ID {
	return minIDAt(uint64(t.UnixNano()/100) + uuidEpoch)
}

// minIDAt is the smallest id of UUID timestamp ts.
func minIDAt(ts uint64) ID {
	var k [16]byte
	binary.BigEndian.PutUint64(k[0:8], ts)
	id, _ := IDFromSortKey(k[:])
	return id
}

// Compare orders ids as Cassandra orders timeuuids: -1, 0 or +1.
func Compare(a, b ID) int {
	ka, kb := a.SortKey(), b.SortKey()
	for i := range ka {
		switch {
		case ka[i] < kb[i]:
			return -1
		case ka[i] > kb[i]:
			return 1
		}
	}
	return 0
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}
