// Command streamer is sensorlab's Structured Streaming job: it runs the
// streaming queries of a query file (--query; by default the seed lab's,
// which aggregates sensor readings from Kafka over event-time windows with
// a watermark and writes each closed window exactly once to the Delta
// lake). `streamer healthcheck` probes /readyz (compose's healthcheck).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/services/streamer/internal/app"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
)

func main() {
	cfg, err := config.Load(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // the usage is printed
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "streamer: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "streamer")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	os.Exit(app.Main(ctx, cfg, log, os.Stdout))
}
