// Command batcher consolidates the lake's committed window rows per sensor
// into batch/agg_desde_stream/part-00000.parquet. See the README;
// `batcher healthcheck` probes /readyz (compose's healthcheck).
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

	"github.com/sensorlab/sensorlab/services/batcher/internal/app"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
)

func main() {
	cfg, err := config.Load(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // the usage is printed
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "batcher: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "batcher")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	os.Exit(app.Main(ctx, cfg, log, os.Stdout))
}
