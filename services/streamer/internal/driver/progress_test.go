package driver

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// Every batch reports each query once, with its sink and its state; the
// metrics that are per query carry its name, and sum to the reports.
func TestProgressAndMetricsListEveryQuery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t, contract.EventsTopic)
	rng := rand.New(rand.NewPCG(9, 9))
	w.send(ctx, contract.EventsTopic, readings(rng, origin, 1500, "{")...)
	cfg := w.config()
	cfg.MaxOffsetsPerTrigger = 500
	prog, err := Compile("seed.sql", seedScript(t))
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, prog, slog.New(slog.DiscardHandler), io.Discard)
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	reports := d.Progress(0)
	byBatch := map[int64][]string{}
	out := map[string]int64{}
	var input, late int64
	for _, p := range reports {
		byBatch[p.BatchID] = append(byBatch[p.BatchID], p.Name)
		out[p.Name] += p.Sink.NumOutputRows
		if p.Name == "stream" {
			input += p.NumInputRows
			if len(p.StateOperators) != 1 {
				t.Fatalf("batch %d: stream reports %d state operators, want its aggregation", p.BatchID, len(p.StateOperators))
			}
			late += p.StateOperators[0].NumRowsDroppedByWatermark
		}
		if p.Sink.Description == "" || p.EventTime["watermark"] == "" || p.DurationMs["triggerExecution"] < 0 {
			t.Errorf("batch %d query %s: sink %q, event time %v", p.BatchID, p.Name, p.Sink.Description, p.EventTime)
		}
	}
	if len(byBatch) < 3 {
		t.Fatalf("%d batches reported, want at least 3", len(byBatch))
	}
	for id, names := range byBatch {
		if len(names) != 3 || names[0] != "stream" || names[1] != "console" || names[2] != "alerts" {
			t.Errorf("batch %d reports %v, want stream, console, alerts", id, names)
		}
	}
	if input != 1501 {
		t.Errorf("numInputRows sum to %d, want the 1501 records sent", input)
	}
	if out["stream"] != int64(len(streamRows(t, ctx, w.store))) {
		t.Errorf("stream reports %d output rows, its table holds %d", out["stream"], len(streamRows(t, ctx, w.store)))
	}
	mfs, err := d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[key] = c.GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"sensorlab_streamer_output_rows_total,query=stream":           float64(out["stream"]),
		"sensorlab_streamer_output_rows_total,query=alerts":           float64(out["alerts"]),
		"sensorlab_streamer_input_rows_total":                         1501,
		"sensorlab_streamer_invalid_rows_total,reason=malformed_json": 1,
		"sensorlab_streamer_batches_total":                            float64(len(byBatch)),
		"sensorlab_streamer_late_rows_total,query=stream":             float64(late),
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}
