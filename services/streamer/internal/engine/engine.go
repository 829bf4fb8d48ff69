package engine

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// Reading is one decoded sensor reading.
type Reading struct {
	SensorID  string
	TS        int64 // event time, epoch ms
	Temp, Hum float64
	OK        bool
}

// BatchResult is what one micro-batch produced.
type BatchResult struct {
	// Append holds the windows whose end <= the batch watermark: each is
	// emitted once, in this batch, and then evicted (kept with
	// Config.RetainAll). Sorted by (win_start, sensor_id).
	Append []contract.WindowRow
	// Update holds the merged current value of every (window, sensor) that
	// received a reading in this batch (update mode), sorted like Append.
	Update []contract.WindowRow
	// Complete holds every window in state, closed or open (complete mode);
	// only with Config.RetainAll, else nil. Sorted like Append.
	Complete []contract.WindowRow
	// Events are the silence-timeout events of the batch (Config.SilenceTimeout):
	// sensor_silent and sensor_recovered alerts sorted by (TS, sensor_id).
	// BatchID is left 0 for the runner to set.
	Events []contract.Alert
	// NextWatermark is max(batch watermark, max event time seen so far -
	// delay): the watermark the next batch must use.
	NextWatermark int64
	// NeedsNoDataBatch is true when the state holds windows that
	// NextWatermark closes: the runner should run a batch with no new data.
	NeedsNoDataBatch bool
	Stats            Stats
}

// Stats are a batch's state-operator figures, as Spark's progress reports them.
type Stats struct {
	NumInputRows              int64 // readings added, late ones included
	NumRowsDroppedByWatermark int64 // late readings
	NumRowsTotal              int64 // state rows (per partition) after the batch
	NumRowsUpdated            int64 // state rows changed by the batch
	NumRowsRemoved            int64 // state rows evicted by the batch
	MemoryUsedBytes           int64 // estimate of the state's memory
	// Config.Dedup: readings dropped as duplicates in the batch (late ones
	// are counted as late only), and the (sensor_id, ts) keys in state.
	NumDuplicatesDropped int64
	NumDedupKeys         int64
	// Config.SilenceTimeout: sensors whose last event time is in state, and
	// how many of them are silent.
	NumTimeoutKeys   int64
	NumSilentSensors int64
	// Over the batch's readings, late ones included (0 when none); epoch ms.
	EventTimeMin, EventTimeMax, EventTimeAvg int64
}

// noEventTime marks that no reading was ever seen.
const noEventTime = math.MinInt64

// Engine aggregates readings into event-time windows. Create it with New or
// Restore.
type Engine struct {
	cfg            Config
	winMs, delayMs int64 // winMs is 0 for session windows
	kind           byte  // kindTumbling, kindSliding or kindSession
	slideMs        int64 // == winMs for tumbling windows
	gapMs          int64 // session gap; 0 for other kinds
	timeoutMs      int64 // silence timeout; 0 when off

	// emittedWm is the watermark of the last FinishBatch: Append has emitted
	// every window it closed. It tells RetainAll's Append what is new.
	emittedWm int64

	wm      int64  // the current batch's watermark; >= 0, never decreases
	maxSeen int64  // max event time ever seen, late readings included; noEventTime if none
	seq     uint32 // current batch sequence number, stamped on the rows it changes

	ids       sensorTable // sensor id -> sensor number
	names     []string    // sensor number -> sensor id
	rank      []int32     // sensor number -> position in id order (see sensorRanks)
	order     []int32     // position in id order -> sensor number
	nameBytes int64

	parts []*partition // ascending by id
	byID  []*partition // parts indexed by id, for ids in [0, maxDirectPartition)
	free  []*window    // evicted windows kept for reuse

	// The hot window is the tumbling window the previous reading was folded
	// into, for OfferRaw's fast path: a reading for a row of that window
	// that the batch has already changed only updates the row's aggregate.
	// The engine keeps the window's partition and start, and copies of its
	// slot and rows slice headers, so that the path reads the row with two
	// dependent loads. Every change to a window's slot or rows goes through
	// fold, which refreshes the copies; hotSlot is nil when there is no hot
	// window, and FinishBatch clears it before windows can be evicted or
	// recycled. hotOK says whether the configuration allows the fast path
	// (tumbling windows, no Dedup, no SilenceTimeout: nothing else to do
	// per reading).
	hotOK    bool
	hotPart  int32
	hotStart int64
	hotSlot  []int32
	hotRows  []row

	stats          Stats // of the current batch
	tsBase, tsSum  int64 // EventTimeAvg = tsBase + tsSum/NumInputRows
	scratchStarts  []int64
	scratchByStart []*window
	marks          []uint64 // emit's bitmap over sensor ranks; all zero between calls
	scratchRefs    []sessRef

	dedup  [][]int64 // Config.Dedup: by sensor number, event times seen above the watermark, ascending
	nDedup int64     // keys in dedup
	tmo    []timeout // Config.SilenceTimeout: by sensor number
	events []contract.Alert
}

// maxDirectPartition bounds the partition ids found by indexing rather than
// by binary search. Kafka topics have far fewer partitions.
const maxDirectPartition = 1 << 12

// maxFreeWindows bounds the recycled windows kept between batches.
const maxFreeWindows = 64

// New returns an empty engine with watermark 0.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:       cfg,
		winMs:     cfg.Window.Milliseconds(),
		delayMs:   cfg.Watermark.Milliseconds(),
		kind:      cfg.kind(),
		gapMs:     cfg.SessionGap.Milliseconds(),
		timeoutMs: cfg.SilenceTimeout.Milliseconds(),
		maxSeen:   noEventTime,
		seq:       1,
		ids:       newSensorTable(16),
	}
	e.hotOK = e.kind == kindTumbling && !cfg.Dedup && e.timeoutMs == 0
	e.slideMs = e.winMs
	if e.kind == kindSliding {
		e.slideMs = cfg.Slide.Milliseconds()
	}
	return e, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Watermark returns the current batch's watermark (epoch ms).
func (e *Engine) Watermark() int64 { return e.wm }

// StartBatch begins a micro-batch that uses watermark wm (epoch ms) for its
// late filter and eviction. The watermark never moves backwards: a wm lower
// than the previous batch's is raised to it.
func (e *Engine) StartBatch(wm int64) {
	e.wm = max(e.wm, wm)
	e.seq++
	if e.seq == 0 { // wrapped: forget old stamps so no row looks changed
		e.forEachRow(func(r *row) { r.batch = 0 })
		for _, p := range e.parts {
			for _, ss := range p.sess {
				for i := range ss {
					ss[i].batch = 0
				}
			}
		}
		e.seq = 1
	}
	e.stats = Stats{}
	e.tsBase, e.tsSum = 0, 0
	e.events = e.events[:0]
	if e.timeoutMs > 0 {
		e.fireTimeouts()
	}
}

// Verdict says what the engine did with a reading.
type Verdict uint8

// Verdicts.
const (
	Folded    Verdict = iota // on time (and new, with Config.Dedup): folded into the state
	Late                     // event time <= the batch watermark: dropped, counted in NumRowsDroppedByWatermark
	Duplicate                // Config.Dedup: (sensor_id, ts) already in state: dropped, counted in NumDuplicatesDropped
)

// Add folds one reading from Kafka partition p into the state. A reading with
// TS <= the batch watermark is late: it is dropped, counted, and Add returns
// false. With Config.Dedup a duplicate is dropped and counted too, but Add
// returns true: false means exactly "late", what a late-data topic takes.
// Offer tells the two apart.
func (e *Engine) Add(p int32, r Reading) bool {
	return e.Offer(p, r) != Late
}

// Offer is Add, returning what became of the reading.
func (e *Engine) Offer(p int32, r Reading) Verdict {
	if !e.observe(r.TS) {
		return Late
	}
	s, ok := e.ids.lookupString(r.SensorID)
	if !ok {
		s = e.intern(r.SensorID)
	}
	if e.cfg.Dedup && !e.firstSeen(s, r.TS) {
		e.stats.NumDuplicatesDropped++
		return Duplicate
	}
	e.fold(p, s, r.TS, r.Temp, r.Hum, r.OK)
	return Folded
}

// AddRaw is Add for a sensor id that is a slice into a record: it has the
// same semantics and allocates only when the id is seen for the first time
// (or its window is new). It does not retain sensorID.
func (e *Engine) AddRaw(p int32, sensorID []byte, ts int64, temp, hum float64, ok bool) bool {
	return e.OfferRaw(p, sensorID, ts, temp, hum, ok) != Late
}

// OfferRaw is AddRaw, returning what became of the reading.
func (e *Engine) OfferRaw(p int32, sensorID []byte, ts int64, temp, hum float64, ok bool) Verdict {
	if !e.observe(ts) {
		return Late
	}
	// The sensor number: no allocation, sensorID not retained.
	var s int32
	var found bool
	if w0, w1, short := shortIDWords(sensorID); short {
		s, found = e.ids.probe(w0, w1, len(sensorID))
	} else {
		s, found = e.ids.lookup(sensorID)
	}
	if !found {
		s = e.intern(string(sensorID))
	}
	// The fast path: the hot window, a row already counted as updated. (ts
	// and hotStart are >= 0, so the difference cannot overflow.)
	if uint(s) < uint(len(e.hotSlot)) && p == e.hotPart && uint64(ts-e.hotStart) < uint64(e.winMs) {
		if i := e.hotSlot[s]; i != 0 {
			if r := &e.hotRows[i-1]; r.batch == e.seq {
				r.fold(temp, hum, ok)
				return Folded
			}
		}
	}
	if e.cfg.Dedup && !e.firstSeen(s, ts) {
		e.stats.NumDuplicatesDropped++
		return Duplicate
	}
	e.fold(p, s, ts, temp, hum, ok)
	return Folded
}

// observe records a reading's event time in the batch statistics and the
// watermark's max, and reports whether the reading is on time.
func (e *Engine) observe(ts int64) bool {
	st := &e.stats
	if st.NumInputRows == 0 {
		e.tsBase = ts
		st.EventTimeMin, st.EventTimeMax = ts, ts
	} else {
		st.EventTimeMin = min(st.EventTimeMin, ts)
		st.EventTimeMax = max(st.EventTimeMax, ts)
	}
	st.NumInputRows++
	e.tsSum += ts - e.tsBase
	// Spark takes the max before the late filter. A late reading cannot raise
	// the next watermark (ts - delay <= wm), so this only keeps the bookkeeping equal.
	e.maxSeen = max(e.maxSeen, ts)
	if ts <= e.wm {
		st.NumRowsDroppedByWatermark++
		return false
	}
	return true
}

// intern gives id, which must not be interned yet, the next sensor number.
func (e *Engine) intern(id string) int32 {
	s := int32(len(e.names))
	e.names = append(e.names, id)
	e.ids.insert(id, s)
	e.nameBytes += int64(len(id))
	return s
}

// fold adds an on-time reading of sensor s to its window in partition p.
// Since ts > wm >= 0, tumbling window starts are never negative.
func (e *Engine) fold(p, s int32, ts int64, temp, hum float64, ok bool) {
	var pt *partition
	if uint32(p) < uint32(len(e.byID)) {
		pt = e.byID[p]
	}
	if pt == nil {
		pt = e.partition(p)
	}
	if e.timeoutMs > 0 {
		e.seen(s, ts)
	}
	switch e.kind {
	case kindSliding:
		e.foldSliding(pt, s, ts, temp, hum, ok)
		return
	case kindSession:
		e.foldSession(pt, s, ts, temp, hum, ok)
		return
	}
	w := pt.last
	if w == nil || ts < w.start || ts-w.start >= e.winMs {
		w = e.window(pt, windowStart(ts, e.winMs))
		pt.last = w
	}
	r := w.getOrAdd(s)
	if e.hotOK {
		e.hotPart, e.hotStart, e.hotSlot, e.hotRows = p, w.start, w.slot, w.rows
	}
	if r.batch != e.seq {
		r.batch = e.seq
		e.stats.NumRowsUpdated++
	}
	r.fold(temp, hum, ok)
}

// windowStart is the start of the tumbling window of length l holding t:
// t - (t mod l), rounding toward -inf for negative t.
func windowStart(t, l int64) int64 {
	m := t % l
	if m < 0 {
		m += l
	}
	return t - m
}

// partition returns the state of partition id, creating it in order.
func (e *Engine) partition(id int32) *partition {
	i, ok := slices.BinarySearchFunc(e.parts, id, func(p *partition, id int32) int { return cmpInt(p.id, id) })
	if ok {
		return e.parts[i]
	}
	p := &partition{id: id}
	e.parts = slices.Insert(e.parts, i, p)
	if id >= 0 && id < maxDirectPartition {
		if int(id) >= len(e.byID) {
			old := len(e.byID)
			e.byID = slices.Grow(e.byID, int(id)+1-old)[:id+1]
			clear(e.byID[old:])
		}
		e.byID[id] = p
	}
	return p
}

// window returns partition p's window starting at start, creating it in order.
func (e *Engine) window(p *partition, start int64) *window {
	i, ok := slices.BinarySearchFunc(p.wins, start, func(w *window, s int64) int { return cmpInt(w.start, s) })
	if ok {
		return p.wins[i]
	}
	return e.insertWindow(p, i, start)
}

// insertWindow inserts an empty window starting at start at index i of
// partition p's windows, reusing an evicted one if it can.
func (e *Engine) insertWindow(p *partition, i int, start int64) *window {
	var w *window
	if n := len(e.free); n > 0 {
		w = e.free[n-1]
		e.free[n-1] = nil
		e.free = e.free[:n-1]
	} else {
		w = new(window)
	}
	w.start = start
	p.wins = slices.Insert(p.wins, i, w)
	return w
}

// FinishBatch ends the batch: it emits the changed rows and the windows the
// batch watermark closed, evicts the latter (unless Config.RetainAll) and
// computes the next watermark.
func (e *Engine) FinishBatch() BatchResult {
	var res BatchResult
	e.hotSlot, e.hotRows = nil, nil // windows may be evicted and recycled

	var nextClose int64 // the least end of a window not yet emitted in Append; MaxInt64 if none
	if e.kind == kindSession {
		nextClose = e.finishSessions(&res)
	} else {
		// Update mode: every (window, sensor) some partition changed in this batch.
		res.Update = e.emit(math.MinInt64, math.MaxInt64, true)
		// Append mode: windows whose end <= wm, i.e. start <= wm - L (no
		// overflow: wm >= 0). They are a prefix of each partition's windows;
		// with RetainAll those up to the previous batch's cut were emitted then.
		cut, from := e.wm-e.winMs, int64(math.MinInt64)
		if e.cfg.RetainAll {
			from = e.emittedWm - e.winMs
			res.Complete = e.emit(math.MinInt64, math.MaxInt64, false)
		}
		res.Append = e.emit(from, cut, false)
		if !e.cfg.RetainAll {
			e.evict(cut)
		}
		nextClose = math.MaxInt64
		for _, p := range e.parts {
			i := 0
			if e.cfg.RetainAll {
				i, _ = slices.BinarySearchFunc(p.wins, cut+1, func(w *window, s int64) int { return cmpInt(w.start, s) })
			}
			if i < len(p.wins) {
				nextClose = min(nextClose, p.wins[i].start+e.winMs)
			}
		}
	}
	if e.cfg.Dedup {
		e.evictDedup()
	}
	e.emittedWm = e.wm

	res.NextWatermark = e.wm
	if e.maxSeen != noEventTime && e.maxSeen >= math.MinInt64+e.delayMs {
		res.NextWatermark = max(e.wm, e.maxSeen-e.delayMs)
	}
	if res.NextWatermark > e.wm {
		res.NeedsNoDataBatch = nextClose <= res.NextWatermark ||
			(e.timeoutMs > 0 && e.nextTimeout() <= res.NextWatermark)
	}

	st := e.stats
	if st.NumInputRows > 0 {
		st.EventTimeAvg = e.tsBase + floorDiv(e.tsSum, st.NumInputRows)
	}
	if e.kind == kindSession {
		for _, p := range e.parts {
			for _, ss := range p.sess {
				st.NumRowsTotal += int64(len(ss))
			}
		}
	} else {
		for _, p := range e.parts {
			for _, w := range p.wins {
				st.NumRowsTotal += int64(len(w.rows))
			}
		}
	}
	st.NumDedupKeys = e.nDedup
	if e.timeoutMs > 0 {
		st.NumTimeoutKeys, st.NumSilentSensors = e.timeoutCounts()
		if len(e.events) > 0 {
			res.Events = slices.Clone(e.events)
			slices.SortFunc(res.Events, func(a, b contract.Alert) int {
				if c := cmpInt(a.TS, b.TS); c != 0 {
					return c
				}
				return strings.Compare(a.SensorID, b.SensorID)
			})
		}
	}
	st.MemoryUsedBytes = e.memoryBytes()
	res.Stats = st
	return res
}

// evict removes every window starting at or before cut, counting its rows.
func (e *Engine) evict(cut int64) {
	for _, p := range e.parts {
		n := 0
		for n < len(p.wins) && p.wins[n].start <= cut {
			w := p.wins[n]
			e.stats.NumRowsRemoved += int64(len(w.rows))
			w.reset()
			if len(e.free) < maxFreeWindows {
				e.free = append(e.free, w)
			}
			if p.last == w {
				p.last = nil
			}
			n++
		}
		p.wins = slices.Delete(p.wins, 0, n)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// emit returns the rows of the windows starting after from and at or before
// cut, sorted by (window start, sensor id), each merged over partitions in
// ascending partition order. With touched, only the (window, sensor) pairs
// that some partition changed in this batch are emitted.
//
// Rather than sorting rows, it marks each window's sensors in a bitmap indexed
// by the sensor's rank in id order and reads the bitmap in order.
func (e *Engine) emit(from, cut int64, touched bool) []contract.WindowRow {
	starts := e.scratchStarts[:0]
	for _, p := range e.parts {
		for _, w := range p.wins {
			if w.start > cut {
				break
			}
			if w.start > from {
				starts = append(starts, w.start)
			}
		}
	}
	if len(starts) == 0 {
		return nil
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	e.scratchStarts = starts[:0]

	rank, order := e.sensorRanks()
	if words := (len(e.names) + 63) / 64; len(e.marks) < words {
		e.marks = make([]uint64, words)
	}
	marks := e.marks
	// Size out exactly before filling it: growing it start by start would copy
	// every row already emitted (100,000 update rows a batch at 100,000 sensors).
	total := 0
	for _, start := range starts {
		lo, hi, n := e.markRows(start, touched, rank)
		if n > 0 {
			for wi := lo; wi <= hi; wi++ {
				total += bits.OnesCount64(marks[wi])
				marks[wi] = 0
			}
		}
	}
	if total == 0 {
		return nil
	}
	out := make([]contract.WindowRow, 0, total)
	for _, start := range starts {
		lo, hi, n := e.markRows(start, touched, rank)
		if n == 0 {
			continue
		}
		byStart := e.scratchByStart
		for wi := lo; wi <= hi; wi++ {
			for m := marks[wi]; m != 0; m &= m - 1 {
				s := order[wi*64+bits.TrailingZeros64(m)]
				var a agg
				for _, w := range byStart {
					if r := w.get(s); r != nil {
						a.merge(&r.agg)
					}
				}
				out = append(out, e.windowRow(start, s, &a))
			}
			marks[wi] = 0
		}
	}
	clear(e.scratchByStart)
	e.scratchByStart = e.scratchByStart[:0]
	return out
}

// markRows sets, in e.marks (by sensor rank), the sensors that have a row in
// some partition's window starting at start (only rows the batch changed when
// touched), and leaves those windows in e.scratchByStart. It returns the
// range of mark words it set and the number of rows it saw (a sensor in
// several partitions counts once per partition); nothing is marked when n is
// 0. The caller clears the words lo..hi.
func (e *Engine) markRows(start int64, touched bool, rank []int32) (lo, hi, n int) {
	marks := e.marks
	byStart := e.scratchByStart[:0]
	lo, hi = len(marks), -1
	for _, p := range e.parts {
		w := p.find(start)
		if w == nil {
			continue
		}
		byStart = append(byStart, w)
		for i := range w.rows {
			r := &w.rows[i]
			if touched && r.batch != e.seq {
				continue
			}
			k := rank[r.sensor]
			marks[k/64] |= 1 << (k % 64)
			lo, hi, n = min(lo, int(k/64)), max(hi, int(k/64)), n+1
		}
	}
	e.scratchByStart = byStart
	return lo, hi, n
}

// sensorRanks returns rank, each sensor number's position in the order of
// sensor ids, and order, its inverse. They are recomputed only when sensors
// were interned since the last call.
func (e *Engine) sensorRanks() (rank, order []int32) {
	if len(e.rank) == len(e.names) {
		return e.rank, e.order
	}
	e.order = slices.Grow(e.order[:0], len(e.names))[:len(e.names)]
	for i := range e.order {
		e.order[i] = int32(i)
	}
	slices.SortFunc(e.order, func(a, b int32) int { return strings.Compare(e.names[a], e.names[b]) })
	e.rank = slices.Grow(e.rank[:0], len(e.order))[:len(e.order)]
	for pos, s := range e.order {
		e.rank[s] = int32(pos)
	}
	return e.rank, e.order
}

func (e *Engine) windowRow(start int64, s int32, a *agg) contract.WindowRow {
	return e.spanRow(start, start+e.winMs, s, a)
}

// spanRow is the row of sensor s's aggregate a over [start, end).
func (e *Engine) spanRow(start, end int64, s int32, a *agg) contract.WindowRow {
	n := float64(a.count)
	return contract.WindowRow{
		WinStart: time.UnixMilli(start).UTC(),
		WinEnd:   time.UnixMilli(end).UTC(),
		SensorID: e.names[s],
		Eventos:  a.count,
		AvgTemp:  a.sumT / n,
		AvgHum:   a.sumH / n,
		OKCount:  a.ok,
		MinTemp:  a.minT,
		MaxTemp:  a.maxT,
	}
}

func (e *Engine) forEachRow(f func(*row)) {
	for _, p := range e.parts {
		for _, w := range p.wins {
			for i := range w.rows {
				f(&w.rows[i])
			}
		}
	}
}
