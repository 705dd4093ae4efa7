package run_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/run"
)

// A reverse index on the embedded store is refused before the job is
// recorded, saying what it needs.
func TestReverseIndexNeedsCassandra(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 10, nil)
	j := specOf(t, strings.Replace(spec(t, "by-owner", "").Text, "transform: {name: tag, version: 1, facts: {tag: '\"x\"'}}",
		"transform: {name: reverse_index, version: 1, reverse_index: {field: owner}}", 1))
	if _, err := e.Start(ctx, j, run.Options{}); !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), "Cassandra store") {
		t.Fatalf("Start on the embedded store: %v; want ErrInvalid saying it needs the Cassandra store", err)
	}
	if _, err := e.Store.Job(ctx, "by-owner"); !errors.Is(err, assets.ErrNotFound) {
		t.Errorf("the refused job was recorded: %v", err)
	}
}
