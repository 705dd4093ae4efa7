package embedded

import (
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// The lock's own errors (fcntl answers EAGAIN or EACCES) are another
// holder; a file the process may not open is a permission, not a lock.
func TestLocked(t *testing.T) {
	for _, c := range []struct {
		err    error
		locked bool
	}{
		{syscall.EAGAIN, true},
		{fmt.Errorf("lock: %w", syscall.EACCES), true},
		{&fs.PathError{Op: "open", Path: "store/LOCK", Err: syscall.EACCES}, false},
		{fmt.Errorf("pebble: %w", &fs.PathError{Op: "mkdir", Path: "store", Err: syscall.EACCES}), false},
		{&fs.PathError{Op: "open", Path: "store/LOCK", Err: syscall.EROFS}, false},
	} {
		if got := locked(c.err); got != c.locked {
			t.Errorf("locked(%v) = %v, want %v", c.err, got, c.locked)
		}
	}
}
