package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// feed runs one batch of readings with watermark wm and returns its result.
func feed(e *Engine, wm int64, rs []in) BatchResult {
	e.StartBatch(wm)
	for _, r := range rs {
		e.Add(r.p, Reading{r.id, r.ts, r.temp, r.hum, r.ok})
	}
	return e.FinishBatch()
}

func snapshot(t *testing.T, e *Engine) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Snapshot(&b); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return b.Bytes()
}

func TestSnapshotRestoreContinuesIdentically(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rs := genReadings(rng, 3000, 40, 4, cfg10s5s.Watermark.Milliseconds())
	orig := mustNew(t, cfg10s5s)
	wm := int64(0)
	for _, part := range [][]in{rs[:700], rs[700:1500]} {
		wm = feed(orig, wm, part).NextWatermark
	}
	snap := snapshot(t, orig)
	if again := snapshot(t, orig); !bytes.Equal(again, snap) {
		t.Fatal("two snapshots of the same state differ")
	}

	restored, err := Restore(cfg10s5s, bytes.NewReader(snap))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := snapshot(t, restored); !bytes.Equal(got, snap) {
		t.Error("the restored engine's snapshot differs from the one it was restored from")
	}
	if restored.Watermark() != orig.Watermark() {
		t.Errorf("restored watermark %d, want %d", restored.Watermark(), orig.Watermark())
	}

	appended := 0
	for i, part := range [][]in{rs[1500:2200], rs[2200:], nil, nil} {
		a, b := feed(orig, wm, part), feed(restored, wm, part)
		checkRows(t, fmt.Sprintf("batch %d append", i), b.Append, a.Append)
		checkRows(t, fmt.Sprintf("batch %d update", i), b.Update, a.Update)
		appended += len(b.Append)
		a.Stats.MemoryUsedBytes, b.Stats.MemoryUsedBytes = 0, 0 // capacities differ
		a.Append, a.Update, b.Append, b.Update = nil, nil, nil, nil
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("batch %d: restored result %+v, original %+v", i, b, a)
		}
		wm = a.NextWatermark
	}
	if appended == 0 {
		t.Error("no window closed after the restore: the test compares nothing")
	}
	if !bytes.Equal(snapshot(t, orig), snapshot(t, restored)) {
		t.Error("snapshots differ after the same batches")
	}
}

func TestRestoreEmptyEngine(t *testing.T) {
	snap := snapshot(t, mustNew(t, cfg10s5s))
	e, err := Restore(cfg10s5s, bytes.NewReader(snap))
	if err != nil {
		t.Fatalf("Restore of an empty engine's snapshot: %v", err)
	}
	res := feed(e, 0, []in{{0, "S1", 12_000, 1, 1, true}})
	if len(res.Update) != 1 || res.NextWatermark != 7_000 {
		t.Errorf("restored empty engine: update %d rows, next watermark %d; want 1 row, 7000", len(res.Update), res.NextWatermark)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	e := mustNew(t, cfg10s5s)
	feed(e, 0, []in{{0, "S1", 12_000, 1, 2, true}, {3, "S2", 23_000, 3, 4, false}, {3, "S1", 24_000, 5, 6, true}})
	snap := snapshot(t, e)

	for n := range len(snap) {
		if _, err := Restore(cfg10s5s, bytes.NewReader(snap[:n])); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("Restore of the first %d of %d bytes: err = %v, want ErrCorruptSnapshot", n, len(snap), err)
		}
	}
	for i := range snap {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x10
		if _, err := Restore(cfg10s5s, bytes.NewReader(bad)); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("Restore with byte %d flipped: err = %v, want ErrCorruptSnapshot", i, err)
		}
	}
	if _, err := Restore(cfg10s5s, bytes.NewReader(append(bytes.Clone(snap), 0))); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("Restore with a trailing byte: err = %v, want ErrCorruptSnapshot", err)
	}

	// resign recomputes the checksum after an edit, to reach the checks behind it.
	resign := func(b []byte) []byte {
		body := b[:len(b)-crcLen]
		return binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, crcTable))
	}

	other := Config{Window: 5 * time.Second, Watermark: 5 * time.Second}
	_, err := Restore(other, bytes.NewReader(snap))
	if !errors.Is(err, ErrSnapshotConfig) || !strings.Contains(err.Error(), "window 10s") || !strings.Contains(err.Error(), "window 5s") {
		t.Errorf("Restore with another window: err = %v, want ErrSnapshotConfig naming both windows", err)
	}

	future := bytes.Clone(snap)
	binary.LittleEndian.PutUint16(future[len(snapshotMagic):], snapshotVersion+1)
	if _, err := Restore(cfg10s5s, bytes.NewReader(resign(future))); !errors.Is(err, ErrSnapshotVersion) {
		t.Errorf("Restore of version %d: err = %v, want ErrSnapshotVersion", snapshotVersion+1, err)
	}

	// A well-formed snapshot whose watermark has closed a window it still holds.
	closed := bytes.Clone(snap)
	wmOff := headerLen - 16 // the header ends with the watermark and the max event time
	binary.LittleEndian.PutUint64(closed[wmOff:], 30_000)
	_, err = Restore(cfg10s5s, bytes.NewReader(resign(closed)))
	if !errors.Is(err, ErrCorruptSnapshot) || !strings.Contains(err.Error(), "closed by watermark") {
		t.Errorf("Restore of a state inconsistent with its watermark: err = %v, want ErrCorruptSnapshot", err)
	}

	if _, err := Restore(cfg10s5s, strings.NewReader("PAR1 this is not a snapshot")); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("Restore of foreign bytes: err = %v, want ErrCorruptSnapshot", err)
	}
}
