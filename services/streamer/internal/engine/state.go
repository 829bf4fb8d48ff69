package engine

import (
	"slices"
	"unsafe"
)

// agg is the running aggregate of one (window, sensor) in one partition, or
// the merge of several partitions.
type agg struct {
	count, ok              int64
	sumT, sumH, minT, maxT float64
}

// fold adds one reading. Of equal temperatures, minT and maxT keep the
// first, as Spark's min and max do: they replace their value only with a
// strictly smaller (greater) one, and -0 equals 0. (Go's min and max
// builtins would prefer -0, at twice the instructions.) temp is never NaN:
// the contract's range check refuses it.
func (a *agg) fold(temp, hum float64, ok bool) {
	if a.count == 0 {
		a.minT, a.maxT = temp, temp
	} else {
		if temp < a.minT {
			a.minT = temp
		}
		if temp > a.maxT {
			a.maxT = temp
		}
	}
	a.count++
	if ok {
		a.ok++
	}
	a.sumT += temp
	a.sumH += hum
}

// merge combines b into a. Callers merge partitions in ascending order, so
// the float sums are always added in the same order.
func (a *agg) merge(b *agg) {
	if a.count == 0 {
		*a = *b
		return
	}
	a.count += b.count
	a.ok += b.ok
	a.sumT += b.sumT
	a.sumH += b.sumH
	if b.minT < a.minT { // on ties, the lower partition's, as in fold
		a.minT = b.minT
	}
	if b.maxT > a.maxT {
		a.maxT = b.maxT
	}
}

// row is one state row: one sensor's aggregate in one window of one partition.
type row struct {
	agg
	sensor int32  // interned sensor number
	batch  uint32 // sequence number of the last batch that changed the row
}

// window is the state of one tumbling window in one partition. Rows are kept
// in arrival order; slot indexes them by sensor number.
type window struct {
	start int64   // epoch ms, a multiple of the window length
	slot  []int32 // by sensor number: index in rows + 1; 0 when the sensor has no row
	rows  []row
}

// get returns the row of sensor s, or nil.
func (w *window) get(s int32) *row {
	if int(s) >= len(w.slot) || w.slot[s] == 0 {
		return nil
	}
	return &w.rows[w.slot[s]-1]
}

// getOrAdd returns the row of sensor s, adding an empty one if needed.
// slot grows to the highest sensor number seen in the window (4 bytes per
// sensor: compact when most sensors report in most windows, as in the lab).
func (w *window) getOrAdd(s int32) *row {
	if int(s) >= len(w.slot) {
		n := int(s) + 1
		old := len(w.slot)
		w.slot = slices.Grow(w.slot, n-old)[:n]
		clear(w.slot[old:])
	}
	i := w.slot[s]
	if i == 0 {
		w.rows = append(w.rows, row{sensor: s})
		i = int32(len(w.rows))
		w.slot[s] = i
	}
	return &w.rows[i-1]
}

// reset empties the window for reuse, keeping its capacity.
func (w *window) reset() {
	for i := range w.rows {
		w.slot[w.rows[i].sensor] = 0
	}
	w.rows = w.rows[:0]
}

// partition is the state of one Kafka partition: its open windows, sorted by
// start. There are few (about delay/L + 1), so a sorted slice beats a map.
type partition struct {
	id   int32
	wins []*window
	last *window // the window the previous reading went to
	// sess holds the session windows (Config.SessionGap) by sensor number,
	// each list sorted by first reading and never overlapping (see session.go).
	sess [][]session
}

// find returns the window starting at start, or nil.
func (p *partition) find(start int64) *window {
	i, ok := slices.BinarySearchFunc(p.wins, start, func(w *window, s int64) int { return cmpInt(w.start, s) })
	if !ok {
		return nil
	}
	return p.wins[i]
}

func cmpInt[T int32 | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sizes used by the memory estimate.
const (
	rowBytes       = int64(unsafe.Sizeof(row{}))
	sessionBytes   = int64(unsafe.Sizeof(session{}))
	timeoutBytes   = int64(unsafe.Sizeof(timeout{}))
	windowBytes    = int64(unsafe.Sizeof(window{})) + 8 // + the pointer in partition.wins
	partitionBytes = int64(unsafe.Sizeof(partition{})) + 8
	// sensorBytes is a sensor id's fixed cost besides its bytes: its string
	// header in names, and its slot in the sensor table with the table's
	// slack: the table is between a quarter and half full, 3/8 on average.
	// (The rare ids too long for a slot cost about as much in its map.)
	sensorBytes = 16 + int64(unsafe.Sizeof(idSlot{}))*8/3 + 8 + 1 // + rank, order and a bit of emit's bitmap
)

// memoryBytes estimates the heap held by the state.
func (e *Engine) memoryBytes() int64 {
	n := int64(len(e.parts))*partitionBytes + int64(len(e.free))*windowBytes
	for _, p := range e.parts {
		n += int64(cap(p.wins)) * 8
		for _, w := range p.wins {
			n += windowBytes + int64(cap(w.rows))*rowBytes + int64(cap(w.slot))*4
		}
	}
	for _, w := range e.free {
		n += int64(cap(w.rows))*rowBytes + int64(cap(w.slot))*4
	}
	n += e.nameBytes + int64(len(e.names))*sensorBytes
	for _, p := range e.parts {
		n += int64(cap(p.sess)) * 24
		for _, ss := range p.sess {
			n += int64(cap(ss)) * sessionBytes
		}
	}
	n += int64(cap(e.dedup)) * 24
	for _, d := range e.dedup {
		n += int64(cap(d)) * 8
	}
	n += int64(cap(e.tmo)) * timeoutBytes
	return n
}
