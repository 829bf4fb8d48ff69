package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Snapshot errors, matched with errors.Is.
var (
	// ErrCorruptSnapshot: the bytes are not an intact engine snapshot
	// (wrong magic, bad checksum, truncated, or inconsistent content).
	ErrCorruptSnapshot = errors.New("engine: corrupt snapshot")
	// ErrSnapshotVersion: the snapshot has a format version this engine does not read.
	ErrSnapshotVersion = errors.New("engine: unsupported snapshot version")
	// ErrSnapshotConfig: the snapshot was taken with another window configuration.
	ErrSnapshotConfig = errors.New("engine: snapshot taken with another configuration")
)

// Snapshot format, version 2. Integers are little-endian; uv is an unsigned
// varint; floats are their IEEE-754 bits.
//
//	magic "SLENGINE" | version u16 | window kind u8 (1 tumbling, 2 sliding, 3 session)
//	flags u8 (1 dedup, 2 retain all)
//	window ms i64 | slide ms i64 | session gap ms i64 | watermark delay ms i64 | silence timeout ms i64
//	watermark i64 | max event time i64
//	sensors uv, then each: len uv, bytes        (the ids in state, ascending)
//	partitions uv, then each (ascending id): id i32, then
//	  tumbling and sliding: windows uv, then each (ascending start):
//	        start i64 | rows uv, then each (ascending sensor):
//	            sensor uv (index in the ids above) | count uv | ok uv
//	            sum_temp f64 | sum_hum f64 | min_temp f64 | max_temp f64
//	  session: sessions uv, then each (ascending sensor, then first):
//	        sensor uv | first i64 | last i64 | count uv | ok uv | the four f64 as above
//	dedup keys: sensors uv, then each (ascending): sensor uv | keys uv | first ts i64 | later ts as uv deltas
//	timeouts: sensors uv, then each (ascending): sensor uv | last event time i64 | silent u8
//	crc32-c u32 of every byte above
//
// Every list is sorted, so the same state always gives the same bytes. The
// header records the whole configuration: Restore refuses a snapshot of
// another shape. Version 1 (tumbling windows only: kind | window | delay,
// then the state up to the partitions) still loads into an engine with the
// same tumbling window and delay and no dedup, timeout or retain-all.
const (
	snapshotMagic   = "SLENGINE"
	snapshotVersion = 2
	headerLenV1     = len(snapshotMagic) + 2 + 1 + 4*8
	headerLen       = len(snapshotMagic) + 2 + 2 + 7*8
	crcLen          = 4

	flagDedup     = 1
	flagRetainAll = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the state (windows or sessions, dedup keys, timeouts,
// watermark, max event time) to w. Take it between batches; it writes the
// same bytes for the same state.
func (e *Engine) Snapshot(w io.Writer) error {
	// Dictionary: the sensor ids present in state, sorted.
	dict := make([]int32, len(e.names)) // sensor number -> index in ids + 1
	e.forEachRow(func(r *row) { dict[r.sensor] = 1 })
	for _, p := range e.parts {
		for s, ss := range p.sess {
			if len(ss) > 0 {
				dict[s] = 1
			}
		}
	}
	for s, d := range e.dedup {
		if len(d) > 0 {
			dict[s] = 1
		}
	}
	for s, t := range e.tmo {
		if t.last != noEventTime {
			dict[s] = 1
		}
	}
	var used []int32
	for s, u := range dict {
		if u != 0 {
			used = append(used, int32(s))
		}
	}
	slices.SortFunc(used, func(a, b int32) int { return strings.Compare(e.names[a], e.names[b]) })
	for i, s := range used {
		dict[s] = int32(i) + 1
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	enc := encoder{w: bw, crc: crc32.New(crcTable)}
	enc.buf = append(enc.buf, snapshotMagic...)
	enc.buf = binary.LittleEndian.AppendUint16(enc.buf, snapshotVersion)
	enc.buf = append(enc.buf, e.kind, e.flags())
	enc.i64(e.winMs)
	enc.i64(e.slideMs)
	enc.i64(e.gapMs)
	enc.i64(e.delayMs)
	enc.i64(e.timeoutMs)
	enc.i64(e.wm)
	enc.i64(e.maxSeen)
	enc.uv(uint64(len(used)))
	for _, s := range used {
		enc.uv(uint64(len(e.names[s])))
		enc.buf = append(enc.buf, e.names[s]...)
		enc.flushIfFull()
	}
	enc.uv(uint64(len(e.parts)))
	var order []int
	for _, p := range e.parts {
		enc.buf = binary.LittleEndian.AppendUint32(enc.buf, uint32(p.id))
		if e.kind == kindSession {
			n := 0
			for _, ss := range p.sess {
				n += len(ss)
			}
			enc.uv(uint64(n))
			for _, s := range used {
				if int(s) >= len(p.sess) {
					continue
				}
				for i := range p.sess[s] {
					x := &p.sess[s][i]
					enc.uv(uint64(dict[s] - 1))
					enc.i64(x.first)
					enc.i64(x.last)
					enc.agg(&x.agg)
					enc.flushIfFull()
				}
			}
			continue
		}
		enc.uv(uint64(len(p.wins)))
		for _, win := range p.wins {
			enc.i64(win.start)
			enc.uv(uint64(len(win.rows)))
			order = order[:0]
			for i := range win.rows {
				order = append(order, i)
			}
			slices.SortFunc(order, func(a, b int) int {
				return cmpInt(dict[win.rows[a].sensor], dict[win.rows[b].sensor])
			})
			for _, i := range order {
				r := &win.rows[i]
				enc.uv(uint64(dict[r.sensor] - 1))
				enc.agg(&r.agg)
				enc.flushIfFull()
			}
		}
	}
	n := 0
	for _, s := range used {
		if int(s) < len(e.dedup) && len(e.dedup[s]) > 0 {
			n++
		}
	}
	enc.uv(uint64(n))
	for _, s := range used {
		if int(s) >= len(e.dedup) || len(e.dedup[s]) == 0 {
			continue
		}
		d := e.dedup[s]
		enc.uv(uint64(dict[s] - 1))
		enc.uv(uint64(len(d)))
		enc.i64(d[0])
		for i := 1; i < len(d); i++ {
			enc.uv(uint64(d[i] - d[i-1]))
			enc.flushIfFull()
		}
	}
	n = 0
	for _, s := range used {
		if int(s) < len(e.tmo) && e.tmo[s].last != noEventTime {
			n++
		}
	}
	enc.uv(uint64(n))
	for _, s := range used {
		if int(s) >= len(e.tmo) || e.tmo[s].last == noEventTime {
			continue
		}
		t := e.tmo[s]
		enc.uv(uint64(dict[s] - 1))
		enc.i64(t.last)
		if t.silent {
			enc.buf = append(enc.buf, 1)
		} else {
			enc.buf = append(enc.buf, 0)
		}
		enc.flushIfFull()
	}
	enc.flush()
	if enc.err == nil {
		_, enc.err = bw.Write(binary.LittleEndian.AppendUint32(nil, enc.crc.Sum32()))
	}
	if enc.err == nil {
		enc.err = bw.Flush()
	}
	if enc.err != nil {
		return fmt.Errorf("engine: write snapshot: %w", enc.err)
	}
	return nil
}

func (e *Engine) flags() byte {
	var f byte
	if e.cfg.Dedup {
		f |= flagDedup
	}
	if e.cfg.RetainAll {
		f |= flagRetainAll
	}
	return f
}

// encoder appends to buf and flushes it to w and the checksum in chunks.
type encoder struct {
	w   io.Writer
	crc hash.Hash32
	buf []byte
	err error
}

func (c *encoder) i64(v int64) { c.buf = binary.LittleEndian.AppendUint64(c.buf, uint64(v)) }
func (c *encoder) f64(v float64) {
	c.buf = binary.LittleEndian.AppendUint64(c.buf, math.Float64bits(v))
}
func (c *encoder) uv(v uint64) { c.buf = binary.AppendUvarint(c.buf, v) }

// agg writes count uv | ok uv | sum_temp | sum_hum | min_temp | max_temp.
func (c *encoder) agg(a *agg) {
	c.uv(uint64(a.count))
	c.uv(uint64(a.ok))
	c.f64(a.sumT)
	c.f64(a.sumH)
	c.f64(a.minT)
	c.f64(a.maxT)
}

func (c *encoder) flushIfFull() {
	if len(c.buf) >= 32<<10 {
		c.flush()
	}
}

func (c *encoder) flush() {
	if c.err == nil {
		c.crc.Write(c.buf) // a hash never fails
		_, c.err = c.w.Write(c.buf)
	}
	c.buf = c.buf[:0]
}

// Restore reads a snapshot written by Snapshot into a new engine configured
// with cfg. It rejects a corrupt or truncated snapshot (ErrCorruptSnapshot),
// an unknown format version (ErrSnapshotVersion) and a snapshot of another
// configuration (ErrSnapshotConfig), saying what differs. The restored
// engine's watermark is the snapshot's; its next batch starts with
// StartBatch.
func Restore(cfg Config, r io.Reader) (*Engine, error) {
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("engine: read snapshot: %w", err)
	}
	if len(data) < len(snapshotMagic) || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: does not start with %q", ErrCorruptSnapshot, snapshotMagic)
	}
	if len(data) < headerLenV1+crcLen {
		return nil, fmt.Errorf("%w: truncated: %d bytes, a header and checksum need %d", ErrCorruptSnapshot, len(data), headerLenV1+crcLen)
	}
	body, sum := data[:len(data)-crcLen], binary.LittleEndian.Uint32(data[len(data)-crcLen:])
	if got := crc32.Checksum(body, crcTable); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, trailer says %08x (truncated or damaged)", ErrCorruptSnapshot, got, sum)
	}
	d := decoder{b: body[len(snapshotMagic):]}
	var shape Config
	version := binary.LittleEndian.Uint16(d.take(2))
	switch version {
	case 1:
		kind := d.take(1)[0]
		winMs, delayMs := d.i64(), d.i64()
		if kind != kindTumbling {
			return nil, fmt.Errorf("%w: version 1 snapshot of window kind %d", ErrCorruptSnapshot, kind)
		}
		if !durationsMs(winMs, delayMs) {
			return nil, fmt.Errorf("%w: window %d ms, delay %d ms", ErrCorruptSnapshot, winMs, delayMs)
		}
		shape = Config{Window: ms(winMs), Watermark: ms(delayMs)}
	case snapshotVersion:
		if len(data) < headerLen+crcLen {
			return nil, fmt.Errorf("%w: truncated: %d bytes, a header and checksum need %d", ErrCorruptSnapshot, len(data), headerLen+crcLen)
		}
		kind, flags := d.take(1)[0], d.take(1)[0]
		winMs, slideMs, gapMs, delayMs, timeoutMs := d.i64(), d.i64(), d.i64(), d.i64(), d.i64()
		if flags&^(flagDedup|flagRetainAll) != 0 {
			return nil, fmt.Errorf("%w: unknown flags %#x", ErrCorruptSnapshot, flags)
		}
		if !durationsMs(winMs, slideMs, gapMs, delayMs, timeoutMs) {
			return nil, fmt.Errorf("%w: window %d ms, slide %d ms, gap %d ms, delay %d ms, timeout %d ms",
				ErrCorruptSnapshot, winMs, slideMs, gapMs, delayMs, timeoutMs)
		}
		shape = Config{Watermark: ms(delayMs), SilenceTimeout: ms(timeoutMs),
			Dedup: flags&flagDedup != 0, RetainAll: flags&flagRetainAll != 0}
		switch kind {
		case kindTumbling:
			shape.Window = ms(winMs)
		case kindSliding:
			shape.Window, shape.Slide = ms(winMs), ms(slideMs)
		case kindSession:
			shape.SessionGap = ms(gapMs)
		default:
			return nil, fmt.Errorf("%w: unknown window kind %d", ErrCorruptSnapshot, kind)
		}
		// Snapshot writes a kind's unused lengths as the engine holds them:
		// the slide of tumbling windows is the window, a session has neither.
		if shape.kind() != kind || (kind == kindTumbling && slideMs != winMs) || (kind != kindSession && gapMs != 0) ||
			(kind == kindSession && (winMs != 0 || slideMs != 0)) {
			return nil, fmt.Errorf("%w: window kind %d with window %d ms, slide %d ms, gap %d ms", ErrCorruptSnapshot, kind, winMs, slideMs, gapMs)
		}
	default:
		return nil, fmt.Errorf("%w: version %d, this engine reads 1 and %d", ErrSnapshotVersion, version, snapshotVersion)
	}
	if !sameShape(shape, cfg) {
		return nil, fmt.Errorf("%w: snapshot has %v, engine has %v", ErrSnapshotConfig, shape, cfg)
	}
	if err := e.decodeState(&d, version == 1); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	e.emittedWm = e.wm
	return e, nil
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// durationsMs reports whether every v is a length Snapshot can have written:
// >= 0, and small enough for ms. A larger one would wrap, and could wrap to
// the engine's own (10000 + 2^58 ms is 10 s).
func durationsMs(vs ...int64) bool {
	for _, v := range vs {
		if v < 0 || v > math.MaxInt64/int64(time.Millisecond) {
			return false
		}
	}
	return true
}

// sameShape reports whether a snapshot of configuration a can continue in an
// engine of configuration b: the same windows, delay, dedup, timeout and
// retain-all (a slide equal to the window is tumbling, as is 0).
func sameShape(a, b Config) bool {
	norm := func(c Config) Config {
		if c.kind() == kindTumbling {
			c.Slide = 0
		}
		return c
	}
	return norm(a) == norm(b)
}

// decodeState reads everything after the configuration into e, checking
// every invariant the engine relies on. A version 1 snapshot ends after the
// partitions.
func (e *Engine) decodeState(d *decoder, v1 bool) error {
	e.wm, e.maxSeen = d.i64(), d.i64()
	if d.err == nil && e.wm < 0 {
		return fmt.Errorf("negative watermark %d", e.wm)
	}
	nSensors := d.count(1)
	for i := range nSensors {
		id := string(d.take(d.count(1)))
		if d.err != nil {
			return d.err
		}
		if i > 0 && id <= e.names[i-1] {
			return fmt.Errorf("sensor ids not strictly ascending at %d", i)
		}
		e.intern(id)
	}
	sensor := func(what string, prev int) (int32, error) {
		s := d.uv()
		if d.err != nil {
			return 0, d.err
		}
		if s >= uint64(nSensors) || int(s) < prev {
			return 0, fmt.Errorf("%s: bad or unsorted sensor index %d", what, s)
		}
		return int32(s), nil
	}
	readAgg := func(what string) (agg, error) {
		count, ok := d.uv(), d.uv()
		sumT, sumH, minT, maxT := d.f64(), d.f64(), d.f64(), d.f64()
		switch {
		case d.err != nil:
			return agg{}, d.err
		case count == 0 || count > math.MaxInt64 || ok > count:
			return agg{}, fmt.Errorf("%s: bad counts %d/%d", what, ok, count)
		case !(minT <= maxT):
			return agg{}, fmt.Errorf("%s: min_temp %v > max_temp %v", what, minT, maxT)
		}
		return agg{count: int64(count), ok: int64(ok), sumT: sumT, sumH: sumH, minT: minT, maxT: maxT}, nil
	}
	nParts := d.count(5)
	for i := range nParts {
		id := int32(binary.LittleEndian.Uint32(d.take(4)))
		if d.err != nil {
			return d.err
		}
		if i > 0 && id <= e.parts[i-1].id {
			return fmt.Errorf("partitions not strictly ascending at %d", id)
		}
		p := e.partition(id)
		if e.kind == kindSession {
			prevS, prevLast := -1, int64(0)
			for range d.count(19) {
				s, err := sensor(fmt.Sprintf("partition %d session", id), prevS)
				if err != nil {
					return err
				}
				first, last := d.i64(), d.i64()
				what := fmt.Sprintf("partition %d session %d of sensor %d", id, first, s)
				a, err := readAgg(what)
				switch {
				case err != nil:
					return err
				case first <= 0 || last < first:
					return fmt.Errorf("%s: bad span [%d, %d]", what, first, last)
				case int(s) == prevS && first-prevLast < e.gapMs:
					return fmt.Errorf("%s: overlaps or precedes the session before it", what)
				}
				prevS, prevLast = int(s), last
				if int(s) >= len(p.sess) {
					p.sess = append(p.sess, make([][]session, int(s)+1-len(p.sess))...)
				}
				p.sess[s] = append(p.sess[s], session{agg: a, first: first, last: last})
			}
			continue
		}
		nWins := d.count(9)
		for j := range nWins {
			start := d.i64()
			nRows := d.count(35)
			switch {
			case d.err != nil:
				return d.err
			case j > 0 && start <= p.wins[j-1].start:
				return fmt.Errorf("partition %d: windows not strictly ascending at %d", id, start)
			case windowStart(start, e.slideMs) != start || start <= -e.winMs:
				return fmt.Errorf("partition %d: window start %d is not a window boundary", id, start)
			case start <= e.wm-e.winMs && !e.cfg.RetainAll:
				return fmt.Errorf("partition %d: window %d is closed by watermark %d but still in state", id, start, e.wm)
			case nRows == 0:
				return fmt.Errorf("partition %d: window %d has no rows", id, start)
			}
			w := &window{start: start}
			p.wins = append(p.wins, w)
			prev := -1
			for range nRows {
				s, err := sensor(fmt.Sprintf("partition %d window %d", id, start), prev+1)
				if err != nil {
					return err
				}
				a, err := readAgg(fmt.Sprintf("partition %d window %d", id, start))
				if err != nil {
					return err
				}
				prev = int(s)
				// getOrAdd grows the window's slot table to s+1 (state.go):
				// the counts above are bounded by the input, but a forged
				// snapshot (with a valid checksum) whose many windows each
				// hold only the last of many sensors still costs 4 bytes ×
				// sensors × windows, quadratic in its size. That is the
				// slot layout's cost, which a live engine pays as well.
				w.getOrAdd(s).agg = a
			}
		}
	}
	if !v1 {
		nDedup := d.count(3)
		if nDedup > 0 && !e.cfg.Dedup {
			return fmt.Errorf("%d sensors with dedup keys, but dedup is off", nDedup)
		}
		if nDedup > 0 {
			e.dedup = make([][]int64, nSensors)
		}
		prev := -1
		for range nDedup {
			s, err := sensor("dedup keys", prev+1)
			if err != nil {
				return err
			}
			prev = int(s)
			n := d.count(1)
			keys := make([]int64, 0, n)
			ts := d.i64()
			for k := range n {
				if k > 0 {
					delta := d.uv()
					if delta == 0 || delta > math.MaxInt64 || ts > math.MaxInt64-int64(delta) {
						return fmt.Errorf("dedup keys of sensor %d: not strictly ascending", s)
					}
					ts += int64(delta)
				}
				keys = append(keys, ts)
			}
			switch {
			case d.err != nil:
				return d.err
			case n == 0:
				return fmt.Errorf("dedup keys of sensor %d: empty list", s)
			case keys[0] <= e.wm:
				return fmt.Errorf("dedup key %d of sensor %d is at or below watermark %d", keys[0], s, e.wm)
			}
			e.dedup[s] = keys
			e.nDedup += int64(n)
		}
		nTmo := d.count(10)
		if nTmo > 0 && e.timeoutMs == 0 {
			return fmt.Errorf("%d sensors with silence timeouts, but timeouts are off", nTmo)
		}
		if nTmo > 0 {
			e.tmo = make([]timeout, nSensors)
			for s := range e.tmo {
				e.tmo[s].last = noEventTime
			}
		}
		prev = -1
		for range nTmo {
			s, err := sensor("silence timeouts", prev+1)
			if err != nil {
				return err
			}
			prev = int(s)
			last, silent := d.i64(), d.take(1)[0]
			switch {
			case d.err != nil:
				return d.err
			case last <= 0 || silent > 1:
				return fmt.Errorf("silence timeout of sensor %d: bad entry (last %d, silent %d)", s, last, silent)
			}
			e.tmo[s] = timeout{last: last, silent: silent == 1}
		}
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%d unexpected bytes after the state", len(d.b))
	}
	return nil
}

// decoder reads from b; after the first error every read returns zero values.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		if d.err == nil {
			d.err = errTruncated
		}
		return make([]byte, max(n, 0))
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) i64() int64   { return int64(binary.LittleEndian.Uint64(d.take(8))) }
func (d *decoder) f64() float64 { return math.Float64frombits(binary.LittleEndian.Uint64(d.take(8))) }

func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a list length whose items take at least minItem bytes each,
// so that a damaged length cannot make Restore allocate without bound.
func (d *decoder) count(minItem int) int {
	v := d.uv()
	if d.err == nil && v > uint64(len(d.b)/minItem) {
		d.err = fmt.Errorf("length %d exceeds the remaining %d bytes", v, len(d.b))
		return 0
	}
	return int(v)
}
