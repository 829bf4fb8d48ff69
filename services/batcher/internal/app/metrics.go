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
	skipped     prometheus.Counter
	duration    prometheus.Histogram
	sensors     prometheus.Gauge
	windowRows  prometheus.Gauge
	files       prometheus.Gauge
	bytes       prometheus.Gauge
	lastSuccess prometheus.Gauge
	streamVer   prometheus.Gauge
	batchVer    prometheus.Gauge
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
		m.skipped = prometheus.NewCounter(prometheus.CounterOpts(opts("runs_skipped_total", "Consolidation runs that found the stream table unchanged since the batch table's last commit, and wrote nothing.")))
		m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "run_duration_seconds",
			Help:    "Duration of successful consolidation runs that wrote: read the stream snapshot's files, aggregate, commit to the batch table.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10ms .. 82s
		})
		m.sensors = gauge("output_rows", "Rows (sensors) the batch table's last commit holds.")
		m.windowRows = gauge("window_rows", "Window rows of the stream snapshot the last run that wrote folded in.")
		m.files = gauge("window_files", "Live data files of the stream snapshot the last run that wrote read.")
		m.bytes = gauge("output_bytes", "Size of the data file the last run that wrote added to the batch table.")
		m.lastSuccess = gauge("last_success_timestamp_seconds", "When the last successful run (skipped ones included) ended, Unix seconds.")
		m.streamVer = gauge("stream_version", "Stream table version the batch table holds the consolidation of (-1: no stream table).")
		m.batchVer = gauge("batch_version", "Batch table version of the last successful run.")
		for _, c := range []prometheus.Collector{
			m.runs, m.failures, m.skipped, m.duration, m.sensors, m.windowRows, m.files, m.bytes, m.lastSuccess, m.streamVer, m.batchVer,
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
	m.lastSuccess.SetToCurrentTime()
	m.streamVer.Set(float64(res.Source.Version))
	m.batchVer.Set(float64(res.BatchVersion))
	if res.Skipped {
		m.skipped.Inc()
		return
	}
	m.duration.Observe(res.Duration.Seconds())
	m.sensors.Set(float64(len(res.Rows)))
	m.windowRows.Set(float64(res.WindowRows))
	m.files.Set(float64(res.Files))
	m.bytes.Set(float64(res.Bytes))
}

func (b *Batcher) metricsHandler() http.Handler {
	return promhttp.HandlerFor(b.metrics().reg, promhttp.HandlerOpts{})
}
