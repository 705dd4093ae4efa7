package plan_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/assets/synth"
	"github.com/reprocess/reprocess/reprocess/plan"
)

// BenchmarkPlanScope plans a job over 20,000 assets of the embedded store:
// the exact walk of the paging index and 200 sampled reads. It prints the
// ids counted per second.
func BenchmarkPlanScope(b *testing.B) {
	ctx := context.Background()
	s := assetstest.Embedded(b, layout)
	const n = 20_000
	if _, err := synth.Seed(ctx, s, synth.Config{Count: n, Span: 30 * 24 * time.Hour, End: end, Seed: 1, Concurrency: 4}, nil); err != nil {
		b.Fatal(err)
	}
	j := read(b, fmt.Sprintf(`name: bench
source: {kind: cassandra, types: [image, video, document, audio, model3d], created_from: %s, created_to: %s}
filter: 'asset.type == "image"'
transform: {name: tag, version: 1, facts: {tag: '"x"'}}`, end.Add(-31*24*time.Hour).Format(time.RFC3339), end.Format(time.RFC3339)))
	e := planner(s)
	b.ResetTimer()
	for b.Loop() {
		p, err := e.Make(ctx, j, plan.Options{Seed: 1})
		if err != nil || p.Scope.Assets != n {
			b.Fatalf("plan: %v, %d assets", err, p.Scope.Assets)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "ids/s")
}
