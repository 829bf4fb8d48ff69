// Command producer publishes the lab's sensor readings to Kafka. See the
// service README for its flags; `producer healthcheck` probes /readyz.
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

	"github.com/sensorlab/sensorlab/services/producer/internal/app"
	"github.com/sensorlab/sensorlab/services/producer/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		h, err := config.LoadHealthcheck(args[1:])
		if err == nil {
			err = app.Healthcheck(ctx, h)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	cfg, err := config.Load(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("producer failed", "err", err)
		return 1
	}
	return 0
}
