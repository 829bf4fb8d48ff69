// Command devbroker is a Kafka stand-in for development and tests: franz-go's
// kfake broker configured by the apache/kafka image's KAFKA_* variables, with
// one advertised address per listener. Invoked as kafka-broker-api-versions.sh
// (or as `devbroker api-versions`) it is a health probe instead.
package main

import (
	"context"
	"errors"
	"flag"
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
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	if filepath.Base(os.Args[0]) == probe.ScriptName {
		os.Exit(probe.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "api-versions" {
		os.Exit(probe.Main(ctx, os.Args[2:], os.Stdout, os.Stderr))
	}
	cfg, err := config.Load(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // the usage is printed
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "devbroker: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "devbroker")
	os.Exit(broker.Run(ctx, cfg, log))
}
