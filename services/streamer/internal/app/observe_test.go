package app

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/streamtest"
)

// runDriver runs the query file of cfg, available-now, to its end, and
// returns the driver and the streamer's HTTP handler over it, which still
// serves what the run recorded.
func (w *world) runDriver(ctx context.Context, cfg config.Config) (*driver.Driver, http.Handler) {
	w.t.Helper()
	d := newDriver(w.t, cfg, quietLog())
	if err := d.Run(ctx); err != nil {
		w.t.Fatalf("streamer: %v", err)
	}
	return d, newHandler(quietLog(), driverStatus{d})
}

// ofQuery is the reports of the query named name, in order.
func ofQuery(reports []progress.Query, name string) []progress.Query {
	var out []progress.Query
	for _, p := range reports {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
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

// scrape GETs /metrics from h as Prometheus does.
var scrape = streamtest.Scrape

// The seed's queries run from the default query file: /progress holds one
// report per query and batch with every Spark field, the stream query's
// reports add up (input, dead letters, output rows against the table's
// commits, watermark, state), /metrics says the same, /rows holds each
// query's latest output, and a second run goes on where the first stopped.
func TestProgressMetricsAndRowsAddUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const n1 = 3000
	w.produce(ctx, rng, origin, n1, `{"sensor_id":"S001"`, ``, `{"sensor_id":"S001","ts":"x","temp":1,"hum":1,"ok":true}`)
	d, h := w.runDriver(ctx, w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = 700 }))

	// Every Spark field is served under its Spark name.
	var raw []any
	if err := json.Unmarshal(get(t, h, "/progress"), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) < 3*5 {
		t.Fatalf("%d reports for %d records capped at 700 per batch, 3 queries", len(raw), n1+3)
	}
	for _, r := range raw {
		for _, f := range sparkFields {
			if strings.HasPrefix(f, "stateOperators.") && r.(map[string]any)["name"] != "stream" {
				continue
			}
			if _, ok := lookup(r, f); !ok && !(strings.HasPrefix(f, "eventTime.") && f != "eventTime.watermark") {
				t.Errorf("batch %v: no field %s", r.(map[string]any)["batchId"], f)
			}
		}
	}
	all := d.Progress(0)
	reports := ofQuery(all, "stream")
	if len(all) != 3*len(reports) {
		t.Fatalf("%d reports, %d of them the stream query's: want one per query (3) and batch", len(all), len(reports))
	}
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
	alerts := int64(len(committedRecords(t, ctx, w.brokers, contract.AlertsTopic)))
	if got := sum(ofQuery(all, "alerts"), func(p progress.Query) int64 { return p.Sink.NumOutputRows }); got != alerts || got == 0 {
		t.Fatalf("the alerts query's numOutputRows add up to %d, its topic holds %d alerts", got, alerts)
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
	m := scrape(t, h)
	for series, want := range map[string]float64{
		"sensorlab_streamer_batches_total":                                                             float64(len(reports)),
		"sensorlab_streamer_input_rows_total":                                                          n1 + 3,
		`sensorlab_streamer_output_rows_total{query="stream"}`:                                         float64(committed),
		`sensorlab_streamer_output_rows_total{query="alerts"}`:                                         float64(alerts),
		`sensorlab_streamer_invalid_rows_total{reason="empty_value"}`:                                  1,
		`sensorlab_streamer_invalid_rows_total{reason="wrong_type"}`:                                   1,
		`sensorlab_streamer_invalid_rows_total{reason="malformed_json"}`:                               1,
		`sensorlab_streamer_late_rows_total{query="stream"}`:                                           0,
		"sensorlab_streamer_batch_duration_seconds_count":                                              float64(len(reports)),
		"sensorlab_streamer_last_batch_id":                                                             float64(last.BatchID),
		`sensorlab_streamer_state_rows{query="stream"}`:                                                float64(len(open)),
		"sensorlab_streamer_watermark_seconds":                                                         float64(finalWM) / 1e3,
		"sensorlab_streamer_event_time_max_seconds":                                                    float64(maxSeen) / 1e3,
		"sensorlab_streamer_event_time_lag_seconds":                                                    60,
		`sensorlab_streamer_consumer_lag_records{partition="0", topic="` + contract.EventsTopic + `"}`: 0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if m[`sensorlab_streamer_state_memory_bytes{query="stream"}`] <= 0 {
		t.Errorf("state_memory_bytes = %v with %d state rows", m[`sensorlab_streamer_state_memory_bytes{query="stream"}`], len(open))
	}

	// /rows: each query's latest output, in the file's order. The stream
	// query's is the rows its last batch with output committed to the
	// table; the console's (update mode) is the windows that batch changed,
	// with their aggregates so far.
	var latest []driver.QueryRows
	if err := json.Unmarshal(get(t, h, "/rows"), &latest); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range latest {
		names = append(names, q.Query)
	}
	if !slices.Equal(names, []string{"stream", "console", "alerts"}) {
		t.Fatalf("/rows lists %v, want stream, console, alerts", names)
	}
	lastOut := int64(-1)
	for b, n := range sinkRows {
		if n > 0 {
			lastOut = max(lastOut, b)
		}
	}
	st := latest[0]
	if st.BatchID != lastOut || int64(st.NumRows) != sinkRows[lastOut] || st.Sink != "delta" || st.Mode != "append" ||
		!slices.Equal(st.Columns, []string{"win_start", "win_end", "sensor_id", "eventos", "avg_temp", "avg_hum", "ok_count", "min_temp", "max_temp", "date"}) {
		t.Fatalf("/rows stream: batch %d, %d rows, %s %s, columns %v; want batch %d with its %d rows committed, delta append, the seed's columns",
			st.BatchID, st.NumRows, st.Sink, st.Mode, st.Columns, lastOut, sinkRows[lastOut])
	}
	want := expected(w.sent, 10_000, 60_000)
	if len(st.Rows) != min(st.NumRows, 100) || st.Truncated != (st.NumRows > 100) {
		t.Fatalf("/rows stream: %d rows shown of %d (truncated %v)", len(st.Rows), st.NumRows, st.Truncated)
	}
	for _, r := range st.Rows {
		var row contract.WindowRow
		if err := json.Unmarshal(r, &row); err != nil {
			t.Fatalf("/rows stream row %s: %v", r, err)
		}
		k := wkey{row.WinStart.UnixMilli(), row.SensorID}
		if wr, ok := want[k]; !ok || row.Eventos != wr.Eventos || row.OKCount != wr.OKCount || !near(row.AvgTemp, wr.AvgTemp) || row.MaxTemp != wr.MaxTemp {
			t.Fatalf("/rows stream row %s, want the closed window %+v", r, wr)
		}
	}
	con := latest[1]
	lastBatch := reports[len(reports)-1].BatchID
	if con.Sink != "console" || con.Mode != "update" || con.NumRows == 0 || con.BatchID > lastBatch {
		t.Fatalf("/rows console: %+v", con)
	}
	for _, r := range con.Rows {
		var row contract.WindowRow
		if err := json.Unmarshal(r, &row); err != nil {
			t.Fatal(err)
		}
		// In update mode a window's row is its aggregate so far; the
		// windows that batch changed include open ones, so count the
		// readings of batches up to it.
		if row.Eventos <= 0 || row.Eventos > all10s(w.sent, row.WinStart.UnixMilli(), row.SensorID) {
			t.Fatalf("/rows console row %s: more readings than its window holds", r)
		}
	}

	// A second run continues where the first stopped; readings older than
	// the watermark are counted as late, in /progress and /metrics.
	const late, n2 = 50, 1000
	w.produce(ctx, rng, origin, late)
	w.produce(ctx, rng, origin+300_000, n2)
	d2, h2 := w.runDriver(ctx, w.config())
	reports2 := ofQuery(d2.Progress(0), "stream")
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
	if got := scrape(t, h2)[`sensorlab_streamer_late_rows_total{query="stream"}`]; got != late {
		t.Fatalf("late_rows_total = %v, want %d", got, late)
	}
}

// all10s counts the readings of sensor in the 10 s window starting at start.
func all10s(evs []contract.Event, start int64, sensor string) int64 {
	var n int64
	for _, e := range evs {
		if e.SensorID == sensor && e.TS-e.TS%10_000 == start {
			n++
		}
	}
	return n
}
