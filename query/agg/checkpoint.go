package agg

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/query/types"
)

// Checkpoint errors, matched with errors.Is.
var (
	// ErrCorrupt: the bytes are not an intact snapshot or changelog
	// (wrong magic, bad checksum, truncated or inconsistent content).
	ErrCorrupt = errors.New("corrupt aggregation checkpoint")
	// ErrVersion: a format version this package does not read.
	ErrVersion = errors.New("unsupported aggregation checkpoint version")
	// ErrConfig: written by an operator of another input schema or
	// configuration.
	ErrConfig = errors.New("aggregation checkpoint of another query")
	// ErrSequence: the changelogs do not follow the snapshot one by one.
	ErrSequence = errors.New("aggregation changelogs out of sequence")
)

// Checkpoint formats, version 1. Integers are little-endian; uv is an
// unsigned varint, sv a zigzag varint.
//
//	magic "SLAGGSNP" (snapshot) or "SLAGGCHL" (changelog) | version u16
//	fingerprint u64 (XXH64 of the input schema and configuration)
//	number uv (snapshot: changelogs written before it; changelog: its number, from 1)
//	watermark i64 | max event time i64
//	changelog only: removed windows uv, each start i64; removed session keys uv, each key
//	windows uv, each (ascending start): start i64 | groups uv, each (ascending key): group
//	session keys uv, each (ascending key): key | sessions uv, each (ascending
//	        partition, first): partition sv | first i64 | last i64 | record
//	crc32-c u32 of every byte above
//
//	key:    len uv | bytes (see keyCodec)
//	group:  key | partials uv, each (ascending partition): partition sv | record
//	record: each counter and aggregate slot in order: a word u64, or for
//	        a string: 0, or len+1 uv then bytes; a sketch: 0, or 1 then 512
//	        registers; a set: 0, or count+1 uv then each member (ascending) as key
//
// A snapshot holds the whole state; a changelog the groups changed since the
// previous changelog (whole: every partial), and the windows and keys
// removed. Restore applies a snapshot and then changelogs numbered from the
// snapshot's number + 1, in order. The same state gives the same bytes.
const (
	snapMagic      = "SLAGGSNP"
	changelogMagic = "SLAGGCHL"
	ckptVersion    = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fingerprint identifies the input schema and configuration a checkpoint
// was written with.
func (o *Op) fingerprint() uint64 {
	var b strings.Builder
	for _, f := range o.in {
		fmt.Fprintf(&b, "%s/%v;", f.Type, f.Nullable)
	}
	c := o.cfg
	fmt.Fprintf(&b, "keys=%v w=%d/%d/%d/%d/%d aggs=%v mode=%d wm=%v/%d",
		c.Keys, c.Window.Kind, c.Window.TimeCol, c.Window.Size, c.Window.Slide, c.Window.Gap, c.Aggs, c.Mode, c.HasWatermark, c.Delay)
	return xxh64([]byte(b.String()), 0)
}

// writer builds a checkpoint and its checksum: in buf, flushed to bw in
// pieces, or (bw nil) appended whole to the caller's buf from start on.
type writer struct {
	bw    *bufio.Writer
	buf   []byte
	start int
	crc   uint32
	err   error
}

func (w *writer) flush() {
	if w.bw == nil {
		return
	}
	if w.err == nil && len(w.buf) > 0 {
		w.crc = crc32.Update(w.crc, castagnoli, w.buf)
		_, w.err = w.bw.Write(w.buf)
	}
	w.buf = w.buf[:0]
}
func (w *writer) maybeFlush() {
	if w.bw != nil && len(w.buf) >= 32<<10 {
		w.flush()
	}
}
func (w *writer) u64(v uint64)   { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }
func (w *writer) uv(v uint64)    { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *writer) sv(v int64)     { w.buf = binary.AppendVarint(w.buf, v) }
func (w *writer) bytes(b []byte) { w.uv(uint64(len(b))); w.buf = append(w.buf, b...) }

// startCkpt starts a checkpoint written to out, or appended to b when out
// is nil.
func (o *Op) startCkpt(out io.Writer, b []byte, magic string, number uint64) *writer {
	w := &writer{buf: b, start: len(b)}
	if out != nil {
		w.bw = bufio.NewWriterSize(out, 64<<10)
	}
	w.buf = append(w.buf, magic...)
	w.buf = binary.LittleEndian.AppendUint16(w.buf, ckptVersion)
	w.u64(o.fingerprint())
	w.uv(number)
	w.u64(uint64(o.wm))
	w.u64(uint64(o.maxSeen))
	return w
}

func (w *writer) end() error {
	if w.bw == nil {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, crc32.Checksum(w.buf[w.start:], castagnoli))
		return nil
	}
	w.flush()
	if w.err == nil {
		_, w.err = w.bw.Write(binary.LittleEndian.AppendUint32(nil, w.crc))
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// record writes the slots of record r of st.
func (o *Op) record(w *writer, st *store, r int32) {
	rec := st.rec[int(r)*o.stride:]
	if o.wordsOnly {
		// Every slot a word (counts, sums, numeric extremes: the seed's
		// aggregates): one grow, then the words in place.
		n := len(w.buf)
		w.buf = slices.Grow(w.buf, 8*len(o.slots))[:n+8*len(o.slots)]
		for i, x := range rec[o.meta : o.meta+len(o.slots)] {
			binary.LittleEndian.PutUint64(w.buf[n+8*i:], x)
		}
		w.maybeFlush()
		return
	}
	for i, sl := range o.slots {
		x := rec[o.meta+i]
		switch sl.kind {
		case slotWord:
			w.u64(x)
		case slotStr:
			if x == 0 {
				w.uv(0)
			} else {
				w.uv(uint64(len(st.strs[x-1])) + 1)
				w.buf = append(w.buf, st.strs[x-1]...)
			}
		case slotHLL:
			if x == 0 {
				w.uv(0)
			} else {
				w.uv(1)
				w.buf = append(w.buf, st.sketchAt(x)...)
			}
		case slotSet:
			if x == 0 {
				w.uv(0)
			} else {
				m := slices.Sorted(maps.Keys(st.sets[x-1]))
				w.uv(uint64(len(m)) + 1)
				for _, k := range m {
					w.bytes([]byte(k))
					w.maybeFlush()
				}
			}
		}
	}
	w.maybeFlush()
}

// group writes the group of main row m of st.
func (o *Op) group(w *writer, st *store, m int32) {
	S := o.stride
	w.bytes(st.key(m, S))
	parts := o.sc.parts[:0]
	for x := m; x >= 0; x = st.next(x, S) {
		parts = append(parts, x)
	}
	slices.SortFunc(parts, func(a, b int32) int { return cmp.Compare(st.part(a, S), st.part(b, S)) })
	w.uv(uint64(len(parts)))
	for _, x := range parts {
		w.sv(int64(st.part(x, S)))
		o.record(w, st, x)
	}
	o.sc.parts = parts
}

// windows writes the windows and their groups (only groups in rows[w] when
// rows is not nil; windows without such groups are skipped).
func (o *Op) writeWindows(w *writer, only func(*store) []int32) {
	S := o.stride
	type win struct {
		st   *store
		refs []keyRef
	}
	var ws []win
	for _, st := range o.wins {
		var refs []keyRef
		if only == nil {
			for r := int32(0); r < st.n; r++ {
				if st.isMain(r, S) {
					refs = append(refs, keyRef{k: st.key(r, S), r: r})
				}
			}
		} else {
			for _, r := range only(st) {
				refs = append(refs, keyRef{k: st.key(r, S), r: r})
			}
		}
		if len(refs) > 0 || only == nil {
			o.sortKeys(refs)
			ws = append(ws, win{st, refs})
		}
	}
	w.uv(uint64(len(ws)))
	for _, x := range ws {
		w.u64(uint64(x.st.start))
		w.uv(uint64(len(x.refs)))
		for _, kr := range x.refs {
			o.group(w, x.st, kr.r)
		}
	}
}

// writeSessionKeys writes the sessions of the given keys (sorted, each
// once; a key without sessions is written with none).
func (o *Op) writeSessionKeys(w *writer, kids []int32) {
	s, S := o.sess, o.stride
	slices.SortFunc(kids, func(a, b int32) int { return strings.Compare(s.keys[a], s.keys[b]) })
	kids = slices.CompactFunc(kids, func(a, b int32) bool { return s.keys[a] == s.keys[b] })
	w.uv(uint64(len(kids)))
	for _, kid := range kids {
		w.bytes([]byte(s.keys[kid]))
		l := s.list[kid]
		w.uv(uint64(len(l)))
		for _, r := range l {
			w.sv(int64(s.st.part(r, S)))
			w.u64(uint64(s.first(r, S)))
			w.u64(uint64(s.last(r, S)))
			o.record(w, &s.st, r)
		}
	}
}

// CheckpointSizeHint estimates the bytes of the next snapshot (or
// changelog), so that a caller appending it to a buffer grows the buffer
// once: at a million keys a state file is tens of MB, and growing it step
// by step copies it several times into fresh memory. Strings, sketches and
// sets are not counted.
func (o *Op) CheckpointSizeHint(snapshot bool) int {
	n := 64
	for _, st := range o.wins {
		rows, groups := int(st.n), int(st.nGrp)
		if !snapshot {
			groups = len(st.dirty)
			rows = groups + (int(st.n)-int(st.nGrp))*groups/max(1, int(st.nGrp))
		}
		key := len(st.arena) / max(1, int(st.nGrp))
		n += 16 + groups*(key+2) + rows*(2+8*len(o.slots))
	}
	return n
}

// WriteSnapshot writes the whole state. Take it between batches.
func (o *Op) WriteSnapshot(out io.Writer) error {
	_, err := o.snapshot(out, nil)
	return err
}

// AppendSnapshot appends what WriteSnapshot writes to b, in place: at a
// million keys a snapshot is a hundred MB, which a caller framing it in a
// file of its own would otherwise copy.
func (o *Op) AppendSnapshot(b []byte) ([]byte, error) {
	return o.snapshot(nil, b)
}

func (o *Op) snapshot(out io.Writer, b []byte) ([]byte, error) {
	if o.err != nil {
		return b, o.err
	}
	w := o.startCkpt(out, b, snapMagic, o.clNum)
	if o.sess != nil {
		w.uv(0)
		var kids []int32
		for kid, l := range o.sess.list {
			if len(l) > 0 {
				kids = append(kids, int32(kid))
			}
		}
		o.writeSessionKeys(w, kids)
	} else {
		o.writeWindows(w, nil)
		w.uv(0)
	}
	if err := w.end(); err != nil {
		return b, fmt.Errorf("aggregation: write snapshot: %w", err)
	}
	return w.buf, nil
}

// WriteChangelog writes what changed since the previous call (or since
// New or Restore): the groups changed, whole, and the windows and session
// keys removed, with the watermark. Its size follows the changes, not the
// state. Take it between batches, after Finish.
func (o *Op) WriteChangelog(out io.Writer) error {
	_, err := o.changelog(out, nil)
	return err
}

// AppendChangelog appends what WriteChangelog writes to b, in place (see
// AppendSnapshot). Its effect on the operator is WriteChangelog's.
func (o *Op) AppendChangelog(b []byte) ([]byte, error) {
	return o.changelog(nil, b)
}

func (o *Op) changelog(out io.Writer, b []byte) ([]byte, error) {
	if o.err != nil {
		return b, o.err
	}
	w := o.startCkpt(out, b, changelogMagic, o.clNum+1)
	w.uv(uint64(len(o.removedWins)))
	for _, s := range o.removedWins {
		w.u64(uint64(s))
	}
	var removedKeys []string
	if o.sess != nil {
		removedKeys = slices.Sorted(slices.Values(o.sess.removed))
	}
	w.uv(uint64(len(removedKeys)))
	for _, k := range removedKeys {
		w.bytes([]byte(k))
	}
	if o.sess != nil {
		w.uv(0)
		var kids []int32
		for _, kid := range o.sess.dirty {
			if len(o.sess.list[kid]) > 0 { // else removed, or a freed id
				kids = append(kids, kid)
			}
		}
		o.writeSessionKeys(w, kids)
	} else {
		o.writeWindows(w, func(st *store) []int32 { return st.dirty })
		w.uv(0)
	}
	if err := w.end(); err != nil {
		return b, fmt.Errorf("aggregation: write changelog: %w", err)
	}
	o.changelogWritten()
	return w.buf, nil
}

// DiscardChangelog forgets what changed since the previous changelog, as
// writing a changelog and throwing it away would, without encoding it: a
// caller that writes a snapshot next starts the changelogs after it from
// there.
func (o *Op) DiscardChangelog() {
	if o.err == nil {
		o.changelogWritten()
	}
}

// changelogWritten starts the next changelog.
func (o *Op) changelogWritten() {
	o.clNum++
	o.clSeq = o.seq - 1
	o.removedWins = o.removedWins[:0]
	for _, st := range o.wins {
		st.dirty = st.dirty[:0]
	}
	if o.sess != nil {
		o.sess.dirty = o.sess.dirty[:0]
		o.sess.removed = o.sess.removed[:0]
	}
}

// Restore rebuilds an operator from a snapshot (nil: an empty state) and
// the changelogs written after it, in order. It refuses bytes that are not
// an intact checkpoint of the same input schema and configuration.
func Restore(in types.Schema, cfg Config, snapshot io.Reader, changelogs ...io.Reader) (*Op, error) {
	o, err := New(in, cfg)
	if err != nil {
		return nil, err
	}
	if snapshot != nil {
		if err := o.load(snapshot, snapMagic); err != nil {
			return nil, fmt.Errorf("aggregation: restore snapshot: %w", err)
		}
	}
	for i, c := range changelogs {
		if err := o.load(c, changelogMagic); err != nil {
			return nil, fmt.Errorf("aggregation: restore changelog %d of %d: %w", i+1, len(changelogs), err)
		}
	}
	return o, nil
}

// reader decodes a verified checkpoint body.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}
func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}
func (r *reader) uv() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}
func (r *reader) sv() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a list length, refusing one the remaining bytes cannot hold
// (each element takes at least min bytes).
func (r *reader) count(minBytes int) int {
	n := r.uv()
	if n > uint64(len(r.b)/max(minBytes, 1)) {
		r.fail("list longer than the checkpoint")
		return 0
	}
	return int(n)
}
func (r *reader) raw(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *reader) bytes() []byte { return r.raw(r.count(1)) }

// load reads one checkpoint of the given magic into the state.
func (o *Op) load(in io.Reader, magic string) error {
	o.hot.invalidate()
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	hdr := len(magic) + 2
	if len(data) < hdr+4 || string(data[:len(magic)]) != magic {
		if len(data) >= len(magic) && (string(data[:len(magic)]) == snapMagic || string(data[:len(magic)]) == changelogMagic) {
			return fmt.Errorf("%w: a %q where a %q was expected", ErrCorrupt, data[:len(magic)], magic)
		}
		return fmt.Errorf("%w: not an aggregation checkpoint (no %q header)", ErrCorrupt, magic)
	}
	if v := binary.LittleEndian.Uint16(data[len(magic):]); v != ckptVersion {
		return fmt.Errorf("%w: version %d (this build reads %d)", ErrVersion, v, ckptVersion)
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(data)-4:]); got != want {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	r := &reader{b: body[hdr:]}
	if fp := r.u64(); r.err == nil && fp != o.fingerprint() {
		return fmt.Errorf("%w: written with another input schema or configuration", ErrConfig)
	}
	num := r.uv()
	if magic == changelogMagic && r.err == nil && num != o.clNum+1 {
		return fmt.Errorf("%w: changelog %d follows changelog %d", ErrSequence, num, o.clNum)
	}
	wm, maxSeen := int64(r.u64()), int64(r.u64())
	if magic == changelogMagic {
		for n := r.count(8); n > 0 && r.err == nil; n-- {
			o.dropWindow(int64(r.u64()))
		}
		for n := r.count(1); n > 0 && r.err == nil; n-- {
			k := r.bytes()
			if o.sess == nil {
				r.fail("session keys in a checkpoint without session windows")
				break
			}
			o.dropSessionKey(k)
		}
	}
	nw := r.count(9)
	if nw > 0 && o.size == 0 && o.sess == nil && o.cfg.Window.Kind != None {
		r.fail("windows in a session checkpoint")
	}
	for ; nw > 0 && r.err == nil; nw-- {
		start := int64(r.u64())
		if o.size > 0 && floorMod(start, o.slide) != 0 || o.sess != nil || (o.size == 0 && start != 0) {
			r.fail("a window start that the configuration cannot produce")
			break
		}
		st := o.window(0, start)
		for ng := r.count(2); ng > 0 && r.err == nil; ng-- {
			o.loadGroup(r, st)
		}
	}
	clear(o.lastW)
	nk := r.count(2)
	if nk > 0 && o.sess == nil {
		r.fail("session keys in a checkpoint without session windows")
	}
	for ; nk > 0 && r.err == nil; nk-- {
		o.loadSessionKey(r)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	o.wm, o.maxSeen = max(o.wm, wm), maxSeen
	o.clNum = num
	return o.checkState()
}

// loadRecord reads the slots of record x of st.
func (o *Op) loadRecord(r *reader, st *store, x int32) {
	rec := st.rec[int(x)*o.stride:]
	for i, sl := range o.slots {
		w := &rec[o.meta+i]
		*w = 0
		switch sl.kind {
		case slotWord:
			*w = r.u64()
		case slotStr:
			if n := r.uv(); n > 0 {
				s := r.raw(int(min(n-1, math.MaxInt32)))
				st.strs = append(st.strs, string(s))
				*w = uint64(len(st.strs))
			}
		case slotHLL:
			switch r.uv() {
			case 0:
			case 1:
				regs := r.raw(hllM)
				if r.err == nil {
					copy(st.sketch(o.meta+i+int(x)*o.stride), regs)
				}
			default:
				r.fail("bad sketch tag")
			}
		case slotSet:
			if n := r.uv(); n > 0 {
				if n-1 > uint64(len(r.b)) {
					r.fail("set longer than the checkpoint")
					return
				}
				m := st.set(o.meta + i + int(x)*o.stride)
				for j := uint64(0); j < n-1 && r.err == nil; j++ {
					m[string(r.bytes())] = struct{}{}
				}
			}
		}
	}
}

// loadGroup reads a group into window st, replacing the group's partials
// if it is there.
func (o *Op) loadGroup(r *reader, st *store) {
	S := o.stride
	key := bytes.Clone(r.bytes())
	np := r.count(9)
	if r.err != nil {
		return
	}
	if np == 0 {
		r.fail("a group without partials")
		return
	}
	h := o.hs.hash(key)
	m := st.find(h, key, S)
	var have []int32
	for x := m; x >= 0; x = st.next(x, S) {
		have = append(have, x)
	}
	if len(have) > np {
		r.fail("a changelog group with fewer partials than the state")
		return
	}
	prevPart := int64(math.MinInt64)
	for i := 0; i < np && r.err == nil; i++ {
		p := r.sv()
		if p <= prevPart || p > math.MaxInt32 || p < math.MinInt32 {
			r.fail("partials out of order")
			return
		}
		prevPart = p
		var x int32
		switch {
		case i < len(have):
			x = have[i]
			st.rec[int(x)*S+wMeta1] = st.rec[int(x)*S+wMeta1]&^0xFFFFFFFF | uint64(uint32(int32(p)))
			st.release(x, S, o.meta, o.slots)
		case i == 0:
			m = st.insert(h, key, int32(p), o.tmpl)
			x = m
		default:
			x = o.partial(st, m, int32(p))
		}
		st.setStamp(x, S, 0)
		o.loadRecord(r, st, x)
	}
}

// loadSessionKey reads one key's sessions, replacing those in state.
func (o *Op) loadSessionKey(r *reader) {
	s, S := o.sess, o.stride
	key := r.bytes()
	n := r.count(17)
	if r.err != nil {
		return
	}
	if n == 0 {
		r.fail("a session key without sessions")
		return
	}
	o.dropSessionKey(key)
	kid := s.keyID(key)
	var l []int32
	for i := 0; i < n && r.err == nil; i++ {
		p := r.sv()
		first, last := int64(r.u64()), int64(r.u64())
		if p > math.MaxInt32 || p < math.MinInt32 || last < first {
			r.fail("a session out of range")
			break
		}
		x := o.newSession(int32(p), kid, first, last)
		l = append(l, x)
		o.loadRecord(r, &s.st, x)
		s.schedule(kid, last+o.cfg.Window.Gap, o.cfg.Window.Gap)
	}
	s.list[kid] = l
	if r.err == nil {
		ok := slices.IsSortedFunc(l, func(a, b int32) int {
			if c := cmp.Compare(s.st.part(a, S), s.st.part(b, S)); c != 0 {
				return c
			}
			return cmp.Compare(s.first(a, S), s.first(b, S))
		})
		if !ok {
			r.fail("sessions out of order")
		}
	}
}

// dropWindow removes the window starting at start, if it is in state.
func (o *Op) dropWindow(start int64) {
	i, ok := slices.BinarySearchFunc(o.wins, start, func(w *store, s int64) int { return cmp.Compare(w.start, s) })
	if ok {
		o.wins[i].reset()
		o.wins = slices.Delete(o.wins, i, i+1)
		clear(o.lastW)
	}
}

// dropSessionKey removes key k's sessions, if any.
func (o *Op) dropSessionKey(k []byte) {
	s := o.sess
	kid, ok := s.ids[string(k)]
	if !ok {
		return
	}
	for _, r := range s.list[kid] {
		s.st.release(r, o.stride, o.meta, o.slots)
		s.freeRows = append(s.freeRows, r)
		s.live--
	}
	s.list[kid] = s.list[kid][:0]
	s.sched[kid] = math.MaxInt64
	delete(s.ids, s.keys[kid])
	s.keys[kid] = ""
	s.freeKeys = append(s.freeKeys, kid)
}

// checkState refuses a restored state whose keys do not decode.
func (o *Op) checkState() error {
	vs := o.out[len(o.out)-len(o.aggs)-len(o.cfg.Keys) : len(o.out)-len(o.aggs)]
	scratch := newScratchVectors(vs)
	check := func(k []byte) error {
		for _, v := range scratch {
			v.Reset()
		}
		if err := o.keys.decode(k, scratch); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return nil
	}
	for _, st := range o.wins {
		for r := int32(0); r < st.n; r++ {
			if st.isMain(r, o.stride) {
				if err := check(st.key(r, o.stride)); err != nil {
					return err
				}
			}
		}
	}
	if o.sess != nil {
		for kid, l := range o.sess.list {
			if len(l) > 0 {
				if err := check([]byte(o.sess.keys[kid])); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
