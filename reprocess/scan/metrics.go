package scan

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/reprocess/throttle"
)

// Register exposes the scan's progress on reg, labelled job_name (not
// job, which Prometheus gives every series as its scrape job):
//
//	reprocess_scan_scanned_total, reprocess_scan_emitted_total,
//	reprocess_scan_filtered_total, reprocess_scan_batches_total (counters)
//	reprocess_scan_tasks, reprocess_scan_tasks_done (gauges)
//	reprocess_throttle_rate (assets/s; 0 = unlimited)
//	reprocess_throttle_signal_seconds, reprocess_throttle_target_seconds
//	(the latency signal as last read, and its target)
//	reprocess_scan_consumer_lag (events the transform's group has not handled)
//
// lim and gate may be nil.
func (s *Scanner) Register(reg prometheus.Registerer, lim *throttle.Limiter, gate *throttle.Gate) error {
	labels := prometheus.Labels{"job_name": s.cfg.Job}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	st := &s.Stats
	cs := []prometheus.Collector{
		counter("reprocess_scan_scanned_total", "Asset ids read from the source.", func() float64 { return float64(st.Scanned.Load()) }),
		counter("reprocess_scan_emitted_total", "Events accepted by Kafka (or applied, in sync mode).", func() float64 { return float64(st.Emitted.Load()) }),
		counter("reprocess_scan_filtered_total", "Asset ids dropped by the filter or gone from the store.", func() float64 { return float64(st.Filtered.Load()) }),
		counter("reprocess_scan_batches_total", "Batches (pages) handled.", func() float64 { return float64(st.Batches.Load()) }),
		gauge("reprocess_scan_tasks", "Scan tasks (partitions) of the job.", func() float64 { return float64(st.Tasks.Load()) }),
		gauge("reprocess_scan_tasks_done", "Scan tasks done, including earlier runs.", func() float64 { return float64(st.TasksDone.Load()) }),
		gauge("reprocess_throttle_rate", "Current rate limit in assets per second (0: unlimited).", func() float64 {
			if lim == nil {
				return 0
			}
			return lim.Rate()
		}),
		gauge("reprocess_throttle_signal_seconds", "The production latency signal (a p99) the adaptive throttle read last.", func() float64 {
			return lim.Status().Signal.Seconds()
		}),
		gauge("reprocess_throttle_target_seconds", "The latency the adaptive throttle keeps its signal under (0 while measuring a baseline).", func() float64 {
			return lim.Status().Target.Seconds()
		}),
		gauge("reprocess_scan_consumer_lag", "Events the transform's consumer group has not handled, as last read.", func() float64 {
			return float64(gate.Lag())
		}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
