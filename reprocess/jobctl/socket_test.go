package jobctl_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/jobctl"
)

var discard = slog.New(slog.DiscardHandler)

// holder opens the embedded store in a new dir with one running job, as
// the process running it would.
func holder(t *testing.T) (dir string, s *embedded.Store) {
	t.Helper()
	dir = t.TempDir()
	s, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := control.Start(context.Background(), s, "j", "name: j\n", false); err != nil {
		t.Fatal(err)
	}
	return dir, s
}

func openEmbedded(dir string) func(context.Context) (assets.Store, error) {
	return func(context.Context) (assets.Store, error) {
		return embedded.Open(embedded.Config{Dir: dir, MustExist: true}, assets.DefaultLayout)
	}
}

// The socket is the holder's alone (0600), answers job commands, and is
// gone when the holder stops serving it.
func TestSocketServesTheHolder(t *testing.T) {
	dir, s := holder(t)
	stop := jobctl.Serve(s, discard)
	path := filepath.Join(dir, jobctl.SocketName)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
	ctx := context.Background()
	c, done, err := jobctl.Open(ctx, openEmbedded(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if _, ok := c.(*jobctl.Client); !ok {
		t.Fatalf("Open of a held store gave %T; want the socket's Client", c)
	}
	if v, err := c.Act(ctx, "j", "pause"); err != nil || v.Status != control.Paused {
		t.Errorf("pause through the socket: %+v, %v", v, err)
	}
	if j, _ := s.Job(ctx, "j"); j.Status != control.Paused {
		t.Errorf("the holder's store says %s after a pause through the socket", j.Status)
	}
	for _, tc := range []struct {
		do   func() error
		want error
		says string
	}{
		{func() error { _, err := c.Get(ctx, "nope"); return err }, assets.ErrNotFound, "job nope"},
		{func() error { _, err := c.Act(ctx, "j", "pause"); return err }, control.ErrTransition, "job j is paused"},
		{func() error { _, err := c.SetRate(ctx, "j", 0); return err }, control.ErrRate, "positive whole number"},
	} {
		if err := tc.do(); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("through the socket: %v; want %v saying %q", err, tc.want, tc.says)
		}
	}
	stop()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket outlived its server: %v", err)
	}
}

// A socket file a killed holder left is replaced; a socket something
// answers on is not taken over.
func TestStaleSocketIsReplaced(t *testing.T) {
	dir, s := holder(t)
	path := filepath.Join(dir, jobctl.SocketName)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobctl.Listen(dir, s, discard); err == nil || !strings.Contains(err.Error(), "another process serves it") {
		t.Errorf("Listen over a live socket: %v; want refused", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // as if killed: the file stays
	stop, err := jobctl.Listen(dir, s, discard)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer stop()
	c, err := jobctl.Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(context.Background(), "j"); err != nil || v.Status != control.Running {
		t.Errorf("status through the replaced socket: %+v, %v", v, err)
	}
}

// A holder that serves no socket: the error names it and says what to do.
func TestNoSocketNamesTheHolder(t *testing.T) {
	dir, _ := holder(t)
	_, _, err := jobctl.Open(context.Background(), openEmbedded(dir))
	for _, want := range []string{"held by this process", "serves no control socket", "control.sock", "wait for it to end or stop it"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open of a store held without a socket: %v; want it to say %q", err, want)
		}
	}
	if !errors.Is(err, assets.ErrUnavailable) {
		t.Errorf("%v is not ErrUnavailable", err)
	}
}

// A data dir too deep for a Unix socket's path is named, with the fix.
func TestSocketPathTooLong(t *testing.T) {
	_, s := holder(t)
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if _, err := jobctl.Listen(deep, s, discard); err == nil || !strings.Contains(err.Error(), "too long for a Unix socket; use a shorter data dir") {
		t.Errorf("Listen in a %d-byte dir: %v; want it to say the path is too long", len(deep), err)
	}
}
