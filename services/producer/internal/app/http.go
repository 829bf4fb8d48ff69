package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sensorlab/sensorlab/services/producer/internal/config"
)

// readyTimeout bounds one readiness probe of the broker.
const readyTimeout = 2 * time.Second

// Handler serves /healthz (the process is alive), /readyz (the topic
// exists and a broker answers, probed on every request) and /metrics
// (Prometheus, see metrics.go).
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", a.metricsHandler())
	return mux
}

// Ready reports nil when the topic was found or created and a broker
// answers now. (The topic check is the start-up one: franz-go caches
// metadata, so a live lookup right after creation can still say "unknown".)
func (a *App) Ready(ctx context.Context) error {
	if !a.topicReady.Load() {
		return fmt.Errorf("topic %q: not yet found or created", a.cfg.Topic)
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := a.cl.Ping(ctx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// Healthcheck GETs h.URL and returns nil on HTTP 200: the body of the
// `producer healthcheck` subcommand that compose runs (images have no curl).
func Healthcheck(ctx context.Context, h config.Healthcheck) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return fmt.Errorf("healthcheck request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // only for the message
	if resp.StatusCode != http.StatusOK {
		return errors.New("healthcheck " + h.URL + ": " + resp.Status + ": " + string(body))
	}
	return nil
}
