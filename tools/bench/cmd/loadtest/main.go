// Command loadtest measures the streamer end to end: it fills an in-process
// broker with N records of a query file's input and times the streamer
// binary running that query file (--query, --trigger available-now) against
// a bare franz-go consumer on the same broker.
//
//	go run ./tools/bench/cmd/loadtest -readings 5000000 -sensors 20
//	go run ./tools/bench/cmd/loadtest -query fraud -sensors 1000000
//
// See docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/bench/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadtest.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
