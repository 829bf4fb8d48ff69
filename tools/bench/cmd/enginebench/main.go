// Command enginebench times the streamer's decode+engine hot path and DuckDB
// (read_json + GROUP BY, one thread) computing the same window rows from the
// same NDJSON readings.
//
//	go run ./tools/bench/cmd/enginebench -readings 2000000
//
// See docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/bench/internal/enginebench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := enginebench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
