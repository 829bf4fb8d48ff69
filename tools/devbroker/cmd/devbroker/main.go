// Command devbroker is a Kafka stand-in for development and tests: franz-go's
// kfake broker configured by the apache/kafka image's KAFKA_* variables, with
// one advertised address per listener. Invoked as kafka-broker-api-versions.sh
// (or as `devbroker api-versions`) it is a health probe instead.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/devbroker/internal/broker"
	"github.com/sensorlab/sensorlab/tools/devbroker/internal/config"
	"github.com/sensorlab/sensorlab/tools/devbroker/internal/probe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal kills at once
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) == probe.ScriptName {
		os.Exit(probe.Main(ctx, args, os.Stdout, os.Stderr))
	}
	if len(args) > 0 && args[0] == "api-versions" {
		os.Exit(probe.Main(ctx, args[1:], os.Stdout, os.Stderr))
	}
	cfg, err := config.Load(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devbroker: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	os.Exit(broker.Run(ctx, cfg, log))
}
