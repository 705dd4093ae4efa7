package run_test

import (
	"context"
	"strings"
	"testing"
)

// An in-process broker kept in memory has no dead letters of an earlier
// process: the dead-letter commands say where they are kept instead of
// listing none.
func TestDeadLettersOfAnEphemeralBrokerAreAnError(t *testing.T) {
	d := newEnv(t, 0, nil).DeadLetters()
	if _, err := d.List(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "kafka.brokers") {
		t.Errorf("List on a broker in memory: %v; want an error naming kafka.brokers", err)
	}
	if n, err := d.Replay(context.Background(), "j"); n != 0 || err == nil || !strings.Contains(err.Error(), "embedded store") {
		t.Errorf("Replay on a broker in memory: %d, %v; want an error naming the embedded store", n, err)
	}
}
