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
	cfg, err := config.Load(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // the usage is printed
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "producer: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "producer")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	os.Exit(app.Main(ctx, cfg, log))
}
