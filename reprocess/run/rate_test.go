package run_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/control"
	"github.com/reprocess/reprocess/reprocess/run"
)

// An operator's rate change reaches a running job within a second or
// two: the scan and its processors go at the new rate, lowered or
// raised, and the job's recorded throttle (what processors elsewhere
// pace at, and what job status shows) says so.
func TestOperatorRateBoundsARunningJob(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { liveRate(t, newEnv(t, 4000, nil)) })
	t.Run("cassandra", func(t *testing.T) {
		ks := fmt.Sprintf("reprocess_live_rate_%x", rand.Uint32())
		s := assetstest.Cassandra(t, ks, layout)
		t.Cleanup(func() { dropKeyspace(t, ks) })
		liveRate(t, newEnvOn(t, s, 4000, nil)) // checks the ledgers before the drop
	})
}

// dropKeyspace drops the test's keyspace once it is done with it.
func dropKeyspace(t *testing.T, ks string) {
	c := gocql.NewCluster(need.Service(t, "REPROCESS_TEST_CASSANDRA_HOSTS", "real Cassandra")...)
	sess, err := c.CreateSession()
	if err == nil {
		defer sess.Close()
		err = sess.Query("DROP KEYSPACE IF EXISTS " + ks).Exec()
	}
	if err != nil {
		t.Errorf("drop keyspace %s: %v", ks, err)
	}
}

func liveRate(t *testing.T, e *run.Env) {
	ctx := context.Background()
	// Pages of 5: a window's edges cut few events short.
	j := specOf(t, strings.Replace(spec(t, "live-rate", "rate: {limit: 1000}\n").Text, "page_size: 20", "page_size: 5", 1))
	r, err := e.Start(ctx, j, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for _, step := range []struct {
		rate     float64
		min, max float64 // assets/s the scan and processors may go at
	}{{50, 30, 75}, {250, 75, 320}} { // raised: over the old limit (the store may not take 250/s)
		if _, err := control.SetRate(ctx, e.Store, "live-rate", step.rate); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // read within a second
		// What the old rate emitted drains before the window opens: the
		// events in flight stop shrinking (by a quarter second's worth).
		inFlight := func() float64 { p := r.Progress(ctx); return float64(p.Emitted - p.Handled) }
		assetstest.Eventually(t, time.Minute, "the old rate's events handled", func() bool {
			before := inFlight()
			time.Sleep(500 * time.Millisecond)
			return before-inFlight() <= step.rate/4+5
		})
		p0, t0 := r.Progress(ctx), time.Now()
		time.Sleep(2 * time.Second)
		p1, el := r.Progress(ctx), time.Since(t0).Seconds()
		emitted, handled := float64(p1.Emitted-p0.Emitted)/el, float64(p1.Handled-p0.Handled)/el
		t.Logf("rate %v/s: emitted %.0f/s, handled %.0f/s", step.rate, emitted, handled)
		if emitted < step.min || emitted > step.max || handled < step.min || handled > step.max {
			t.Errorf("rate %v/s: emitted %.0f/s, handled %.0f/s; want both in [%v, %v]", step.rate, emitted, handled, step.min, step.max)
		}
		if th, err := e.Store.Throttle(ctx, "live-rate"); err != nil || th.Rate != step.rate {
			t.Errorf("recorded throttle %+v, %v; want rate %v", th, err, step.rate)
		}
	}
	if _, err := control.Act(ctx, e.Store, "live-rate", "cancel"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, control.ErrCancelled) {
		t.Errorf("cancelled run: %v", err)
	}
}
