package embedded_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/assets/synth"
)

func TestContract(t *testing.T) {
	layout := assets.Layout{BucketWidth: assets.DefaultLayout.BucketWidth, Shards: 4}
	dir := t.TempDir()
	s, err := embedded.Open(embedded.Config{Dir: dir}, layout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("contract suite against the embedded store in %s", dir)
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(blocker, "db")
	assetstest.Run(t, assetstest.Config{
		Store:  s,
		Layout: layout,
		Unreachable: func(context.Context) error {
			s, err := embedded.Open(embedded.Config{Dir: bad}, layout)
			if err == nil {
				s.Close()
			}
			return err
		},
		Target: bad,
	})
}

func TestOpenTwiceIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s2, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err == nil {
		s2.Close()
		t.Fatal("a second Open of a directory in use succeeded")
	}
	var held *embedded.HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() || !strings.Contains(err.Error(), "held by this process") {
		t.Errorf("second Open: %v; want a HeldError naming this process", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "HOLDER")); err != nil {
		t.Errorf("the refused Open touched the holder's record: %v", err)
	}
}

func TestClosedStoreErrors(t *testing.T) {
	s, err := embedded.Open(embedded.Config{Dir: t.TempDir()}, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = s.Get(context.Background(), assets.NewID(time.Now()))
	if err == nil {
		t.Fatal("Get on a closed store succeeded")
	}
}

// A store that must exist is not created: a mistyped directory is an
// error naming it, and leaves nothing behind.
func TestMustExist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	_, err := embedded.Open(embedded.Config{Dir: dir, MustExist: true}, assets.DefaultLayout)
	if err == nil || !strings.Contains(err.Error(), "no embedded store in "+dir) {
		t.Fatalf("open a missing store: %v; want an error naming %s", err, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("opening a missing store left %s behind (%v)", dir, err)
	}
	s, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = embedded.Open(embedded.Config{Dir: dir, MustExist: true}, assets.DefaultLayout)
	if err != nil {
		t.Fatalf("open an existing store: %v", err)
	}
	s.Close()
}

// A store remembers the layout it was created with; opening it with
// another is an error naming both, since paging it so misses assets.
func TestLayoutIsRecorded(t *testing.T) {
	dir := t.TempDir()
	four := assets.Layout{BucketWidth: time.Hour, Shards: 4}
	for range 2 {
		s, err := embedded.Open(embedded.Config{Dir: dir}, four)
		if err != nil {
			t.Fatalf("open with the same layout: %v", err)
		}
		s.Close()
	}
	_, err := embedded.Open(embedded.Config{Dir: dir}, assets.Layout{BucketWidth: time.Hour, Shards: 8})
	if !errors.Is(err, assets.ErrLayoutMismatch) || !strings.Contains(err.Error(), "shards=4") || !strings.Contains(err.Error(), "shards=8") {
		t.Errorf("open with 8 shards a store written with 4: %v; want ErrLayoutMismatch naming both", err)
	}
}

// A store whose table file was damaged on disk is reported as damaged,
// naming the file and what to do, by the call that finds it and every
// call after it, whichever goroutine Pebble found it on; it does not
// panic, and it is not an outage to wait out.
func TestDamagedStoreIsReported(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Seed(ctx, s, synth.Config{Count: 2000, Span: 48 * time.Hour, End: time.Now(), Seed: 1, Concurrency: 2}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout) // opening flushes the log into a table file
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table file to damage")
	}
	for _, f := range tables {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(b); i += 97 {
			b[i] ^= 0x55
		}
		os.WriteFile(f, b, 0o644)
	}
	s, err = embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err == nil {
		defer s.Close()
		_, err = s.Types(ctx)
	}
	if !errors.Is(err, embedded.ErrDamaged) || errors.Is(err, assets.ErrUnavailable) || !strings.Contains(err.Error(), ".sst") || !strings.Contains(err.Error(), "restore") {
		t.Fatalf("reading a damaged store: %v; want it damaged, naming the file and what to do", err)
	}
	if s != nil {
		if _, err := s.Jobs(ctx); !errors.Is(err, embedded.ErrDamaged) {
			t.Errorf("a later call: %v; want the damage again", err)
		}
	}
}
