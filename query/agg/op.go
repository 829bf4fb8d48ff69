package agg

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"unsafe"

	"github.com/sensorlab/sensorlab/query/types"
)

// Stats are a batch's state-operator figures, as Spark's progress reports
// them. Rows are counted as the existing engine counts them: one per
// (window, key, input partition) partial.
type Stats struct {
	NumInputRows              int64 // rows added, late ones included
	NumRowsDroppedByWatermark int64 // late rows
	NumRowsTotal              int64 // state rows after the batch
	NumRowsUpdated            int64 // state rows the batch changed
	NumRowsRemoved            int64 // state rows the batch evicted (or merged away, sessions)
	MemoryUsedBytes           int64 // estimate of the state's heap bytes
	// Over the batch's rows with an event time, late ones included (0
	// when none); microseconds.
	EventTimeMin, EventTimeMax, EventTimeAvg int64
	// NextWatermark is the watermark of the next batch: max(this batch's,
	// max event time seen - Delay).
	NextWatermark int64
	// NeedsNoDataBatch says the state holds windows NextWatermark closes:
	// the driver should run a batch without new data to emit or evict them.
	NeedsNoDataBatch bool
}

// noEventTime marks that no event time was ever seen.
const noEventTime = math.MinInt64

// Op is the windowed aggregation operator. Create it with New or Restore.
// It is not safe for concurrent use.
type Op struct {
	in   types.Schema
	cfg  Config
	out  types.Schema
	keys keyCodec

	aggs      []aggImpl
	fused     *fusedFold // the aggregates folded in one loop (nil: none)
	plain     []int      // the others (indices in aggs), folded one by one
	listCnt   []counter  // the counters fused does not fold
	counters  []counter
	slots     []slot
	wordsOnly bool // every slot is a word: a record checkpoints as its words
	meta      int  // words before the first slot
	stride    int  // words per record
	rowCnt    int  // the row-count slot
	tmpl      []uint64
	hs        hasher
	hot       hotCache
	rawKey    bool // one STRING key, NOT NULL: its encoding is its bytes

	timed        bool  // rows carry an event time (a window or a watermark)
	size, slide  int64 // Tumbling (slide = size), Sliding; 0 without a window
	passes       int   // windows a row may fall in: ceil(size/slide); 1 without a window
	wins         []*store
	free         []*store
	lastW        []*store // by pass: the window the previous row went to
	sess         *sessions
	wm, maxSeen  int64
	held         bool   // the watermark moves only by SetWatermark (HoldWatermark)
	seq, clSeq   uint32 // current batch; last batch a changelog covers
	clNum        uint64 // changelogs written (or restored) so far
	removedWins  []int64
	stats        Stats
	tsBase       int64
	tsSum        int64
	err          error
	nOut         int // rows of the output being built
	rows         []int32
	nTs          int64 // event times observed in the batch
	keyBuf       []byte
	keyEnds      []uint32
	src, dst     []int32
	segs         []seg
	runs         []run
	disordered   bool    // the last chunk came in short runs: gather the next by window (bucketRows)
	bucketOf     []uint8 // bucketRows' scratch: each row's bucket
	bucketOrder  []uint8
	bucketRuns   []run
	bucketed     []int32  // bucketRows' reordered rows
	sc           scratch  // emitting, sorting and checkpointing groups
	scUpd        *scratch // Finish's update rows, emitted beside the append rows
	changedWins  []*store
	hashes       []uint64     // prefetch's scratch
	cands        []int32      // prefetch's scratch
	stores       []*store     // by row of a chunk: its window in a pass
	pstores      []*store     // prefetch's copy of stores
	emitRefs     []keyRef     // emitComplete's scratch
	scratch      *types.Batch // emitComplete's rows to insert or replace
	sink         uint64       // what prefetch loaded, so that the loads stay
	haveEventTim bool
}

// seg is a run of the fold list that goes to one store.
type seg struct {
	st     *store
	lo, hi int
}

// keyRef is a group while its window's rows are sorted.
type keyRef struct {
	k []byte
	r int32
}

// foldChunk is the number of input rows whose fold list is built and
// folded at a time (per pass: 8 bytes an entry).
const foldChunk = 1024

// maxFree bounds the evicted windows kept for reuse.
const maxFree = 4

// New returns an empty operator with watermark 0, after checking cfg
// against the input schema.
func New(in types.Schema, cfg Config) (*Op, error) {
	if err := validate(in, cfg); err != nil {
		return nil, err
	}
	o := &Op{in: in, cfg: cfg, keys: newKeyCodec(in, cfg.Keys), hs: newHasher(),
		maxSeen: noEventTime, seq: 1}
	o.cfg.Keys = slices.Clone(cfg.Keys)
	o.rawKey = len(cfg.Keys) == 1 && in[cfg.Keys[0]].Type.Kind == types.String && !in[cfg.Keys[0]].Nullable
	o.cfg.Aggs = slices.Clone(cfg.Aggs)
	w := cfg.Window
	o.timed = w.Kind != None || cfg.HasWatermark
	o.passes = 1
	switch w.Kind {
	case Tumbling:
		o.size, o.slide = w.Size, w.Size
	case Sliding:
		o.size, o.slide = w.Size, w.Slide
		o.passes = int((w.Size + w.Slide - 1) / w.Slide)
	}
	o.lastW = make([]*store, o.passes)
	o.meta = 2
	if w.Kind == Session {
		o.meta = 4
	}
	// Slots: the row count, one non-null count per nullable argument
	// column that needs one, then one per aggregate.
	o.slots = append(o.slots, slot{})
	o.rowCnt = o.meta
	o.counters = append(o.counters, counter{col: -1, slot: o.rowCnt})
	nn := map[int]int{}
	for _, a := range cfg.Aggs {
		if a.Arg >= 0 && in[a.Arg].Nullable && (a.Func == Count || a.Func == Sum || a.Func == Avg || a.Func == Min || a.Func == Max) {
			if _, ok := nn[a.Arg]; !ok {
				nn[a.Arg] = o.meta + len(o.slots)
				o.counters = append(o.counters, counter{col: a.Arg, slot: nn[a.Arg]})
				o.slots = append(o.slots, slot{})
			}
		}
	}
	for _, a := range cfg.Aggs {
		im := aggImpl{Agg: a, slot: -1, cnt: o.rowCnt}
		if a.Arg >= 0 {
			im.in = in[a.Arg].Type
			if c, ok := nn[a.Arg]; ok {
				im.cnt = c
			}
		}
		if a.Arg < 0 {
			im.out = types.TBigint
		} else {
			im.out, _ = resultType(a.Func, im.in) // validated
		}
		sl := slot{}
		k := im.in.Kind
		switch a.Func {
		case Count:
			im.fold = fNone
		case CountIf:
			im.fold = fCountIf
		case Sum, Avg:
			switch {
			case k == types.Decimal:
				im.fold = fSumDec
				im.decMax = pow10[min(types.MaxDecimalPrecision, im.in.Precision+10)]
			case k == types.Double:
				im.fold = fSumF
			case a.Func == Avg:
				im.fold = fSumIF
			default:
				im.fold = fSumI
			}
		case Min, Max:
			isMin := a.Func == Min
			switch k {
			case types.Double:
				im.fold = pick(isMin, fMinF, fMaxF)
				sl.init = math.Float64bits(math.Inf(-1))
				if isMin {
					sl.init = canonicalNaN
				}
			case types.Boolean:
				im.fold = pick(isMin, fMinB, fMaxB)
				if isMin {
					sl.init = 3
				}
			case types.String:
				im.fold = pick(isMin, fMinS, fMaxS)
				sl.kind = slotStr
			default:
				im.fold = pick(isMin, fMinI, fMaxI)
				sl.init = 1 << 63 // MinInt64
				if isMin {
					sl.init = math.MaxInt64
				}
			}
		case ApproxCountDistinct:
			im.fold = fHLL
			sl.kind = slotHLL
		case CountDistinct:
			im.fold = fSet
			sl.kind = slotSet
			im.valCode = keyCol{in: a.Arg, t: im.in, last: true}
		}
		if im.fold != fNone {
			im.slot = o.meta + len(o.slots)
			o.slots = append(o.slots, sl)
		}
		o.aggs = append(o.aggs, im)
	}
	o.fused, o.plain, o.listCnt = fuse(o.aggs, o.counters)
	o.stride = o.meta + len(o.slots)
	o.wordsOnly = !slices.ContainsFunc(o.slots, func(s slot) bool { return s.kind != slotWord })
	o.tmpl = make([]uint64, o.stride)
	for i, s := range o.slots {
		o.tmpl[o.meta+i] = s.init
	}
	o.sc.acc = &store{}
	if w.Kind == Session {
		o.sess = newSessions()
	}
	// The output schema.
	if w.Kind != None {
		o.out = append(o.out, types.Field{Name: "window_start", Type: types.TTimestamp},
			types.Field{Name: "window_end", Type: types.TTimestamp})
	}
	for _, k := range cfg.Keys {
		o.out = append(o.out, in[k])
	}
	for i, a := range o.aggs {
		nullable := a.Func == Sum || a.Func == Avg || a.Func == Min || a.Func == Max
		o.out = append(o.out, types.Field{Name: fmt.Sprintf("agg%d", i), Type: a.out, Nullable: nullable})
	}
	return o, nil
}

func pick(c bool, a, b foldKind) foldKind {
	if c {
		return a
	}
	return b
}

// OutputSchema is [window_start, window_end] (with a window), the key
// columns as in the input, then agg0, agg1, … one per aggregate.
func (o *Op) OutputSchema() types.Schema { return o.out }

// Config returns the operator's configuration.
func (o *Op) Config() Config { return o.cfg }

// SetWatermark sets the watermark the next rows are filtered and windows
// closed by. The watermark never moves backwards: a lower wm is ignored.
func (o *Op) SetWatermark(wm int64) { o.wm = max(o.wm, wm) }

// HoldWatermark makes the watermark move only by SetWatermark: a batch's
// end no longer raises it to the largest event time seen minus the delay.
// A caller whose watermark is not that (a task over a repartition topic
// follows the least of its origin partitions') sets it every batch.
func (o *Op) HoldWatermark() { o.held = true }

// Watermark returns the watermark the current (or next) batch uses.
func (o *Op) Watermark() int64 { return o.wm }

// Err returns the error that stopped the operator, if any: a DECIMAL
// overflow or a null in a NOT NULL key. After an error the state is
// inconsistent; restore it from a checkpoint.
func (o *Op) Err() error { return o.err }

// Add folds the rows of b into the state. Rows whose event time is at or
// before the watermark are late: dropped and counted (only with a
// watermark). Rows with a null event time belong to no window and are
// dropped uncounted, as Spark's window functions drop them.
func (o *Op) Add(b *types.Batch) error {
	if o.err != nil {
		return o.err
	}
	if b.N == 0 {
		return nil
	}
	if err := o.add(b); err != nil {
		o.err = fmt.Errorf("aggregation: %w", err)
	}
	return o.err
}

func (o *Op) add(b *types.Batch) error {
	n := b.N
	o.stats.NumInputRows += int64(n)
	// The rows on time, in input order.
	rows := slices.Grow(o.rows[:0], n)[:0]
	defer func() { o.rows = rows[:0] }()
	var ts []int64
	if o.timed {
		tv := b.Cols[o.cfg.Window.TimeCol]
		ts = tv.I64[:n]
		if tv.Null != nil {
			for i, t := range ts {
				if tv.Null[i] {
					continue
				}
				o.observe(t)
				if o.cfg.HasWatermark && t <= o.wm {
					o.stats.NumRowsDroppedByWatermark++
					continue
				}
				rows = append(rows, int32(i))
			}
		} else {
			// No null event time: the statistics in one pass, then the
			// late filter.
			o.observeAll(ts)
			lim := int64(math.MinInt64)
			if o.cfg.HasWatermark {
				lim = o.wm
			}
			rows = rows[:n]
			k := 0
			for i, t := range ts {
				rows[k] = int32(i)
				if t > lim || lim == math.MinInt64 {
					k++
				}
			}
			rows = rows[:k]
			o.stats.NumRowsDroppedByWatermark += int64(n - k)
		}
	} else {
		for i := 0; i < n; i++ {
			rows = append(rows, int32(i))
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if !o.rawKey {
		if cap(o.keyEnds) < n {
			o.keyEnds = make([]uint32, n)
		}
		var err error
		o.keyBuf, err = o.keys.encodeBatch(b, o.keyBuf[:0], o.keyEnds[:n])
		if err != nil {
			return err
		}
	} else if err := o.keys.checkNulls(b); err != nil {
		return err // foldList reads the key strings themselves
	}
	if o.sess != nil {
		return o.addSessions(b, rows, ts)
	}
	// Chunk by chunk, so that the fold list stays in the L1 cache: look
	// every row's group up, pass by pass (see foldList), then fold the
	// fused aggregates in one loop, the others column by column. Each
	// window's rows still reach it in input order.
	for lo := 0; lo < len(rows); lo += foldChunk {
		src, dst, segs := o.foldList(b, rows[lo:min(lo+foldChunk, len(rows))], ts)
		for _, s := range segs {
			if o.fused != nil {
				o.fused.foldSeg(b, s.st, src[s.lo:s.hi], dst[s.lo:s.hi], o.stride)
			}
			for _, i := range o.plain {
				if err := o.aggs[i].foldSeg(b, s.st, src[s.lo:s.hi], dst[s.lo:s.hi], o.stride); err != nil {
					return err
				}
			}
			o.foldCounters(b, o.listCnt, s.st, src[s.lo:s.hi], dst[s.lo:s.hi])
		}
	}
	return nil
}

// foldList finds (creating them) the state rows the on-time rows go to.
// Entry e of the list folds input row src[e] into record dst[e]; segs cut
// the list into runs of one store. A row falls in passes windows at most
// (sliding windows); pass j takes, of each row's windows, the one whose
// index (start/slide) is j modulo passes. Every window is thus reached in
// one pass only, and its rows come in input order: each partial folds its
// rows in arrival order, whatever the window kind. With one pass
// (tumbling windows, or none) foldList1 does the work.
func (o *Op) foldList(b *types.Batch, rows []int32, ts []int64) (src, dst []int32, segs []seg) {
	k := int64(o.passes)
	if k == 1 {
		return o.foldList1(b, rows, ts)
	}
	src = slices.Grow(o.src[:0], len(rows)*int(k))[:len(rows)*int(k)]
	dst = slices.Grow(o.dst[:0], len(src))[:len(src)]
	segs = o.segs[:0]
	ne := 0 // entries
	part := b.Partition
	var raw []string
	if o.rawKey {
		raw = b.Cols[o.cfg.Keys[0]].Str
	}
	hot := &o.hot
	if hot.tab == nil {
		hot.enter(nil, 0)
	}
	// The cache's fields and the hash secrets in locals: the loop's stores
	// would make the compiler load them again for every row.
	tab, gen, hw, hp := hot.tab, hot.gen, hot.w, hot.part
	hs0, hs1 := o.hs.s[0], o.hs.s[1]
	var cur *store
	// With a table past the L2 cache in state, each pass finds its
	// windows first, then loads their table entries together (prefetch),
	// then looks the keys up; else it does all in one loop.
	big := false
	for _, w := range o.wins {
		big = big || len(w.tab) >= prefetchTab
	}
	var ws []*store
	if big {
		ws = slices.Grow(o.stores[:0], len(rows))[:len(rows)]
	}
	for j := int64(0); j < k; j++ {
		if big {
			for e, i := range rows {
				ws[e] = o.passWindow(j, ts[i])
			}
			pw := append(o.pstores[:0], ws...)
			o.prefetch(b, pw, rows)
			clear(pw)
			o.pstores = pw[:0]
		}
		for e, i := range rows {
			var w *store
			if big {
				if w = ws[e]; w == nil {
					continue
				}
			} else {
				// passWindow, inline.
				t := ts[i]
				last := floorDiv(t, o.slide)
				start := (last - floorMod(last-j, k)) * o.slide
				if start <= t-o.size {
					continue
				}
				w = o.window(int(j), start)
			}
			var key []byte
			if raw != nil {
				key = unsafe.Slice(unsafe.StringData(raw[i]), len(raw[i])) // read only
			} else {
				var lo uint32
				if i > 0 {
					lo = o.keyEnds[i-1]
				}
				key = o.keyBuf[lo:o.keyEnds[i]]
			}
			var p int32
			if part != nil {
				p = part[i]
			}
			var r int32
			if n := len(key); n <= hotKeyMax {
				w0, w1 := keyWords(key)
				hi, lo := bits.Mul64(w0^hs0, w1^hs1^uint64(n)<<56) // hasher.mix
				h := hi ^ lo
				if w != hw || p != hp {
					hot.enter(w, p)
					tab, gen, hw, hp = hot.tab, hot.gen, w, p
				}
				// The key's home entry inline; probing on and the full
				// lookup in hotMiss.
				en := &tab[h&(hotSize-1)]
				if en.tag == uint64(gen)<<32|uint64(n+1) && en.w0 == w0 && en.w1 == w1 {
					r = en.r
				} else {
					r = o.hotMiss(w, h, key, p, w0, w1)
				}
			} else {
				r = o.lookup(w, o.hs.hash(key), key, p)
			}
			if w != cur {
				if cur != nil {
					segs[len(segs)-1].hi = ne
				}
				segs = append(segs, seg{st: w, lo: ne})
				cur = w
			}
			src[ne] = i
			dst[ne] = r
			ne++
		}
	}
	if cur != nil {
		segs[len(segs)-1].hi = ne
	}
	if big {
		clear(ws)
		o.stores = ws[:0]
	}
	o.src, o.dst, o.segs = src, dst, segs
	return src[:ne], dst[:ne], segs
}

// passWindow returns the window of pass j (see foldList) that holds time
// t, creating it, or nil when t is in fewer than passes windows.
func (o *Op) passWindow(j, t int64) *store {
	k := int64(o.passes)
	last := floorDiv(t, o.slide)      // index of the newest window holding t
	idx := last - floorMod(last-j, k) // the one of this pass
	start := idx * o.slide
	if start <= t-o.size {
		return nil
	}
	return o.window(int(j), start)
}

// run is a run of the fold list in one cache context: rows of one window
// and one partition.
type run struct {
	w      *store
	part   int32
	lo, hi int
}

// foldList1 is foldList when a row falls in one window at most (tumbling
// windows, or none), batch at a time: it cuts the rows into runs of one
// window and partition, then looks the keys of each run up in a loop that
// keeps nothing else in flight. The fold list's src is rows itself.
func (o *Op) foldList1(b *types.Batch, rows []int32, ts []int64) (src, dst []int32, segs []seg) {
	dst = slices.Grow(o.dst[:0], len(rows))[:len(rows)]
	if o.disordered && o.size != 0 {
		var runs []run
		src, runs = o.bucketRows(b, rows, ts)
		return o.lookupRuns(b, src, dst, runs)
	}
	runs := o.runs[:0]
	part := b.Partition
	size := o.size
	var w *store
	var wStart int64
	if size == 0 {
		w = o.window(0, 0)
	}
	// A run ends where the partition changes or the time leaves the
	// run's window.
	extent := uint64(size)
	for e := 0; e < len(rows); {
		i := rows[e]
		var p int32
		if part != nil {
			p = part[i]
		}
		if size != 0 {
			if t := ts[i]; w == nil || uint64(t-wStart) >= extent {
				w = o.window(0, floorDiv(t, size)*size)
				wStart = w.start
			}
		}
		lo := e
		e++
		switch {
		case size == 0 && part == nil:
			e = len(rows)
		case size == 0:
			for ; e < len(rows) && part[rows[e]] == p; e++ {
			}
		case part == nil:
			for ; e < len(rows) && uint64(ts[rows[e]]-wStart) < extent; e++ {
			}
		default:
			for ; e < len(rows); e++ {
				if j := rows[e]; part[j] != p || uint64(ts[j]-wStart) >= extent {
					break
				}
			}
		}
		runs = append(runs, run{w: w, part: p, lo: lo, hi: e})
	}
	o.runs = runs
	// Runs this short mean event times that hop between windows: the
	// next chunks gather their rows by window first (bucketRows).
	o.disordered = size != 0 && len(runs) > 1 && len(runs) > len(rows)/shortRuns
	return o.lookupRuns(b, rows, dst, runs)
}

// lookupRuns looks the keys of every run of src up, into dst, and returns
// the fold list.
func (o *Op) lookupRuns(b *types.Batch, src, dst []int32, runs []run) ([]int32, []int32, []seg) {
	segs := o.segs[:0]
	for k := range runs {
		r := &runs[k]
		o.lookupRun(b, r, src, dst)
		if len(segs) > 0 && segs[len(segs)-1].st == r.w {
			segs[len(segs)-1].hi = r.hi
		} else {
			segs = append(segs, seg{st: r.w, lo: r.lo, hi: r.hi})
		}
	}
	o.dst, o.segs = dst, segs
	return src, dst, segs
}

// shortRuns: when the runs of a chunk average fewer rows than this (event
// times that hop between windows, as a stream disordered within its
// watermark delay does), the next chunks are gathered by window and
// partition first (bucketRows).
const shortRuns = 32

// bucketRows reorders the rows of a chunk so that the rows of each (window,
// partition) are one run, windows ascending: a stable counting sort, so
// that every partial still folds its rows in arrival order (rows of other
// windows or partitions go to other records, whose order does not matter).
// It returns the reordered rows and their runs (scratch slices), and turns
// o.disordered off when the chunk came in long runs after all.
func (o *Op) bucketRows(b *types.Batch, rows []int32, ts []int64) ([]int32, []run) {
	part := b.Partition
	size, extent := o.size, uint64(o.size)
	bs := o.runs[:0] // the buckets: w, part, and lo/hi as counters
	bid := slices.Grow(o.bucketOf[:0], len(rows))[:len(rows)]
	cur, switches := -1, 0
	for e, i := range rows {
		var p int32
		if part != nil {
			p = part[i]
		}
		t := ts[i]
		if cur >= 0 && bs[cur].part == p && uint64(t-bs[cur].w.start) < extent {
			bid[e] = uint8(cur)
			bs[cur].hi++
			continue
		}
		switches++
		cur = -1
		for k := range bs {
			if bs[k].part == p && uint64(t-bs[k].w.start) < extent {
				cur = k
				break
			}
		}
		if cur < 0 {
			if len(bs) == maxBuckets {
				// Too many windows and partitions at once: no reordering.
				o.disordered = false
				return o.bucketFallback(b, rows, ts)
			}
			bs = append(bs, run{w: o.window(0, floorDiv(t, size)*size), part: p})
			cur = len(bs) - 1
		}
		bid[e] = uint8(cur)
		bs[cur].hi++
	}
	o.disordered = switches > len(rows)/shortRuns
	// Offsets in (window, partition) order.
	order := o.bucketOrder[:0]
	for k := range bs {
		order = append(order, uint8(k))
	}
	slices.SortFunc(order, func(x, y uint8) int {
		return cmp.Or(cmp.Compare(bs[x].w.start, bs[y].w.start), cmp.Compare(bs[x].part, bs[y].part))
	})
	var next [maxBuckets]int
	off := 0
	runs := o.bucketRuns[:0]
	for _, k := range order {
		n := bs[k].hi
		next[k] = off
		runs = append(runs, run{w: bs[k].w, part: bs[k].part, lo: off, hi: off + n})
		off += n
	}
	out := slices.Grow(o.bucketed[:0], len(rows))[:len(rows)]
	for e, i := range rows {
		k := bid[e]
		out[next[k]] = i
		next[k]++
	}
	o.runs, o.bucketOf, o.bucketOrder, o.bucketRuns, o.bucketed = bs[:0], bid, order, runs, out
	return out, runs
}

// maxBuckets bounds the (window, partition) pairs bucketRows gathers a
// chunk into.
const maxBuckets = 64

// bucketFallback cuts rows into runs in input order (foldList1's way),
// for a chunk bucketRows gave up on.
func (o *Op) bucketFallback(b *types.Batch, rows []int32, ts []int64) ([]int32, []run) {
	part := b.Partition
	runs := o.bucketRuns[:0]
	for e, i := range rows {
		var p int32
		if part != nil {
			p = part[i]
		}
		w := o.window(0, floorDiv(ts[i], o.size)*o.size)
		if n := len(runs); n > 0 && runs[n-1].w == w && runs[n-1].part == p {
			runs[n-1].hi = e + 1
			continue
		}
		runs = append(runs, run{w: w, part: p, lo: e, hi: e + 1})
	}
	o.bucketRuns = runs
	return rows, runs
}

// lookupRun sets dst[e] to the record of row rows[e] for the entries of
// run r.
func (o *Op) lookupRun(b *types.Batch, r *run, rows, dst []int32) {
	w, p := r.w, r.part
	hot := &o.hot
	if hot.tab == nil || hot.w != w || hot.part != p {
		hot.enter(w, p)
	}
	tab, gen := hot.tab, uint64(hot.gen)<<32
	hs0, hs1 := o.hs.s[0], o.hs.s[1]
	rs, ds := rows[r.lo:r.hi], dst[r.lo:r.hi]
	ds = ds[:len(rs)]
	if len(w.tab) >= prefetchTab && len(rs) >= 16 {
		ws := slices.Grow(o.stores[:0], len(rs))[:len(rs)]
		for e := range ws {
			ws[e] = w
		}
		o.prefetch(b, ws, rs)
		clear(ws)
		o.stores = ws[:0]
	}
	if o.rawKey {
		raw := b.Cols[o.cfg.Keys[0]].Str
		for e, i := range rs {
			s := raw[i]
			key := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
			n := len(key)
			if n > hotKeyMax {
				ds[e] = o.lookup(w, o.hs.hash(key), key, p)
				continue
			}
			w0, w1 := keyWords(key)
			hi, lo := bits.Mul64(w0^hs0, w1^hs1^uint64(n)<<56) // hasher.mix
			h := hi ^ lo
			if en := &tab[h&(hotSize-1)]; en.tag == gen|uint64(n+1) && en.w0 == w0 && en.w1 == w1 {
				ds[e] = en.r
			} else {
				ds[e] = o.hotMiss(w, h, key, p, w0, w1)
			}
		}
		return
	}
	for e, i := range rs {
		var lo uint32
		if i > 0 {
			lo = o.keyEnds[i-1]
		}
		key := o.keyBuf[lo:o.keyEnds[i]]
		n := len(key)
		if n > hotKeyMax {
			ds[e] = o.lookup(w, o.hs.hash(key), key, p)
			continue
		}
		w0, w1 := keyWords(key)
		h := o.hs.mix(w0, w1, n)
		if en := &tab[h&(hotSize-1)]; en.tag == gen|uint64(n+1) && en.w0 == w0 && en.w1 == w1 {
			ds[e] = en.r
		} else {
			ds[e] = o.hotMiss(w, h, key, p, w0, w1)
		}
	}
}

// prefetchTab is the table length (entries) from which the lookups of a
// run of rows are preceded by prefetch: a table of 256 KiB, with the
// records and keys it points at (ten times its size), misses the L2 cache,
// and loads that do not depend on one another wait for memory together
// instead of one after the other (the seed query at 100,000 keys: 7 %
// more records per CPU-second than from 2 MiB on).
const prefetchTab = 1 << 15

// rowKey returns the encoded key of input row i (read only).
func (o *Op) rowKey(raw []string, i int32) []byte {
	if raw != nil {
		return unsafe.Slice(unsafe.StringData(raw[i]), len(raw[i]))
	}
	var lo uint32
	if i > 0 {
		lo = o.keyEnds[i-1]
	}
	return o.keyBuf[lo:o.keyEnds[i]]
}

// prefetch loads into the cache, for the key of each row of rows that goes
// to store ws[e] (nil: none), the table entry where its probe starts, the
// record that entry points at and that record's key, each stage's loads
// all issued before the next stage needs them. It changes nothing: an
// entry whose tag is another key's costs a useless load, never a wrong
// result.
func (o *Op) prefetch(b *types.Batch, ws []*store, rows []int32) {
	var raw []string
	if o.rawKey {
		raw = b.Cols[o.cfg.Keys[0]].Str
	}
	hs := slices.Grow(o.hashes[:0], len(rows))[:len(rows)]
	cand := slices.Grow(o.cands[:0], len(rows))[:len(rows)]
	var x uint64
	for e, i := range rows {
		w := ws[e]
		if w == nil || len(w.tab) < prefetchTab {
			ws[e] = nil
			continue
		}
		h := o.hs.hash(o.rowKey(raw, i))
		hs[e] = h
		x += w.tab[home(h, uint64(len(w.tab)-1))]
	}
	S := uint64(o.stride)
	for e, w := range ws {
		cand[e] = -1
		if w == nil {
			continue
		}
		h := hs[e]
		if en := w.tab[home(h, uint64(len(w.tab)-1))]; en != 0 && en>>32 == h>>32 {
			if j := (uint64(uint32(en)) - 1) * S; j+1 < uint64(len(w.rec)) {
				x += w.rec[j+1]
				cand[e] = int32(uint32(en)) - 1
			}
		}
	}
	for e, w := range ws {
		if r := cand[e]; r >= 0 {
			if off := w.keyOff(r, o.stride); off < uint32(len(w.arena)) {
				x += uint64(w.arena[off])
			}
		}
	}
	o.hashes, o.cands, o.sink = hs, cand, x
}

// hotMiss is the group cache's slow path: the entries after the key's
// home, then the full lookup, whose record it caches.
func (o *Op) hotMiss(w *store, h uint64, key []byte, p int32, w0, w1 uint64) int32 {
	r, e := o.hot.find(h, w0, w1, len(key))
	if r < 0 {
		r = o.lookup(w, h, key, p)
		o.hot.put(e, w0, w1, len(key), r)
	}
	return r
}

// lookup returns the record of partition p in the group of window w with
// key k and hash h, creating the group or the partial, and marks it
// changed by the batch.
func (o *Op) lookup(w *store, h uint64, k []byte, p int32) int32 {
	S := o.stride
	m := w.find(h, k, S)
	if m < 0 {
		m = w.insert(h, k, p, o.tmpl)
	}
	r := m
	if w.part(m, S) != p {
		r = o.partial(w, m, p)
	}
	if w.stamp(r, S) != o.seq {
		o.touch(w, m, r)
	}
	return r
}

// partial returns the record of partition p in the group of main row m
// (whose partition is not p), adding it to the chain in partition order.
func (o *Op) partial(w *store, m int32, p int32) int32 {
	S := o.stride
	prev, x := m, w.next(m, S)
	for x >= 0 && w.part(x, S) < p {
		prev, x = x, w.next(x, S)
	}
	if x >= 0 && w.part(x, S) == p {
		return x
	}
	r := w.newRow(o.tmpl, p, w.keyOff(m, S))
	w.rec[int(r)*S] |= partialFlag
	w.setNext(r, S, x)
	w.setNext(prev, S, r)
	return r
}

// touch records that the batch changes record r of group m: the first
// time, it counts the row as updated and lists the group as touched (for
// Update mode) and dirty (for the changelog) unless it already is.
func (o *Op) touch(w *store, m, r int32) {
	S := o.stride
	o.stats.NumRowsUpdated++
	prev := uint32(0)
	for x := m; x >= 0; x = w.next(x, S) {
		prev = max(prev, w.stamp(x, S))
	}
	if prev < o.seq {
		w.touched = append(w.touched, m)
	}
	if prev <= o.clSeq {
		w.dirty = append(w.dirty, m)
	}
	w.setStamp(r, S, o.seq)
}

// foldCounters counts the entries of the fold list into counters cs.
func (o *Op) foldCounters(b *types.Batch, cs []counter, st *store, src, dst []int32) {
	S := o.stride
	rec := st.rec
	for _, c := range cs {
		if c.col < 0 {
			for _, d := range dst {
				rec[int(d)*S+c.slot]++
			}
			continue
		}
		null := b.Cols[c.col].Null
		for e, i := range src {
			if null == nil || !null[i] {
				rec[int(dst[e])*S+c.slot]++
			}
		}
	}
}

// observe records an event time in the batch statistics and the
// watermark's maximum (Spark takes it before the late filter).
func (o *Op) observe(t int64) {
	st := &o.stats
	if !o.haveEventTim {
		o.haveEventTim = true
		o.tsBase = t
		st.EventTimeMin, st.EventTimeMax = t, t
	} else {
		st.EventTimeMin = min(st.EventTimeMin, t)
		st.EventTimeMax = max(st.EventTimeMax, t)
	}
	o.tsSum += t - o.tsBase
	o.nTs++
	o.maxSeen = max(o.maxSeen, t)
}

// observeAll is observe of every time of ts, which are not null.
func (o *Op) observeAll(ts []int64) {
	if len(ts) == 0 {
		return
	}
	if !o.haveEventTim {
		o.observe(ts[0])
		ts = ts[1:]
	}
	st := &o.stats
	lo, hi, sum, base := st.EventTimeMin, st.EventTimeMax, int64(0), o.tsBase
	for _, t := range ts {
		lo = min(lo, t)
		hi = max(hi, t)
		sum += t - base
	}
	st.EventTimeMin, st.EventTimeMax = lo, hi
	o.tsSum += sum
	o.nTs += int64(len(ts))
	o.maxSeen = max(o.maxSeen, hi)
}

// window returns the store of the window starting at start, creating it.
func (o *Op) window(pass int, start int64) *store {
	if w := o.lastW[pass]; w != nil && w.start == start {
		return w
	}
	i, ok := slices.BinarySearchFunc(o.wins, start, func(w *store, s int64) int { return cmp.Compare(w.start, s) })
	var w *store
	if ok {
		w = o.wins[i]
	} else {
		if n := len(o.free); n > 0 {
			w = o.free[n-1]
			o.free = o.free[:n-1]
		} else {
			w = &store{}
		}
		o.presize(w)
		w.start = start
		o.wins = slices.Insert(o.wins, i, w)
	}
	o.lastW[pass] = w
	return w
}

// presize gives the empty store w room for as many groups, records and
// key bytes as the largest window in state holds, and a sixteenth more:
// windows of a steady stream are alike, not equal, and a store that
// starts at its final size neither copies its records nor rehashes its
// table while it fills (one record past its room would copy them all).
func (o *Op) presize(w *store) {
	var n, grp, keys int
	for _, x := range o.wins {
		n, grp, keys = max(n, int(x.n)), max(grp, int(x.nGrp)), max(keys, len(x.arena))
	}
	if n == 0 {
		return
	}
	n, grp, keys = n+n/16, grp+grp/16, keys+keys/16
	w.rec = slices.Grow(w.rec[:0], n*o.stride)
	w.arena = slices.Grow(w.arena[:0], keys)
	if t := tableSize(grp); len(w.tab) < t {
		if cap(w.tab) >= t {
			w.tab = w.tab[:t]
			clear(w.tab)
		} else {
			w.tab = make([]uint64, t)
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Finish ends the micro-batch: it emits the rows of the output mode
// (Append: the windows the watermark closed; Update: the groups the batch
// changed; Complete: every group), sorted by (window_start, keys); evicts
// the closed windows (not in Complete mode); and computes the next
// watermark, which it applies to the next batch. After an error (see Err)
// it returns an empty batch.
func (o *Op) Finish() (*types.Batch, Stats) {
	if o.cfg.Mode == Update {
		_, upd, st := o.finishModes(false, true)
		return upd, st
	}
	app, _, st := o.finishModes(true, false)
	return app, st
}

// FinishShared is Finish for an operator several queries share (Shareable
// says which): it returns both the Append rows (the windows the watermark
// closed) and the Update rows (the groups the batch changed) of one state,
// each exactly what an operator of that mode alone would emit, and evicts
// the closed windows once.
func (o *Op) FinishShared() (app, upd *types.Batch, st Stats) {
	return o.finishModes(true, true)
}

func (o *Op) finishModes(wantApp, wantUpd bool) (app, upd *types.Batch, st Stats) {
	o.hot.invalidate()
	if wantApp {
		app = types.NewBatch(o.out, 0)
	}
	if wantUpd {
		upd = types.NewBatch(o.out, 0)
	}
	if o.err == nil {
		if err := o.finish(app, upd); err != nil {
			o.err = fmt.Errorf("aggregation: %w", err)
			if wantApp {
				app = types.NewBatch(o.out, 0)
			}
			if wantUpd {
				upd = types.NewBatch(o.out, 0)
			}
		}
	}
	st = o.stats
	if o.haveEventTim {
		st.EventTimeAvg = o.tsBase + floorDiv(o.tsSum, o.nTs)
	}
	next := o.wm
	if o.cfg.HasWatermark && !o.held && o.maxSeen != noEventTime && o.maxSeen >= math.MinInt64+o.cfg.Delay {
		next = max(o.wm, o.maxSeen-o.cfg.Delay)
	}
	st.NextWatermark = next
	if next > o.wm && o.cfg.Mode != Complete && o.cfg.HasWatermark {
		st.NeedsNoDataBatch = o.nextClose(next) <= next
	}
	st.NumRowsTotal = o.rowsTotal()
	st.MemoryUsedBytes = o.memoryBytes()
	o.wm = next
	o.stats, o.tsBase, o.tsSum, o.nTs, o.haveEventTim = Stats{}, 0, 0, 0, false
	o.seq++
	if o.seq >= maxSeq {
		o.resetStamps()
	}
	return app, upd, st
}

// finish emits into app the rows of Append (or Complete) mode and into upd
// those of Update mode; either may be nil.
func (o *Op) finish(app, upd *types.Batch) error {
	if o.sess != nil {
		if app == nil {
			app = upd
		}
		app.N = 0
		return o.finishSessions(app)
	}
	closes := o.cfg.HasWatermark && o.size > 0
	nClosed, nApp, nUpd := 0, 0, 0
	for _, w := range o.wins {
		closed := closes && w.start <= o.wm-o.size
		if closed {
			nClosed++
		}
		if upd != nil {
			nUpd += len(w.touched)
		}
		if app != nil && (closed || o.cfg.Mode == Complete) {
			nApp += int(w.nGrp)
		}
	}
	if app != nil {
		app.N = 0
		reserve(app, nApp)
	}
	if upd != nil {
		upd.N = 0
		reserve(upd, nUpd)
	}
	if app != nil && upd != nil && o.cfg.Mode != Complete && nApp >= parallelEmit && nUpd >= parallelEmit {
		// The append rows (the closed windows) and the update rows (the
		// groups the batch changed) only read the state: each is built on
		// its own goroutine with its own scratch.
		if o.scUpd == nil {
			o.scUpd = &scratch{acc: &store{}}
		}
		var errUpd, errApp error
		iUpd, iApp := len(o.wins), len(o.wins)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i, w := range o.wins {
				if errUpd = o.emitStore(o.scUpd, upd, w, false, w.touched); errUpd != nil {
					iUpd = i
					return
				}
			}
		})
		for i, w := range o.wins[:nClosed] {
			if errApp = o.emitStore(&o.sc, app, w, true, nil); errApp != nil {
				iApp = i
				break
			}
		}
		wg.Wait()
		for _, w := range o.wins {
			w.touched = w.touched[:0]
		}
		// The error the one-goroutine order meets first.
		if errApp != nil && iApp <= iUpd {
			return errApp
		}
		if errUpd != nil {
			return errUpd
		}
	} else {
		for i, w := range o.wins {
			var err error
			switch {
			case app == nil:
			case o.cfg.Mode == Complete:
				err = o.emitComplete(app, w)
			case i < nClosed:
				err = o.emitStore(&o.sc, app, w, true, nil)
			}
			if err == nil && upd != nil {
				err = o.emitStore(&o.sc, upd, w, false, w.touched)
			}
			if err != nil {
				return err
			}
			w.touched = w.touched[:0]
		}
	}
	if o.cfg.Mode != Complete && nClosed > 0 {
		for _, w := range o.wins[:nClosed] {
			o.stats.NumRowsRemoved += int64(w.n)
			o.removedWins = append(o.removedWins, w.start)
			w.reset()
			if len(o.free) < maxFree {
				o.free = append(o.free, w)
			}
		}
		o.wins = slices.Delete(o.wins, 0, nClosed)
		clear(o.lastW)
	}
	return nil
}

// parallelEmit is the number of append and of update rows from which
// Finish builds the two on two goroutines (a variable for the tests).
var parallelEmit = 4096

// reserve gives every column of the empty batch out room for n rows, so
// that the rows are appended without growing the vectors.
func reserve(out *types.Batch, n int) {
	if n <= 0 || out.N != 0 {
		return
	}
	for i, f := range out.Schema {
		out.Cols[i] = types.NewVector(f.Type, n)
	}
}

// emitStore appends to out the groups of w, sorted by key: all of them, or
// those in rows (main row indices).
func (o *Op) emitStore(sc *scratch, out *types.Batch, w *store, all bool, rows []int32) error {
	S := o.stride
	refs := sc.refs[:0]
	if all {
		refs = slices.Grow(refs, int(w.nGrp))
		for r := int32(0); r < w.n; r++ {
			if w.isMain(r, S) {
				refs = append(refs, keyRef{k: w.key(r, S), r: r})
			}
		}
	} else {
		for _, r := range rows {
			refs = append(refs, keyRef{k: w.key(r, S), r: r})
		}
	}
	sc.sortKeys(refs)
	err := o.mergeGroups(sc, w, refs)
	if err == nil {
		c := 0
		if o.size > 0 {
			appendConst(out.Cols[0], w.start, len(refs))
			appendConst(out.Cols[1], w.start+o.size, len(refs))
			c = 2
		}
		err = o.emitRows(sc, out, c, w, refs)
		if err != nil {
			err = fmt.Errorf("window %d: %w", w.start, err)
		}
	}
	clear(refs)
	sc.refs = refs[:0]
	return err
}

// appendConst appends n copies of x to the integer vector v.
func appendConst(v *types.Vector, x int64, n int) {
	for range n {
		v.AppendInt(x)
	}
}

// sortRefs sorts groups by key bytes: the SQL order of the keys.
func sortRefs(refs []keyRef) {
	slices.SortFunc(refs, cmpRefs)
}

func cmpRefs(a, b keyRef) int { return bytes.Compare(a.k, b.k) }

// scratch is the memory emitting groups reuses from batch to batch:
// sortKeys' radix buffers, the refs being emitted, a group's partitions
// and the record its partials merge into. Finish emits the append and the
// update rows of a shared aggregation side by side, each with its own.
type scratch struct {
	acc             *store // one record: a group's partials merged
	radixA, radixB  []prefixRef
	radixRefs, refs []keyRef
	parts           []int32
}

// radixMin is the number of refs from which sortKeys radix-sorts.
const radixMin = 1024

// prefixRef is a key's first 8 bytes (big-endian, zero-padded: such
// prefixes order as the bytes do) and its ref's index.
type prefixRef struct {
	p uint64
	i int32
}

// sortKeys is sortRefs for many refs: an LSD radix sort of the keys' 8-byte
// prefixes (passes over bytes all prefixes share skipped), then a
// comparison sort of each run of equal prefixes. It reads each key once,
// where a comparison sort reads two per comparison: at a million keys,
// cache misses each. Keys are distinct (a store's groups).
func (o *Op) sortKeys(refs []keyRef) { o.sc.sortKeys(refs) }

func (sc *scratch) sortKeys(refs []keyRef) {
	if len(refs) < radixMin {
		sortRefs(refs)
		return
	}
	n := len(refs)
	a := slices.Grow(sc.radixA[:0], n)[:n]
	b := slices.Grow(sc.radixB[:0], n)[:n]
	var and, or uint64 = ^uint64(0), 0
	for i := range refs {
		var buf [8]byte
		copy(buf[:], refs[i].k)
		p := binary.BigEndian.Uint64(buf[:])
		a[i] = prefixRef{p: p, i: int32(i)}
		and &= p
		or |= p
	}
	varying := and ^ or // the bits that differ somewhere
	for shift := uint(0); shift < 64; shift += 8 {
		if (varying>>shift)&0xff == 0 {
			continue
		}
		var count [257]int
		for _, x := range a {
			count[(x.p>>shift)&0xff+1]++
		}
		for d := 1; d < 257; d++ {
			count[d] += count[d-1]
		}
		for _, x := range a {
			d := (x.p >> shift) & 0xff
			b[count[d]] = x
			count[d]++
		}
		a, b = b, a
	}
	sorted := slices.Grow(sc.radixRefs[:0], n)[:n]
	for j, x := range a {
		sorted[j] = refs[x.i]
	}
	// Equal prefixes: the bytes after them decide.
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && a[hi].p == a[lo].p {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(sorted[lo:hi], cmpRefs)
		}
		lo = hi
	}
	copy(refs, sorted)
	clear(sorted)
	sc.radixA, sc.radixB, sc.radixRefs = a[:0], b[:0], sorted[:0]
}

// mergeGroups merges, for each group of refs (main rows of w) that has
// partials of several partitions, its partials in ascending partition
// order into a record of o.sc.acc, and points the group's ref at it (^index).
func (o *Op) mergeGroups(sc *scratch, w *store, refs []keyRef) error {
	S := o.stride
	acc := sc.acc
	acc.reset()
	for k := range refs {
		m := refs[k].r
		if w.next(m, S) < 0 {
			continue
		}
		parts := sc.parts[:0]
		for x := m; x >= 0; x = w.next(x, S) {
			parts = append(parts, x)
		}
		sc.parts = parts
		slices.SortFunc(parts, func(a, b int32) int { return cmp.Compare(w.part(a, S), w.part(b, S)) })
		j := acc.newRow(o.tmpl, 0, 0)
		for _, x := range parts {
			if err := o.mergeRec(acc, int(j), w, int(x)); err != nil {
				return err
			}
		}
		refs[k].r = ^j
	}
	return nil
}

// stringKey reports whether the key is one NOT NULL STRING column, whose
// encoding is the string itself.
func (o *Op) stringKey() bool {
	return len(o.keys.cols) == 1 && o.keys.cols[0].t.Kind == types.String && !o.keys.cols[0].nullable
}

// emitRows appends to out, from column c on, the keys and aggregates of
// the groups refs: each a record of src, or (^r) of o.sc.acc.
func (o *Op) emitRows(sc *scratch, out *types.Batch, c int, src *store, refs []keyRef) error {
	if err := o.emitKeys(out, c, refs); err != nil {
		return err
	}
	if err := o.emitAggs(sc, out, c+len(o.cfg.Keys), src, refs); err != nil {
		return err
	}
	out.N += len(refs)
	return nil
}

// emitKeys appends the keys of refs to out's key columns, from column c on.
func (o *Op) emitKeys(out *types.Batch, c int, refs []keyRef) error {
	nk := len(o.cfg.Keys)
	if o.stringKey() {
		// The encoding is the string: every key of the batch in one
		// allocation.
		n := 0
		for _, kr := range refs {
			n += len(kr.k)
		}
		buf := make([]byte, 0, n)
		for _, kr := range refs {
			buf = append(buf, kr.k...)
		}
		all := unsafe.String(unsafe.SliceData(buf), len(buf))
		v := out.Cols[c]
		off := 0
		for _, kr := range refs {
			v.AppendString(all[off : off+len(kr.k)])
			off += len(kr.k)
		}
	} else if nk > 0 {
		for _, kr := range refs {
			if err := o.keys.decode(kr.k, out.Cols[c:c+nk]); err != nil {
				return err
			}
		}
	}
	return nil
}

// emitAggs appends the aggregates of refs (records of src, or (^r) of
// sc.acc) to out's aggregate columns, from column c on.
func (o *Op) emitAggs(sc *scratch, out *types.Batch, c int, src *store, refs []keyRef) error {
	for i := range o.aggs {
		if err := o.aggs[i].emitCol(src, sc.acc, refs, o.stride, out.Cols[c+i]); err != nil {
			return err
		}
	}
	return nil
}

// mergeRec merges record sr of src into record dr of dst.
func (o *Op) mergeRec(dst *store, dr int, src *store, sr int) error {
	for i := range o.aggs {
		if err := o.aggs[i].merge(dst, dr, src, sr, o.stride); err != nil {
			return err
		}
	}
	for _, c := range o.counters {
		dst.rec[dr*o.stride+c.slot] += src.rec[sr*o.stride+c.slot]
	}
	return nil
}

// nextClose is the least window end in state (math.MaxInt64 if none), or
// for sessions some end > limit when none ends at or before limit.
func (o *Op) nextClose(limit int64) int64 {
	if o.sess != nil {
		return o.sess.minEnd(o, limit)
	}
	if o.size == 0 || len(o.wins) == 0 {
		return math.MaxInt64
	}
	return o.wins[0].start + o.size
}

func (o *Op) rowsTotal() int64 {
	if o.sess != nil {
		return int64(o.sess.live)
	}
	var n int64
	for _, w := range o.wins {
		n += int64(w.n)
	}
	return n
}

// resetStamps restarts batch numbering when stamps would overflow.
func (o *Op) resetStamps() {
	each := func(w *store) {
		for r := 0; r < int(w.n); r++ {
			w.rec[r*o.stride] &= partialFlag | 0xFFFFFFFF
		}
	}
	for _, w := range o.wins {
		each(w)
	}
	if o.sess != nil {
		each(&o.sess.st)
		clear(o.sess.keyStamp)
	}
	o.seq, o.clSeq = 1, 0
}

// memoryBytes estimates the heap the state holds.
func (o *Op) memoryBytes() int64 {
	n := int64(cap(o.wins)+cap(o.free)) * 8
	size := func(w *store) int64 {
		b := int64(unsafe.Sizeof(*w)) + w.shown.bytes() + int64(cap(w.rec))*8 + int64(cap(w.arena)) + int64(cap(w.tab))*8 +
			int64(cap(w.strs))*16 + int64(len(w.hll))*(hllPage*hllM+24) + int64(cap(w.sets))*8 +
			int64(cap(w.touched)+cap(w.dirty))*4
		for _, s := range w.strs {
			b += int64(len(s))
		}
		for _, m := range w.sets {
			b += 48
			for k := range m {
				b += int64(len(k)) + 24 // key header, bytes, bucket share
			}
		}
		return b
	}
	for _, w := range o.wins {
		n += size(w)
	}
	for _, w := range o.free {
		n += size(w)
	}
	if o.sess != nil {
		n += o.sess.bytes(size)
	}
	return n
}

func newScratchVectors(fs types.Schema) []*types.Vector {
	vs := make([]*types.Vector, len(fs))
	for i, f := range fs {
		vs[i] = types.NewVector(f.Type, 1)
	}
	return vs
}
