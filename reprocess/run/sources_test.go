package run_test

import (
	"context"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// A cassandra source splits wide partitions as its spec says.
func TestSourceSplitsAsTheSpecSays(t *testing.T) {
	for _, tc := range []struct {
		extra       string
		after, ways int
	}{
		{"", job.DefaultSplitAfter, job.DefaultSplitWays},
		{"  split_after: 0\n", 0, job.DefaultSplitWays},
		{"  split_after: 7\n  split_ways: 3\n", 7, 3},
	} {
		s, err := job.Parse([]byte("name: s\nsource:\n  kind: cassandra\n  types: [image]\n  created_from: 2025-01-01T00:00:00Z\n" + tc.extra +
			"transform: {name: t, version: 1, facts: {a: '\"x\"'}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		j, err := job.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		src, err := run.Sources{Layout: assets.DefaultLayout}.Source(context.Background(), j, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := src.(*scan.Partitions)
		if !ok || p.SplitAfter != tc.after || p.SplitWays != tc.ways {
			t.Errorf("%q: source %+v, want split after %d ids %d ways", tc.extra, src, tc.after, tc.ways)
		}
	}
}
