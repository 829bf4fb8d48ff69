package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
)

// listen binds the HTTP address. RunQueryFile calls it before connecting
// anything, so that an address in use stops the streamer at start with the
// address named, rather than leaving it running without the health
// endpoints its orchestrator probes. It returns nil when the server is
// disabled.
func listen(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http server: cannot listen on %q (--http, HTTP_ADDR): %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves the handler on ln until the returned stop is called,
// which drains the server for at most 2 seconds.
func serveHTTP(ln net.Listener, h http.Handler, log *slog.Logger) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Info("http server listening", "addr", ln.Addr().String())
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server failed", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // a slow probe is cut off; nothing to report
		<-served
	}
}

// status is what the HTTP server shows of the running queries (a query
// file's driver: driverStatus).
type status interface {
	Ready() error
	Progress(n int) []progress.Query
	Rows() any
	Registry() prometheus.Gatherer
}

// newHandler serves:
//
//	/          the live page (assets under /assets/, embedded)
//	/healthz   200 while the process is alive
//	/readyz    200 when the queries run and their broker answers; 503 with the reason otherwise
//	/progress  the last batches' progress, oldest first (?n= limits them); one report per query per batch
//	/rows      each query's latest output rows: the first 100 of its last batch with output
//	/metrics   Prometheus series
//	/group     a replica's view of its query: every partition, which it runs, their newest commits (404 without --group)
func newHandler(log *slog.Logger, st status) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := st.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /progress", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		writeJSON(w, st.Progress(n))
	})
	mux.HandleFunc("GET /rows", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, st.Rows())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(st.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /group", func(w http.ResponseWriter, _ *http.Request) {
		g, ok := st.(interface{ Group() GroupStatus })
		if !ok {
			http.Error(w, "not a replica: this streamer runs without --group", http.StatusNotFound)
			return
		}
		writeJSON(w, g.Group())
	})
	pageRoutes(mux, log)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a client gone away is not our error
}

// Healthcheck GETs h.URL and returns nil on a 2xx answer: the body of
// `streamer healthcheck`, which compose runs (images have no curl).
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
