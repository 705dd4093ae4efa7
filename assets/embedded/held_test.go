package embedded_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
)

// TestMain, in a process TestHeldStoreNamesItsHolder starts with
// REPROCESS_TEST_HOLD set, is that other process: it opens the store
// there, says so, and holds it until its stdin closes.
func TestMain(m *testing.M) {
	dir := os.Getenv("REPROCESS_TEST_HOLD")
	if dir == "" {
		os.Exit(m.Run())
	}
	s, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer s.Close()
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
}

// hold opens the store in dir in another process, which holds it until
// release; kill ends that process without letting it close the store.
func hold(t *testing.T, dir string) (pid int, release, kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "REPROCESS_TEST_HOLD="+dir)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "held\n" {
		t.Fatalf("holder process said %q", line)
	}
	return cmd.Process.Pid, func() { in.Close(); cmd.Wait() }, func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }
}

// A store held by another process is a HeldError naming that process;
// once it closed the store, or was killed, the store opens.
func TestHeldStoreNamesItsHolder(t *testing.T) {
	for _, end := range []string{"closed", "killed"} {
		t.Run(end, func(t *testing.T) {
			dir := t.TempDir()
			pid, release, kill := hold(t, dir)
			_, err := embedded.Open(embedded.Config{Dir: dir, MustExist: true}, assets.DefaultLayout)
			var held *embedded.HeldError
			if !errors.As(err, &held) || held.PID != pid || !errors.Is(err, assets.ErrUnavailable) ||
				!strings.Contains(err.Error(), fmt.Sprintf("held by process %d (embedded.test)", pid)) {
				t.Fatalf("open of a store process %d holds: %v; want a HeldError naming it", pid, err)
			}
			if end == "closed" {
				release()
			} else {
				kill()
			}
			s, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
			if err != nil {
				t.Fatalf("open after the holder was %s: %v", end, err)
			}
			s.Close()
		})
	}
}

// A record left by a holder that was killed, while a process that
// records none holds the store, names no one rather than a wrong pid.
func TestStaleHolderIsNotNamed(t *testing.T) {
	dir := t.TempDir()
	_, release, _ := hold(t, dir)
	defer release()
	if err := os.WriteFile(dir+"/HOLDER", []byte("999999999 gone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := embedded.Open(embedded.Config{Dir: dir}, assets.DefaultLayout)
	var held *embedded.HeldError
	if !errors.As(err, &held) || held.PID != 0 || !strings.Contains(err.Error(), "held by another process") {
		t.Errorf("open with a stale record: %v; want a HeldError naming no pid", err)
	}
}
