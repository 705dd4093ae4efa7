package sstabletest

import (
	"fmt"
	"strings"
)

// Compressors are the compressors Cassandra 5.0 ships, LZ4 being the
// default.
var Compressors = []string{"LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor"}

// TypesWorkload returns the CQL that creates keyspace.table (and its user
// type, <table>_addr) and the batches to apply with Snapshot: four batches,
// so four SSTables, that together cover
//
//   - every scalar type (ascii, text, int, bigint, smallint, tinyint,
//     boolean, double, float, timestamp, date, time, uuid, timeuuid, blob,
//     decimal, varint, inet, duration), lists, sets and maps frozen and not,
//     a tuple, a user type frozen and not, static columns, a composite
//     partition key and two clustering columns, the second DESC;
//   - updates, an update with an older timestamp that loses, rows that only
//     updates created, list element replacement, collection appends and
//     element removals, a whole-collection overwrite, user type field
//     updates and deletion;
//   - deletion of a cell, a row, a clustering range, a static cell, a
//     collection, a collection element and a whole partition, and writes
//     after each;
//   - one-second TTLs on rows, cells and a static cell (all in the first
//     three batches, so expired by the time Snapshot returns) and day-long
//     ones.
//
// Automatic compaction is disabled, so the SSTables stay apart.
func TypesWorkload(ks, table string) (create []string, batches [][]string) {
	return typesWorkload(ks, table, "", false)
}

// CompressedWorkload is TypesWorkload on a table compressed by compressor
// (one of Compressors, or NoopCompressor) in 4 KiB chunks, plus a bulk
// partition of 300 rows written in the first batch and partly rewritten in
// the second, so those SSTables span many chunks.
func CompressedWorkload(ks, table, compressor string) (create []string, batches [][]string) {
	return typesWorkload(ks, table, compressor, true)
}

func typesWorkload(ks, table, compressor string, bulk bool) ([]string, [][]string) {
	t := ks + "." + table
	typ := ks + "." + table + "_addr"
	with := "CLUSTERING ORDER BY (ck1 ASC, ck2 DESC)" +
		" AND compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'}"
	if compressor != "" {
		with += fmt.Sprintf(" AND compression = {'class': '%s', 'chunk_length_in_kb': 4}", compressor)
	}
	create := []string{
		fmt.Sprintf("CREATE TYPE %s (street text, zip int, tags frozen<set<text>>)", typ),
		fmt.Sprintf(`CREATE TABLE %s (
			pk1 text, pk2 int, ck1 int, ck2 text,
			s_text text static, s_int int static,
			c_ascii ascii, c_text text, c_int int, c_bigint bigint, c_smallint smallint, c_tinyint tinyint,
			c_boolean boolean, c_double double, c_float float, c_timestamp timestamp, c_date date, c_time time,
			c_uuid uuid, c_timeuuid timeuuid, c_blob blob, c_decimal decimal, c_varint varint, c_inet inet,
			c_duration duration,
			l list<int>, s set<text>, m map<text, int>,
			fl frozen<list<int>>, fs frozen<set<text>>, fm frozen<map<text, int>>,
			tup tuple<int, text, double>,
			u %[2]s, fu frozen<%[2]s>,
			PRIMARY KEY ((pk1, pk2), ck1, ck2)
		) WITH %[3]s`, t, table+"_addr", with),
	}
	key := func(pk1 string, pk2, ck1 int, ck2 string) string {
		return fmt.Sprintf("pk1 = '%s' AND pk2 = %d AND ck1 = %d AND ck2 = '%s'", pk1, pk2, ck1, ck2)
	}
	pkey := func(pk1 string, pk2 int) string { return fmt.Sprintf("pk1 = '%s' AND pk2 = %d", pk1, pk2) }

	var b1 []string
	for _, p := range []struct {
		pk1  string
		pk2  int
		ck1s []int
		ck2s []string
	}{
		{"alpha", 1, []int{1, 2, 3, 4}, []string{"a", "b", "c"}},
		{"beta", 2, []int{1, 2}, []string{"x", "y"}},
		{"gamma", 3, []int{1, 2}, []string{"a", "b"}},
		{"", 0, []int{-1}, []string{""}},
	} {
		b1 = append(b1, fmt.Sprintf("INSERT INTO %s (pk1, pk2, s_text, s_int) VALUES ('%s', %d, 'static of %s', %d)", t, p.pk1, p.pk2, p.pk1, p.pk2))
		for _, ck1 := range p.ck1s {
			for _, ck2 := range p.ck2s {
				b1 = append(b1, fullRow(t, p.pk1, p.pk2, ck1, ck2, ""))
			}
		}
	}
	b1 = append(b1,
		// A partition holding only its static row.
		fmt.Sprintf("INSERT INTO %s (pk1, pk2, s_text) VALUES ('delta', -4, 'only static')", t),
		// A row with only its primary key.
		fmt.Sprintf("INSERT INTO %s (pk1, pk2, ck1, ck2) VALUES ('beta', 2, 7, 'bare')", t),
		// TTLs: an expiring row, a lasting one, an expiring static cell.
		fullRow(t, "ttl", 5, 1, "gone", " USING TTL 1"),
		fullRow(t, "ttl", 5, 2, "kept", " USING TTL 86400"),
		fmt.Sprintf("INSERT INTO %s (pk1, pk2, ck1, ck2, c_text, c_int) VALUES ('ttl', 5, 3, 'mixed', 'lasting', 3)", t),
		fmt.Sprintf("UPDATE %s USING TTL 1 SET s_text = 'short static' WHERE %s", t, pkey("ttl", 5)),
	)

	b2 := []string{
		fmt.Sprintf("UPDATE %s SET c_text = 'updated', c_int = 100 WHERE %s", t, key("alpha", 1, 1, "a")),
		// Written later with an older timestamp: loses to the update above.
		fmt.Sprintf("UPDATE %s USING TIMESTAMP 1000 SET c_text = 'stale', c_bigint = -1 WHERE %s", t, key("alpha", 1, 1, "a")),
		fmt.Sprintf("DELETE c_text FROM %s WHERE %s", t, key("alpha", 1, 1, "b")),
		fmt.Sprintf("DELETE FROM %s WHERE %s", t, key("alpha", 1, 2, "a")),
		// ck2 is DESC: the range is the rows before 'a' on disk.
		fmt.Sprintf("DELETE FROM %s WHERE %s AND ck1 = 3 AND ck2 > 'a'", t, pkey("alpha", 1)),
		fmt.Sprintf("DELETE m['k1'] FROM %s WHERE %s", t, key("alpha", 1, 1, "c")),
		fmt.Sprintf("UPDATE %s SET s = s - {'x'} WHERE %s", t, key("alpha", 1, 2, "b")),
		fmt.Sprintf("UPDATE %s SET l = l + [9], s = s + {'new'}, m = m + {'k9': 9} WHERE %s", t, key("alpha", 1, 4, "a")),
		fmt.Sprintf("UPDATE %s SET l[0] = 42 WHERE %s", t, key("alpha", 1, 4, "b")),
		fmt.Sprintf("UPDATE %s SET u.zip = 99999 WHERE %s", t, key("alpha", 1, 4, "b")),
		fmt.Sprintf("DELETE u.street FROM %s WHERE %s", t, key("alpha", 1, 4, "c")),
		fmt.Sprintf("UPDATE %s SET s_int = 22 WHERE %s", t, pkey("beta", 2)),
		fmt.Sprintf("UPDATE %s USING TTL 1 SET c_text = 'short' WHERE %s", t, key("beta", 2, 1, "x")),
		fmt.Sprintf("UPDATE %s USING TTL 86400 SET c_int = 7 WHERE %s", t, key("beta", 2, 1, "y")),
		// Rows only updates created (no primary key liveness).
		fmt.Sprintf("UPDATE %s SET c_int = 5 WHERE %s", t, key("beta", 2, 9, "u")),
		fmt.Sprintf("UPDATE %s SET c_int = 6, c_text = 'stays' WHERE %s", t, key("beta", 2, 9, "v")),
	}

	b3 := []string{
		fmt.Sprintf("DELETE FROM %s WHERE %s", t, pkey("gamma", 3)),
		fmt.Sprintf("UPDATE %s SET l = [7, 8] WHERE %s", t, key("alpha", 1, 4, "a")),
		fmt.Sprintf("DELETE s FROM %s WHERE %s", t, key("alpha", 1, 4, "c")),
		fmt.Sprintf("DELETE s_text FROM %s WHERE %s", t, pkey("alpha", 1)),
		// Written again inside the range deleted in batch 2.
		fmt.Sprintf("INSERT INTO %s (pk1, pk2, ck1, ck2, c_text) VALUES ('alpha', 1, 3, 'c', 'after range delete')", t),
		// Its only cell deleted: the update-only row disappears.
		fmt.Sprintf("UPDATE %s SET c_int = null WHERE %s", t, key("beta", 2, 9, "u")),
		fmt.Sprintf("INSERT INTO %s (pk1, pk2, ck1, ck2, c_int) VALUES ('beta', 2, 5, 't', 1) USING TTL 1", t),
	}

	b4 := []string{
		fmt.Sprintf("INSERT INTO %s (pk1, pk2, ck1, ck2, c_text) VALUES ('gamma', 3, 1, 'a', 'after partition delete')", t),
		fmt.Sprintf("UPDATE %s SET c_double = 2.5, fl = [3, 2, 1] WHERE %s", t, key("alpha", 1, 1, "a")),
		fmt.Sprintf("UPDATE %s SET s_text = 'static again' WHERE %s", t, pkey("delta", -4)),
		fullRow(t, "epsilon", 6, 1, "late", " USING TTL 86400"),
	}

	if bulk {
		for i := range 300 {
			b1 = append(b1, fullRow(t, "bulk", 7, i, fmt.Sprintf("row-%03d", i), ""))
		}
		for i := 0; i < 300; i += 3 {
			b2 = append(b2, fmt.Sprintf("UPDATE %s SET c_text = '%s' WHERE %s", t, strings.Repeat("rewritten ", 10), key("bulk", 7, i, fmt.Sprintf("row-%03d", i))))
		}
	}
	return create, [][]string{b1, b2, b3, b4}
}

// fullRow is an INSERT setting every regular column, values varying with
// the key; using is appended before VALUES ("" or " USING TTL n").
func fullRow(t, pk1 string, pk2, ck1 int, ck2, using string) string {
	n := max(pk2*100+ck1, -(pk2*100 + ck1))
	return fmt.Sprintf(`INSERT INTO %s (pk1, pk2, ck1, ck2,
		c_ascii, c_text, c_int, c_bigint, c_smallint, c_tinyint, c_boolean, c_double, c_float,
		c_timestamp, c_date, c_time, c_uuid, c_timeuuid, c_blob, c_decimal, c_varint, c_inet, c_duration,
		l, s, m, fl, fs, fm, tup, u, fu)
		VALUES ('%s', %d, %d, '%s',
		'ascii %d', 'text é %d ✓', %d, %d, %d, %d, %t, %d.25, -%d.5,
		'2024-0%d-1%dT10:20:30.%03dZ', '1969-12-%02d', '23:59:%02d.123456789',
		%08x-1111-4222-8333-444455556666, %08x-e53d-11f1-99b0-6bfa33e26165, 0x%06x00ff, -%d.0%d, %d%s, '%s', %dmo%dd%dns,
		[%d, %d, %d], {'%s', 'x', 'y'}, {'k1': %d, 'k2': %d},
		[%d, -%d], {'fa', 'fb%d'}, {'fk': %d},
		(%d, 'tuple %d', %d.5),
		{street: 'street %d', zip: %d, tags: {'t1', 't%d'}},
		{street: 'frozen street %d', zip: %d, tags: {}})%s`,
		t, pk1, pk2, ck1, ck2,
		n, n, n, int64(n)*1e12, n%30000, n%100, n%2 == 0, n, n,
		1+n%9, n%10, n%1000, 1+n%28, n%60,
		n, n, n, n, n%10, n, strings.Repeat("9", 5+n%30), inet(n), n%13, n%28, n*1000,
		n, n+1, -n, ck2, n, -n,
		n, n, n, n,
		n, n, n,
		n, 10000+n, n,
		n, n,
		using)
}

// inet alternates IPv4 and IPv6 addresses.
func inet(n int) string {
	if n%2 == 0 {
		return fmt.Sprintf("10.%d.%d.%d", n%256, (n/256)%256, 1+n%250)
	}
	return fmt.Sprintf("2001:db8::%x", n)
}
