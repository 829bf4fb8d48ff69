package driver

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
)

// originWatermarks is what a task over a repartition topic knows of each
// origin partition: the largest event time it sent (micros) and when it
// last sent one.
type originWatermarks struct {
	mu    sync.Mutex
	start time.Time
	max   map[int32]int64
	seen  map[int32]time.Time
}

// watermarkTime adds a batch's largest event times per origin partition
// and returns the event time the watermark follows: the least of the
// origin partitions that sent records within idle (one not heard from
// since the task started counts as sending, with nothing yet: it holds the
// watermark until idle has passed), or, when all are idle, the greatest.
func (o *originWatermarks) watermarkTime(n int32, batch map[int32]int64, idle time.Duration, now time.Time) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.max == nil {
		o.start, o.max, o.seen = now, map[int32]int64{}, map[int32]time.Time{}
	}
	for p, t := range batch {
		if have, ok := o.max[p]; !ok || t > have {
			o.max[p] = t
		}
		o.seen[p] = now
	}
	least, greatest := int64(math.MaxInt64), int64(math.MinInt64)
	active := false
	for p := range n {
		t, ok := o.max[p]
		if ok {
			greatest = max(greatest, t)
		}
		seen, heard := o.seen[p]
		if !heard {
			seen = o.start
		}
		if now.Sub(seen) > idle {
			continue
		}
		active = true
		if !ok {
			t = math.MinInt64
		}
		least = min(least, t)
	}
	for p, t := range o.max {
		if p >= n {
			greatest = max(greatest, t)
		}
	}
	if active {
		return least
	}
	return greatest
}

// originPartition is the source partition a re-keyed record came from
// (its origin header), or its own partition when it has none.
func originPartition(rec *kgo.Record) int32 {
	for _, h := range rec.Headers {
		if h.Key == contract.HeaderOriginPartition {
			if n, err := strconv.ParseInt(string(h.Value), 10, 32); err == nil {
				return int32(n)
			}
		}
	}
	return rec.Partition
}
