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

// snapshotConfigs are one configuration of every shape the snapshot records.
var snapshotConfigs = []Config{
	{Window: 10 * time.Second, Watermark: 5 * time.Second, Dedup: true, SilenceTimeout: 2 * time.Second},
	{Window: 10 * time.Second, Slide: 2 * time.Second, Watermark: 5 * time.Second, Dedup: true, SilenceTimeout: 2 * time.Second},
	{Window: 10 * time.Second, Slide: 5 * time.Second, Watermark: 5 * time.Second, RetainAll: true},
	{SessionGap: time.Second, Watermark: 5 * time.Second, Dedup: true, SilenceTimeout: 2 * time.Second},
	{SessionGap: time.Second, Watermark: 5 * time.Second, RetainAll: true},
}

// pausedReadings is genReadings with duplicates, where sensors S000-S004 send
// nothing during the middle third of the stream: they fall silent and recover.
func pausedReadings(seed uint64) []in {
	rng := rand.New(rand.NewPCG(seed, 11))
	rs := withDuplicates(rng, genReadings(rng, 3000, 25, 4, 5_000), 0.05, 5_000)
	lo, hi := rs[len(rs)/3].ts, rs[2*len(rs)/3].ts
	out := rs[:0:0]
	for _, r := range rs {
		if r.id < "S005" && r.ts > lo && r.ts < hi {
			continue
		}
		out = append(out, r)
	}
	return out
}

func TestSnapshotRoundTripEveryKind(t *testing.T) {
	for i, cfg := range snapshotConfigs {
		t.Run(cfg.String(), func(t *testing.T) {
			rs := pausedReadings(uint64(i))
			n := len(rs)
			orig := mustNew(t, cfg)
			wm := int64(0)
			for _, part := range [][]in{rs[:n/4], rs[n/4 : n/2]} {
				wm = feed(orig, wm, part).NextWatermark
			}
			snap := snapshot(t, orig)
			restored, err := Restore(cfg, bytes.NewReader(snap))
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if !bytes.Equal(snapshot(t, restored), snap) {
				t.Fatal("the restored engine's snapshot differs from the one it was restored from")
			}
			var appended, events int
			for j, part := range [][]in{rs[n/2 : 3*n/4], rs[3*n/4:], nil, nil} {
				a, b := feed(orig, wm, part), feed(restored, wm, part)
				what := fmt.Sprintf("batch %d after the restore", j)
				checkRows(t, what+" append", b.Append, a.Append)
				checkRows(t, what+" update", b.Update, a.Update)
				checkRows(t, what+" complete", b.Complete, a.Complete)
				if fmt.Sprint(a.Events) != fmt.Sprint(b.Events) {
					t.Errorf("%s: events %v, original's %v", what, b.Events, a.Events)
				}
				appended += len(b.Append)
				events += len(b.Events)
				a.Stats.MemoryUsedBytes, b.Stats.MemoryUsedBytes = 0, 0 // capacities differ
				if a.Stats != b.Stats || a.NextWatermark != b.NextWatermark || a.NeedsNoDataBatch != b.NeedsNoDataBatch {
					t.Errorf("%s: restored stats %+v, original's %+v", what, b.Stats, a.Stats)
				}
				wm = a.NextWatermark
			}
			if appended == 0 {
				t.Error("no window closed after the restore: the test compares nothing")
			}
			if cfg.SilenceTimeout > 0 && events == 0 {
				t.Error("no silence event after the restore: the test compares nothing")
			}
			if !bytes.Equal(snapshot(t, orig), snapshot(t, restored)) {
				t.Error("snapshots differ after the same batches")
			}

			// Any damage is refused.
			for k := 0; k < len(snap); k += 1 + k/64 { // every cut in the header, sparser after
				if _, err := Restore(cfg, bytes.NewReader(snap[:k])); !errors.Is(err, ErrCorruptSnapshot) {
					t.Fatalf("Restore of the first %d of %d bytes: err = %v, want ErrCorruptSnapshot", k, len(snap), err)
				}
			}
			for k := 0; k < len(snap); k += 1 + k/64 {
				bad := bytes.Clone(snap)
				bad[k] ^= 0x04
				if _, err := Restore(cfg, bytes.NewReader(bad)); !errors.Is(err, ErrCorruptSnapshot) {
					t.Fatalf("Restore with byte %d flipped: err = %v, want ErrCorruptSnapshot", k, err)
				}
			}
		})
	}
}

func TestRestoreRejectsAnotherShape(t *testing.T) {
	others := append(snapshotConfigs[:len(snapshotConfigs):len(snapshotConfigs)],
		Config{Window: 10 * time.Second, Watermark: 5 * time.Second},                                           // no dedup, no timeout
		Config{Window: 10 * time.Second, Watermark: 5 * time.Second, Dedup: true, SilenceTimeout: time.Second}, // another timeout
		Config{SessionGap: 2 * time.Second, Watermark: 5 * time.Second, RetainAll: true},                       // another gap
		Config{Window: 10 * time.Second, Slide: 5 * time.Second, Watermark: 5 * time.Second},                   // not retaining all
	)
	for i, a := range others {
		e := mustNew(t, a)
		feed(e, 0, []in{{0, "S1", 12_000, 1, 1, true}})
		snap := snapshot(t, e)
		for j, b := range others {
			_, err := Restore(b, bytes.NewReader(snap))
			if i == j {
				if err != nil {
					t.Errorf("Restore(%v) of its own snapshot: %v", b, err)
				}
				continue
			}
			if !errors.Is(err, ErrSnapshotConfig) || !strings.Contains(err.Error(), "snapshot has "+a.String()) ||
				!strings.Contains(err.Error(), "engine has "+b.String()) {
				t.Errorf("Restore(%v) of a snapshot of %v: err = %v, want ErrSnapshotConfig naming both", b, a, err)
			}
		}
	}
	// A slide equal to the window is a tumbling window.
	e := mustNew(t, Config{Window: 10 * time.Second, Watermark: 5 * time.Second})
	feed(e, 0, []in{{0, "S1", 12_000, 1, 1, true}})
	if _, err := Restore(Config{Window: 10 * time.Second, Slide: 10 * time.Second, Watermark: 5 * time.Second}, bytes.NewReader(snapshot(t, e))); err != nil {
		t.Errorf("Restore with slide == window of a tumbling snapshot: %v", err)
	}
}

// toV1 rewrites a version 2 snapshot of a plain tumbling engine in the
// version 1 format: the short header, and no dedup or timeout sections.
func toV1(t *testing.T, v2 []byte) []byte {
	t.Helper()
	body := v2[:len(v2)-crcLen]
	if !bytes.HasSuffix(body, []byte{0, 0}) {
		t.Fatal("the snapshot has dedup keys or timeouts: it has no version 1 form")
	}
	m := len(snapshotMagic)
	out := append([]byte(nil), body[:m]...)
	out = binary.LittleEndian.AppendUint16(out, 1)
	out = append(out, body[m+2])                 // kind
	out = append(out, body[m+4:m+12]...)         // window
	out = append(out, body[m+28:m+36]...)        // delay
	out = append(out, body[m+44:len(body)-2]...) // watermark, max event time, sensors, partitions
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
}

func TestRestoreVersion1(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rs := genReadings(rng, 2000, 20, 3, cfg10s5s.Watermark.Milliseconds())
	orig := mustNew(t, cfg10s5s)
	wm := feed(orig, 0, rs[:1000]).NextWatermark
	v1 := toV1(t, snapshot(t, orig))
	restored, err := Restore(cfg10s5s, bytes.NewReader(v1))
	if err != nil {
		t.Fatalf("Restore of a version 1 snapshot: %v", err)
	}
	if !bytes.Equal(snapshot(t, restored), snapshot(t, orig)) {
		t.Error("the engine restored from version 1 holds another state")
	}
	a, b := feed(orig, wm, rs[1000:]), feed(restored, wm, rs[1000:])
	checkRows(t, "update after a version 1 restore", b.Update, a.Update)
	a, b = feed(orig, a.NextWatermark, nil), feed(restored, a.NextWatermark, nil)
	checkRows(t, "append after a version 1 restore", b.Append, a.Append)
	if len(a.Append) == 0 {
		t.Error("nothing appended: the test compares nothing")
	}

	withDedup := cfg10s5s
	withDedup.Dedup = true
	if _, err := Restore(withDedup, bytes.NewReader(v1)); !errors.Is(err, ErrSnapshotConfig) || !strings.Contains(err.Error(), "dedup") {
		t.Errorf("Restore of a version 1 snapshot into a dedup engine: err = %v, want ErrSnapshotConfig", err)
	}
}
