package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
)

// An HTTP address already in use stops the streamer at start, exit code 1,
// with the address in the log: it does not run without its health
// endpoints, nor wait for a broker first.
func TestAddressInUseFailsTheStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := config.Default()
	cfg.Brokers = []string{"127.0.0.1:1"} // nothing there: only the bind failure can end the start
	cfg.Lake = "file://" + t.TempDir()
	cfg.Checkpoint = cfg.Lake + "/_checkpoints/streamer"
	cfg.HTTPAddr = busy.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if code := Main(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard); code != 1 {
		t.Fatalf("exit code %d with the HTTP address in use, want 1", code)
	}
	if ctx.Err() != nil {
		t.Fatal("Main returned only when its context ended")
	}
	if !strings.Contains(logs.String(), busy.Addr().String()) || !strings.Contains(logs.String(), "HTTP_ADDR") {
		t.Fatalf("the log does not name the address and its setting:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "waiting for") {
		t.Fatalf("the streamer waited for its store or broker before binding its address:\n%s", logs.String())
	}
}

// `streamer healthcheck` exits 0 on a 2xx answer and 1 otherwise.
func TestHealthcheckCommand(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		code := int(status.Load())
		http.Error(w, http.StatusText(code), code)
	}))
	defer srv.Close()
	cfg, err := config.Parse([]string{"healthcheck", "--url", srv.URL + "/readyz"}, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(t.Output(), nil))
	if code := Main(t.Context(), cfg, log, io.Discard); code != 0 {
		t.Fatalf("exit code %d on 200, want 0", code)
	}
	status.Store(http.StatusServiceUnavailable)
	if code := Main(t.Context(), cfg, log, io.Discard); code != 1 {
		t.Fatalf("exit code %d on 503, want 1", code)
	}
	srv.Close()
	if code := Main(t.Context(), cfg, log, io.Discard); code != 1 {
		t.Fatalf("exit code %d with nothing listening, want 1", code)
	}
}
