package plan_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/reprocess/reprocess/assets/sstable/sstabletest"
)

// TestMain fails the package's tests if any goroutine outlives them, once
// the SSTable harness's shared Cassandra session is closed; the
// Elasticsearch client's idle keep-alive connections may outlive them.
func TestMain(m *testing.M) {
	code := m.Run()
	sstabletest.CloseSessions()
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
