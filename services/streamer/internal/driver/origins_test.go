package driver

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
)

// A task over a repartition topic follows the least of its origin
// partitions' largest event times: one not heard from yet holds it until
// the idle timeout has passed since the task started, one that went idle
// stops holding it, and when all are idle the greatest is followed.
func TestOriginWatermarks(t *testing.T) {
	var o originWatermarks
	t0 := time.Unix(1_700_000_000, 0)
	idle := 10 * time.Second
	if got := o.watermarkTime(3, map[int32]int64{0: 500, 1: 900}, idle, t0); got != math.MinInt64 {
		t.Fatalf("origin 2 not heard from: %d, want it held (MinInt64)", got)
	}
	if got := o.watermarkTime(3, map[int32]int64{2: 700}, idle, t0.Add(time.Second)); got != 500 {
		t.Fatalf("origins at 500, 900, 700: %d, want 500", got)
	}
	if got := o.watermarkTime(3, map[int32]int64{0: 400}, idle, t0.Add(2*time.Second)); got != 500 {
		t.Fatalf("an older event time lowered it: %d, want 500", got)
	}
	// Origin 0 sends nothing more: once idle, 1 and 2 decide.
	if got := o.watermarkTime(3, map[int32]int64{1: 1000, 2: 800}, idle, t0.Add(13*time.Second)); got != 800 {
		t.Fatalf("origin 0 idle: %d, want 800", got)
	}
	if got := o.watermarkTime(3, nil, idle, t0.Add(time.Hour)); got != 1000 {
		t.Fatalf("every origin idle: %d, want the greatest, 1000", got)
	}

	var late originWatermarks
	if got := late.watermarkTime(2, map[int32]int64{0: 500}, idle, t0); got != math.MinInt64 {
		t.Fatalf("origin 1 unheard: %d", got)
	}
	if got := late.watermarkTime(2, nil, idle, t0.Add(11*time.Second)); got != 500 {
		t.Fatalf("origin 1 never heard from, past the idle timeout: %d, want 500", got)
	}
}

func TestOriginPartitionIsTheHeaders(t *testing.T) {
	r := &kgo.Record{Partition: 4, Headers: []kgo.RecordHeader{{Key: "x", Value: []byte("1")}, {Key: contract.HeaderOriginPartition, Value: []byte("2")}}}
	if got := originPartition(r); got != 2 {
		t.Fatalf("origin partition %d, want 2", got)
	}
	if got := originPartition(&kgo.Record{Partition: 4}); got != 4 {
		t.Fatalf("a record without origin: %d, want its own partition 4", got)
	}
}
