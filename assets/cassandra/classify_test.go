package cassandra

import (
	"errors"
	"fmt"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets"
)

// requestErr is an error frame as a node sends it.
type requestErr int

func (e requestErr) Code() int       { return int(e) }
func (e requestErr) Message() string { return "from the node" }
func (e requestErr) Error() string   { return fmt.Sprintf("code %#x: from the node", int(e)) }

// What a node says while it stops, starts or is overloaded is an outage
// (waited out); what it says about the request itself is not.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err         error
		unavailable bool
	}{
		{gocql.ErrNoConnections, true},
		{gocql.ErrNoStreams, true},
		{fmt.Errorf("update: %w", requestErr(gocql.ErrCodeReadFailure)), true},
		{requestErr(gocql.ErrCodeWriteFailure), true},
		{requestErr(gocql.ErrCodeOverloaded), true},
		{requestErr(gocql.ErrCodeBootstrapping), true},
		{requestErr(gocql.ErrCodeCASWriteUnknown), true},
		{requestErr(gocql.ErrCodeSyntax), false},
		{requestErr(gocql.ErrCodeInvalid), false},
		{errors.New("bad metadata"), false},
	} {
		if got := errors.Is(classify(c.err), assets.ErrUnavailable); got != c.unavailable {
			t.Errorf("classify(%v) unavailable = %v; want %v", c.err, got, c.unavailable)
		}
	}
}
