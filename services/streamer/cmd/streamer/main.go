// Command streamer is sensorlab's Structured Streaming job: it reads sensor
// readings from Kafka, aggregates them over event-time windows with a
// watermark, and writes each closed window exactly once to the Parquet lake.
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
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		fs := flag.NewFlagSet("healthcheck", flag.ExitOnError)
		url := fs.String("url", "http://127.0.0.1:8082/readyz", "URL to GET")
		_ = fs.Parse(os.Args[2:])
		if err := app.Healthcheck(*url); err != nil {
			fmt.Fprintln(os.Stderr, "unhealthy:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := config.Load(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return // the flag set printed the usage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamer: configuration:\n"+err.Error())
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: config.SlogLevel(cfg.LogLevel)}))
	log.Info("starting streamer", "config", cfg.Redacted())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { // a second signal exits at once
		<-ctx.Done()
		stop()
		second := make(chan os.Signal, 1)
		signal.Notify(second, syscall.SIGINT, syscall.SIGTERM)
		<-second
		log.Error("second signal: exiting at once")
		os.Exit(1)
	}()
	if err := app.New(cfg, log, os.Stdout).Run(ctx); err != nil {
		log.Error("streamer stopped", "err", err)
		os.Exit(1)
	}
}
