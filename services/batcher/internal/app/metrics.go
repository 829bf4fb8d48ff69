package app

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
)

// metricsNamespace prefixes every series of the batcher.
const metricsNamespace = "sensorlab_batcher"

// metrics are the batcher's Prometheus series, on a registry of the
// Batcher's own (not the global one, so that tests can run several).
type metrics struct {
	once        sync.Once
	reg         *prometheus.Registry
	runs        prometheus.Counter
	failures    prometheus.Counter
	duration    prometheus.Histogram
	sensors     prometheus.Gauge
	windowRows  prometheus.Gauge
	files       prometheus.Gauge
	bytes       prometheus.Gauge
	lastSuccess prometheus.Gauge
}

// metrics returns the Batcher's series, creating them on first use.
func (b *Batcher) metrics() *metrics {
	m := &b.m
	m.once.Do(func() {
		opts := func(name, help string) prometheus.Opts {
			return prometheus.Opts{Namespace: metricsNamespace, Name: name, Help: help}
		}
		gauge := func(name, help string) prometheus.Gauge {
			return prometheus.NewGauge(prometheus.GaugeOpts(opts(name, help)))
		}
		m.reg = prometheus.NewRegistry()
		m.runs = prometheus.NewCounter(prometheus.CounterOpts(opts("runs_total", "Consolidation runs, failed ones included.")))
		m.failures = prometheus.NewCounter(prometheus.CounterOpts(opts("run_failures_total", "Consolidation runs that failed.")))
		m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "run_duration_seconds",
			Help:    "Duration of successful consolidation runs: read the committed window files, aggregate, write the object.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10ms .. 82s
		})
		m.sensors = gauge("output_rows", "Rows (sensors) of the last consolidated object.")
		m.windowRows = gauge("window_rows", "Committed window rows the last successful run folded in.")
		m.files = gauge("window_files", "Committed window files the last successful run read.")
		m.bytes = gauge("output_bytes", "Size of the last consolidated object.")
		m.lastSuccess = gauge("last_success_timestamp_seconds", "When the last successful run ended, Unix seconds.")
		for _, c := range []prometheus.Collector{
			m.runs, m.failures, m.duration, m.sensors, m.windowRows, m.files, m.bytes, m.lastSuccess,
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		} {
			// A fresh registry refuses only a duplicate: a bug, logged, not fatal.
			if err := m.reg.Register(c); err != nil {
				b.Log.Error("register metrics", "err", err)
			}
		}
	})
	return m
}

// observe records one finished run (not one interrupted by shutdown).
func (b *Batcher) observe(res consolidate.Result, err error) {
	m := b.metrics()
	m.runs.Inc()
	if err != nil {
		m.failures.Inc()
		return
	}
	m.duration.Observe(res.Duration.Seconds())
	m.sensors.Set(float64(len(res.Rows)))
	m.windowRows.Set(float64(res.WindowRows))
	m.files.Set(float64(res.Files))
	m.bytes.Set(float64(res.Bytes))
	m.lastSuccess.SetToCurrentTime()
}

func (b *Batcher) metricsHandler() http.Handler {
	return promhttp.HandlerFor(b.metrics().reg, promhttp.HandlerOpts{})
}
