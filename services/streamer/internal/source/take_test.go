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
// order, batch after batch, while the records are still arriving; and that
// order is the documented one: rounds over the partitions in ascending
// order, takeChunk offsets of each per round, offsets ascending.
func TestTakeAsFetchedMatchesFillToThenTake(t *testing.T) {
	defer func(c int64) { takeChunk = c }(takeChunk)
	takeChunk = 128
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokers := roundRobinTopic(t, ctx, 3000)
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
		start := Offsets{0: 0, 1: 0, 2: 0}
		for _, end := range batchEnds {
			if asFetched {
				if _, err := src.TakeAsFetched(ctx, start, end, rec); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := src.FillTo(ctx, end); err != nil {
					t.Fatal(err)
				}
				src.Take(start, end, rec)
			}
			got = append(got, "|")
			start = end
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
	// The documented order, built from the offsets alone (every offset of
	// the topic holds a data record: no transactions).
	var order []string
	start := Offsets{0: 0, 1: 0, 2: 0}
	for _, end := range batchEnds {
		for lo := int64(0); ; lo += takeChunk {
			more := false
			for p := int32(0); p < 3; p++ {
				for o := start[p] + lo; o < min(end[p], start[p]+lo+takeChunk); o++ {
					order = append(order, fmt.Sprintf("%d@%d", p, o))
				}
				more = more || start[p]+lo+takeChunk < end[p]
			}
			if !more {
				break
			}
		}
		order = append(order, "|")
		start = end
	}
	if !slices.Equal(got, order) {
		t.Fatalf("handed out\n%v\nwant the rounds of %d offsets\n%v", got[:min(40, len(got))], takeChunk, order[:min(40, len(order))])
	}
}

// batchEnds are the end offsets of TestTakeAsFetchedMatchesFillToThenTake's
// three batches over 1000 records per partition: uneven, and one partition
// empty in the first.
var batchEnds = []Offsets{{0: 300, 1: 10, 2: 0}, {0: 1000, 1: 900, 2: 1000}, {0: 1000, 1: 1000, 2: 1000}}

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
	if _, err := src.TakeAsFetched(ctx, Offsets{0: 0}, Offsets{0: 5}, func(*kgo.Record) {}); err == nil {
		t.Fatal("waiting for records that never come ignored the cancelled context")
	}
}
