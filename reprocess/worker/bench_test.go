package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
	"github.com/reprocess/reprocess/reprocess/worker"
)

// BenchmarkEndToEnd reports assets/s from scan to written transform: b.N
// assets are seeded (untimed), then the timer covers the scan publishing
// to Kafka and 1, 2 or 4 workers (members of one consumer group, each
// applying 8 events at once) applying orientation v2 with guarded writes.
func BenchmarkEndToEnd(b *testing.B) {
	reg := transform.NewRegistry(orientation.All()...)
	for _, name := range []string{"embedded+kfake", "cassandra+kafka"} {
		for _, workers := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", name, workers), func(b *testing.B) {
				e := envMakers[name](b, b.N)
				j := e.spec(b, fmt.Sprintf("bench-%d", workers), "transform: {name: orientation, version: 2}\n")
				ws := make([]*worker.Worker, workers)
				for i := range ws {
					ws[i] = e.worker(b, reg, j, e.dlq(b), nil)
				}
				b.ResetTimer()
				start := time.Now()
				n := e.scan(b, j)
				e.drain(b, j, ws, n)
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "assets/s")
			})
		}
	}
}
