// Package tick calls a function at a steady interval in the background.
package tick

import "time"

// Every calls fn every interval until stop, which waits for a call in
// progress to return.
func Every(interval time.Duration, fn func()) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done); <-exited }
}
