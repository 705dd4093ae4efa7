package run

import (
	"context"
	"fmt"
	"time"

	"github.com/reprocess/reprocess/events"
	"github.com/reprocess/reprocess/reprocess/internal/tick"
)

// ConsumerCheck is how often a running async job whose processors run
// elsewhere checks that its transform's consumer group has members.
var ConsumerCheck = 10 * time.Second

// warnUnconsumed warns, each ConsumerCheck while the job runs, when no
// processor is a member of its transform's consumer group: its events
// then wait on the topic, and the job cannot end. stop ends it.
func (r *Job) warnUnconsumed(ctx context.Context) (stop func()) {
	if !r.async || len(r.workers) > 0 || r.env.Kafka.InProcess() {
		return func() {}
	}
	t := r.spec.Transform
	group := events.Group(t.Name, t.Version)
	return tick.Every(ConsumerCheck, func() {
		if n, err := r.env.Kafka.Members(ctx, group); err == nil && n == 0 {
			r.log.Warn("no processor consumes this job's events: they wait on the topic until one runs",
				"group", group, "topic", r.env.Kafka.Topic(), "start_one", fmt.Sprintf("reprocess worker --transform %s --version %d", t.Name, t.Version))
		}
	})
}
