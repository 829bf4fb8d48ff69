// Package app wires the batcher: it opens the lake, runs the consolidation
// once or every interval, prints the per-sensor summary, serves the health
// endpoints in interval mode (bound before anything else: an address in use
// stops the start), and implements the Delta maintenance commands
// (optimize, vacuum, history, detail; maintain.go) and `batcher
// healthcheck`.
//
// In interval mode a failed run is logged, counted and retried at the next
// tick; only SIGTERM (context cancellation) ends the loop.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1
)

// shutdownTimeout bounds the HTTP server's drain, well under compose's
// default stop_grace_period of 10s.
const shutdownTimeout = 5 * time.Second

// Main runs the command cfg names and returns the process exit code: 0
// when it is done or stopped cleanly, 1 when it failed (an HTTP address that
// cannot be bound included: in interval mode the batcher then does not
// start). The summary table goes to out; logs go to log.
func Main(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) int {
	if cfg.Command == config.CommandHealthcheck {
		if err := Healthcheck(ctx, cfg.Healthcheck); err != nil {
			log.Error("unhealthy", "err", err)
			return ExitFailed
		}
		return ExitOK
	}
	if cfg.IsMaintenance() {
		log.Info("batcher starting", "config", cfg)
		if err := Maintain(ctx, cfg, log, out); err != nil {
			log.Error(string(cfg.Command)+" failed", "err", err)
			return ExitFailed
		}
		return ExitOK
	}
	var ln net.Listener
	if cfg.Run.Interval > 0 && cfg.Run.HTTPAddr != "" {
		var err error
		if ln, err = listen(cfg.Run.HTTPAddr); err != nil {
			log.Error("batcher stopped", "err", err)
			return ExitFailed
		}
		defer ln.Close() // when the start fails before ServeListener owns it
	}
	log.Info("batcher starting", "config", cfg)
	store, err := lake.Open(ctx, cfg.Lake, cfg.S3)
	if err != nil {
		log.Error("open lake", "err", err)
		return ExitFailed
	}
	opts := consolidateOptions(cfg.Run)
	if cfg.Run.Query != "" {
		text, err := os.ReadFile(cfg.Run.Query)
		if err != nil {
			log.Error("read the query file", "err", err)
			return ExitFailed
		}
		if opts.Job, err = consolidate.CompileJob(cfg.Run.Query, string(text)); err != nil {
			log.Error("compile the query file", "err", err)
			return ExitFailed
		}
		if a := opts.Job.Query.AsOf; a != nil && cfg.Run.Interval > 0 {
			log.Error("compile the query file", "err", fmt.Errorf("%s:%s: %s reads one fixed snapshot: run it once (interval 0), not every %s",
				cfg.Run.Query, a.At, a, cfg.Run.Interval))
			return ExitFailed
		}
	}
	b := &Batcher{Store: store, Options: opts, Log: log, Out: out}
	if cfg.Run.Interval <= 0 {
		if _, err := b.RunOnce(ctx); err != nil {
			return ExitFailed
		}
		return ExitOK
	}
	if err := b.ServeListener(ctx, cfg.Run.Interval, ln); err != nil {
		log.Error("batcher stopped", "err", err)
		return ExitFailed
	}
	return ExitOK
}

// consolidateOptions are the consolidation's options of a run
// configuration: time travel in one-shot mode, skipping unchanged stream
// versions in interval mode (when asked).
func consolidateOptions(r config.Run) consolidate.Options {
	o := consolidate.Options{Concurrency: r.ReadConcurrency, AsOfTimestamp: r.AsOfTimestamp,
		SkipUnchanged: r.Interval > 0 && r.SkipUnchanged}
	if r.AsOfVersion >= 0 {
		v := r.AsOfVersion
		o.AsOfVersion = &v
	}
	return o
}

// Batcher runs consolidations and keeps their counts for /healthz.
type Batcher struct {
	Store   lake.Store
	Options consolidate.Options
	Log     *slog.Logger
	Out     io.Writer // the summary table of each run
	// OnRun, when set, is called after every run with its outcome (tests
	// wait on it instead of sleeping).
	OnRun func(consolidate.Result, error)

	once   sync.Once
	c      *consolidate.Consolidator // one for every run: it keeps the tables' log hints
	mu     sync.Mutex
	status Status
	m      metrics // Prometheus series (metrics.go)
}

// Status is what /healthz reports about past runs.
type Status struct {
	Runs        int64     `json:"runs"`
	Failures    int64     `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastRows    int       `json:"last_rows"`
	// Skipped counts the runs that found the stream table unchanged.
	Skipped int64 `json:"skipped"`
	// StreamVersion and BatchVersion are the table versions of the last
	// successful run: the stream version consolidated, the batch version
	// holding the result (-1 before the first).
	StreamVersion int64 `json:"stream_version"`
	BatchVersion  int64 `json:"batch_version"`
}

// Status returns the counts so far.
func (b *Batcher) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.status
	if st.LastSuccess.IsZero() {
		st.StreamVersion, st.BatchVersion = -1, -1
	}
	return st
}

// RunOnce consolidates the lake once, prints the summary table and logs the
// run. A failure is logged and counted, and returned. A run that found the
// stream table unchanged (Options.SkipUnchanged) prints nothing.
func (b *Batcher) RunOnce(ctx context.Context) (consolidate.Result, error) {
	b.once.Do(func() { b.c = consolidate.New(b.Store, b.Options) })
	res, err := b.c.Run(ctx)
	if err != nil && ctx.Err() != nil {
		// Shutdown interrupted the run: not a failure of the lake.
		b.Log.Info("consolidation interrupted by shutdown", "err", err)
		return res, err
	}
	b.mu.Lock()
	b.status.Runs++
	if err != nil {
		b.status.Failures++
		b.status.LastError = err.Error()
	} else {
		b.status.LastError = ""
		b.status.LastSuccess = time.Now()
		b.status.StreamVersion, b.status.BatchVersion = res.Source.Version, res.BatchVersion
		if res.Skipped {
			b.status.Skipped++
		} else {
			b.status.LastRows = res.Output.N
		}
	}
	failures := b.status.Failures
	b.mu.Unlock()
	b.observe(res, err)
	if b.OnRun != nil {
		defer b.OnRun(res, err)
	}
	if err != nil {
		b.Log.Error("consolidation failed", "err", err, "failures_total", failures)
		return res, err
	}
	if res.Skipped {
		b.Log.Info("consolidation skipped: stream table unchanged",
			"stream_version", res.Source.Version, "batch_version", res.BatchVersion,
			"duration_ms", res.Duration.Milliseconds())
		return res, nil
	}
	if res.PostCommitErr != nil {
		b.Log.Warn("batch table: checkpoint or log cleanup after the commit failed; the commit stands", "err", res.PostCommitErr)
	}
	if err := writeOutput(b.Out, res); err != nil {
		b.Log.Warn("print summary", "err", err)
	}
	attrs := []any{
		"stream_version", res.Source.Version,
		"batch_version", res.BatchVersion,
		"object", res.Object,
		"rows", res.Output.N,
		"files", res.Files,
		"window_rows", res.WindowRows,
		"bytes", res.Bytes,
		"duration_ms", res.Duration.Milliseconds(),
		"duration_us", res.Duration.Microseconds(),
	}
	if res.Source.AsOfVersion != nil {
		attrs = append(attrs, "as_of_version", *res.Source.AsOfVersion)
	}
	if res.Source.AsOfTimestamp != "" {
		attrs = append(attrs, "as_of_timestamp", res.Source.AsOfTimestamp)
	}
	b.Log.Info("consolidation done", attrs...)
	return res, nil
}

// ServeListener runs a consolidation now and then every interval until ctx
// ends, serving /healthz, /readyz and /metrics on ln meanwhile (no server
// when ln is nil). A failed run does not stop it. It closes ln, and returns
// nil after a clean shutdown.
func (b *Batcher) ServeListener(ctx context.Context, interval time.Duration, ln net.Listener) error {
	if ln == nil {
		b.Loop(ctx, interval)
		b.Log.Info("batcher stopped")
		return nil
	}
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 5 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		b.Log.Info("http server listening", "addr", ln.Addr().String())
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), shutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	g.Go(func() error {
		b.Loop(gctx, interval)
		return nil
	})
	err := g.Wait()
	b.Log.Info("batcher stopped")
	return err
}

// Loop runs a consolidation now and then at every tick of interval until ctx
// ends. Ticks missed while a run is in progress are dropped, not queued.
func (b *Batcher) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := b.RunOnce(ctx); err != nil && ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
