package source

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestPlanSplitsCapInProportionToLag(t *testing.T) {
	cases := []struct {
		name         string
		start, avail Offsets
		max          int64
		want         Offsets
	}{
		{"no cap", Offsets{0: 0, 1: 10}, Offsets{0: 100, 1: 20}, 0, Offsets{0: 100, 1: 20}},
		{"under cap", Offsets{0: 0, 1: 0}, Offsets{0: 3, 1: 4}, 10, Offsets{0: 3, 1: 4}},
		{"proportional", Offsets{0: 0, 1: 0, 2: 0}, Offsets{0: 600, 1: 300, 2: 100}, 100, Offsets{0: 60, 1: 30, 2: 10}},
		{"remainder to largest fraction", Offsets{0: 0, 1: 0, 2: 0}, Offsets{0: 1, 1: 1, 2: 1}, 2, Offsets{0: 1, 1: 1, 2: 0}},
		{"idle partition gets nothing", Offsets{0: 5, 1: 7}, Offsets{0: 5, 1: 1007}, 10, Offsets{0: 5, 1: 17}},
		{"avail behind start", Offsets{0: 9}, Offsets{0: 3}, 5, Offsets{0: 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.start, tc.avail, tc.max)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Plan = %v, want %v", got, tc.want)
			}
			if tc.max > 0 {
				if n := tc.start.Lag(got); n > tc.max {
					t.Fatalf("planned %d records, cap %d", n, tc.max)
				}
			}
		})
	}
}

// The source hands out exactly [start, end) of every partition, in offset
// order, whatever the fetch boundaries, and keeps the rest for later.
func TestSourceTakesExactRanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokers := roundRobinTopic(t, ctx, 300)

	src, err := Open(ctx, Options{Brokers: brokers, Topic: "t", FailOnDataLoss: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := src.Partitions(); len(got) != 3 {
		t.Fatalf("partitions %v", got)
	}
	latest, err := src.ListOffsets(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if latest[0] != 100 || latest[1] != 100 || latest[2] != 100 {
		t.Fatalf("latest %v", latest)
	}
	if err := src.StartAt(Offsets{0: 10, 1: 0, 2: 50}); err != nil {
		t.Fatal(err)
	}
	start, end := Offsets{0: 10, 1: 0, 2: 50}, Offsets{0: 20, 1: 5, 2: 50}
	if err := src.FillTo(ctx, end); err != nil {
		t.Fatal(err)
	}
	var got []string
	src.Take(start, end, func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d@%d", r.Partition, r.Offset)) })
	if len(got) != 15 || got[0] != "0@10" || got[9] != "0@19" || got[10] != "1@0" || got[14] != "1@4" {
		t.Fatalf("first batch took %v", got)
	}
	// The next batch continues exactly where this one ended.
	end2 := Offsets{0: 100, 1: 100, 2: 100}
	if err := src.FillTo(ctx, end2); err != nil {
		t.Fatal(err)
	}
	n := 0
	prev := map[int32]int64{0: 19, 1: 4, 2: 49}
	src.Take(end, end2, func(r *kgo.Record) {
		if r.Offset != prev[r.Partition]+1 {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev[r.Partition])
		}
		prev[r.Partition] = r.Offset
		n++
	})
	if n != 80+95+50 {
		t.Fatalf("second batch took %d records, want %d", n, 80+95+50)
	}
}

// A source given some partitions (a replica's task) lists, plans and reads
// only those, and one the topic does not have is refused by name.
func TestSourceReadsOnlyItsPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokers := roundRobinTopic(t, ctx, 30)
	src, err := Open(ctx, Options{Brokers: brokers, Topic: "t", Partitions: []int32{2, 0}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := src.Partitions(); !slices.Equal(got, []int32{0, 2}) {
		t.Fatalf("partitions %v, want [0 2]", got)
	}
	latest, err := src.ListOffsets(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 || latest[0] != 10 || latest[2] != 10 {
		t.Fatalf("latest %v, want partitions 0 and 2 at 10", latest)
	}
	if err := src.StartAt(Offsets{0: 0, 2: 0}); err != nil {
		t.Fatal(err)
	}
	if err := src.FillTo(ctx, latest); err != nil {
		t.Fatal(err)
	}
	parts := map[int32]int{}
	src.Take(Offsets{0: 0, 2: 0}, latest, func(r *kgo.Record) { parts[r.Partition]++ })
	if len(parts) != 2 || parts[0] != 10 || parts[2] != 10 {
		t.Fatalf("took %v records by partition, want 10 of 0 and 10 of 2", parts)
	}

	_, err = Open(ctx, Options{Brokers: brokers, Topic: "t", Partitions: []int32{1, 3}})
	if err == nil || !strings.Contains(err.Error(), `topic "t" has no partition 3 (it has 3)`) {
		t.Fatalf("Open of a partition the topic lacks: %v", err)
	}
}

// roundRobinTopic starts a broker with topic "t" of 3 partitions and
// produces n records to it, record i (value "i") to partition i%3, and
// returns the broker's addresses.
func roundRobinTopic(t *testing.T, ctx context.Context, n int) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Topic: "t", Partition: int32(i % 3), Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return brokers
}
