// Package app is the streamer's command: it runs a query file (by default
// the seed lab's, built in) with the driver, serves the live page, /metrics,
// /healthz and /readyz while it runs, and answers `streamer healthcheck`.
package app

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/queries"

	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
)

// Main runs the command cfg names (a query file's queries, by default the
// seed lab's: RunQueryFile; the healthcheck; or the front of replicas:
// RunFront) and returns the process exit code: 0 when the queries stopped
// cleanly (or, with the available-now trigger, finished), 1 when they
// failed or could not start (an HTTP address that cannot be bound
// included).
func Main(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) int {
	if cfg.Command == config.CommandHealthcheck {
		if err := Healthcheck(ctx, cfg.Healthcheck); err != nil {
			log.Error("unhealthy", "err", err)
			return 1
		}
		return 0
	}
	if cfg.Command == config.CommandFront {
		if err := RunFront(ctx, cfg, log); err != nil {
			log.Error("front stopped", "err", err)
			return 1
		}
		return 0
	}
	if err := RunQueryFile(ctx, cfg, log, stdout); err != nil {
		log.Error("streamer stopped", "err", err)
		return 1
	}
	return 0
}

// driverStatus is a query file's driver as the HTTP server shows it.
type driverStatus struct{ *driver.Driver }

// Rows is every query's latest output rows (driver.QueryRows).
func (s driverStatus) Rows() any { return s.LatestRows() }

// RunQueryFile runs the query file cfg.Query names (query mode): it
// compiles the script, serves the HTTP endpoints and runs the driver until
// ctx ends or, with the available-now trigger, the input at start is done.
func RunQueryFile(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	name, text, err := queryText(cfg.Query)
	if err != nil {
		return err
	}
	prog, err := driver.Compile(name, text)
	if err != nil {
		return err
	}
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	log.Info("streamer starting", "config", cfg, "query", name)
	if err := checkLayout(ctx, cfg); err != nil {
		return err
	}
	if cfg.Group != "" {
		rekey, err := driver.RepartitionKey(prog)
		if err != nil {
			return err
		}
		r := newReplica(cfg, name, text, prog, rekey, log, stdout)
		if ln != nil {
			defer serveHTTP(ln, newHandler(log, r), log)()
		}
		return r.run(ctx)
	}
	d := driver.New(cfg, prog, log, stdout)
	if ln != nil {
		defer serveHTTP(ln, newHandler(log, driverStatus{d}), log)()
	}
	return d.Run(ctx)
}

// checkLayout refuses a checkpoint the other kind of streamer wrote: a
// streamer without --group keeps its batches at <checkpoint>/offsets and
// /commits, replicas one checkpoint per partition under
// <checkpoint>/partitions/. Neither can take the other's over: it would read
// its input again from where STARTING_OFFSETS says and write the windows
// already in the tables a second time.
func checkLayout(ctx context.Context, cfg config.Config) error {
	if cfg.Checkpoint == "" {
		return nil
	}
	st, err := lake.Open(ctx, cfg.Checkpoint, cfg.S3)
	if err != nil {
		return err
	}
	other, writer, hint := "offsets/", "a streamer without --group", "run it without --group (GROUP=)"
	if cfg.Group == "" {
		other, writer, hint = "partitions/", "replicas of a consumer group (--group)", "run it with --group (GROUP)"
	}
	objs, err := st.List(ctx, other)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", cfg.Checkpoint, err)
	}
	if len(objs) > 0 {
		return fmt.Errorf("checkpoint %s was written by %s (%s): this streamer cannot take it over without reading its input again and writing its windows twice; %s, or give it a new --checkpoint and a new sink path",
			cfg.Checkpoint, writer, objs[0].Key, hint)
	}
	return nil
}

// queryText reads the query file path names; an empty path is the seed
// lab's streaming queries, embedded in the binary.
func queryText(path string) (name, text string, err error) {
	if path == "" {
		b, err := fs.ReadFile(queries.FS, queries.SeedStreaming)
		if err != nil {
			return "", "", fmt.Errorf("the built-in seed queries: %w", err)
		}
		return "queries/" + queries.SeedStreaming + " (built in)", string(b), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("--query: %w", err)
	}
	return path, string(b), nil
}
