package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

const query = "app-test-query"

var day = time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC)

func quietLog() *slog.Logger { return quietLogTo(io.Discard) }

func quietLogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// newLake returns a file lake whose stream table holds windows of S001 (2
// windows, temps 30 and 20) and S002 (1 window), committed as batch 0.
func newLake(t *testing.T) (string, lake.Store) {
	t.Helper()
	url := "file://" + t.TempDir()
	s, err := lake.Open(context.Background(), url, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	rows := []contract.WindowRow{
		{WinStart: day, WinEnd: day.Add(10 * time.Second), SensorID: "S001", Eventos: 4, AvgTemp: 30, AvgHum: 60, OKCount: 4},
		{WinStart: day.Add(10 * time.Second), WinEnd: day.Add(20 * time.Second), SensorID: "S001", Eventos: 6, AvgTemp: 20, AvgHum: 40, OKCount: 5},
		{WinStart: day, WinEnd: day.Add(10 * time.Second), SensorID: "S002", Eventos: 3, AvgTemp: 25.5, AvgHum: 55.25, OKCount: 3},
	}
	streamtest.New(s, query).MustAppend(t, 0, rows)
	return url, s
}

// commitMissing commits batch batch with a data file that is not in the
// lake (as if vacuumed), and returns its path in the log.
func commitMissing(t *testing.T, s lake.Store, batch int64) string {
	t.Helper()
	w := streamtest.New(s, query)
	md, err := w.Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	data, err := streamtest.Encode(streamtest.Windows("S003", day, 1, 1, 20, 50, 1))
	if err != nil {
		t.Fatal(err)
	}
	rel := "date=2024-11-21/" + w.FileName(batch, 0)
	add, err := w.Add(context.Background(), md, rel, "2024-11-21", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(context.Background(), "stream/"+rel); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background(), batch, add); err != nil {
		t.Fatal(err)
	}
	return rel
}

// batchVersion is the batch table's latest version, -1 when it does not
// exist.
func batchVersion(t *testing.T, s lake.Store) int64 {
	t.Helper()
	snap, err := delta.NewTable(s, consolidate.BatchTable).Snapshot(context.Background())
	if errors.Is(err, delta.ErrNotATable) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return snap.Version()
}

func TestMainOneShotWritesObjectAndPrintsSummary(t *testing.T) {
	url, s := newLake(t)
	cfg, err := config.Parse([]string{"--lake", url}, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := Main(context.Background(), cfg, quietLog(), &out); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if v := batchVersion(t, s); v != 0 {
		t.Fatalf("one-shot run: batch table version %d, want 0", v)
	}
	table := out.String()
	// S001: 2 windows, 10 events, avg temp (30+20)/2, avg hum (60+40)/2, 9 ok.
	for _, line := range []string{"S001        2      10     25.00    50.00   9", "S002        1       3     25.50    55.25   3", "2 sensors        3      13                     12"} {
		if !strings.Contains(table, line) {
			t.Errorf("summary lacks %q:\n%s", line, table)
		}
	}
}

func TestMainOneShotFailsOnBrokenLake(t *testing.T) {
	url, s := newLake(t)
	gone := commitMissing(t, s, 1)
	var logs bytes.Buffer
	cfg := config.Default()
	cfg.Lake = url
	code := Main(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard)
	if code != ExitFailed {
		t.Fatalf("exit %d over a lake with a missing data file", code)
	}
	if !strings.Contains(logs.String(), gone) || !strings.Contains(logs.String(), "version 1 lists a data file the lake lacks") {
		t.Fatalf("the log does not name the missing file and the version:\n%s", logs.String())
	}
}

func TestMainLogsConfigWithSecretMasked(t *testing.T) {
	url, _ := newLake(t)
	cfg := config.Default()
	cfg.Lake = url
	cfg.S3.SecretKey = "hunter2"
	var logs bytes.Buffer
	Main(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard)
	if strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), `"lake":"`+url+`"`) {
		t.Fatalf("start log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"rows":2`) || !strings.Contains(logs.String(), "duration_ms") {
		t.Fatalf("run log lacks rows or duration:\n%s", logs.String())
	}
}

// In interval mode a failed run is counted and retried at the next tick; the
// loop recovers once the lake is repaired and stops on cancellation.
func TestLoopRetriesFailedRuns(t *testing.T) {
	_, s := newLake(t)
	missing := commitMissing(t, s, 1)

	outcomes := make(chan error)
	ctx, cancel := context.WithCancel(context.Background())
	b := &Batcher{Store: s, Log: quietLog(), Out: io.Discard, OnRun: func(_ consolidate.Result, err error) {
		select {
		case outcomes <- err:
		case <-ctx.Done():
		}
	}}
	done := make(chan struct{})
	go func() { b.Loop(ctx, time.Millisecond); close(done) }()

	for range 2 {
		if err := <-outcomes; err == nil {
			t.Fatal("run over a missing data file succeeded")
		}
	}
	// Repair the lake: the file the log lists appears.
	data, err := streamtest.Encode(streamtest.Windows("S003", day, 1, 1, 20, 50, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "stream/"+missing, data); err != nil {
		t.Fatal(err)
	}
	for err := range outcomes {
		if err == nil {
			break
		}
	}
	cancel()
	<-done
	st := b.Status()
	if st.Failures < 2 || st.Runs <= st.Failures || st.LastError != "" || st.LastRows != 3 || st.LastSuccess.IsZero() {
		t.Fatalf("status after recovery: %+v", st)
	}
}

func TestHealthEndpointsAndHealthcheck(t *testing.T) {
	_, s := newLake(t)
	b := &Batcher{Store: s, Log: quietLog(), Out: io.Discard}
	if _, err := b.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 || st.Runs != 1 || st.LastRows != 2 {
		t.Fatalf("/healthz: %d %+v %v", resp.StatusCode, st, err)
	}
	resp.Body.Close()

	ctx := context.Background()
	if err := Healthcheck(ctx, config.Healthcheck{URL: srv.URL + "/readyz", Timeout: time.Minute}); err != nil {
		t.Fatalf("readyz over a healthy file lake: %v", err)
	}
	hc := config.Config{Command: config.CommandHealthcheck, Healthcheck: config.Healthcheck{URL: srv.URL + "/readyz", Timeout: time.Minute}}
	if code := Main(ctx, hc, quietLog(), io.Discard); code != ExitOK {
		t.Fatalf("batcher healthcheck exit %d against a ready batcher", code)
	}

	// A lake whose root is a regular file cannot be written: not ready.
	root := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(root, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := lake.Open(ctx, "file://"+root, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	badSrv := httptest.NewServer((&Batcher{Store: bad, Log: quietLog(), Out: io.Discard}).Handler())
	defer badSrv.Close()
	if err := Healthcheck(ctx, config.Healthcheck{URL: badSrv.URL + "/readyz", Timeout: time.Minute}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("readyz over an unwritable lake: %v", err)
	}
	hc.Healthcheck.URL = badSrv.URL + "/readyz"
	var logs bytes.Buffer
	if code := Main(ctx, hc, quietLogTo(&logs), io.Discard); code != ExitFailed || !strings.Contains(logs.String(), "unhealthy") {
		t.Fatalf("batcher healthcheck exit %d (%q) against an unready batcher", code, logs.String())
	}
}

// Interval mode end to end: runs, serves /readyz while running, and returns
// cleanly on cancellation (SIGTERM in main).
func TestServeRunsServesAndStops(t *testing.T) {
	_, s := newLake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error)
	b := &Batcher{Store: s, Log: quietLog(), Out: io.Discard, OnRun: func(_ consolidate.Result, err error) {
		select {
		case ran <- err:
		case <-ctx.Done():
		}
	}}
	served := make(chan error, 1)
	go func() { served <- b.ServeListener(ctx, time.Hour, ln) }()
	if err := <-ran; err != nil {
		t.Fatalf("first run: %v", err)
	}
	if err := Healthcheck(ctx, config.Healthcheck{URL: "http://" + ln.Addr().String() + "/readyz", Timeout: time.Minute}); err != nil {
		t.Fatalf("readyz while serving: %v", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := Healthcheck(context.Background(), config.Healthcheck{URL: "http://" + ln.Addr().String() + "/healthz", Timeout: time.Minute}); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

// In interval mode an HTTP address already in use stops the batcher at
// start, exit code 1, with the address in the log, before any run: it does
// not run without its health endpoints.
func TestAddressInUseFailsTheStart(t *testing.T) {
	url, s := newLake(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg, err := config.Parse([]string{"--lake", url, "--interval", "1h", "--http", busy.Addr().String()},
		func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := Main(ctx, cfg, quietLogTo(&logs), io.Discard); code != ExitFailed {
		t.Fatalf("exit code %d with the HTTP address in use, want %d", code, ExitFailed)
	}
	if ctx.Err() != nil {
		t.Fatal("Main returned only when its context ended")
	}
	if !strings.Contains(logs.String(), busy.Addr().String()) || !strings.Contains(logs.String(), "HTTP_ADDR") {
		t.Fatalf("the log does not name the address and its setting:\n%s", logs.String())
	}
	if v := batchVersion(t, s); v != -1 {
		t.Fatal("the batcher ran before binding its address")
	}
}

// In interval mode HTTP_ADDR= runs without a server: the runs go on.
func TestIntervalModeWithoutHTTP(t *testing.T) {
	url, s := newLake(t)
	cfg, err := config.Parse([]string{"--lake", url, "--interval", "1h", "--http="}, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Main(ctx, cfg, quietLog(), io.Discard) }()
	for {
		if batchVersion(t, s) >= 0 {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("Main returned %d before its first run", code)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit code %d after a stop, want %d", code, ExitOK)
	}
}
