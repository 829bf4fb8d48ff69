package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake"
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

// The restart and store backoffs keep their schedule: doubling from their
// start to their cap, no jitter, and the restart one starts over on Reset.
func TestBackOffSchedules(t *testing.T) {
	ms := time.Millisecond
	for name, tc := range map[string]struct {
		next func() time.Duration
		want []time.Duration
	}{
		"restart": {restartBackOff().NextBackOff, []time.Duration{500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}},
		"store":   {storeBackOff().NextBackOff, []time.Duration{200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second}},
	} {
		for i, want := range tc.want {
			if got := tc.next(); got != want {
				t.Errorf("%s: wait %d is %v, want %v", name, i+1, got, want)
			}
		}
	}
	b := restartBackOff()
	b.NextBackOff()
	b.NextBackOff()
	b.Reset()
	if got := b.NextBackOff(); got != 500*ms {
		t.Errorf("restart after a committed batch waits %v, want 500ms", got)
	}
}

// flakyStore fails Ping a number of times, then answers.
type flakyStore struct {
	lake.Store
	fails atomic.Int32
}

func (s *flakyStore) Ping(context.Context) error {
	if s.fails.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	return nil
}

func (s *flakyStore) String() string { return "flaky" }

func TestWaitStoreRetriesUntilTheStoreAnswers(t *testing.T) {
	var logs bytes.Buffer
	a := New(config.Default(), slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard)
	st := &flakyStore{}
	st.fails.Store(2)
	if err := a.waitStore(t.Context(), st); err != nil {
		t.Fatalf("waitStore: %v", err)
	}
	if n := strings.Count(logs.String(), "waiting for the store"); n != 2 {
		t.Fatalf("%d waits logged for 2 failures:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"retry_in":"200ms"`) || !strings.Contains(logs.String(), `"retry_in":"400ms"`) {
		t.Fatalf("waits not logged as 200ms then 400ms:\n%s", logs.String())
	}

	// A stop while waiting ends the wait with the last error.
	st.fails.Store(1 << 30)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := a.waitStore(ctx, st)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("waitStore after its context ended: %v", err)
	}
}
