// Command batcher consolidates the lake's committed window rows per sensor
// into batch/agg_desde_stream/part-00000.parquet. See the README.
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
		fmt.Fprintln(os.Stderr, err)
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "batcher: invalid configuration:\n"+err.Error())
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "batcher")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }() // a second signal exits at once
	code := app.Main(ctx, cfg, log, os.Stdout)
	stop()
	os.Exit(code)
}
