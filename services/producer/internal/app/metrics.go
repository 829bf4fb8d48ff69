package app

import (
	"math"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsNamespace prefixes every series of the producer.
const metricsNamespace = "sensorlab_producer"

// metricsHandler serves the producer's Prometheus series from a registry of
// its own (not the global one, so that tests can run several apps). Every
// series reads the App's counters at scrape time: the produce path is not
// touched.
func (a *App) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help},
			func() float64 { return float64(v()) })
	}
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: name, Help: help}, v)
	}
	injected := func(kind string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "injected_records_total",
			Help:        "Generated records that carry an injected fault, by kind (--late-fraction, --duplicate-fraction, --invalid-fraction).",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(v()) })
	}
	for _, c := range []prometheus.Collector{
		counter("records_sent_total", "Records the broker acknowledged.", a.sent.Load),
		counter("records_failed_total", "Records that failed to produce (errors).", a.errs.Load),
		counter("records_generated_total", "Records handed to the Kafka client.", a.generated.Load),
		injected("late", a.late.Load),
		injected("duplicate", a.dups.Load),
		injected("invalid", a.invalid.Load),
		gauge("buffered_records", "Records buffered in the client, not yet acknowledged.",
			func() float64 { return float64(a.cl.BufferedProduceRecords()) }),
		gauge("send_rate", "Acknowledged records per second over the last progress interval (over the whole run once finished).",
			func() float64 { return math.Float64frombits(a.rate.Load()) }),
		gauge("target_rate", "The configured --rate in records per second (0: as fast as possible).",
			func() float64 { return a.cfg.Rate }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		// A fresh registry refuses only a duplicate: a bug, logged, not fatal.
		if err := reg.Register(c); err != nil {
			a.log.Error("register metrics", "err", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
