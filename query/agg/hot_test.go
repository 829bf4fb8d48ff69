package agg

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// TestKeyWordsSeeEveryByte checks that keys of one length differing in
// any single byte get different words: the group cache compares keys by
// their words and length only.
func TestKeyWordsSeeEveryByte(t *testing.T) {
	for n := 0; n <= hotKeyMax; n++ {
		k := []byte(strings.Repeat("\x5a", n))
		w0, w1 := keyWords(k)
		for j := range n {
			for _, x := range []byte{0, 0x5b, 0xff} {
				k2 := slices.Clone(k)
				k2[j] = x
				if v0, v1 := keyWords(k2); v0 == w0 && v1 == w1 {
					t.Fatalf("length %d: keys differing in byte %d have the same words", n, j)
				}
			}
		}
	}
}

// TestCacheDroppedWhenWindowRecycled evicts a window and folds rows of a
// new window into its recycled store, in the same partition, with keys in
// another order: a group cache kept across Finish would send "a" to the
// record "c" now has.
func TestCacheDroppedWhenWindowRecycled(t *testing.T) {
	const s = 1_000_000
	op, _ := New(seedSchema, seedConfig(Append))
	op.Add(seedBatch([]reading{{ts: 1 * s, sensor: "a", temp: 1}, {ts: 1 * s, sensor: "b", temp: 2}}))
	op.Finish()
	op.SetWatermark(100 * s)
	out, _ := op.Finish() // closes [0 s, 10 s), whose store is recycled
	want := []string{seedRow(0, 10*s, "a", 1, 1, 0, 0, 1, 1), seedRow(0, 10*s, "b", 1, 2, 0, 0, 2, 2)}
	if got := opRows(t, out); !slices.Equal(got, want) {
		t.Fatalf("first window: %q", got)
	}
	op.Add(seedBatch([]reading{{ts: 115 * s, sensor: "c", temp: 3}, {ts: 115 * s, sensor: "a", temp: 4},
		{ts: 116 * s, sensor: "a", temp: 5}}))
	op.Finish()
	op.SetWatermark(200 * s)
	out, _ = op.Finish()
	want = []string{seedRow(110*s, 120*s, "a", 2, 4.5, 0, 0, 4, 5), seedRow(110*s, 120*s, "c", 1, 3, 0, 0, 3, 3)}
	if got := opRows(t, out); !slices.Equal(got, want) {
		t.Fatalf("window in a recycled store:\ngot  %q\nwant %q", got, want)
	}
}

// TestCacheDroppedBetweenBatches folds one key in two batches into the
// same window and partition: in update mode the second batch must emit the
// group again, which it does only if the row is counted as changed by that
// batch, not served from the first batch's cache entry.
func TestCacheDroppedBetweenBatches(t *testing.T) {
	const s = 1_000_000
	op, _ := New(seedSchema, seedConfig(Update))
	op.Add(seedBatch([]reading{{ts: 1 * s, sensor: "a", temp: 1}}))
	if out, st := op.Finish(); out.N != 1 || st.NumRowsUpdated != 1 {
		t.Fatalf("batch 0: %d rows, %d updated", out.N, st.NumRowsUpdated)
	}
	op.Add(seedBatch([]reading{{ts: 2 * s, sensor: "a", temp: 3}, {ts: 2 * s, sensor: "a", temp: 5}}))
	out, st := op.Finish()
	want := []string{seedRow(0, 10*s, "a", 3, 3, 0, 0, 1, 5)}
	if got := opRows(t, out); !slices.Equal(got, want) || st.NumRowsUpdated != 1 {
		t.Fatalf("batch 1: %q, %d updated; want %q", got, st.NumRowsUpdated, want)
	}
}

// TestManyKeysOfEveryLength runs the seed query over 1,500 sensors whose
// ids have 1 to 24 bytes (cached as words up to hotKeyMax, looked up in
// full beyond), more than the group cache holds, so that entries collide
// and are replaced, and compares every batch with the reference
// arithmetic, floats by their bits.
func TestManyKeysOfEveryLength(t *testing.T) {
	for _, mode := range []Mode{Append, Update} {
		t.Run(mode.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 3))
			parts := seedReadings(rng, 30_000, 1500)
			for p := range parts {
				for i := range parts[p] {
					r := &parts[p][i]
					var id int
					fmt.Sscanf(r.sensor, "S%d", &id)
					// Lengths 1 to 24; ids of one length differ in a middle byte too.
					n := 1 + id%24
					r.sensor = fmt.Sprintf("%0*d", n, id)[max(0, len(fmt.Sprint(id))-n):]
					if n > 6 {
						b := []byte(r.sensor)
						b[n/2] = byte('a' + id%7)
						r.sensor = string(b)
					}
				}
			}
			op, _ := New(seedSchema, seedConfig(mode))
			ref := newSeedRef(mode)
			total := 0
			// Batches of long runs of one partition: more keys in one
			// cache context than the cache holds.
			var batches [][]reading
			for len(parts[0])+len(parts[1])+len(parts[2]) > 0 {
				var b []reading
				for p := range parts {
					n := min(len(parts[p]), 2500)
					b = append(b, parts[p][:n]...)
					parts[p] = parts[p][n:]
				}
				batches = append(batches, b)
			}
			for bi, rs := range batches {
				if err := op.Add(seedBatch(rs)); err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					ref.add(r)
				}
				out, _ := op.Finish()
				got, want := opRows(t, out), ref.finish()
				if !slices.Equal(got, want) {
					t.Fatalf("batch %d: %d rows, want %d\ngot  %q\nwant %q", bi, len(got), len(want), head(got), head(want))
				}
				total += len(got)
			}
			if total < 1500 {
				t.Fatalf("%d rows emitted", total)
			}
		})
	}
}

// TestNullInNotNullKeyIsRefused checks that a null in a key column
// declared NOT NULL stops the operator, whether the key is read in place
// (one STRING key) or encoded (a BIGINT key).
func TestNullInNotNullKeyIsRefused(t *testing.T) {
	for _, kt := range []types.Type{types.TString, types.TBigint} {
		in := types.Schema{{Name: "k", Type: kt}, {Name: "x", Type: types.TBigint}}
		op, err := New(in, Config{Keys: []int{0}, Aggs: []Agg{{Sum, 1}}, Mode: Complete})
		if err != nil {
			t.Fatal(err)
		}
		b := types.NewBatch(in, 2)
		if kt == types.TString {
			b.Cols[0].AppendString("a")
		} else {
			b.Cols[0].AppendInt(1)
		}
		b.Cols[0].AppendNull()
		b.Cols[1].AppendInt(1)
		b.Cols[1].AppendInt(2)
		b.N = 2
		if err := op.Add(b); !errors.Is(err, errNullKey) {
			t.Fatalf("%s key: error %v, want a null key error", kt, err)
		}
	}
}
