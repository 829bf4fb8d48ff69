// Command streamer is sensorlab's Structured Streaming job: it reads sensor
// readings from Kafka, aggregates them over event-time windows with a
// watermark, and writes each closed window exactly once to the Parquet lake.
// `streamer healthcheck [--url URL]` probes /readyz (compose's healthcheck).
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return app.HealthcheckCommand(args[1:], os.Stderr)
	}
	cfg, err := config.Load(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0 // the flag set printed the usage
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "streamer: configuration:\n"+err.Error())
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: config.SlogLevel(cfg.LogLevel)}))
	log.Info("starting streamer", "config", cfg.Redacted())
	if err := app.New(cfg, log, os.Stdout).Run(ctx); err != nil {
		log.Error("streamer stopped", "err", err)
		return 1
	}
	return 0
}
