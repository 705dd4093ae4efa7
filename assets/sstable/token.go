package sstable

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
)

// Partitioner is a partitioner class, as named in Statistics.db.
type Partitioner int

// The partitioners whose tokens this package computes.
const (
	Murmur3Partitioner Partitioner = iota + 1
	RandomPartitioner
	ByteOrderedPartitioner
)

// ParsePartitioner maps a partitioner class name, with or without its
// package (org.apache.cassandra.dht.), to a Partitioner.
func ParsePartitioner(class string) (Partitioner, error) {
	switch strings.TrimPrefix(class, "org.apache.cassandra.dht.") {
	case "Murmur3Partitioner":
		return Murmur3Partitioner, nil
	case "RandomPartitioner":
		return RandomPartitioner, nil
	case "ByteOrderedPartitioner":
		return ByteOrderedPartitioner, nil
	}
	return 0, fmt.Errorf("sstable: partitioner %q is not supported", class)
}

func (p Partitioner) String() string {
	switch p {
	case Murmur3Partitioner:
		return "Murmur3Partitioner"
	case RandomPartitioner:
		return "RandomPartitioner"
	case ByteOrderedPartitioner:
		return "ByteOrderedPartitioner"
	}
	return fmt.Sprintf("Partitioner(%d)", int(p))
}

// Token is a partition key's position on the ring. Which field holds it
// depends on the partitioner: Long for Murmur3 (min int64 only for the
// empty key), Big for Random (0..2^127, -1 for the empty key), Bytes (the
// key itself) for ByteOrdered.
type Token struct {
	Partitioner Partitioner
	Long        int64
	Big         *big.Int
	Bytes       []byte
}

// Token returns the token of a partition key.
func (p Partitioner) Token(key []byte) Token {
	t := Token{Partitioner: p}
	switch p {
	case Murmur3Partitioner:
		t.Long = Murmur3Token(key)
	case RandomPartitioner:
		t.Big = md5Token(key)
	default:
		t.Bytes = key
	}
	return t
}

// TokenOf returns the token of a partition key under the named partitioner.
func TokenOf(partitioner string, key []byte) (Token, error) {
	p, err := ParsePartitioner(partitioner)
	if err != nil {
		return Token{}, err
	}
	return p.Token(key), nil
}

// Compare orders two tokens of the same partitioner: signed for Murmur3,
// numerically for Random, as unsigned bytes for ByteOrdered.
func (t Token) Compare(o Token) int {
	switch t.Partitioner {
	case Murmur3Partitioner:
		return cmp.Compare(t.Long, o.Long)
	case RandomPartitioner:
		switch {
		case t.Big == nil || o.Big == nil:
			return cmp.Compare(b2i(t.Big != nil), b2i(o.Big != nil))
		}
		return t.Big.Cmp(o.Big)
	}
	return bytes.Compare(t.Bytes, o.Bytes)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (t Token) String() string {
	switch t.Partitioner {
	case Murmur3Partitioner:
		return fmt.Sprint(t.Long)
	case RandomPartitioner:
		return t.Big.String()
	}
	return hex.EncodeToString(t.Bytes)
}

// PartitionKey is a partition key with its token (Cassandra's DecoratedKey).
type PartitionKey struct {
	Token Token
	Key   []byte
}

// Decorate pairs a key with its token.
func (p Partitioner) Decorate(key []byte) PartitionKey {
	return PartitionKey{Token: p.Token(key), Key: key}
}

// Compare gives the partition order: by token, then by unsigned key bytes.
func (k PartitionKey) Compare(o PartitionKey) int {
	if c := k.Token.Compare(o.Token); c != 0 {
		return c
	}
	return bytes.Compare(k.Key, o.Key)
}

// ComparePartitions orders two partition keys as the named partitioner
// does: by token, then by unsigned key bytes.
func ComparePartitions(partitioner string, a, b []byte) (int, error) {
	p, err := ParsePartitioner(partitioner)
	if err != nil {
		return 0, err
	}
	return p.Decorate(a).Compare(p.Decorate(b)), nil
}

// Murmur3Token is the Murmur3Partitioner token of a key: the first half of
// Cassandra's MurmurHash3 x64-128 (seed 0), min int64 mapped to max int64,
// and min int64 for the empty key.
func Murmur3Token(key []byte) int64 {
	if len(key) == 0 {
		return math.MinInt64
	}
	h := int64(murmur3H1(key))
	if h == math.MinInt64 {
		return math.MaxInt64
	}
	return h
}

// murmur3H1 is the first 64 bits of MurmurHash3 x64-128 with seed 0, with
// Cassandra's quirk: tail bytes are sign-extended before mixing.
func murmur3H1(key []byte) uint64 {
	const c1, c2 = 0x87c37b91114253d5, 0x4cf5ad432745937f
	var h1, h2 uint64
	n := len(key) / 16 * 16
	for i := 0; i < n; i += 16 {
		k1 := binary.LittleEndian.Uint64(key[i:])
		k2 := binary.LittleEndian.Uint64(key[i+8:])
		h1 ^= bits.RotateLeft64(k1*c1, 31) * c2
		h1 = (bits.RotateLeft64(h1, 27)+h2)*5 + 0x52dce729
		h2 ^= bits.RotateLeft64(k2*c2, 33) * c1
		h2 = (bits.RotateLeft64(h2, 31)+h1)*5 + 0x38495ab5
	}
	tail := key[n:]
	var k1, k2 uint64
	for i, b := range tail {
		v := uint64(int64(int8(b))) // Java's (long) of a signed byte
		if i < 8 {
			k1 ^= v << (8 * i)
		} else {
			k2 ^= v << (8 * (i - 8))
		}
	}
	if len(tail) > 8 {
		h2 ^= bits.RotateLeft64(k2*c2, 33) * c1
	}
	if len(tail) > 0 {
		h1 ^= bits.RotateLeft64(k1*c1, 31) * c2
	}
	h1 ^= uint64(len(key))
	h2 ^= uint64(len(key))
	h1 += h2
	h2 += h1
	h1, h2 = fmix64(h1), fmix64(h2)
	return h1 + h2
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// md5Token is the RandomPartitioner token: the MD5 of the key read as a
// signed 128-bit integer, absolute value; -1 for the empty key.
func md5Token(key []byte) *big.Int {
	if len(key) == 0 {
		return big.NewInt(-1)
	}
	sum := md5.Sum(key)
	v := new(big.Int).SetBytes(sum[:])
	if sum[0]&0x80 != 0 { // negative in two's complement: |v - 2^128|
		v.Sub(new(big.Int).Lsh(big.NewInt(1), 128), v)
	}
	return v
}
