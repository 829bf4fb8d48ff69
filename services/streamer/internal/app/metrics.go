package app

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sensorlab/sensorlab/services/streamer/internal/engine"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
)

// metricsNamespace prefixes every series of the streamer.
const metricsNamespace = "sensorlab_streamer"

// observer turns each committed batch's progress report into Prometheus
// series and keeps the latest window per sensor for the page. Every figure
// comes from the progress report (so /metrics and /progress cannot
// disagree), except the consumer lag, which is computed at scrape time from
// the source's latest offsets.
type observer struct {
	once    sync.Once
	reg     *prometheus.Registry
	windows *progress.Windows

	batches       prometheus.Counter
	inputRows     prometheus.Counter
	invalidRows   *prometheus.CounterVec
	lateRows      prometheus.Counter
	outputRows    prometheus.Counter
	batchDuration prometheus.Histogram
	phase         *prometheus.GaugeVec
	inputRate     prometheus.Gauge
	processedRate prometheus.Gauge
	lastBatch     prometheus.Gauge
	watermark     prometheus.Gauge
	eventTimeMax  prometheus.Gauge
	eventTimeLag  prometheus.Gauge
	stateRows     prometheus.Gauge
	stateMemory   prometheus.Gauge

	mu      sync.Mutex
	maxSeen int64                       // max event time of all batches so far, epoch ms; 0 if none
	lastEnd map[string]map[string]int64 // end offsets of the last batch, topic -> partition -> offset
	latest  map[string]map[string]int64 // latest offsets the last batch saw, when the source is closed
}

// observer returns the App's observer, creating it on first use.
func (a *App) observer() *observer {
	o := &a.obs
	o.once.Do(func() { o.init(a) })
	return o
}

func (o *observer) init(a *App) {
	o.reg = prometheus.NewRegistry()
	o.windows = progress.NewWindows()
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNamespace, Name: name, Help: help}
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts(f(name, help)))
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts(f(name, help)))
	}
	o.batches = counter("batches_total", "Micro-batches committed.")
	o.inputRows = counter("input_rows_total", "Records read from the source (numInputRows), invalid ones included.")
	o.invalidRows = prometheus.NewCounterVec(prometheus.CounterOpts(f("invalid_rows_total",
		"Records that do not fit the schema, sent to the dead-letter topic, by reason.")), []string{"reason"})
	o.lateRows = counter("late_rows_total", "Readings dropped as late by the watermark (numRowsDroppedByWatermark).")
	o.outputRows = counter("output_rows_total", "Window rows written to the lake (sink numOutputRows).")
	o.batchDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "batch_duration_seconds",
		Help:    "Duration of a micro-batch from planning to commit (durationMs.triggerExecution).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5ms .. 41s
	})
	o.phase = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("batch_phase_seconds",
		"Duration of each phase of the last micro-batch (the keys of durationMs).")), []string{"phase"})
	o.inputRate = gauge("input_rows_per_second", "inputRowsPerSecond of the last batch.")
	o.processedRate = gauge("processed_rows_per_second", "processedRowsPerSecond of the last batch.")
	o.lastBatch = gauge("last_batch_id", "Id of the last committed batch.")
	o.watermark = gauge("watermark_seconds", "Event-time watermark the last batch ran with, Unix seconds.")
	o.eventTimeMax = gauge("event_time_max_seconds", "Largest event time read so far, Unix seconds.")
	o.eventTimeLag = gauge("event_time_lag_seconds",
		"Largest event time read so far minus the watermark: how far the watermark trails the data (0 until the first watermark).")
	o.stateRows = gauge("state_rows", "Window rows held in state (numRowsTotal).")
	o.stateMemory = gauge("state_memory_bytes", "Estimated memory of the window state (memoryUsedBytes).")
	for _, c := range []prometheus.Collector{
		o.batches, o.inputRows, o.invalidRows, o.lateRows, o.outputRows, o.batchDuration, o.phase,
		o.inputRate, o.processedRate, o.lastBatch, o.watermark, o.eventTimeMax, o.eventTimeLag,
		o.stateRows, o.stateMemory, lagCollector{a},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		// A fresh registry refuses only a duplicate: a bug, logged, not fatal.
		if err := o.reg.Register(c); err != nil {
			a.log.Error("register metrics", "err", err)
		}
	}
}

// observe records a committed batch: its progress report and the rows it
// produced (for the latest window per sensor).
func (a *App) observe(p progress.Query, res engine.BatchResult) {
	o := a.observer()
	o.windows.Observe(p.BatchID, res.Update, res.Append)
	o.record(p)
}

// record updates the series from one progress report.
func (o *observer) record(p progress.Query) {
	o.batches.Inc()
	o.lastBatch.Set(float64(p.BatchID))
	o.inputRows.Add(float64(p.NumInputRows))
	for reason, n := range p.InvalidByReason {
		o.invalidRows.WithLabelValues(reason).Add(float64(n))
	}
	o.outputRows.Add(float64(p.Sink.NumOutputRows))
	o.inputRate.Set(p.InputRowsPerSecond)
	o.processedRate.Set(p.ProcessedRowsPerSecond)
	o.batchDuration.Observe(float64(p.DurationMs["triggerExecution"]) / 1e3)
	for k, ms := range p.DurationMs {
		o.phase.WithLabelValues(k).Set(float64(ms) / 1e3)
	}
	for _, s := range p.StateOperators {
		o.lateRows.Add(float64(s.NumRowsDroppedByWatermark))
		o.stateRows.Set(float64(s.NumRowsTotal))
		o.stateMemory.Set(float64(s.MemoryUsedBytes))
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if t, err := progress.ParseTime(p.EventTime["max"]); err == nil {
		o.maxSeen = max(o.maxSeen, t.UnixMilli())
	}
	o.eventTimeMax.Set(float64(o.maxSeen) / 1e3)
	if t, err := progress.ParseTime(p.EventTime["watermark"]); err == nil {
		wm := t.UnixMilli()
		o.watermark.Set(float64(wm) / 1e3)
		if wm > 0 && o.maxSeen > 0 {
			o.eventTimeLag.Set(float64(o.maxSeen-wm) / 1e3)
		}
	}
	if len(p.Sources) > 0 {
		o.lastEnd, o.latest = p.Sources[0].EndOffset, p.Sources[0].LatestOffset
	}
}

// lagCollector reports, at scrape time, how many records of each partition
// the query has not read yet: the source's latest offset minus the end
// offset of the last committed batch.
type lagCollector struct{ a *App }

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
	o := &c.a.obs
	o.mu.Lock()
	end, latest := o.lastEnd, o.latest
	o.mu.Unlock()
	if end == nil {
		return // no batch committed yet: nothing to measure against
	}
	c.a.srcMu.Lock()
	if c.a.src != nil {
		now := map[string]int64{}
		for p, off := range c.a.src.Latest() {
			now[strconv.Itoa(int(p))] = off
		}
		latest = map[string]map[string]int64{c.a.cfg.Topic: now}
	}
	c.a.srcMu.Unlock()
	for topic, parts := range end {
		for p, e := range parts {
			l, ok := latest[topic][p]
			if !ok {
				continue
			}
			ch <- constGauge(latestDesc, float64(l), topic, p)
			ch <- constGauge(lagDesc, float64(max(l-e, 0)), topic, p)
		}
	}
}

// constGauge is one scrape-time gauge sample; a label mismatch (a bug)
// becomes a scrape error instead of a panic.
func constGauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
