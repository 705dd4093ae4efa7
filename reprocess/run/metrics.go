package run

import (
	"errors"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// collectors registers on a registry and remembers what it registered,
// so a run's collectors leave with it: a later run of the job in the same
// process registers its own and its metrics are the live ones.
type collectors struct {
	reg prometheus.Registerer
	cs  []prometheus.Collector
}

// Register implements prometheus.Registerer.
func (c *collectors) Register(x prometheus.Collector) error {
	if err := c.reg.Register(x); err != nil {
		return err
	}
	c.cs = append(c.cs, x)
	return nil
}

// MustRegister implements prometheus.Registerer.
func (c *collectors) MustRegister(xs ...prometheus.Collector) {
	for _, x := range xs {
		if err := c.Register(x); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (c *collectors) Unregister(x prometheus.Collector) bool {
	c.cs = slices.DeleteFunc(c.cs, func(y prometheus.Collector) bool { return y == x })
	return c.reg.Unregister(x)
}

// unregister removes every collector registered through c, and only
// those: a collector that failed to register (another run's is there)
// is not taken for its twin.
func (c *collectors) unregister() {
	for _, x := range c.cs {
		c.reg.Unregister(x)
	}
	c.cs = nil
}

var failedOpts = prometheus.GaugeOpts{Name: "reprocess_job_failed",
	Help: "1 from the end of a job's failed run in this process until the job starts again, else 0."}

// setFailed sets reprocess_job_failed{job_name=job}. The gauge outlives
// the job's runs, so an alert sees a failed job until it runs again.
func (e *Env) setFailed(job string, failed bool) {
	g := prometheus.NewGaugeVec(failedOpts, []string{"job_name"})
	if err := e.Metrics.Register(g); err != nil {
		are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			e.Log.Warn("job metrics not registered", "error", err)
			return
		}
		g = are.ExistingCollector.(*prometheus.GaugeVec)
	}
	v := 0.0
	if failed {
		v = 1
	}
	g.WithLabelValues(job).Set(v)
}
