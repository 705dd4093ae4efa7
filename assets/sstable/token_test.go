package sstable_test

import (
	"encoding/hex"
	"math"
	"slices"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The expected tokens come from Cassandra 5.0.8's own MurmurHash and
// RandomPartitioner arithmetic, run on the same keys; the int keys are the
// Murmur3 fixtures' (format brief, section 9).
func TestMurmur3Token(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want int64
	}{
		{"", math.MinInt64},
		{"00000001", -4069959284402364209},
		{"00000000", -3485513579396041028},
		{"00000016", -1117083337304738213},
		{"00000002", -3248873570005575792},
		{"9a", -27754901148098348}, // a single tail byte >= 0x80: sign-extended
		{"6d6db0", 1587472915816067041},
		{"211e8a09d333867c", 7312808954003792748},
		{"3591566f9d4ed066c0", 2085934104113169943},
		{"5019bbf8d7ada47e70749dbcf9b0c3", 3023448977137013117},
		{"70a6e3f21e1b189049541c4df836c5c8", -5063360548229669266},
		{"872d49b09d6feaebebd3ce1450c3621a3b", -2515796619052471048},
		{"b354b8bde5408014c0ee7812778ddcf934bce7ba0f32de1070c04e54e7b1fb", 5871152553349740285},
		{"cd3e37f5bdb2c85b55385a90e384013fc24115bba2443f3cab39eca78470b4075105ef2cafe1d842", -1315428786423190783},
	} {
		if got := sstable.Murmur3Token(hexBytes(t, tc.key)); got != tc.want {
			t.Errorf("Murmur3Token(%s) = %d, want %d", tc.key, got, tc.want)
		}
		tok, err := sstable.TokenOf("org.apache.cassandra.dht.Murmur3Partitioner", hexBytes(t, tc.key))
		if err != nil || tok.Long != tc.want {
			t.Errorf("TokenOf(Murmur3, %s) = %v, %v; want %d", tc.key, tok, err, tc.want)
		}
	}
}

func TestRandomPartitionerToken(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"", "-1"},
		{"9a", "145190162324699444949024679508382590460"},
		{"aac23e43e0", "3393692428301557092854758528385235570"},
		{"3839ba9a32b47b5b74eebb12a5141c3334f5eb91", "100048034109284365277919469069139985932"},
		{"182215aaee06", "107435040397655901016186972433784341210"},
	} {
		tok, err := sstable.TokenOf("org.apache.cassandra.dht.RandomPartitioner", hexBytes(t, tc.key))
		if err != nil || tok.String() != tc.want {
			t.Errorf("RandomPartitioner token of %s = %v, %v; want %s", tc.key, tok, err, tc.want)
		}
	}
}

func TestPartitionOrder(t *testing.T) {
	for _, tc := range []struct {
		partitioner string
		keys        []string // in partition order
	}{
		// The Murmur3 fixtures' order: id 1, 0, 22 (README); 2 between.
		{"org.apache.cassandra.dht.Murmur3Partitioner", []string{"", "00000001", "00000000", "00000002", "00000016"}},
		{"Murmur3Partitioner", []string{"00000001", "00000016", "9a"}},
		// Unsigned bytes, shorter first.
		{"org.apache.cassandra.dht.ByteOrderedPartitioner", []string{"", "00", "30", "3000", "31", "7f", "80", "ff"}},
		{"org.apache.cassandra.dht.RandomPartitioner", []string{"", "aac23e43e0", "3839ba9a32b47b5b74eebb12a5141c3334f5eb91", "182215aaee06", "9a"}},
	} {
		for i, a := range tc.keys {
			for j, b := range tc.keys {
				got, err := sstable.ComparePartitions(tc.partitioner, hexBytes(t, a), hexBytes(t, b))
				if want := cmpInt(i, j); err != nil || got != want {
					t.Errorf("%s: compare(%q, %q) = %d, %v; want %d", tc.partitioner, a, b, got, err, want)
				}
			}
		}
	}
	if _, err := sstable.ComparePartitions("org.apache.cassandra.dht.LocalPartitioner", nil, nil); err == nil {
		t.Error("LocalPartitioner: no error")
	}
}

// TestFixturePartitionsAreInTokenOrder checks every fixture's partitions
// follow one another in partition order, under the table's partitioner.
func TestFixturePartitionsAreInTokenOrder(t *testing.T) {
	root := fixtures(t)
	n := 0
	for _, ver := range bigFixtures {
		for _, tab := range openFixtures(t, root, ver+"/*") {
			p, err := sstable.ParsePartitioner(tab.Partitioner)
			if err != nil {
				t.Fatal(err)
			}
			var keys []sstable.PartitionKey
			err = tab.Scan(sstable.Split{From: 0, To: tab.DataLength()}, func(part sstable.Partition) error {
				keys = append(keys, p.Decorate(part.Key))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) == 0 {
				t.Errorf("%s: %d partitions", tab.Dir, len(keys))
			}
			if !slices.IsSortedFunc(keys, sstable.PartitionKey.Compare) {
				t.Errorf("%s: partitions out of %s order", tab.Dir, p)
			}
			n++
		}
	}
	if n < 16 {
		t.Errorf("checked %d fixtures", n)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
