package kafkaload

import (
	"context"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

// What the harness fills is what the ceiling consumer reads back, every
// record and every byte.
func TestFillThenConsumeReadsEveryRecord(t *testing.T) {
	c, err := StartBroker("t", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 5000
	bytes, err := Fill(ctx, c.ListenAddrs(), "t", readings.New(20, 1_732_200_000_000, 20, 1), n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Consume(ctx, c.ListenAddrs(), "t", n)
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != n || got.Bytes != bytes {
		t.Fatalf("consumed %d records, %d bytes; filled %d records, %d bytes", got.Records, got.Bytes, n, bytes)
	}
}
