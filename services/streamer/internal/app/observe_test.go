package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
)

// runApp runs one available-now query to its end and returns the App, whose
// HTTP handler still serves what the run recorded.
func (w *world) runApp(ctx context.Context, cfg config.Config) *App {
	w.t.Helper()
	a := New(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if err := a.Run(ctx); err != nil {
		w.t.Fatalf("streamer: %v", err)
	}
	return a
}

// get fetches path from h and returns the body.
func get(t *testing.T, h http.Handler, path string) []byte {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// sparkFields are the StreamingQueryProgress fields a Spark user looks for,
// as paths into one report of /progress.
var sparkFields = []string{
	"id", "runId", "name", "batchId", "timestamp", "numInputRows", "inputRowsPerSecond", "processedRowsPerSecond",
	"durationMs.latestOffset", "durationMs.walCommit", "durationMs.addBatch", "durationMs.commitOffsets",
	"durationMs.triggerExecution", "durationMs.getBatch",
	"eventTime.min", "eventTime.max", "eventTime.avg", "eventTime.watermark",
	"stateOperators.0.numRowsTotal", "stateOperators.0.numRowsUpdated", "stateOperators.0.numRowsRemoved",
	"stateOperators.0.numRowsDroppedByWatermark", "stateOperators.0.memoryUsedBytes",
	"sources.0.description", "sources.0.startOffset", "sources.0.endOffset", "sources.0.latestOffset",
	"sources.0.numInputRows", "sources.0.inputRowsPerSecond", "sources.0.processedRowsPerSecond",
	"sink.description", "sink.numOutputRows",
}

func lookup(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func ms(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := progress.ParseTime(s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return tm.UnixMilli()
}

// rowsByBatch returns, per batch, the rows the stream table's commits hold:
// the numRecords of the adds of the commit whose txn is that batch.
func rowsByBatch(t *testing.T, ctx context.Context, st lake.Store) map[int64]int64 {
	t.Helper()
	objs, err := st.List(ctx, "stream/_delta_log/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int64{}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") || strings.Contains(o.Key, "checkpoint") {
			continue
		}
		b, err := st.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		actions, err := delta.ParseActions(b)
		if err != nil {
			t.Fatal(err)
		}
		batch, rows := int64(-1), int64(0)
		for _, a := range actions {
			switch {
			case a.Txn != nil:
				batch = a.Txn.Version
			case a.Add != nil:
				stats, err := delta.ParseStats(a.Add.Stats)
				if err != nil {
					t.Fatalf("%s: %v", o.Key, err)
				}
				rows += stats.NumRecords
			}
		}
		if _, dup := out[batch]; dup || batch < 0 {
			t.Fatalf("%s: batch %d committed twice, or a commit without txn", o.Key, batch)
		}
		out[batch] = rows
	}
	return out
}

// checkReports asserts that a run's reports are complete and add up. It
// returns the max event time they saw and the last report's watermark.
func checkReports(t *testing.T, reports []progress.Query, sinkRows map[int64]int64, prevMaxSeen int64, delayMs int64) (maxSeen int64) {
	t.Helper()
	maxSeen = prevMaxSeen
	prevWM := int64(-1)
	for i, p := range reports {
		if i > 0 && p.BatchID != reports[i-1].BatchID+1 {
			t.Fatalf("batch ids jump from %d to %d", reports[i-1].BatchID, p.BatchID)
		}
		if len(p.Sources) != 1 || len(p.StateOperators) != 1 {
			t.Fatalf("batch %d: want one source and one state operator, got %+v", p.BatchID, p)
		}
		src, st := p.Sources[0], p.StateOperators[0]
		// numInputRows is what the batch read: the width of its offset range.
		var width int64
		for part, end := range src.EndOffset[contract.EventsTopic] {
			start := src.StartOffset[contract.EventsTopic][part]
			latest := src.LatestOffset[contract.EventsTopic][part]
			if end < start || latest < end {
				t.Fatalf("batch %d partition %s: start %d, end %d, latest %d", p.BatchID, part, start, end, latest)
			}
			width += end - start
		}
		if p.NumInputRows != width || src.NumInputRows != width {
			t.Fatalf("batch %d: numInputRows %d (source %d), offsets span %d", p.BatchID, p.NumInputRows, src.NumInputRows, width)
		}
		if i > 0 {
			prev := reports[i-1].Sources[0].EndOffset[contract.EventsTopic]
			for part, start := range src.StartOffset[contract.EventsTopic] {
				if prev[part] != start {
					t.Fatalf("batch %d partition %s starts at %d, batch %d ended at %d", p.BatchID, part, start, p.BatchID-1, prev[part])
				}
			}
		}
		// The watermark is max(previous, max event time of earlier batches - delay).
		wm := ms(t, p.EventTime["watermark"])
		want := max(prevWM, maxSeen-delayMs, 0)
		if prevWM < 0 && prevMaxSeen == 0 {
			want = 0
		}
		if wm != want {
			t.Fatalf("batch %d: watermark %s, want %s (max event time before it %s)", p.BatchID,
				p.EventTime["watermark"], progress.FormatTime(time.UnixMilli(want)), progress.FormatTime(time.UnixMilli(maxSeen)))
		}
		prevWM = wm
		if valid := p.NumInputRows - p.NumInvalidRows; valid > 0 {
			lo, avg, hi := ms(t, p.EventTime["min"]), ms(t, p.EventTime["avg"]), ms(t, p.EventTime["max"])
			if !(lo <= avg && avg <= hi) {
				t.Fatalf("batch %d: eventTime min %d avg %d max %d", p.BatchID, lo, avg, hi)
			}
			maxSeen = max(maxSeen, hi)
			if p.ProcessedRowsPerSecond <= 0 {
				t.Fatalf("batch %d read %d rows at %v rows/s", p.BatchID, p.NumInputRows, p.ProcessedRowsPerSecond)
			}
		} else if _, ok := p.EventTime["max"]; ok && p.NumInputRows == 0 {
			t.Fatalf("batch %d read nothing but reports eventTime.max", p.BatchID)
		}
		var byReason int64
		for _, n := range p.InvalidByReason {
			byReason += n
		}
		if byReason != p.NumInvalidRows {
			t.Fatalf("batch %d: invalid rows %d, by reason %v", p.BatchID, p.NumInvalidRows, p.InvalidByReason)
		}
		d := p.DurationMs
		parts := d["latestOffset"] + d["walCommit"] + d["getBatch"] + d["addBatch"] + d["commitOffsets"]
		if d["triggerExecution"] < d["addBatch"] || d["triggerExecution"] < parts {
			t.Fatalf("batch %d: triggerExecution %d < its parts %v", p.BatchID, d["triggerExecution"], d)
		}
		if p.Sink.NumOutputRows != sinkRows[p.BatchID] {
			t.Fatalf("batch %d: sink numOutputRows %d, the table's commit of the batch holds %d rows", p.BatchID, p.Sink.NumOutputRows, sinkRows[p.BatchID])
		}
		if st.NumRowsTotal < 0 || st.MemoryUsedBytes <= 0 && st.NumRowsTotal > 0 {
			t.Fatalf("batch %d: state %+v", p.BatchID, st)
		}
	}
	return maxSeen
}

func sum(reports []progress.Query, f func(progress.Query) int64) int64 {
	var n int64
	for _, p := range reports {
		n += f(p)
	}
	return n
}

// scrape GETs /metrics as Prometheus does and returns its samples keyed by
// series (name and labels, as model.Metric prints them), through the client
// library's own text parser.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(get(t, h, "/metrics")))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, slices.Collect(maps.Values(families))...)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		out[s.Metric.String()] = float64(s.Value)
	}
	return out
}

func TestProgressMetricsAndWindowsAddUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const n1 = 3000
	w.produce(ctx, rng, origin, n1, `{"sensor_id":"S001"`, ``, `{"sensor_id":"S001","ts":"x","temp":1,"hum":1,"ok":true}`)
	a := w.runApp(ctx, w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = 700 }))

	// Every Spark field is served under its Spark name.
	var raw []any
	if err := json.Unmarshal(get(t, a.handler(), "/progress"), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) < 5 {
		t.Fatalf("%d reports for %d records capped at 700 per batch", len(raw), n1+3)
	}
	for _, r := range raw {
		for _, f := range sparkFields {
			if _, ok := lookup(r, f); !ok && !(strings.HasPrefix(f, "eventTime.") && f != "eventTime.watermark") {
				t.Errorf("batch %v: no field %s", r.(map[string]any)["batchId"], f)
			}
		}
	}
	reports := a.progress.Recent(0)
	sinkRows := rowsByBatch(t, ctx, w.store)
	maxSeen := checkReports(t, reports, sinkRows, 0, 60_000)
	if got := sum(reports, func(p progress.Query) int64 { return p.NumInputRows }); got != n1+3 {
		t.Fatalf("numInputRows add up to %d, %d records were produced", got, n1+3)
	}
	if got := sum(reports, func(p progress.Query) int64 { return p.NumInvalidRows }); got != 3 {
		t.Fatalf("numInvalidRows add up to %d, want 3", got)
	}
	if maxSeen != origin+(n1-1)*100 {
		t.Fatalf("max event time %d, want %d", maxSeen, origin+(n1-1)*100)
	}
	committed := int64(len(w.committedRows(ctx)))
	if got := sum(reports, func(p progress.Query) int64 { return p.Sink.NumOutputRows }); got != committed || got == 0 {
		t.Fatalf("sink numOutputRows add up to %d, the lake holds %d rows", got, committed)
	}
	last := reports[len(reports)-1]
	finalWM := ms(t, last.EventTime["watermark"])
	if finalWM != maxSeen-60_000 {
		t.Fatalf("final watermark %d, want max event time - 1m = %d", finalWM, maxSeen-60_000)
	}
	// The state holds exactly the windows the final watermark left open.
	open := map[wkey]bool{}
	for _, e := range w.sent {
		if k := (wkey{e.TS - e.TS%10_000, e.SensorID}); k.start+10_000 > finalWM {
			open[k] = true
		}
	}
	if got := last.StateOperators[0].NumRowsTotal; got != int64(len(open)) {
		t.Fatalf("numRowsTotal %d, want %d open windows", got, len(open))
	}

	// /metrics says the same as /progress.
	m := scrape(t, a.handler())
	for series, want := range map[string]float64{
		"sensorlab_streamer_batches_total":                                                             float64(len(reports)),
		"sensorlab_streamer_input_rows_total":                                                          n1 + 3,
		"sensorlab_streamer_output_rows_total":                                                         float64(committed),
		`sensorlab_streamer_invalid_rows_total{reason="empty_value"}`:                                  1,
		`sensorlab_streamer_invalid_rows_total{reason="wrong_type"}`:                                   1,
		`sensorlab_streamer_invalid_rows_total{reason="malformed_json"}`:                               1,
		"sensorlab_streamer_late_rows_total":                                                           0,
		"sensorlab_streamer_batch_duration_seconds_count":                                              float64(len(reports)),
		"sensorlab_streamer_last_batch_id":                                                             float64(last.BatchID),
		"sensorlab_streamer_state_rows":                                                                float64(len(open)),
		"sensorlab_streamer_watermark_seconds":                                                         float64(finalWM) / 1e3,
		"sensorlab_streamer_event_time_max_seconds":                                                    float64(maxSeen) / 1e3,
		"sensorlab_streamer_event_time_lag_seconds":                                                    60,
		`sensorlab_streamer_consumer_lag_records{partition="0", topic="` + contract.EventsTopic + `"}`: 0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if m["sensorlab_streamer_state_memory_bytes"] <= 0 {
		t.Errorf("state_memory_bytes = %v with %d state rows", m["sensorlab_streamer_state_memory_bytes"], len(open))
	}

	// /windows: each sensor's latest window, with the counts of its readings.
	type agg struct {
		start, n, ok int64
		sumT         float64
	}
	want := map[string]*agg{}
	for _, e := range w.sent {
		s := e.TS - e.TS%10_000
		g := want[e.SensorID]
		if g == nil || s > g.start {
			g = &agg{start: s}
			want[e.SensorID] = g
		}
		if s == g.start {
			g.n++
			g.sumT += e.Temp
			if e.OK {
				g.ok++
			}
		}
	}
	var windows []progress.SensorWindow
	if err := json.Unmarshal(get(t, a.handler(), "/windows"), &windows); err != nil {
		t.Fatal(err)
	}
	if len(windows) != len(want) {
		t.Fatalf("/windows lists %d sensors, want %d", len(windows), len(want))
	}
	for _, sw := range windows {
		g := want[sw.SensorID]
		if sw.WinStart.UnixMilli() != g.start || sw.Eventos != g.n || sw.OKCount != g.ok || !near(sw.AvgTemp, g.sumT/float64(g.n)) {
			t.Fatalf("%s: latest window %+v, want start %d, %d events, %d ok", sw.SensorID, sw, g.start, g.n, g.ok)
		}
		if sw.Closed != (g.start+10_000 <= finalWM) {
			t.Fatalf("%s: closed=%v with window end %d and watermark %d", sw.SensorID, sw.Closed, g.start+10_000, finalWM)
		}
	}

	// A second run continues where the first stopped; readings older than
	// the watermark are counted as late, in /progress and /metrics.
	const late, n2 = 50, 1000
	w.produce(ctx, rng, origin, late)
	w.produce(ctx, rng, origin+300_000, n2)
	b := w.runApp(ctx, w.config())
	reports2 := b.progress.Recent(0)
	for part, start := range reports2[0].Sources[0].StartOffset[contract.EventsTopic] {
		if end := last.Sources[0].EndOffset[contract.EventsTopic][part]; start != end {
			t.Fatalf("restart: partition %s starts at %d, the first run ended at %d", part, start, end)
		}
	}
	if reports2[0].BatchID != last.BatchID+1 {
		t.Fatalf("restart: first batch %d, want %d", reports2[0].BatchID, last.BatchID+1)
	}
	checkReports(t, reports2, rowsByBatch(t, ctx, w.store), maxSeen, 60_000)
	if ms(t, reports2[0].EventTime["watermark"]) != finalWM {
		t.Fatalf("restart: watermark %s, want the first run's %d", reports2[0].EventTime["watermark"], finalWM)
	}
	dropped := sum(reports2, func(p progress.Query) int64 { return p.StateOperators[0].NumRowsDroppedByWatermark })
	if dropped != late {
		t.Fatalf("numRowsDroppedByWatermark add up to %d, %d late readings were produced", dropped, late)
	}
	if got := sum(reports2, func(p progress.Query) int64 { return p.NumInputRows }); got != late+n2 {
		t.Fatalf("second run: numInputRows add up to %d, want %d", got, late+n2)
	}
	if got := scrape(t, b.handler())["sensorlab_streamer_late_rows_total"]; got != late {
		t.Fatalf("late_rows_total = %v, want %d", got, late)
	}
}

// Consumer lag is the latest offset minus the last batch's end offset, per
// partition, and event-time lag is the max event time minus the watermark.
func TestLagMetrics(t *testing.T) {
	a := New(config.Default(), slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if _, ok := scrape(t, a.handler())[`sensorlab_streamer_consumer_lag_records{partition="0", topic="eventos_sensores"}`]; ok {
		t.Fatal("consumer lag reported before any batch")
	}
	offs := func(p0, p1 int64) map[string]map[string]int64 {
		return map[string]map[string]int64{"eventos_sensores": {"0": p0, "1": p1}}
	}
	a.observer().record(progress.Query{
		BatchID:    7,
		DurationMs: map[string]int64{"triggerExecution": 1500},
		EventTime: map[string]string{
			"max": "2024-11-21T14:41:30.000Z", "watermark": "2024-11-21T14:40:00.000Z",
		},
		StateOperators: []progress.StateOperator{{NumRowsTotal: 4}},
		Sources:        []progress.Source{{EndOffset: offs(100, 250), LatestOffset: offs(130, 250)}},
	})
	m := scrape(t, a.handler())
	for series, want := range map[string]float64{
		`sensorlab_streamer_consumer_lag_records{partition="0", topic="eventos_sensores"}`: 30,
		`sensorlab_streamer_consumer_lag_records{partition="1", topic="eventos_sensores"}`: 0,
		`sensorlab_streamer_latest_offset{partition="0", topic="eventos_sensores"}`:        130,
		"sensorlab_streamer_event_time_lag_seconds":                                        90,
		`sensorlab_streamer_batch_duration_seconds_bucket{le="1.28"}`:                      0,
		`sensorlab_streamer_batch_duration_seconds_bucket{le="2.56"}`:                      1,
		`sensorlab_streamer_batch_phase_seconds{phase="triggerExecution"}`:                 1.5,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}
