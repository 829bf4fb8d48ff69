package app

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

// scrape GETs b's /metrics as Prometheus does and returns its samples keyed
// by series (name and labels, as model.Metric prints them), through the
// client library's own text parser.
func scrape(t *testing.T, b *Batcher) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
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

func TestMetricsFollowRuns(t *testing.T) {
	_, s := newLake(t)
	b := &Batcher{Store: s, Log: quietLog(), Out: io.Discard}
	res, err := b.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]float64) {
		t.Helper()
		m := scrape(t, b)
		for series, v := range want {
			if got, ok := m[series]; !ok || got != v {
				t.Errorf("%s: %s = %v (present %v), want %v", when, series, got, ok, v)
			}
		}
		if m["sensorlab_batcher_last_success_timestamp_seconds"] <= 0 {
			t.Errorf("%s: no last success time", when)
		}
	}
	ok := map[string]float64{
		"sensorlab_batcher_runs_total":                 1,
		"sensorlab_batcher_run_failures_total":         0,
		"sensorlab_batcher_run_duration_seconds_count": 1,
		"sensorlab_batcher_output_rows":                2, // S001, S002
		"sensorlab_batcher_window_rows":                3,
		"sensorlab_batcher_window_files":               1,
		"sensorlab_batcher_output_bytes":               float64(res.Bytes),
		"sensorlab_batcher_stream_version":             0,
		"sensorlab_batcher_batch_version":              0,
		"sensorlab_batcher_runs_skipped_total":         0,
	}
	check("after a run", ok)
	if res.Bytes <= 0 {
		t.Fatalf("run wrote %d bytes", res.Bytes)
	}

	// A data file that is missing fails the next run: counted, and the
	// last good run's figures stay.
	commitMissing(t, s, 1)
	if _, err := b.RunOnce(context.Background()); err == nil {
		t.Fatal("run over a missing data file succeeded")
	}
	ok["sensorlab_batcher_runs_total"], ok["sensorlab_batcher_run_failures_total"] = 2, 1
	check("after a failed run", ok)
}

// In interval mode (SkipUnchanged) a run over an unchanged stream table is
// counted as skipped: no new batch version, the figures of the last run
// that wrote stay; a new stream version is consolidated again.
func TestMetricsCountSkippedRuns(t *testing.T) {
	_, s := newLake(t)
	b := &Batcher{Store: s, Options: consolidate.Options{SkipUnchanged: true}, Log: quietLog(), Out: io.Discard}
	for range 3 {
		if _, err := b.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	m := scrape(t, b)
	for series, want := range map[string]float64{
		"sensorlab_batcher_runs_total":                 3,
		"sensorlab_batcher_runs_skipped_total":         2,
		"sensorlab_batcher_run_duration_seconds_count": 1,
		"sensorlab_batcher_output_rows":                2,
		"sensorlab_batcher_stream_version":             0,
		"sensorlab_batcher_batch_version":              0,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
	if st := b.Status(); st.Runs != 3 || st.Skipped != 2 || st.LastRows != 2 || st.StreamVersion != 0 || st.BatchVersion != 0 {
		t.Fatalf("status %+v", st)
	}
	streamtest.New(s, query).MustAppend(t, 1, streamtest.Windows("S003", day, 1, 1, 20, 50, 1))
	if _, err := b.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, b)
	if m["sensorlab_batcher_stream_version"] != 1 || m["sensorlab_batcher_batch_version"] != 1 || m["sensorlab_batcher_output_rows"] != 3 {
		t.Fatalf("after a new stream version: stream %v, batch %v, rows %v", m["sensorlab_batcher_stream_version"], m["sensorlab_batcher_batch_version"], m["sensorlab_batcher_output_rows"])
	}
}
