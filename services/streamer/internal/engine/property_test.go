package engine

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// genReadings returns n readings over nSensors sensors and nParts partitions
// whose event times are out of order, but never by more than delay-1 ms
// behind the maximum so far: whatever the batch boundaries, none is late.
func genReadings(rng *rand.Rand, n, nSensors, nParts int, delayMs int64) []in {
	out := make([]in, n)
	maxTS := int64(1_732_200_000_000)
	for i := range out {
		maxTS += rng.Int64N(40)
		ts := maxTS - rng.Int64N(delayMs)
		out[i] = in{
			p:    int32(rng.IntN(nParts)),
			id:   fmt.Sprintf("S%03d", rng.IntN(nSensors)),
			ts:   ts,
			temp: -10 + 50*rng.Float64(), // full-precision values: sums depend on order
			hum:  100 * rng.Float64(),
			ok:   rng.IntN(4) != 0,
		}
	}
	return out
}

// runSplit feeds the readings in batches cut at the given indices, as a
// runner does: each batch uses the previous NextWatermark, and no-data
// batches run while asked for. It returns the concatenated Append rows and
// the engine.
func runSplit(t *testing.T, cfg Config, rs []in, cuts []int) ([]contract.WindowRow, *Engine) {
	t.Helper()
	e := mustNew(t, cfg)
	var out []contract.WindowRow
	wm := int64(0)
	batch := func(part []in) BatchResult {
		e.StartBatch(wm)
		for i, r := range part {
			// Add and AddRaw alternate, so that both entry points, and
			// AddRaw's fast path through the hot window, meet the reference.
			added := false
			if i%2 == 0 {
				added = e.Add(r.p, Reading{r.id, r.ts, r.temp, r.hum, r.ok})
			} else {
				added = e.AddRaw(r.p, []byte(r.id), r.ts, r.temp, r.hum, r.ok)
			}
			if !added {
				t.Fatalf("reading %+v dropped as late with watermark %d", r, e.Watermark())
			}
		}
		res := e.FinishBatch()
		out = append(out, res.Append...)
		wm = res.NextWatermark
		return res
	}
	prev := 0
	for _, c := range append(cuts, len(rs)) {
		for res := batch(rs[prev:c]); res.NeedsNoDataBatch; res = batch(nil) {
		}
		prev = c
	}
	batch(nil) // every split ends on a batch with the final watermark
	return out, e
}

// reference computes the closed windows of the readings the simplest way,
// independently of the engine's code: a map per partition folded in input
// order, merged in ascending partition order, keeping windows whose end <=
// finalWM.
func reference(cfg Config, rs []in, finalWM int64) []contract.WindowRow {
	l := cfg.Window.Milliseconds()
	type k struct {
		start int64
		id    string
	}
	type sums struct {
		n, ok            int64
		t, h, minT, maxT float64
	}
	add := func(m map[k]*sums, kk k, v sums) {
		if a := m[kk]; a != nil {
			a.n, a.ok, a.t, a.h = a.n+v.n, a.ok+v.ok, a.t+v.t, a.h+v.h
			a.minT, a.maxT = math.Min(a.minT, v.minT), math.Max(a.maxT, v.maxT)
		} else {
			m[kk] = &v
		}
	}
	perPart := map[int32]map[k]*sums{}
	for _, r := range rs {
		if perPart[r.p] == nil {
			perPart[r.p] = map[k]*sums{}
		}
		ok := int64(0)
		if r.ok {
			ok = 1
		}
		start := r.ts - r.ts%l // event times are positive here
		add(perPart[r.p], k{start, r.id}, sums{1, ok, r.temp, r.hum, r.temp, r.temp})
	}
	parts := slices.Sorted(maps.Keys(perPart))
	merged := map[k]*sums{}
	for _, p := range parts {
		for kk, a := range perPart[p] {
			if kk.start+l <= finalWM {
				add(merged, kk, *a)
			}
		}
	}
	var out []contract.WindowRow
	for kk, a := range merged {
		out = append(out, contract.WindowRow{
			WinStart: time.UnixMilli(kk.start).UTC(), WinEnd: time.UnixMilli(kk.start + l).UTC(),
			SensorID: kk.id, Eventos: a.n, AvgTemp: a.t / float64(a.n), AvgHum: a.h / float64(a.n),
			OKCount: a.ok, MinTemp: a.minT, MaxTemp: a.maxT,
		})
	}
	slices.SortFunc(out, func(a, b contract.WindowRow) int {
		if c := a.WinStart.Compare(b.WinStart); c != 0 {
			return c
		}
		return strings.Compare(a.SensorID, b.SensorID)
	})
	return out
}

func TestBatchBoundariesDoNotChangeOutput(t *testing.T) {
	cfg := Config{Window: 10 * time.Second, Watermark: 5 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	rs := genReadings(rng, 4000, 25, 3, cfg.Watermark.Milliseconds())

	maxTS := int64(0)
	for _, r := range rs {
		maxTS = max(maxTS, r.ts)
	}
	want := reference(cfg, rs, maxTS-cfg.Watermark.Milliseconds())
	if len(want) < 100 {
		t.Fatalf("reference has only %d closed windows: the generator is too small to test anything", len(want))
	}

	splits := map[string][]int{"one batch": nil}
	every := make([]int, 0, len(rs))
	for i := 1; i < len(rs); i++ {
		every = append(every, i)
	}
	splits["one reading per batch"] = every
	for s := range 20 {
		n := 1 + rng.IntN(200)
		cuts := make([]int, n)
		for i := range cuts {
			cuts[i] = 1 + rng.IntN(len(rs)-1)
		}
		slices.Sort(cuts)
		splits[fmt.Sprintf("random split %d (%d batches)", s, n+1)] = slices.Compact(cuts)
	}

	var wantSnap []byte
	for name, cuts := range splits {
		got, e := runSplit(t, cfg, rs, cuts)
		checkRows(t, name, got, want)
		var snap bytes.Buffer
		if err := e.Snapshot(&snap); err != nil {
			t.Fatalf("%s: Snapshot: %v", name, err)
		}
		if wantSnap == nil {
			wantSnap = snap.Bytes()
		} else if !bytes.Equal(snap.Bytes(), wantSnap) {
			t.Errorf("%s: the remaining state's snapshot differs from another split's", name)
		}
	}
}
