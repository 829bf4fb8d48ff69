package source

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TakeAsFetched hands out exactly what FillTo + Take hand out, in the same
// order (partitions ascending, offsets ascending), batch after batch, while
// the records are still arriving.
func TestTakeAsFetchedMatchesFillToThenTake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kfake.NewCluster(kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 3000 {
		prod.Produce(ctx, &kgo.Record{Topic: "t", Partition: int32(i % 3), Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	take := func(asFetched bool) []string {
		src, err := Open(ctx, Options{Brokers: brokers, Topic: "t", FailOnDataLoss: true,
			ExtraOpts: []kgo.Opt{kgo.FetchMaxPartitionBytes(512)}}) // many small fetches
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if err := src.StartAt(Offsets{0: 0, 1: 0, 2: 0}); err != nil {
			t.Fatal(err)
		}
		var got []string
		rec := func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d@%d", r.Partition, r.Offset)) }
		for _, end := range []Offsets{{0: 300, 1: 10, 2: 0}, {0: 1000, 1: 900, 2: 1000}, {0: 1000, 1: 1000, 2: 1000}} {
			if asFetched {
				if _, err := src.TakeAsFetched(ctx, end, rec); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := src.FillTo(ctx, end); err != nil {
					t.Fatal(err)
				}
				src.Take(end, rec)
			}
			got = append(got, "|")
		}
		return got
	}
	want, got := take(false), take(true)
	if len(want) != 3000+3 {
		t.Fatalf("FillTo + Take handed out %d records, want 3000", len(want)-3)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("TakeAsFetched handed out\n%v\nFillTo + Take\n%v", got[:min(40, len(got))], want[:min(40, len(want))])
	}
}

func TestTakeAsFetchedStopsWithTheContext(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	src, err := Open(ctx, Options{Brokers: c.ListenAddrs(), Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.StartAt(Offsets{0: 0}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := src.TakeAsFetched(ctx, Offsets{0: 5}, func(*kgo.Record) {}); err == nil {
		t.Fatal("waiting for records that never come ignored the cancelled context")
	}
}
