// Command batcher consolidates a snapshot of the lake's stream Delta table
// per sensor into the batch Delta table batch/agg_desde_stream, one
// overwrite commit per run; `batcher optimize|vacuum|history|detail`
// maintain and describe any Delta table; `batcher healthcheck` probes
// /readyz (compose's healthcheck). See the README.
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
