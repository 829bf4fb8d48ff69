// Command soak runs the lab at its default rate for a long time (default one
// hour) and samples the services' resident memory, to check the target "RSS
// flat over a one-hour soak".
//
//	go run ./tools/bench/cmd/soak -duration 1h
//
// See docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/bench/internal/soak"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := soak.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
