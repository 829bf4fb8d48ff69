package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sensorlab/sensorlab/services/producer/internal/config"
)

// readyTimeout bounds one readiness probe of the broker.
const readyTimeout = 2 * time.Second

// Handler serves /healthz (200 while the process is alive), /readyz (200
// when the topic exists and a broker answers, probed on every request; 503
// with the reason otherwise) and /metrics (Prometheus, see metrics.go).
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

// listen binds addr for the HTTP server. It runs before anything else, so
// that an address in use stops the service at start with the address named,
// rather than leaving it running without the health endpoints its
// orchestrator probes.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http server: cannot listen on %q (--http, HTTP_ADDR): %w", addr, err)
	}
	return ln, nil
}

// Healthcheck GETs h.URL and returns nil on a 2xx answer: the body of
// `producer healthcheck`, which compose runs (images have no curl).
func Healthcheck(ctx context.Context, h config.Healthcheck) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", h.URL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024)) // only for the message
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck %s: %s: %s", h.URL, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}
