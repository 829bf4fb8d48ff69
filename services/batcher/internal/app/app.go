// Package app wires the batcher: it opens the lake, runs the consolidation
// once or every interval, prints the per-sensor summary, serves the health
// endpoints in interval mode (bound before anything else: an address in use
// stops the start), and implements `batcher healthcheck`.
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
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/batcher/internal/compact"
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
	var ln net.Listener
	if cfg.Command == config.CommandRun && cfg.Interval > 0 && cfg.HTTPAddr != "" {
		var err error
		if ln, err = listen(cfg.HTTPAddr); err != nil {
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
	if cfg.Command == config.CommandCompact {
		if err := Compact(ctx, store, cfg.Compact, log); err != nil {
			return ExitFailed
		}
		return ExitOK
	}
	b := &Batcher{Store: store, Concurrency: cfg.ReadConcurrency, Log: log, Out: out}
	if cfg.Interval <= 0 {
		if _, err := b.RunOnce(ctx); err != nil {
			return ExitFailed
		}
		return ExitOK
	}
	if err := b.ServeListener(ctx, cfg.Interval, ln); err != nil {
		log.Error("batcher stopped", "err", err)
		return ExitFailed
	}
	return ExitOK
}

// Batcher runs consolidations and keeps their counts for /healthz.
type Batcher struct {
	Store       lake.Store
	Concurrency int
	Log         *slog.Logger
	Out         io.Writer // the summary table of each run
	// OnRun, when set, is called after every run with its outcome (tests
	// wait on it instead of sleeping).
	OnRun func(consolidate.Result, error)

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
}

// Status returns the counts so far.
func (b *Batcher) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// RunOnce consolidates the lake once, prints the summary table and logs the
// run. A failure is logged and counted, and returned.
func (b *Batcher) RunOnce(ctx context.Context) (consolidate.Result, error) {
	res, err := consolidate.Run(ctx, b.Store, b.Concurrency)
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
		b.status.LastRows = len(res.Rows)
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
	if res.LogCheckpointErr != nil {
		b.Log.Warn("sink-log checkpoint unusable, read the whole log", "err", res.LogCheckpointErr)
	}
	if err := WriteSummary(b.Out, res.Rows); err != nil {
		b.Log.Warn("print summary", "err", err)
	}
	b.Log.Info("consolidation done",
		"object", contract.BatchObject,
		"rows", len(res.Rows),
		"files", res.Files,
		"window_rows", res.WindowRows,
		"bytes", res.Bytes,
		"log_checkpoint", res.LogCheckpoint,
		"log_entries_read", res.LogEntriesRead,
		"duration_ms", res.Duration.Milliseconds(),
		"duration_us", res.Duration.Microseconds(),
	)
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

// Compact runs `batcher compact` once: it merges the small window files of
// every partition that has enough of them (see package compact) and logs
// what it did.
func Compact(ctx context.Context, store lake.Store, c config.Compact, log *slog.Logger) error {
	res, err := compact.Run(ctx, store, compact.Options{
		TargetFileBytes: c.TargetFileBytes, MinFiles: c.MinFiles, Grace: c.Grace,
		LogCheckpointEvery: c.LogCheckpointEvery, LogRetention: c.LogRetention, Log: log,
	})
	if err != nil {
		log.Error("compaction failed", "err", err)
		return err
	}
	log.Info("compaction done", "partitions", res.Partitions, "resumed", res.Resumed,
		"files_in", res.FilesIn, "files_out", res.FilesOut, "rows", res.Rows,
		"bytes_in", res.BytesIn, "bytes_out", res.BytesOut, "log_checkpoint", res.Checkpoint,
		"log_checkpoint_entries", res.CheckpointEntries, "log_checkpoints_deleted", res.CheckpointsDeleted,
		"log_entries_deleted", res.LogEntriesDeleted, "duration_ms", res.Duration.Milliseconds())
	return nil
}
