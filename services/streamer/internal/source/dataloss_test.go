package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// CheckStart finds offsets Kafka no longer holds before any fetch: the
// available-now trigger never fetches when its targets are behind the
// checkpoint, so a recreated topic used to be skipped silently, whole (found
// by the e2e data-loss fault).
func TestCheckStartReportsDataLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kfake.NewCluster(kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 20; i++ { // 10 records in each partition
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 0 loses its first 6 records.
	adm := kadm.NewClient(cl)
	if _, err := adm.DeleteRecords(ctx, kadm.Offsets{"t": {0: {Topic: "t", Partition: 0, At: 6}}}); err != nil {
		t.Fatal(err)
	}
	open := func(fail bool) *Source {
		s, err := Open(ctx, Options{Brokers: c.ListenAddrs(), Topic: "t", FailOnDataLoss: fail,
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}

	// Within what Kafka holds: nothing to say.
	if got, moved, err := open(true).CheckStart(ctx, Offsets{0: 6, 1: 10}); err != nil || moved || fmt.Sprint(got) != fmt.Sprint(Offsets{0: 6, 1: 10}) {
		t.Fatalf("offsets Kafka holds: %v, moved=%v, %v", got, moved, err)
	}
	// Partition 0 wants deleted records, partition 1 is ahead of its end
	// (the topic was recreated): both named, and the way out too.
	_, _, err = open(true).CheckStart(ctx, Offsets{0: 2, 1: 15})
	if !errors.Is(err, ErrDataLoss) {
		t.Fatalf("CheckStart = %v, want ErrDataLoss", err)
	}
	for _, w := range []string{"partition 0", "wants offset 2", "[6, 10)", "partition 1", "wants offset 15", "[0, 10)", "--fail-on-data-loss=false"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	// Allowed: both move to their log start; what was skipped is counted.
	s := open(false)
	got, moved, err := s.CheckStart(ctx, Offsets{0: 2, 1: 15})
	if err != nil || !moved || fmt.Sprint(got) != fmt.Sprint(Offsets{0: 6, 1: 0}) {
		t.Fatalf("CheckStart without failOnDataLoss = %v, moved=%v, %v; want partitions at their log start", got, moved, err)
	}
	if s.Lost() != 4 {
		t.Fatalf("Lost() = %d, want the 4 deleted records partition 0 had not read", s.Lost())
	}
}
