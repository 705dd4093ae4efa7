package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// coordinatorTables are the system_views tables of per-table coordinator
// latency the node-latency signal reads. Cassandra computes their
// percentiles from a forward-decaying histogram (a 60 s half-life): a rise
// shows within seconds under traffic, a fall takes a minute or more. Its
// timers hold microseconds, which the tables scale as if nanoseconds, so
// the p99th_ms column of Cassandra 5.0 is in fact in seconds (a 2 ms read
// shows 0.002).
var coordinatorTables = []string{"coordinator_read_latency", "coordinator_write_latency"}

// NodeLatency is the p99 production sees on the store's assets table: the
// worst coordinator read or write p99 of any node, each node's virtual
// tables read on that node. A node that cannot be read fails the sample.
type NodeLatency struct {
	s *Store
	// Nodes are the host ids to read; nil reads every node the driver knows.
	Nodes []string
}

// NodeLatency returns the node-latency signal of the store's keyspace.
func (s *Store) NodeLatency() *NodeLatency { return &NodeLatency{s: s} }

// Sample reads every node's p99s and returns the worst.
func (n *NodeLatency) Sample(ctx context.Context) (time.Duration, error) {
	nodes := n.Nodes
	if nodes == nil {
		for _, h := range n.s.sess.GetHosts() {
			nodes = append(nodes, h.HostID())
		}
	}
	if len(nodes) == 0 {
		return 0, errors.New("node latency: the driver knows no cassandra node")
	}
	var worst float64
	for _, node := range nodes {
		for _, table := range coordinatorTables {
			var p99 float64
			err := n.s.sess.Query(`SELECT p99th_ms FROM system_views.`+table+` WHERE keyspace_name = ? AND table_name = 'assets'`, n.s.ks).
				SetHostID(node).ScanContext(ctx, &p99)
			if err != nil {
				return 0, fmt.Errorf("read system_views.%s on node %s: %w", table, node, classify(err))
			}
			worst = max(worst, p99)
		}
	}
	return time.Duration(worst * float64(time.Second)), nil
}

// Probe times one run of a CQL statement (tables written {ks}.table are
// in the store's keyspace): production's typical query, as it sees it.
type Probe struct {
	s    *Store
	stmt string
}

// Probe returns the probe signal of stmt.
func (s *Store) Probe(stmt string) *Probe { return &Probe{s: s, stmt: stmt} }

// Sample runs the statement once, reads its rows, and returns how long
// that took.
func (p *Probe) Sample(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if err := p.s.query(p.stmt).IterContext(ctx).Close(); err != nil {
		return 0, fmt.Errorf("probe %q: %w", p.stmt, classify(err))
	}
	return time.Since(start), nil
}
