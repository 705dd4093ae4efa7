package cassandra_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/assetstest"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

func TestNodeLatencyAfterTraffic(t *testing.T) {
	s := assetstest.Cassandra(t, "reprocess_signal_test", assets.DefaultLayout)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 200 {
		a := assets.Asset{ID: assets.NewID(time.Now()), Type: "image", CreatedAt: time.Now(), Metadata: map[string]string{"n": "x"}}
		if err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, a.ID); err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
	}
	p99, err := s.NodeLatency().Sample(ctx)
	if err != nil || p99 <= 0 {
		t.Fatalf("node latency after 400 requests: %s, %v; want a positive p99", p99, err)
	}
	probe, err := s.Probe(`SELECT asset_id FROM {ks}.assets LIMIT 10`).Sample(ctx)
	if err != nil || probe <= 0 {
		t.Fatalf("probe: %s, %v", probe, err)
	}
	t.Logf("worst node p99 on the assets table: %s; one probe: %s", p99, probe)
}

func TestUnreadableSignalFailsClosed(t *testing.T) {
	s := assetstest.Cassandra(t, "reprocess_signal_test", assets.DefaultLayout)
	nowhere := s.NodeLatency()
	nowhere.Nodes = []string{"5b6962dd-3f90-4c93-8f61-eabd00a00000"}
	for _, tc := range []struct {
		name string
		sig  throttle.Signal
		want string
	}{
		{"no such node", nowhere, "5b6962dd"},
		{"bad probe", s.Probe(`SELECT nothing FROM {ks}.no_such_table`), "no_such_table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := throttle.NewLimiter(throttle.Config{Limit: 1000, Adaptive: true, TargetP99: time.Second, Min: 10, SignalTimeout: time.Second}, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Now()
			go lim.Control(ctx, tc.sig, 100*time.Millisecond)
			for lim.Rate() != 10 && time.Since(start) < 10*time.Second {
				time.Sleep(10 * time.Millisecond)
			}
			took, st := time.Since(start), lim.Status()
			t.Logf("at the floor after %s: %+v", took, st)
			if lim.Rate() != 10 || took > 2*time.Second || st.Reason != throttle.ReasonMissing || !strings.Contains(st.Missing, tc.want) {
				t.Errorf("after %s: rate %v, status %+v; want the 10/s floor within ~1s, reason %q naming %s", took, lim.Rate(), st, throttle.ReasonMissing, tc.want)
			}
		})
	}
}
