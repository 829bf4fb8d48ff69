package app

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
)

// scrape returns the samples of b's /metrics keyed by series.
func scrape(t *testing.T, b *Batcher) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s, %v", resp.Status, err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
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
	}
	check("after a run", ok)
	if res.Bytes <= 0 {
		t.Fatalf("run wrote %d bytes", res.Bytes)
	}

	// A committed file that is missing fails the next run: counted, and the
	// last good run's figures stay.
	commitEntry(t, s, 1, contract.SinkFile{Path: contract.StreamFileKey(contract.PartitionDate(day), query, 1, 0)})
	if _, err := b.RunOnce(context.Background()); err == nil {
		t.Fatal("run over a missing committed file succeeded")
	}
	ok["sensorlab_batcher_runs_total"], ok["sensorlab_batcher_run_failures_total"] = 2, 1
	check("after a failed run", ok)
}
