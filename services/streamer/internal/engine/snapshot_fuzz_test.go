package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// FuzzRestore feeds Restore real snapshots of every window kind, damaged
// and made up: Restore must refuse what it cannot read with one of its three
// errors, never panic, and never allocate more than a small multiple of the
// input. What it accepts must hold exactly the state the bytes describe (as
// parseSnapshot, written from the format's comment, reads them), snapshot
// again to bytes that restore to the same state, and carry on running.
//
// The target restores each input twice: as it is, and with its checksum
// recomputed, so that mutations reach the checks behind the checksum. The
// engine's configuration is the one the header describes, when it is valid.
//
//	go test -run '^$' -fuzz FuzzRestore ./internal/engine/
func FuzzRestore(f *testing.F) {
	for _, seed := range restoreSeeds(f) {
		s := seed.snap
		f.Add(s)
		body := len(s) - crcLen
		f.Add(s[:body/2])                                // truncated
		f.Add(s[:body])                                  // no checksum
		f.Add(sign(s[:min(headerLen, body)]))            // the header alone, signed
		f.Add(sign(append(bytes.Clone(s[:body]), 0, 1))) // trailing bytes, signed
		for _, at := range []int{len(snapshotMagic) + 2, headerLen - 16, headerLen, headerLen + 3, body / 2, body - 1} {
			if at < body {
				bad := bytes.Clone(s)
				bad[at] ^= 0x81
				f.Add(bad)         // flipped: the checksum refuses it
				f.Add(resign(bad)) // flipped and signed: the decoder must
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRestore(t, data)
		if len(data) >= crcLen {
			checkRestore(t, resign(data))
		}
	})
}

// restoreSeed is a real snapshot and the configuration it was taken with.
type restoreSeed struct {
	cfg  Config
	snap []byte
}

// restoreSeeds are snapshots the engine wrote: of every configuration in
// snapshotConfigs a small state (a handful of sensors, quick to mutate) and a
// larger one with silent sensors, an empty engine's, and a version 1
// snapshot.
func restoreSeeds(tb testing.TB) []restoreSeed {
	var seeds []restoreSeed
	take := func(cfg Config, rs []in, batches int) {
		e := mustNew(tb, cfg)
		wm := int64(0)
		for i := range batches {
			wm = feed(e, wm, rs[i*len(rs)/batches:(i+1)*len(rs)/batches]).NextWatermark
		}
		var b bytes.Buffer
		if err := e.Snapshot(&b); err != nil {
			tb.Fatalf("Snapshot: %v", err)
		}
		seeds = append(seeds, restoreSeed{cfg, b.Bytes()})
	}
	for i, cfg := range snapshotConfigs {
		rng := rand.New(rand.NewPCG(uint64(i), 77))
		delay := cfg.Watermark.Milliseconds()
		take(cfg, withDuplicates(rng, genReadings(rng, 12, 3, 2, delay), 0.2, delay), 2)
		take(cfg, pausedReadings(uint64(i))[:300], 3)
	}
	take(cfg10s5s, nil, 0)
	rng := rand.New(rand.NewPCG(9, 9))
	take(cfg10s5s, genReadings(rng, 60, 5, 2, cfg10s5s.Watermark.Milliseconds()), 2)
	v2 := seeds[len(seeds)-1].snap
	v1, ok := v1Of(v2)
	if !ok {
		tb.Fatal("the plain tumbling seed has no version 1 form")
	}
	seeds = append(seeds, restoreSeed{cfg10s5s, v1})
	return seeds
}

// v1Of rewrites a version 2 snapshot of a plain tumbling engine (no dedup
// keys, no timeouts) in the version 1 format.
func v1Of(v2 []byte) ([]byte, bool) {
	body := v2[:len(v2)-crcLen]
	if !bytes.HasSuffix(body, []byte{0, 0}) {
		return nil, false
	}
	m := len(snapshotMagic)
	out := append([]byte(nil), body[:m]...)
	out = binary.LittleEndian.AppendUint16(out, 1)
	out = append(out, body[m+2])                 // kind
	out = append(out, body[m+4:m+12]...)         // window
	out = append(out, body[m+28:m+36]...)        // delay
	out = append(out, body[m+44:len(body)-2]...) // watermark, max event time, sensors, partitions
	return sign(out), true
}

// sign appends body's checksum to a copy of it.
func sign(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, crcTable))
}

// resign replaces the last 4 bytes of b with the checksum of the others.
func resign(b []byte) []byte {
	if len(b) < crcLen {
		return bytes.Clone(b)
	}
	return sign(b[:len(b)-crcLen])
}

// restoreAllocBudget is what Restore may allocate for an input of n bytes:
// reading it (io.ReadAll grows its buffer by doubling), and a state a small
// multiple of what the bytes encode. A length field believed without a
// bound blows through it at once.
func restoreAllocBudget(n int) uint64 { return 64*uint64(n) + 1<<20 }

func checkRestore(t *testing.T, data []byte) {
	t.Helper()
	cfg := configOf(data)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e, err := Restore(cfg, bytes.NewReader(data))
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > restoreAllocBudget(len(data)) {
		t.Fatalf("Restore of %d bytes allocated %d bytes (budget %d); err = %v", len(data), alloc, restoreAllocBudget(len(data)), err)
	}
	if err != nil {
		if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrSnapshotVersion) && !errors.Is(err, ErrSnapshotConfig) {
			t.Fatalf("Restore: err = %v, want one of its three errors", err)
		}
		if e != nil {
			t.Fatal("Restore returned an engine with its error")
		}
		return
	}

	// Accepted: the engine holds what the bytes say.
	want, perr := parseSnapshot(data)
	if perr != nil {
		t.Fatalf("Restore accepted a snapshot the format does not allow: %v", perr)
	}
	var snap bytes.Buffer
	if err := e.Snapshot(&snap); err != nil {
		t.Fatalf("Snapshot of the restored engine: %v", err)
	}
	again := snap.Bytes()
	got, perr := parseSnapshot(again)
	if perr != nil {
		t.Fatalf("the restored engine's snapshot does not parse: %v", perr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the restored engine holds another state:\nsnapshot restored: %+v\nits snapshot:      %+v", want, got)
	}
	e2, err := Restore(cfg, bytes.NewReader(again))
	if err != nil {
		t.Fatalf("Restore of the restored engine's snapshot: %v", err)
	}
	snap.Reset()
	if err := e2.Snapshot(&snap); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if !bytes.Equal(snap.Bytes(), again) {
		t.Fatal("a snapshot restored and taken again changed: the format has two encodings of one state")
	}

	// It runs: a batch with a reading, then the batch that its watermark
	// asks for, and what it leaves restores too.
	wm := e.Watermark()
	var rs []in
	if wm < math.MaxInt64-1 {
		rs = []in{{0, "S000", wm + 1, 20, 50, true}}
	}
	res := feed(e, wm, rs)
	feed(e, res.NextWatermark, nil)
	snap.Reset()
	if err := e.Snapshot(&snap); err != nil {
		t.Fatalf("Snapshot after two batches: %v", err)
	}
	if _, err := Restore(cfg, bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatalf("Restore of a snapshot taken two batches after a restore: %v", err)
	}
}

// configOf returns the configuration a snapshot's header describes, or
// snapshotConfigs[0] if it describes none. Its lengths are converted as
// they come, wrapping if they are too large: an engine of the wrapped
// configuration must refuse them all the same.
func configOf(b []byte) Config {
	h, _, err := parseHeader(b)
	if err != nil {
		return snapshotConfigs[0]
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	cfg := Config{Watermark: ms(h.DelayMs), SilenceTimeout: ms(h.TimeoutMs),
		Dedup: h.Flags&flagDedup != 0, RetainAll: h.Flags&flagRetainAll != 0}
	switch h.Kind {
	case kindTumbling:
		cfg.Window = ms(h.WinMs)
	case kindSliding:
		cfg.Window, cfg.Slide = ms(h.WinMs), ms(h.SlideMs)
	case kindSession:
		cfg.SessionGap = ms(h.GapMs)
	}
	if cfg.Validate() != nil {
		return snapshotConfigs[0]
	}
	return cfg
}

// snapState is a snapshot's content as the format describes it, the sensor
// indices resolved to ids and floats kept as their bits: two snapshots of
// the same state have equal snapStates, whatever their encoding. A version
// 1 snapshot reads as the version 2 snapshot of the same state.
type snapState struct {
	Kind, Flags                               byte
	WinMs, SlideMs, GapMs, DelayMs, TimeoutMs int64
	Wm, MaxSeen                               int64
	Parts                                     []snapPart
	Dedup                                     []snapKeys
	Timeouts                                  []snapTimeout
}

type snapPart struct {
	ID       int32
	Windows  []snapWindow
	Sessions []snapSession
}

type snapWindow struct {
	Start int64
	Rows  []snapRow
}

type snapRow struct {
	Sensor string
	Agg    snapAgg
}

type snapAgg struct{ Count, OK, SumT, SumH, MinT, MaxT uint64 }

type snapSession struct {
	Sensor      string
	First, Last int64
	Agg         snapAgg
}

type snapKeys struct {
	Sensor string
	Keys   []int64
}

type snapTimeout struct {
	Sensor string
	Last   int64
	Silent byte
}

// snapReader reads the format's primitives; after an error every read
// returns zero.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("truncated: %d bytes wanted, %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *snapReader) u8() byte {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *snapReader) u64() uint64 {
	if v := r.bytes(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *snapReader) i64() int64 { return int64(r.u64()) }

func (r *snapReader) uv() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) agg() snapAgg {
	return snapAgg{Count: r.uv(), OK: r.uv(), SumT: r.u64(), SumH: r.u64(), MinT: r.u64(), MaxT: r.u64()}
}

// parseHeader reads a snapshot's header (of either version) and returns
// the reader positioned after it. It checks neither the checksum nor the values.
func parseHeader(b []byte) (snapState, *snapReader, error) {
	var s snapState
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) || len(b) < len(snapshotMagic)+2+crcLen {
		return s, nil, errors.New("no magic")
	}
	r := &snapReader{b: b[len(snapshotMagic) : len(b)-crcLen]}
	switch version := binary.LittleEndian.Uint16(r.bytes(2)); version {
	case 1:
		s.Kind, s.WinMs, s.DelayMs = r.u8(), r.i64(), r.i64()
		s.SlideMs = s.WinMs
	case 2:
		s.Kind, s.Flags = r.u8(), r.u8()
		s.WinMs, s.SlideMs, s.GapMs, s.DelayMs, s.TimeoutMs = r.i64(), r.i64(), r.i64(), r.i64(), r.i64()
	default:
		return s, nil, fmt.Errorf("version %d", version)
	}
	s.Wm, s.MaxSeen = r.i64(), r.i64()
	return s, r, r.err
}

// parseSnapshot reads a whole snapshot as the format's comment describes
// it. It checks the checksum, the structure and that every sensor index
// names a sensor, not the engine's invariants: it only reads snapshots that
// Restore accepted or the engine wrote.
func parseSnapshot(b []byte) (snapState, error) {
	s, r, err := parseHeader(b)
	if err != nil {
		return s, err
	}
	body := b[:len(b)-crcLen]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[len(body):]) {
		return s, errors.New("bad checksum")
	}
	v1 := binary.LittleEndian.Uint16(b[len(snapshotMagic):]) == 1
	var ids []string
	for range r.uv() {
		if r.err != nil {
			break
		}
		ids = append(ids, string(r.bytes(r.uv())))
	}
	sensor := func() string {
		i := r.uv()
		if r.err == nil && i >= uint64(len(ids)) {
			r.err = fmt.Errorf("sensor index %d of %d", i, len(ids))
		}
		if r.err != nil {
			return ""
		}
		return ids[i]
	}
	for range r.uv() {
		if r.err != nil {
			break
		}
		p := snapPart{ID: int32(binary.LittleEndian.Uint32(r.bytes(4)))}
		n := r.uv()
		for range n {
			if r.err != nil {
				break
			}
			if s.Kind == kindSession {
				p.Sessions = append(p.Sessions, snapSession{Sensor: sensor(), First: r.i64(), Last: r.i64(), Agg: r.agg()})
				continue
			}
			w := snapWindow{Start: r.i64()}
			for range r.uv() {
				if r.err != nil {
					break
				}
				w.Rows = append(w.Rows, snapRow{Sensor: sensor(), Agg: r.agg()})
			}
			p.Windows = append(p.Windows, w)
		}
		s.Parts = append(s.Parts, p)
	}
	if !v1 {
		for range r.uv() {
			if r.err != nil {
				break
			}
			k := snapKeys{Sensor: sensor()}
			n, ts := r.uv(), r.i64()
			for i := range n {
				if r.err != nil {
					break
				}
				if i > 0 {
					ts += int64(r.uv())
				}
				k.Keys = append(k.Keys, ts)
			}
			s.Dedup = append(s.Dedup, k)
		}
		for range r.uv() {
			if r.err != nil {
				break
			}
			s.Timeouts = append(s.Timeouts, snapTimeout{Sensor: sensor(), Last: r.i64(), Silent: r.u8()})
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the state", len(r.b))
	}
	return s, r.err
}

// TestParseSnapshotReadsTheEngines checks FuzzRestore's yardstick: every
// seed parses, and two snapshots of the same state taken in another order
// of arrival (other sensor numbers inside the engine) parse equal, while a
// changed state does not.
func TestParseSnapshotReadsTheEngines(t *testing.T) {
	for _, seed := range restoreSeeds(t) {
		if _, err := parseSnapshot(seed.snap); err != nil {
			t.Fatalf("seed of %v: %v", seed.cfg, err)
		}
	}
	a, b := mustNew(t, cfg10s5s), mustNew(t, cfg10s5s)
	feed(a, 0, []in{{0, "S1", 12_000, 1, 2, true}, {1, "S2", 13_000, 3, 4, false}})
	feed(b, 0, []in{{1, "S2", 13_000, 3, 4, false}, {0, "S1", 12_000, 1, 2, true}})
	sa, err := parseSnapshot(snapshot(t, a))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := parseSnapshot(snapshot(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sa, sb) {
		t.Fatalf("one state parses two ways:\n%+v\n%+v", sa, sb)
	}
	if len(sa.Parts) != 2 || sa.Parts[1].Windows[0].Rows[0].Sensor != "S2" || sa.Parts[0].Windows[0].Start != 10_000 {
		t.Fatalf("parsed %+v: want S1 in partition 0's window 10000, S2 in partition 1's", sa)
	}
	feed(b, 0, []in{{1, "S2", 13_001, 3, 4, false}})
	if sc, _ := parseSnapshot(snapshot(t, b)); reflect.DeepEqual(sa, sc) {
		t.Fatal("a changed state parses as the old one")
	}
}

// craftSnapshot writes, by hand, a snapshot of a small state of
// snapshotConfigs[0] (tumbling windows, dedup, timeouts) or, with session,
// of snapshotConfigs[3], with the count named field declared as n.
func craftSnapshot(session bool, field string, n uint64) []byte {
	b := []byte(snapshotMagic)
	b = binary.LittleEndian.AppendUint16(b, snapshotVersion)
	uv := func(v uint64) { b = binary.AppendUvarint(b, v) }
	i64 := func(v int64) { b = binary.LittleEndian.AppendUint64(b, uint64(v)) }
	count := func(name string, v uint64) {
		if name == field {
			v = n
		}
		uv(v)
	}
	agg := func() {
		uv(2) // count
		uv(1) // ok
		for _, f := range []float64{40, 100, 19.5, 20.5} {
			i64(int64(math.Float64bits(f)))
		}
	}
	if session {
		b = append(b, kindSession, flagDedup)
		i64(0)     // window
		i64(0)     // slide
		i64(1_000) // gap
	} else {
		b = append(b, kindTumbling, flagDedup)
		i64(10_000)
		i64(10_000)
		i64(0)
	}
	i64(5_000)  // delay
	i64(2_000)  // silence timeout
	i64(1_000)  // watermark
	i64(12_000) // max event time
	count("sensors", 2)
	for _, id := range []string{"S1", "S2"} {
		count("id length", uint64(len(id)))
		b = append(b, id...)
	}
	count("partitions", 1)
	b = binary.LittleEndian.AppendUint32(b, 0)
	if session {
		count("sessions", 2)
		for s := range uint64(2) {
			uv(s)
			i64(11_000)
			i64(11_500)
			agg()
		}
	} else {
		count("windows", 1)
		i64(10_000)
		count("rows", 2)
		for s := range uint64(2) {
			uv(s)
			agg()
		}
	}
	count("dedup sensors", 1)
	uv(0)
	count("dedup keys", 2)
	i64(11_000)
	uv(500)
	count("timeouts", 1)
	uv(1)
	i64(12_000)
	b = append(b, 0) // not silent
	return sign(b)
}

// A damaged snapshot can declare any count; Restore must refuse a count the
// bytes left cannot hold before it allocates for it.
func TestRestoreRefusesHugeCountsWithoutAllocating(t *testing.T) {
	for _, session := range []bool{false, true} {
		cfg := snapshotConfigs[0]
		fields := []string{"sensors", "id length", "partitions", "windows", "rows", "dedup sensors", "dedup keys", "timeouts"}
		if session {
			cfg = snapshotConfigs[3]
			fields = []string{"sensors", "id length", "partitions", "sessions", "dedup sensors", "dedup keys", "timeouts"}
		}
		good := craftSnapshot(session, "", 0)
		if _, err := Restore(cfg, bytes.NewReader(good)); err != nil {
			t.Fatalf("Restore(%v) of the crafted snapshot: %v", cfg, err)
		}
		checkRestore(t, good)
		for _, field := range fields {
			for _, n := range []uint64{1 << 24, 1 << 40, math.MaxUint64} {
				bad := craftSnapshot(session, field, n)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err := Restore(cfg, bytes.NewReader(bad))
				runtime.ReadMemStats(&after)
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
					t.Fatalf("%v, %s declared %d: Restore of %d bytes allocated %d bytes", cfg, field, n, len(bad), alloc)
				}
				if !errors.Is(err, ErrCorruptSnapshot) {
					t.Errorf("%v, %s declared %d: err = %v, want ErrCorruptSnapshot", cfg, field, n, err)
				}
			}
		}
	}
}
