package cassandra_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/cassandra"
)

// TestOpenWaitingRidesOutANodeNotYetUp opens a store on an address where
// nothing answers for the first two seconds, then a node does (a proxy
// to the real Cassandra): OpenWaiting waits, says so, and opens it. With
// no node ever answering it gives up only when its context ends.
func TestOpenWaitingRidesOutANodeNotYetUp(t *testing.T) {
	cfg := testConfig(t)
	addr := freeAddr(t)
	target := cfg.Hosts[0]
	cfg.Hosts, cfg.ConnectTimeout, cfg.Keyspace = []string{addr}, time.Second, "reprocess_wait_test"
	time.AfterFunc(2*time.Second, func() { proxy(t, addr, target) })
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	s, err := cassandra.OpenWaiting(ctx, cfg, assets.DefaultLayout, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("OpenWaiting after %s: %v\n%s", time.Since(start), err, logs.String())
	}
	s.Close()
	if !strings.Contains(logs.String(), "waiting for store") {
		t.Errorf("opened after %s without saying it waited:\n%s", time.Since(start), logs.String())
	}

	cfg.Hosts = []string{freeAddr(t)}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := cassandra.OpenWaiting(ctx, cfg, assets.DefaultLayout, slog.New(slog.DiscardHandler)); !errors.Is(err, assets.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no node ever answering: %v; want unavailable and the context's end", err)
	}
}

// freeAddr is a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proxy forwards connections on addr to target until the test ends.
func proxy(t *testing.T, addr, target string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
