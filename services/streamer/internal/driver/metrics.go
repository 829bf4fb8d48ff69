package driver

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/source"
)

// metricsNamespace prefixes every series.
const metricsNamespace = "sensorlab_streamer"

// observer turns each committed batch's progress reports into Prometheus
// series. Series about the batch (input, dead letters, durations,
// watermark, consumer lag) are the source's and have no query label; those
// about a query's state and sink carry query="<sink name>".
type observer struct {
	reg *prometheus.Registry

	batches       prometheus.Counter
	inputRows     prometheus.Counter
	invalidRows   *prometheus.CounterVec
	lateRows      *prometheus.CounterVec
	outputRows    *prometheus.CounterVec
	batchDuration prometheus.Histogram
	phase         *prometheus.GaugeVec
	inputRate     prometheus.Gauge
	processedRate prometheus.Gauge
	lastBatch     prometheus.Gauge
	watermark     prometheus.Gauge
	eventTimeMax  prometheus.Gauge
	eventTimeLag  prometheus.Gauge
	stateRows     *prometheus.GaugeVec
	stateMemory   *prometheus.GaugeVec

	mu      sync.Mutex
	maxSeen int64 // max event time of all batches so far, epoch ms; 0 if none
	topic   string
	lastEnd map[string]int64 // end offsets of the last batch, by partition
	latest  map[string]int64 // latest offsets the last batch saw
}

func newObserver(d *Driver) *observer {
	o := &observer{reg: prometheus.NewRegistry(), topic: d.src.Options["topic"]}
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNamespace, Name: name, Help: help}
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts(f(name, help)))
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts(f(name, help)))
	}
	perQuery := []string{"query"}
	o.batches = counter("batches_total", "Micro-batches committed.")
	o.inputRows = counter("input_rows_total", "Records read from the source (numInputRows), invalid ones included.")
	o.invalidRows = prometheus.NewCounterVec(prometheus.CounterOpts(f("invalid_rows_total",
		"Records that do not fit the source's schema or CHECK constraints, sent to the dead-letter topic, by reason.")), []string{"reason"})
	o.lateRows = prometheus.NewCounterVec(prometheus.CounterOpts(f("late_rows_total",
		"Rows a query's aggregation dropped as late by the watermark (numRowsDroppedByWatermark).")), perQuery)
	o.outputRows = prometheus.NewCounterVec(prometheus.CounterOpts(f("output_rows_total",
		"Rows a query wrote to its sink (sink numOutputRows).")), perQuery)
	o.batchDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "batch_duration_seconds",
		Help:    "Duration of a micro-batch from planning to commit (durationMs.triggerExecution).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})
	o.phase = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("batch_phase_seconds",
		"Duration of each phase of the last micro-batch (the keys of durationMs).")), []string{"phase"})
	o.inputRate = gauge("input_rows_per_second", "inputRowsPerSecond of the last batch.")
	o.processedRate = gauge("processed_rows_per_second", "processedRowsPerSecond of the last batch.")
	o.lastBatch = gauge("last_batch_id", "Id of the last committed batch.")
	o.watermark = gauge("watermark_seconds", "Event-time watermark the last batch ran with, Unix seconds.")
	o.eventTimeMax = gauge("event_time_max_seconds", "Largest event time read so far, Unix seconds.")
	o.eventTimeLag = gauge("event_time_lag_seconds",
		"Largest event time read so far minus the watermark (0 until the first watermark).")
	o.stateRows = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("state_rows", "Rows a query holds in state (numRowsTotal).")), perQuery)
	o.stateMemory = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("state_memory_bytes",
		"Estimated memory of a query's state (memoryUsedBytes).")), perQuery)
	for _, c := range []prometheus.Collector{
		o.batches, o.inputRows, o.invalidRows, o.lateRows, o.outputRows, o.batchDuration, o.phase,
		o.inputRate, o.processedRate, o.lastBatch, o.watermark, o.eventTimeMax, o.eventTimeLag,
		o.stateRows, o.stateMemory, lagCollector{d: d, o: o},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := o.reg.Register(c); err != nil {
			d.log.Error("register metrics", "err", err)
		}
	}
	return o
}

// Registry is the driver's Prometheus registry, for /metrics.
func (d *Driver) Registry() prometheus.Gatherer { return d.obs.reg }

// record updates the series from one batch's reports (one per query),
// its watermark and the largest event time it read (ms; ok false if none).
func (o *observer) record(reports []progress.Query, watermarkMs, maxEventMs int64, haveEvent bool) {
	if len(reports) == 0 {
		return
	}
	b := reports[0] // the batch's figures, shared by every query's report
	o.batches.Inc()
	o.lastBatch.Set(float64(b.BatchID))
	o.inputRows.Add(float64(b.NumInputRows))
	for reason, n := range b.InvalidByReason {
		o.invalidRows.WithLabelValues(reason).Add(float64(n))
	}
	o.inputRate.Set(b.InputRowsPerSecond)
	o.processedRate.Set(b.ProcessedRowsPerSecond)
	o.batchDuration.Observe(float64(b.DurationMs["triggerExecution"]) / 1e3)
	for k, ms := range b.DurationMs {
		o.phase.WithLabelValues(k).Set(float64(ms) / 1e3)
	}
	for _, p := range reports {
		o.outputRows.WithLabelValues(p.Name).Add(float64(p.Sink.NumOutputRows))
		for _, s := range p.StateOperators {
			o.lateRows.WithLabelValues(p.Name).Add(float64(s.NumRowsDroppedByWatermark))
			o.stateRows.WithLabelValues(p.Name).Set(float64(s.NumRowsTotal))
			o.stateMemory.WithLabelValues(p.Name).Set(float64(s.MemoryUsedBytes))
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if haveEvent {
		o.maxSeen = max(o.maxSeen, maxEventMs)
	}
	o.eventTimeMax.Set(float64(o.maxSeen) / 1e3)
	o.watermark.Set(float64(watermarkMs) / 1e3)
	if watermarkMs > 0 && o.maxSeen > 0 {
		o.eventTimeLag.Set(float64(o.maxSeen-watermarkMs) / 1e3)
	}
	if len(b.Sources) > 0 {
		o.lastEnd, o.latest = b.Sources[0].EndOffset[o.topic], b.Sources[0].LatestOffset[o.topic]
	}
}

// lagCollector reports, at scrape time, how many records of each partition
// no committed batch has read yet.
type lagCollector struct {
	d *Driver
	o *observer
}

var (
	lagDesc = prometheus.NewDesc(metricsNamespace+"_consumer_lag_records",
		"Records available in Kafka that no committed batch has read yet (latest offset - last batch's endOffset).",
		[]string{"topic", "partition"}, nil)
	latestDesc = prometheus.NewDesc(metricsNamespace+"_latest_offset",
		"Latest offset (high watermark) of each partition, as the source last saw it.",
		[]string{"topic", "partition"}, nil)
)

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- latestDesc
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.o
	o.mu.Lock()
	end, latest := o.lastEnd, o.latest
	o.mu.Unlock()
	if end == nil {
		return
	}
	c.d.srcMu.Lock()
	if s := c.d.sess; s != nil {
		latest = offsetsByName(s.src.Latest())
	}
	c.d.srcMu.Unlock()
	for p, e := range end {
		l, ok := latest[p]
		if !ok {
			continue
		}
		ch <- constGauge(latestDesc, float64(l), o.topic, p)
		ch <- constGauge(lagDesc, float64(max(l-e, 0)), o.topic, p)
	}
}

func offsetsByName(o source.Offsets) map[string]int64 {
	m := make(map[string]int64, len(o))
	for p, v := range o {
		m[strconv.Itoa(int(p))] = v
	}
	return m
}

func constGauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
