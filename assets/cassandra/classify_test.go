package cassandra

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

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
		{gocql.ErrTimeoutNoResponse, true},
		{gocql.ErrConnectionClosed, true},
		{gocql.ErrSessionClosed, true},
		{fmt.Errorf("select: %w", &gocql.RequestErrUnavailable{Consistency: gocql.Quorum, Required: 2, Alive: 1}), true},
		{&gocql.RequestErrWriteTimeout{Consistency: gocql.Quorum, WriteType: "CAS"}, true},
		{&gocql.RequestErrReadTimeout{Consistency: gocql.One, DataPresent: 0}, true},
		{refused(t), true},
		{readTimeout(t), true},
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

// refused is the error of a dial to a port nothing listens on.
func refused(t *testing.T) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: connected; want refused", addr)
	}
	return err
}

// readTimeout is the error of a read past its deadline on a live
// connection that never answers.
func readTimeout(t *testing.T) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("a read of a silent connection returned")
	}
	return fmt.Errorf("read frame: %w", err)
}
