package driver

import (
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/streamtest"
)

// scrape renders the driver's registry as /metrics does and returns its
// samples keyed by series.
func scrape(t *testing.T, d *Driver) map[string]float64 {
	t.Helper()
	return streamtest.Scrape(t, promhttp.HandlerFor(d.Registry(), promhttp.HandlerOpts{}))
}

// Consumer lag is the latest offset minus the last batch's end offset, per
// partition, and event-time lag is the max event time minus the watermark.
func TestLagMetrics(t *testing.T) {
	prog, err := Compile("seed.sql", seedScript(t))
	if err != nil {
		t.Fatal(err)
	}
	d := New(config.Default(), prog, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if _, ok := scrape(t, d)[`sensorlab_streamer_consumer_lag_records{partition="0", topic="eventos_sensores"}`]; ok {
		t.Fatal("consumer lag reported before any batch")
	}
	offs := func(p0, p1 int64) map[string]map[string]int64 {
		return map[string]map[string]int64{"eventos_sensores": {"0": p0, "1": p1}}
	}
	const watermark, maxEvent = int64(1732200000000), int64(1732200090000) // 14:40:00, 14:41:30
	d.obs.record([]progress.Query{{
		Name: "stream", BatchID: 7,
		DurationMs:     map[string]int64{"triggerExecution": 1500},
		StateOperators: []progress.StateOperator{{NumRowsTotal: 4}},
		Sources:        []progress.Source{{EndOffset: offs(100, 250), LatestOffset: offs(130, 250)}},
	}}, watermark, maxEvent, true)
	m := scrape(t, d)
	for series, want := range map[string]float64{
		`sensorlab_streamer_consumer_lag_records{partition="0", topic="eventos_sensores"}`: 30,
		`sensorlab_streamer_consumer_lag_records{partition="1", topic="eventos_sensores"}`: 0,
		`sensorlab_streamer_latest_offset{partition="0", topic="eventos_sensores"}`:        130,
		"sensorlab_streamer_event_time_lag_seconds":                                        90,
		`sensorlab_streamer_state_rows{query="stream"}`:                                    4,
		`sensorlab_streamer_batch_duration_seconds_bucket{le="1.28"}`:                      0,
		`sensorlab_streamer_batch_duration_seconds_bucket{le="2.56"}`:                      1,
		`sensorlab_streamer_batch_phase_seconds{phase="triggerExecution"}`:                 1.5,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}
