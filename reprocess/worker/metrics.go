package worker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprocess/reprocess/reprocess/apply"
)

// Outcomes a worker counts, as the outcome label of
// reprocess_apply_events_total{transform, version, outcome}.
var outcomes = []apply.Outcome{apply.Applied, apply.Skipped, apply.Missing, apply.Deleted, apply.WouldDelete, DeadLettered, Ignored}

var eventsDesc = prometheus.NewDesc("reprocess_apply_events_total",
	"Events handled by a worker, by transform, version and outcome (applied, skipped, missing, deleted, would_delete, dlq, ignored).",
	[]string{"transform", "version", "outcome"}, nil)

// Describe implements prometheus.Collector.
func (w *Worker) Describe(ch chan<- *prometheus.Desc) { ch <- eventsDesc }

// Collect implements prometheus.Collector: one counter per outcome.
func (w *Worker) Collect(ch chan<- prometheus.Metric) {
	version := ""
	if w.Version > 0 {
		version = strconv.Itoa(w.Version)
	}
	for _, o := range outcomes {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(w.Count(o)), w.Transform, version, string(o))
	}
}
