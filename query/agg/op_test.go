package agg

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// TestLateRowsAndNoDataBatch follows one key through batches: a late row
// is dropped and counted, the next watermark is max event time - delay,
// and a batch without data is asked for once it closes a window, which
// that batch then emits (append mode) and evicts.
func TestLateRowsAndNoDataBatch(t *testing.T) {
	cfg := seedConfig(Append) // 10 s windows, 1 min delay
	op, _ := New(seedSchema, cfg)
	const s = 1_000_000
	op.Add(seedBatch([]reading{{ts: 100 * s, sensor: "a", temp: 1}, {ts: 105 * s, sensor: "a", temp: 3}}))
	out, st := op.Finish()
	if out.N != 0 || st.NextWatermark != 45*s || st.NeedsNoDataBatch || st.NumRowsTotal != 1 {
		t.Fatalf("batch 0: %d rows, %+v", out.N, st)
	}
	op.Add(seedBatch([]reading{{ts: 45 * s, sensor: "a", temp: 9}, {ts: 171 * s, sensor: "a", temp: 2}}))
	out, st = op.Finish()
	if out.N != 0 || st.NumRowsDroppedByWatermark != 1 || st.NumInputRows != 2 || st.NextWatermark != 111*s || !st.NeedsNoDataBatch {
		t.Fatalf("batch 1: %d rows, %+v", out.N, st)
	}
	out, st = op.Finish() // the no-data batch
	want := []string{seedRow(100*s, 110*s, "a", 2, 2, 0, 0, 1, 3)}
	if got := opRows(t, out); !slices.Equal(got, want) || st.NumRowsRemoved != 1 || st.NumRowsTotal != 1 || st.NeedsNoDataBatch {
		t.Fatalf("no-data batch: %q, %+v", got, st)
	}
	if out, _ = op.Finish(); out.N != 0 {
		t.Fatal("a closed window was emitted twice")
	}
}

// A held watermark moves only as its caller sets it: the batches' event
// times do not raise it, a late row is judged by the one set, and a window
// closes (in the batch after) when the watermark set passes its end.
func TestHeldWatermarkMovesOnlyWhenSet(t *testing.T) {
	op, _ := New(seedSchema, seedConfig(Append)) // 10 s windows, 1 min delay
	op.HoldWatermark()
	const s = 1_000_000
	op.Add(seedBatch([]reading{{ts: 100 * s, sensor: "a", temp: 1}, {ts: 300 * s, sensor: "a", temp: 3}}))
	if out, st := op.Finish(); out.N != 0 || st.NextWatermark != 0 || st.NeedsNoDataBatch {
		t.Fatalf("batch 0: %d rows, %+v; want the watermark held at 0", out.N, st)
	}
	op.SetWatermark(95 * s) // the least of its inputs': 100 s is on time
	op.Add(seedBatch([]reading{{ts: 101 * s, sensor: "a", temp: 5}, {ts: 90 * s, sensor: "a", temp: 7}}))
	out, st := op.Finish()
	if out.N != 0 || st.NumRowsDroppedByWatermark != 1 || st.NextWatermark != 95*s {
		t.Fatalf("batch 1: %d rows, %+v; want the 90 s row late and the watermark at 95 s", out.N, st)
	}
	op.SetWatermark(120 * s)
	out, _ = op.Finish()
	want := []string{seedRow(100*s, 110*s, "a", 2, 3, 0, 0, 1, 5)}
	if got := opRows(t, out); !slices.Equal(got, want) {
		t.Fatalf("watermark set to 120 s: %q, want %q", got, want)
	}
}

// TestDecimalOverflowIsAnError checks that a DECIMAL sum leaving the
// 18 digits this engine stores stops the operator with an error instead of
// wrapping.
func TestDecimalOverflowIsAnError(t *testing.T) {
	in := types.Schema{{Name: "m", Type: types.DecimalOf(18, 0)}}
	op, err := New(in, Config{Aggs: []Agg{{Sum, 0}}, Mode: Complete})
	if err != nil {
		t.Fatal(err)
	}
	if got := op.OutputSchema()[0].Type; got != types.DecimalOf(18, 0) {
		t.Fatalf("sum(DECIMAL(18,0)) is %s", got)
	}
	b := types.NewBatch(in, 2)
	b.Cols[0].AppendInt(999_999_999_999_999_999)
	b.Cols[0].AppendInt(1)
	b.N = 2
	if err := op.Add(b); !errors.Is(err, ErrOverflow) {
		t.Fatalf("error %v, want ErrOverflow", err)
	}
	if out, _ := op.Finish(); out.N != 0 || !errors.Is(op.Err(), ErrOverflow) {
		t.Fatal("the operator went on after an overflow")
	}
}

// TestResultTypes checks Spark's result types and New's refusals.
func TestResultTypes(t *testing.T) {
	in := types.Schema{{Name: "i", Type: types.TInt}, {Name: "d", Type: types.DecimalOf(10, 2)},
		{Name: "f", Type: types.TDouble}, {Name: "s", Type: types.TString}, {Name: "b", Type: types.TBoolean}}
	op, err := New(in, Config{Keys: []int{3}, Aggs: []Agg{{Sum, 0}, {Sum, 1}, {Avg, 1}, {Avg, 0}, {Min, 3}, {CountIf, 4}, {ApproxCountDistinct, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "s STRING NOT NULL, agg0 BIGINT, agg1 DECIMAL(18,2), agg2 DECIMAL(14,6), agg3 DOUBLE, agg4 STRING, agg5 BIGINT NOT NULL, agg6 BIGINT NOT NULL"
	if got := op.OutputSchema().String(); got != want {
		t.Fatalf("schema\n%s, want\n%s", got, want)
	}
	for _, bad := range []Config{
		{Aggs: []Agg{{Sum, 3}}},
		{Aggs: []Agg{{CountIf, 0}}},
		{Aggs: []Agg{{Min, -1}}},
		{Keys: []int{9}, Aggs: []Agg{{Count, -1}}},
		{Window: Window{Kind: Tumbling, TimeCol: 0, Size: 10}, Aggs: []Agg{{Count, -1}}},
		{Window: Window{Kind: Sliding, TimeCol: 0, Size: 10, Slide: 20}, Aggs: []Agg{{Count, -1}}},
	} {
		if _, err := New(in, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// sortKeys (radix on 8-byte prefixes) orders distinct keys as bytes.Compare
// does: keys of every length, sharing long prefixes, with zero bytes.
func TestSortKeysIsByteOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	op := &Op{}
	for _, n := range []int{0, 1, 1023, 1024, 5000, 70_000} {
		seen := map[string]bool{}
		var refs []keyRef
		for len(refs) < n {
			k := make([]byte, rng.IntN(20))
			for i := range k {
				k[i] = []byte{0, 1, 'a', 'b', 0xff}[rng.IntN(5)]
			}
			if rng.IntN(3) == 0 && len(k) > 9 {
				copy(k, "prefix00") // many equal 8-byte prefixes
			}
			if seen[string(k)] {
				continue
			}
			seen[string(k)] = true
			refs = append(refs, keyRef{k: k, r: int32(len(refs))})
		}
		want := slices.Clone(refs)
		slices.SortFunc(want, func(a, b keyRef) int { return bytes.Compare(a.k, b.k) })
		op.sortKeys(refs)
		for i := range refs {
			if !bytes.Equal(refs[i].k, want[i].k) || refs[i].r != want[i].r {
				t.Fatalf("%d keys: position %d holds %q (ref %d), want %q (ref %d)", n, i, refs[i].k, refs[i].r, want[i].k, want[i].r)
			}
		}
	}
}
