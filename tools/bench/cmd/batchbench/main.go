// Command batchbench times the batcher and DuckDB computing the same
// consolidation over a lake whose Delta table stream holds many small
// window files, before and after `batcher optimize`.
//
//	go run ./tools/bench/cmd/batchbench -files 3000
//
// See docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/bench/internal/batchbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := batchbench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
