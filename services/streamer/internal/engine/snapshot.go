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

// Snapshot format, version 1. Integers are little-endian; uv is an unsigned
// varint; floats are their IEEE-754 bits.
//
//	magic "SLENGINE" | version u16 | window kind u8 (1 = tumbling)
//	window ms i64 | watermark delay ms i64 | watermark i64 | max event time i64
//	sensors uv, then each: len uv, bytes        (the ids in state, ascending)
//	partitions uv, then each (ascending id):
//	    id i32 | windows uv, then each (ascending start):
//	        start i64 | rows uv, then each (ascending sensor):
//	            sensor uv (index in the ids above) | count uv | ok uv
//	            sum_temp f64 | sum_hum f64 | min_temp f64 | max_temp f64
//	crc32-c u32 of every byte above
//
// Every list is sorted, so the same state always gives the same bytes.
const (
	snapshotMagic   = "SLENGINE"
	snapshotVersion = 1
	kindTumbling    = 1
	headerLen       = len(snapshotMagic) + 2 + 1 + 4*8
	crcLen          = 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the state (windows, watermark, max event time) to w. Take
// it between batches; it writes the same bytes for the same state.
func (e *Engine) Snapshot(w io.Writer) error {
	// Dictionary: the sensor ids present in state, sorted.
	dict := make([]int32, len(e.names)) // sensor number -> index in ids + 1
	e.forEachRow(func(r *row) { dict[r.sensor] = 1 })
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
	enc.buf = append(enc.buf, kindTumbling)
	enc.i64(e.winMs)
	enc.i64(e.delayMs)
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
				enc.uv(uint64(r.count))
				enc.uv(uint64(r.ok))
				enc.f64(r.sumT)
				enc.f64(r.sumH)
				enc.f64(r.minT)
				enc.f64(r.maxT)
				enc.flushIfFull()
			}
		}
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
// window configuration (ErrSnapshotConfig), saying what differs. The
// restored engine's watermark is the snapshot's; its next batch starts with
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
	if len(data) < headerLen+crcLen {
		return nil, fmt.Errorf("%w: truncated: %d bytes, a header and checksum need %d", ErrCorruptSnapshot, len(data), headerLen+crcLen)
	}
	body, sum := data[:len(data)-crcLen], binary.LittleEndian.Uint32(data[len(data)-crcLen:])
	if got := crc32.Checksum(body, crcTable); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, trailer says %08x (truncated or damaged)", ErrCorruptSnapshot, got, sum)
	}
	d := decoder{b: body[len(snapshotMagic):]}
	if v := binary.LittleEndian.Uint16(d.take(2)); v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, this engine reads %d", ErrSnapshotVersion, v, snapshotVersion)
	}
	kind := d.take(1)[0]
	winMs, delayMs := d.i64(), d.i64()
	if kind != kindTumbling || winMs != e.winMs || delayMs != e.delayMs {
		return nil, fmt.Errorf("%w: snapshot has %s, engine has %s", ErrSnapshotConfig,
			describe(kind, winMs, delayMs), describe(kindTumbling, e.winMs, e.delayMs))
	}
	if err := e.decodeState(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	return e, nil
}

func describe(kind byte, winMs, delayMs int64) string {
	k := "tumbling"
	if kind != kindTumbling {
		k = fmt.Sprintf("kind %d", kind)
	}
	return fmt.Sprintf("%s window %v with watermark delay %v", k,
		time.Duration(winMs)*time.Millisecond, time.Duration(delayMs)*time.Millisecond)
}

// decodeState reads everything after the configuration into e, checking
// every invariant the engine relies on.
func (e *Engine) decodeState(d *decoder) error {
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
		nWins := d.count(9)
		for j := range nWins {
			start := d.i64()
			nRows := d.count(35)
			switch {
			case d.err != nil:
				return d.err
			case j > 0 && start <= p.wins[j-1].start:
				return fmt.Errorf("partition %d: windows not strictly ascending at %d", id, start)
			case start < 0 || start%e.winMs != 0:
				return fmt.Errorf("partition %d: window start %d is not a window boundary", id, start)
			case start <= e.wm-e.winMs:
				return fmt.Errorf("partition %d: window %d is closed by watermark %d but still in state", id, start, e.wm)
			case nRows == 0:
				return fmt.Errorf("partition %d: window %d has no rows", id, start)
			}
			w := &window{start: start}
			p.wins = append(p.wins, w)
			prev := -1
			for range nRows {
				s := d.uv()
				count, ok := d.uv(), d.uv()
				sumT, sumH, minT, maxT := d.f64(), d.f64(), d.f64(), d.f64()
				switch {
				case d.err != nil:
					return d.err
				case s >= uint64(nSensors) || int(s) <= prev:
					return fmt.Errorf("partition %d window %d: bad or unsorted sensor index %d", id, start, s)
				case count == 0 || count > math.MaxInt64 || ok > count:
					return fmt.Errorf("partition %d window %d: bad counts %d/%d", id, start, ok, count)
				case !(minT <= maxT):
					return fmt.Errorf("partition %d window %d: min_temp %v > max_temp %v", id, start, minT, maxT)
				}
				prev = int(s)
				r := w.getOrAdd(int32(s))
				r.agg = agg{count: int64(count), ok: int64(ok), sumT: sumT, sumH: sumH, minT: minT, maxT: maxT}
			}
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
