package app

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveHTTP starts the HTTP server on cfg.HTTPAddr (see handler), or returns
// nil when the address is empty.
func (a *App) serveHTTP() *http.Server {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	srv := &http.Server{Addr: a.cfg.HTTPAddr, Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		a.log.Error("http server", "addr", a.cfg.HTTPAddr, "err", err)
		return nil
	}
	a.log.Info("http server listening", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	}()
	return srv
}

// handler serves:
//
//	/          the live page (assets under /assets/, embedded)
//	/healthz   the process is alive
//	/readyz    the query runs and its broker answers
//	/progress  the last batches' progress, oldest first (?n= limits them)
//	/windows   the latest window of every sensor
//	/metrics   Prometheus series
func (a *App) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /progress", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		writeJSON(w, a.progress.Recent(n))
	})
	mux.HandleFunc("GET /windows", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, a.observer().windows.Latest())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.observer().reg, promhttp.HandlerOpts{}))
	a.pageRoutes(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a client gone away is not our error
}

// Healthcheck GETs url and reports whether it answered 200: what the
// container healthcheck (`streamer healthcheck`) runs, as images have no curl.
func Healthcheck(url string) error {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// HealthcheckCommand runs `streamer healthcheck [--url URL]`: GET the URL
// (default: this service's /readyz on 127.0.0.1:8082) and exit 0 on 200, 1
// otherwise; 2 for bad arguments.
func HealthcheckCommand(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8082/readyz", "URL to GET; exit 0 on HTTP 200, 1 otherwise")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := Healthcheck(*url); err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return 1
	}
	return 0
}
