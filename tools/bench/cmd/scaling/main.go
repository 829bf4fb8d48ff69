// Command scaling measures replicas of a query scaling out: the seed's
// queries keyed by sensor, run by 1, 2 and 3 streamer containers of one
// consumer group, each capped at the same CPU, over one topic.
//
//	scripts/offline-images.sh   # the streamer image
//	go run ./tools/bench/cmd/scaling -replicas 1,2,3 -cpus 0.5 -runs 2
//
// See docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/bench/internal/scaling"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := scaling.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
