package driver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
)

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
	prog, err := Compile("seed.sql", seedScript(t))
	if err != nil {
		t.Fatal(err)
	}
	d := New(config.Default(), prog, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard)
	st := &flakyStore{}
	st.fails.Store(2)
	if err := d.waitStore(t.Context(), st); err != nil {
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
	err = d.waitStore(ctx, st)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("waitStore after its context ended: %v", err)
	}
}
