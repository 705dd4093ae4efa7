// Package sstabletest writes SSTables with the real Cassandra the services
// script runs (deployments/local/services): it applies CQL in batches,
// flushes after each so the data spans several SSTables, snapshots the
// table, and reads what CQL sees as the oracle for the reader.
//
// Like every real-service test helper it skips, loudly, when the services
// are not configured, and fails under CI=true (need.Service).
package sstabletest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// KeepEnv, when set to 1, keeps keyspaces and snapshots after the test, for
// inspection.
const KeepEnv = "REPROCESS_TEST_KEEP_SSTABLES"

var (
	sessMu   sync.Mutex
	sessions = map[string]*gocql.Session{}
)

// Session returns a session to the real Cassandra at consistency ONE, shared
// by the tests of the process.
func Session(t testing.TB) *gocql.Session {
	t.Helper()
	hosts := need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra")
	key := strings.Join(hosts, ",")
	sessMu.Lock()
	defer sessMu.Unlock()
	if s := sessions[key]; s != nil && !s.Closed() {
		return s
	}
	c := gocql.NewCluster(hosts...)
	c.Consistency = gocql.One
	c.ConnectTimeout = 10 * time.Second
	c.Timeout = 60 * time.Second // schema changes are slow on a busy 2-core box
	c.WriteTimeout = c.Timeout
	c.Logger = gocql.NewLogger(gocql.LogLevelNone)
	s, err := c.CreateSession()
	if err != nil {
		t.Fatalf("connect to the real Cassandra at %s: %v", key, err)
	}
	sessions[key] = s
	return s
}

// CloseSessions closes the shared sessions; a package's TestMain calls it
// after its tests, before checking that no goroutine outlived them.
func CloseSessions() {
	sessMu.Lock()
	defer sessMu.Unlock()
	for key, s := range sessions {
		s.Close()
		delete(sessions, key)
	}
}

func keep() bool { return os.Getenv(KeepEnv) == "1" }

// Keyspace creates a keyspace named prefix_<random hex> (SimpleStrategy,
// replication factor 1), dropped when the test ends.
func Keyspace(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	ks := prefix + "_" + hex.EncodeToString(b)
	Exec(t, fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}", ks))
	t.Cleanup(func() {
		if keep() {
			t.Logf("kept keyspace %s (%s=1)", ks, KeepEnv)
			return
		}
		if err := Session(t).Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
			t.Errorf("drop keyspace %s: %v", ks, err)
		}
	})
	return ks
}

// Exec runs each statement in order, failing the test on the first error.
func Exec(t testing.TB, stmts ...string) {
	t.Helper()
	s := Session(t)
	for _, stmt := range stmts {
		if err := s.Query(stmt).Exec(); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// Nodetool runs the services' nodetool wrapper with args and returns its
// standard output.
func Nodetool(t testing.TB, args ...string) string {
	t.Helper()
	tool := need.Service(t, "REPROCESS_TEST_NODETOOL", "Cassandra's nodetool")[0]
	var stderr strings.Builder
	cmd := exec.Command(tool, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nodetool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// Flush writes the table's memtable to a new SSTable.
func Flush(t testing.TB, keyspace, table string) {
	t.Helper()
	Nodetool(t, "flush", keyspace, table)
}

// Snapshot runs each batch of statements and flushes the table after each,
// so every non-empty batch becomes one SSTable, then snapshots the table and
// returns the snapshot directory (manifest.json, schema.cql and hard links
// to the SSTables). The snapshot is cleared when the test ends.
//
// The table should be created with automatic compaction disabled (as the
// workloads here do), or Cassandra may merge the SSTables first.
//
// Cassandra 5.0 flushes tables with a slow compressor (Deflate, Zstd) with
// LZ4 (flush_compression: fast); when a flushed SSTable's compressor is not
// the table's, Snapshot rewrites each SSTable on its own (nodetool
// upgradesstables -a), which keeps them apart but turns expired cells into
// tombstones.
func Snapshot(t testing.TB, keyspace, table string, batches [][]string) string {
	t.Helper()
	for _, batch := range batches {
		Exec(t, batch...)
		Flush(t, keyspace, table)
	}
	if len(batches) == 0 {
		// Rows written another way (a store) are flushed here and waited
		// for, not left to the flush the snapshot starts itself: once, in
		// CI with many tests sharing the node, such a snapshot held no
		// SSTable.
		Flush(t, keyspace, table)
	}
	if want := tableCompressor(t, keyspace, table); want != "" {
		infos, _ := filepath.Glob(filepath.Join(TableDir(t, keyspace, table), "*-CompressionInfo.db"))
		for _, p := range infos {
			got, _, err := CompressionInfo(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(got, want) {
				t.Logf("%s is compressed with %s, not the table's %s: rewriting the SSTables", filepath.Base(p), got, want)
				Nodetool(t, "upgradesstables", "-a", keyspace, table)
				break
			}
		}
	}
	tag := fmt.Sprintf("sstabletest-%d", time.Now().UnixNano())
	Nodetool(t, "snapshot", "-t", tag, "-kt", keyspace+"."+table)
	t.Cleanup(func() {
		if keep() {
			return
		}
		Nodetool(t, "clearsnapshot", "-t", tag, "--", keyspace)
	})
	dir := filepath.Join(TableDir(t, keyspace, table), "snapshots", tag)
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatalf("snapshot %s of %s.%s: %v", tag, keyspace, table, err)
	}
	live, _ := filepath.Glob(filepath.Join(TableDir(t, keyspace, table), "*-Data.db"))
	taken, _ := filepath.Glob(filepath.Join(dir, "*-Data.db"))
	if len(taken) == 0 && len(live) > 0 {
		t.Fatalf("snapshot %s of %s.%s holds no SSTable, the table %d", tag, keyspace, table, len(live))
	}
	return dir
}

// tableCompressor returns the class of the table's compressor, without its
// package, or "" when the table is not compressed.
func tableCompressor(t testing.TB, keyspace, table string) string {
	t.Helper()
	var params map[string]string
	err := Session(t).Query("SELECT compression FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?", keyspace, table).Scan(&params)
	if err != nil {
		t.Fatalf("compression of %s.%s: %v", keyspace, table, err)
	}
	if params["enabled"] == "false" {
		return ""
	}
	c := params["class"]
	return c[strings.LastIndexByte(c, '.')+1:]
}

// CompressionInfo reads the compressor class and the chunk count from a
// CompressionInfo.db of version na or later.
func CompressionInfo(path string) (class string, chunks int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	short := fmt.Errorf("%s: too short for a CompressionInfo component", path)
	take := func(n int) []byte {
		if len(b) < n {
			err = short
			return make([]byte, n)
		}
		v := b[:n]
		b = b[n:]
		return v
	}
	class = string(take(int(binary.BigEndian.Uint16(take(2)))))
	for n := 2 * int(binary.BigEndian.Uint32(take(4))); n > 0 && err == nil; n-- {
		take(int(binary.BigEndian.Uint16(take(2)))) // option keys and values
	}
	take(4 + 4 + 8) // chunk length, max compressed length, data length
	chunks = int(binary.BigEndian.Uint32(take(4)))
	return class, chunks, err
}

// SelectJSON returns every row of SELECT JSON * FROM keyspace.table, as
// Cassandra renders it, in the order Cassandra returns them (token order,
// then clustering order).
func SelectJSON(t testing.TB, keyspace, table string) []string {
	t.Helper()
	it := Session(t).Query(fmt.Sprintf("SELECT JSON * FROM %s.%s", keyspace, table)).PageSize(1000).Iter()
	var rows []string
	var row string
	for it.Scan(&row) {
		rows = append(rows, row)
	}
	if err := it.Close(); err != nil {
		t.Fatalf("SELECT JSON * FROM %s.%s: %v", keyspace, table, err)
	}
	return rows
}

// DataDirs returns Cassandra's data_file_directories: from
// REPROCESS_TEST_CASSANDRA_DATA (comma-separated, printed by `services env`)
// or else as the node reports them in system_views.settings.
func DataDirs(t testing.TB) []string {
	t.Helper()
	if v := strings.TrimSpace(os.Getenv("REPROCESS_TEST_CASSANDRA_DATA")); v != "" {
		return strings.Split(v, ",")
	}
	var v string
	err := Session(t).Query("SELECT value FROM system_views.settings WHERE name = 'data_file_directories'").Scan(&v)
	if err != nil {
		t.Fatalf("read data_file_directories from system_views.settings: %v", err)
	}
	dirs := strings.Split(strings.Trim(v, "[] "), ",")
	for i := range dirs {
		dirs[i] = strings.TrimSpace(dirs[i])
	}
	if len(dirs) == 0 || dirs[0] == "" {
		t.Fatalf("data_file_directories is empty (%q)", v)
	}
	return dirs
}

// TableDir returns the table's directory, <data dir>/<keyspace>/<table>-<id>,
// the id read from system_schema so a dropped and re-created table of the
// same name is never confused with this one.
func TableDir(t testing.TB, keyspace, table string) string {
	t.Helper()
	var id gocql.UUID
	err := Session(t).Query("SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?", keyspace, table).Scan(&id)
	if err != nil {
		t.Fatalf("id of table %s.%s: %v", keyspace, table, err)
	}
	name := table + "-" + strings.ReplaceAll(id.String(), "-", "")
	var tried []string
	for _, d := range DataDirs(t) {
		p := filepath.Join(d, keyspace, name)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		tried = append(tried, p)
	}
	t.Fatalf("no directory for table %s.%s; tried %v", keyspace, table, tried)
	return ""
}
