package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/reprocess/reprocess/assets"
)

// HeldError is Open's error for a store that another process, or this
// one, has open: one process at a time may open an embedded store. It is
// assets.ErrUnavailable.
type HeldError struct {
	Dir string
	// PID is the holder's process id; 0 when it is not known.
	PID int
	// Program is the holder's program name, when it is known.
	Program string
	// Err is the lock's error, for a holder in another process.
	Err error
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("embedded store %s is held by %s; one process at a time may open it: wait for that one to end, or stop it", e.Dir, e.Holder())
}

// Holder names the holder: "process PID (PROGRAM)", "this process" or,
// when it is not known, "another process".
func (e *HeldError) Holder() string {
	switch {
	case e.PID == os.Getpid():
		return "this process"
	case e.PID != 0:
		return fmt.Sprintf("process %d (%s)", e.PID, e.Program)
	}
	return "another process"
}

func (e *HeldError) Unwrap() []error { return []error{assets.ErrUnavailable, e.Err} }

// holderFile, in a store's directory, names the process that has it open:
// its pid and program.
const holderFile = "HOLDER"

// inUse are the directories this process has open (pebble refuses a
// second open in the same process before it tries the lock).
var inUse = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: map[string]bool{}}

// claim marks dir open in this process; a HeldError if it already is.
func claim(dir string) (release func(), err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded store %s: %w", dir, err)
	}
	inUse.Lock()
	defer inUse.Unlock()
	if inUse.dirs[abs] {
		return nil, &HeldError{Dir: dir, PID: os.Getpid(), Program: program()}
	}
	inUse.dirs[abs] = true
	return func() {
		inUse.Lock()
		delete(inUse.dirs, abs)
		inUse.Unlock()
	}, nil
}

func program() string { return filepath.Base(os.Args[0]) }

// writeHolder records this process as the holder of the store in dir.
func writeHolder(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, holderFile), fmt.Appendf(nil, "%d %s\n", os.Getpid(), program()), 0o600); err != nil {
		return fmt.Errorf("embedded store %s: record its holder: %w", dir, err)
	}
	return nil
}

// locked reports whether err is the lock of another process.
func locked(err error) bool {
	var path *fs.PathError // opening a file: a permission, not a lock
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) && !errors.As(err, &path)
}

// heldBy is the HeldError for the store in dir, whose lock another
// process holds, naming the holder it recorded if that one is alive.
func heldBy(dir string, err error) *HeldError {
	h := &HeldError{Dir: dir, Err: err}
	b, rerr := os.ReadFile(filepath.Join(dir, holderFile))
	if rerr != nil {
		return h
	}
	pid, prog, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, perr := strconv.Atoi(pid)
	if perr != nil || n <= 0 {
		return h
	}
	if kerr := syscall.Kill(n, 0); kerr != nil && !errors.Is(kerr, syscall.EPERM) {
		return h // a holder killed before it could remove its record
	}
	h.PID, h.Program = n, prog
	return h
}
