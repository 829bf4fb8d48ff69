package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
)

// readyTimeout bounds the store ping behind /readyz.
const readyTimeout = 3 * time.Second

// Handler serves /healthz (200 while the process is alive; the body reports
// the run counts), /readyz (200 when the lake answers a Ping, 503 with the
// reason otherwise) and /metrics (Prometheus, see metrics.go).
func (b *Batcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b.Status())
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := b.Store.Ping(ctx); err != nil {
			http.Error(w, fmt.Sprintf("lake %s not ready: %v", b.Store, err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", b.metricsHandler())
	return mux
}

// listen binds addr for the HTTP server. Main calls it before anything
// else, so that an address in use stops the batcher at start with the
// address named, rather than leaving it running without the health
// endpoints its orchestrator probes.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http server: cannot listen on %q (--http, HTTP_ADDR): %w", addr, err)
	}
	return ln, nil
}

// Healthcheck GETs h.URL and returns nil on a 2xx answer: the body of
// `batcher healthcheck`, which compose runs (images have no curl).
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
