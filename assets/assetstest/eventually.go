package assetstest

import (
	"testing"
	"time"
)

// Eventually polls cond, every few milliseconds at first and at most every
// 100ms, until it holds; if it does not within the given time, the test
// fails, naming what it waited for.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for wait := 2 * time.Millisecond; !cond(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(wait)
	}
}
