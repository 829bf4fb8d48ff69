package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
)

// The seed's idle continuous queries must report not ready when its broker goes away:
// franz-go retries a lost broker quietly, so /readyz said 200 through a
// whole Kafka outage (found by the e2e Kafka-outage fault).
func TestReadyReportsALostBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.SeedTopics(3, contract.EventsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := config.Default()
	cfg.Brokers = c.ListenAddrs()
	cfg.Lake = "file://" + t.TempDir()
	cfg.Checkpoint = cfg.Lake + "/_checkpoints/streamer"
	cfg.HTTPAddr = ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := newDriver(t, cfg, quietLog())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()

	until := func(what string, ok func(error) bool) error {
		t.Helper()
		var err error
		for err = a.Ready(); !ok(err); err = a.Ready() {
			select {
			case <-ctx.Done():
				t.Fatalf("Ready never %s; last: %v", what, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		return err
	}
	until("became nil", func(err error) bool { return err == nil })
	c.Close() // the broker goes away; the query is idle
	err = until("reported the broker", func(err error) bool { return err != nil })
	if !strings.Contains(err.Error(), "broker") {
		t.Fatalf("Ready = %v, want an error about the broker", err)
	}
}
