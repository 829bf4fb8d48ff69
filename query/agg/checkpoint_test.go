package agg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// render writes every row of b as text, doubles by their bits.
func render(b *types.Batch) []string {
	rows := make([]string, b.N)
	for i := range rows {
		var s strings.Builder
		for _, v := range b.Cols {
			switch {
			case v.IsNull(i):
				s.WriteString("NULL")
			case v.Type.Kind == types.String:
				fmt.Fprintf(&s, "%q", v.Str[i])
			case v.Type.Kind == types.Boolean:
				fmt.Fprint(&s, v.Bool[i])
			case v.Type.Kind == types.Double:
				fmt.Fprintf(&s, "%x", math.Float64bits(v.F64[i]))
			default:
				fmt.Fprint(&s, v.I64[i])
			}
			s.WriteByte(' ')
		}
		rows[i] = s.String()
	}
	return rows
}

// ckptConfigs are seed-like queries of every window kind, with aggregates
// whose state lives beside the record (string min, sketch, set).
func ckptConfigs() map[string]Config {
	aggs := []Agg{{Count, -1}, {Avg, 2}, {Sum, 4}, {Min, 2}, {Max, 1}, {ApproxCountDistinct, 3}, {CountDistinct, 4}}
	base := func(w Window, mode Mode) Config {
		return Config{Keys: []int{1}, Window: w, Aggs: aggs, Mode: mode, HasWatermark: true, Delay: 20_000_000}
	}
	return map[string]Config{
		"tumbling/append": base(Window{Kind: Tumbling, Size: 10_000_000}, Append),
		"tumbling/update": base(Window{Kind: Tumbling, Size: 10_000_000}, Update),
		"sliding/update":  base(Window{Kind: Sliding, Size: 30_000_000, Slide: 10_000_000}, Update),
		"sliding/append":  base(Window{Kind: Sliding, Size: 25_000_000, Slide: 10_000_000}, Append),
		"session/append":  base(Window{Kind: Session, Gap: 5_000_000}, Append),
		"session/update":  base(Window{Kind: Session, Gap: 5_000_000}, Update),
		"none/complete":   {Keys: []int{1, 4}, Aggs: aggs, Mode: Complete},
		// The seed's aggregates: every slot a word (Op.wordsOnly).
		"tumbling/append/words": {Keys: []int{1}, Window: Window{Kind: Tumbling, Size: 10_000_000},
			Aggs: []Agg{{Count, -1}, {Avg, 2}, {Sum, 4}, {Min, 2}, {Max, 3}}, Mode: Append, HasWatermark: true, Delay: 20_000_000},
	}
}

// TestWordRecordsCheckpointAsEveryRecord checks that the words-only
// encoding of a record is the general one's bytes.
func TestWordRecordsCheckpointAsEveryRecord(t *testing.T) {
	cfg := ckptConfigs()["tumbling/append/words"]
	rng := rand.New(rand.NewPCG(3, 3))
	op, _ := New(seedSchema, cfg)
	if !op.wordsOnly {
		t.Fatal("the seed's aggregates are not words only")
	}
	for _, rs := range interleave(rng, seedReadings(rng, 2000, 30)) {
		op.Add(seedBatch(rs))
	}
	op.Finish()
	fast, _ := op.AppendSnapshot(nil)
	op.wordsOnly = false
	general, _ := op.AppendSnapshot(nil)
	if len(fast) < 2000 || !bytes.Equal(fast, general) {
		t.Fatalf("words-only snapshot %d bytes, general %d bytes, or they differ", len(fast), len(general))
	}
}

// TestRestoreContinuesIdentically runs each query twice over the same
// batches: once without stopping, once writing a changelog after every
// batch and a snapshot now and then, and restarting from the latest
// snapshot and the changelogs after it at random points. Every batch's
// rows must be byte-identical, and so must the changelogs: the
// uninterrupted operator appends its changelogs and snapshots to a buffer
// after a prefix (AppendChangelog, AppendSnapshot), the restarted one
// writes them (WriteChangelog, WriteSnapshot).
func TestRestoreContinuesIdentically(t *testing.T) {
	for name, cfg := range ckptConfigs() {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 99))
				batches := interleave(rng, seedReadings(rng, 3000, 40))
				a, err := New(seedSchema, cfg)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := New(seedSchema, cfg)
				var snap []byte
				var logs [][]byte
				restarts := 0
				prefix := []byte("frame header")
				appended := func(b []byte, err error) []byte {
					t.Helper()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(b, prefix) {
						t.Fatalf("append overwrote the buffer's prefix: %q", b[:len(prefix)])
					}
					return b[len(prefix):]
				}
				for bi, rs := range batches {
					a.Add(seedBatch(rs))
					b.Add(seedBatch(rs))
					outA, stA := a.Finish()
					outB, stB := b.Finish()
					if ra, rb := render(outA), render(outB); !slices.Equal(ra, rb) {
						t.Fatalf("batch %d (after %d restarts): rows differ\nuninterrupted %q\nrestored      %q", bi, restarts, head(ra), head(rb))
					}
					if stA.NextWatermark != stB.NextWatermark || stA.NumRowsTotal != stB.NumRowsTotal {
						t.Fatalf("batch %d: stats differ: %+v vs %+v", bi, stA, stB)
					}
					var buf bytes.Buffer
					if err := b.WriteChangelog(&buf); err != nil {
						t.Fatal(err)
					}
					logs = append(logs, buf.Bytes())
					if cl := appended(a.AppendChangelog(slices.Clip(prefix))); !bytes.Equal(cl, buf.Bytes()) {
						t.Fatalf("batch %d (after %d restarts): changelogs differ (%d bytes appended, %d written)", bi, restarts, len(cl), buf.Len())
					}
					if rng.IntN(8) == 0 {
						var s bytes.Buffer
						if err := b.WriteSnapshot(&s); err != nil {
							t.Fatal(err)
						}
						snap, logs = s.Bytes(), nil
						if as := appended(a.AppendSnapshot(append(make([]byte, 0, 1<<20), prefix...))); !bytes.Equal(as, snap) {
							t.Fatalf("batch %d (after %d restarts): snapshots differ", bi, restarts)
						}
					}
					if rng.IntN(5) == 0 {
						readers := []*bytes.Reader{}
						var rs []io.Reader
						for _, l := range logs {
							readers = append(readers, bytes.NewReader(l))
							rs = append(rs, readers[len(readers)-1])
						}
						var sr io.Reader
						if snap != nil {
							sr = bytes.NewReader(snap)
						}
						nb, err := Restore(seedSchema, cfg, sr, rs...)
						if err != nil {
							t.Fatalf("batch %d: restore: %v", bi, err)
						}
						b = nb
						restarts++
					}
				}
				if restarts == 0 {
					t.Fatal("never restarted")
				}
				// The snapshot of a restored state is the same bytes.
				var s1, s2 bytes.Buffer
				a.WriteSnapshot(&s1)
				b.WriteSnapshot(&s2)
				if !bytes.Equal(s1.Bytes(), s2.Bytes()) {
					t.Fatal("snapshots of equal states differ")
				}
			})
		}
	}
}

// TestDiscardChangelogIsWritingOneAway checks that DiscardChangelog
// before a snapshot leaves the operator where writing a changelog and
// throwing it away leaves it: the same snapshots, the same changelogs
// after them.
func TestDiscardChangelogIsWritingOneAway(t *testing.T) {
	for name, cfg := range ckptConfigs() {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			x, _ := New(seedSchema, cfg)
			y, _ := New(seedSchema, cfg)
			for bi, rs := range interleave(rng, seedReadings(rng, 2000, 30)) {
				x.Add(seedBatch(rs))
				y.Add(seedBatch(rs))
				x.Finish()
				y.Finish()
				var bx bytes.Buffer
				var by []byte
				var err error
				if bi%3 == 2 {
					x.WriteChangelog(io.Discard)
					err = x.WriteSnapshot(&bx)
					y.DiscardChangelog()
					by, _ = y.AppendSnapshot(nil)
				} else {
					err = x.WriteChangelog(&bx)
					by, _ = y.AppendChangelog(nil)
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(bx.Bytes(), by) {
					t.Fatalf("batch %d: %d bytes after writing a changelog away, %d after DiscardChangelog", bi, bx.Len(), len(by))
				}
			}
		})
	}
}

// TestChangelogFollowsChanges checks that a changelog's size follows what
// the batch changed, not the state: after 20,000 keys are in state, a
// batch touching 10 of them writes a changelog far smaller than the
// snapshot.
func TestChangelogFollowsChanges(t *testing.T) {
	cfg := seedConfig(Update)
	op, _ := New(seedSchema, cfg)
	var rs []reading
	for i := range 20_000 {
		rs = append(rs, reading{ts: 1_000_000_000 + int64(i), sensor: fmt.Sprintf("sensor-%06d", i), temp: 20, hum: 50})
	}
	op.Add(seedBatch(rs))
	op.Finish()
	var full, cl bytes.Buffer
	op.WriteChangelog(&cl)
	op.WriteSnapshot(&full)
	op.Add(seedBatch(rs[:10]))
	op.Finish()
	cl.Reset()
	if err := op.WriteChangelog(&cl); err != nil {
		t.Fatal(err)
	}
	if full.Len() < 20_000*50 || cl.Len() > 10*200 {
		t.Fatalf("snapshot %d bytes, changelog of 10 changed groups %d bytes", full.Len(), cl.Len())
	}
}

// TestRestoreRefusesBadInput checks the errors a user meets when the
// checkpoint is not the operator's.
func TestRestoreRefusesBadInput(t *testing.T) {
	cfg := seedConfig(Append)
	op, _ := New(seedSchema, cfg)
	op.Add(seedBatch([]reading{{ts: 5, sensor: "a", temp: 1}}))
	op.Finish()
	var snap, cl bytes.Buffer
	op.WriteSnapshot(&snap)
	op.WriteChangelog(&cl)
	good := snap.Bytes()

	flip := slices.Clone(good)
	flip[len(flip)/2] ^= 1
	other := seedConfig(Append)
	other.Delay = 1
	cases := []struct {
		name  string
		cfg   Config
		snap  []byte
		logs  [][]byte
		want  error
		subst string
	}{
		{"garbage", cfg, []byte("hello, world"), nil, ErrCorrupt, "not an aggregation checkpoint"},
		{"truncated", cfg, good[:len(good)-3], nil, ErrCorrupt, ""},
		{"bit flip", cfg, flip, nil, ErrCorrupt, "checksum"},
		{"other config", other, good, nil, ErrConfig, ""},
		{"changelog as snapshot", cfg, cl.Bytes(), nil, ErrCorrupt, "expected"},
		{"changelog twice", cfg, good, [][]byte{cl.Bytes(), cl.Bytes()}, ErrSequence, ""},
	}
	for _, c := range cases {
		var rs []io.Reader
		for _, l := range c.logs {
			rs = append(rs, bytes.NewReader(l))
		}
		_, err := Restore(seedSchema, c.cfg, bytes.NewReader(c.snap), rs...)
		if !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.subst) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Restore(seedSchema, cfg, bytes.NewReader(good)); err != nil {
		t.Fatalf("intact snapshot refused: %v", err)
	}
}

// FuzzRestore feeds mutated checkpoints to Restore, with a valid checksum
// appended so that the parser, not the checksum, meets the damage: it must
// return an error or a state that emits and checkpoints without panicking.
func FuzzRestore(f *testing.F) {
	for _, name := range []string{"tumbling/update", "session/append", "none/complete"} {
		cfg := ckptConfigs()[name]
		op, _ := New(seedSchema, cfg)
		rng := rand.New(rand.NewPCG(1, 2))
		for _, rs := range interleave(rng, seedReadings(rng, 200, 5)) {
			op.Add(seedBatch(rs))
			op.Finish()
		}
		var s bytes.Buffer
		op.WriteSnapshot(&s)
		f.Add(s.Bytes()[:s.Len()-4], uint8(len(name)))
	}
	names := []string{"tumbling/update", "session/append", "none/complete"}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		cfg := ckptConfigs()[names[int(which)%len(names)]]
		data = binary.LittleEndian.AppendUint32(slices.Clone(data), crc32.Checksum(data, castagnoli))
		op, err := Restore(seedSchema, cfg, bytes.NewReader(data))
		if err != nil {
			return
		}
		op.SetWatermark(math.MaxInt64 / 2)
		op.Finish()
		var buf bytes.Buffer
		if err := op.WriteSnapshot(&buf); err != nil {
			t.Fatal(err)
		}
	})
}

// CheckpointSizeHint is close to the size of the checkpoint it announces,
// snapshot and changelog, at a size where growing a buffer step by step
// costs: within 30 % for the seed's aggregates, which it counts whole.
func TestCheckpointSizeHint(t *testing.T) {
	op, _ := New(seedSchema, ckptConfigs()["tumbling/append/words"])
	rng := rand.New(rand.NewPCG(4, 4))
	for i, rs := range interleave(rng, seedReadings(rng, 50_000, 5000)) {
		op.Add(seedBatch(rs))
		op.Finish()
		for _, snap := range []bool{true, false} {
			hint := op.CheckpointSizeHint(snap)
			var b []byte
			if snap {
				b, _ = op.AppendSnapshot(nil)
			} else {
				b, _ = op.AppendChangelog(nil)
			}
			if len(b) > 10_000 && (float64(hint) < 0.7*float64(len(b)) || float64(hint) > 1.3*float64(len(b))) {
				t.Fatalf("batch %d, snapshot %v: hint %d bytes for %d", i, snap, hint, len(b))
			}
		}
	}
}
