// Command latency measures the streamer's update-mode latency on the seed
// query file at a steady rate: produce → committed micro-batch, and the
// alert delay after a window could close.
//
//	go run ./tools/bench/cmd/latency -rate 10000 -duration 30s
//
// See docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/bench/internal/latency"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := latency.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
