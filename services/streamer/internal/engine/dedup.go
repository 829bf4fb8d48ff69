package engine

import "slices"

// Deduplication within the watermark (Config.Dedup), as Spark's
// dropDuplicatesWithinWatermark on (sensor_id, ts): the first reading of a
// key is kept, later ones are dropped as duplicates while the key is in
// state. A key is evicted once ts <= watermark; from then on a reading of that
// key is late, so eviction never lets a duplicate through. One engine sees
// every partition, so a copy in another partition is a duplicate too.
//
// The keys are kept per sensor as a sorted slice of event times: readings
// mostly arrive in event-time order, so a new key is usually an append and
// the hot path does not allocate once the slices have grown.

// firstSeen records key (s, ts) and reports whether it was new.
func (e *Engine) firstSeen(s int32, ts int64) bool {
	if int(s) >= len(e.dedup) {
		n := len(e.names)
		old := len(e.dedup)
		e.dedup = slices.Grow(e.dedup, n-old)[:n]
		clear(e.dedup[old:])
	}
	d := e.dedup[s]
	if n := len(d); n == 0 || ts > d[n-1] {
		e.dedup[s] = append(d, ts)
	} else {
		i, found := slices.BinarySearch(d, ts)
		if found {
			return false
		}
		e.dedup[s] = slices.Insert(d, i, ts)
	}
	e.nDedup++
	return true
}

// evictDedup drops the keys at or below the watermark, keeping capacity.
func (e *Engine) evictDedup() {
	for s, d := range e.dedup {
		if len(d) == 0 || d[0] > e.wm {
			continue
		}
		i, _ := slices.BinarySearch(d, e.wm+1) // the first key above wm
		e.dedup[s] = d[:copy(d, d[i:])]
		e.nDedup -= int64(i)
	}
}
