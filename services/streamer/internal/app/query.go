package app

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/sensorlab/sensorlab/queries"

	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
)

// driverStatus is a query file's driver as the HTTP server shows it.
type driverStatus struct{ *driver.Driver }

// Windows is empty in query mode: the live page's per-sensor table is the
// built-in path's; a query file's rows are in its sinks.
func (driverStatus) Windows() any { return []struct{}{} }

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
	d := driver.New(cfg, prog, log, stdout)
	log.Info("streamer starting", "config", cfg, "mode", "query file")
	if ln != nil {
		defer serveHTTP(ln, newHandler(log, driverStatus{d}), log)()
	}
	return d.Run(ctx)
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
