package app

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scrape GETs a's /metrics as Prometheus does and returns its samples keyed
// by series (name and labels, as model.Metric prints them), through the
// client library's own text parser.
func scrape(t *testing.T, a *App) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(a.Handler())
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

func TestMetricsCountWhatWasSent(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 3000, 11)
	cfg.LateFraction, cfg.DuplicateFraction, cfg.InvalidFraction = 0.05, 0.05, 0.05
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, m := a.Stats(), scrape(t, a)
	if st.Late == 0 || st.Duplicates == 0 || st.Invalid == 0 {
		t.Fatalf("stats %+v: want some of each fault", st)
	}
	for series, want := range map[string]float64{
		"sensorlab_producer_records_sent_total":                       3000,
		"sensorlab_producer_records_generated_total":                  3000,
		"sensorlab_producer_records_failed_total":                     0,
		`sensorlab_producer_injected_records_total{kind="late"}`:      float64(st.Late),
		`sensorlab_producer_injected_records_total{kind="duplicate"}`: float64(st.Duplicates),
		`sensorlab_producer_injected_records_total{kind="invalid"}`:   float64(st.Invalid),
		"sensorlab_producer_buffered_records":                         0,
		"sensorlab_producer_target_rate":                              0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if m["sensorlab_producer_send_rate"] <= 0 {
		t.Errorf("send_rate = %v after sending 3000 records", m["sensorlab_producer_send_rate"])
	}
}

// During a broker outage /metrics shows the records piling up in the buffer,
// and after the stop, the ones that failed.
func TestMetricsShowAnOutage(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 0, 3)
	cfg.ShutdownTimeout = 100 * time.Millisecond
	cfg.MaxBufferedRecords = 300
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for a.Stats().Sent < 100 {
		<-tick.C
	}
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, errors.New("injected: broker away"), true
	})
	for a.cl.BufferedProduceRecords() < int64(cfg.MaxBufferedRecords) {
		<-tick.C
	}
	if got := scrape(t, a)["sensorlab_producer_buffered_records"]; got < float64(cfg.MaxBufferedRecords) {
		t.Errorf("buffered_records = %v during the outage, want the full buffer (%d)", got, cfg.MaxBufferedRecords)
	}
	stop()
	if err := <-done; err == nil {
		t.Fatal("run during an outage succeeded")
	}
	st, m := a.Stats(), scrape(t, a)
	if st.Errors == 0 || m["sensorlab_producer_records_failed_total"] != float64(st.Errors) ||
		m["sensorlab_producer_records_sent_total"] != float64(st.Sent) {
		t.Fatalf("after the outage: stats %+v, metrics failed=%v sent=%v", st,
			m["sensorlab_producer_records_failed_total"], m["sensorlab_producer_records_sent_total"])
	}
	c.DropControl()
}
