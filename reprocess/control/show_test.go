package control_test

import (
	"context"
	"testing"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/control"
)

// The parts of a split task have checkpoints of their own, which are not
// tasks: a job's view counts its tasks only.
func TestShowCountsTasksNotParts(t *testing.T) {
	s := assetstest.Embedded(t, assets.DefaultLayout)
	assetstest.LedgersAtEnd(t, s)
	ctx := context.Background()
	for _, c := range []assets.Checkpoint{
		{Job: "j", Task: "image/2026-01-01T00:00:00Z/0", Done: true},
		{Job: "j", Task: "image/2026-01-01T00:00:00Z/1", Position: "split:[...]"},
		{Job: "j", Task: "image/2026-01-01T00:00:00Z/1" + assets.SubtaskMark + "a~b", Done: true},
		{Job: "j", Task: "image/2026-01-01T00:00:00Z/1" + assets.SubtaskMark + "b~", Position: "x"},
	} {
		if err := s.SaveCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	v, err := control.Show(ctx, s, assets.Job{ID: "j"})
	if err != nil {
		t.Fatal(err)
	}
	if v.TasksStarted != 2 || v.TasksDone != 1 {
		t.Errorf("view counts %d tasks started, %d done; want 2 and 1", v.TasksStarted, v.TasksDone)
	}
}
