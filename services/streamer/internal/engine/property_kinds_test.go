package engine

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// withDuplicates copies about frac of the readings a few positions later,
// into a random partition and with other values: a duplicate (sensor_id, ts).
// Only readings near the max event time are copied, and not far, so that the
// copies are never late either.
func withDuplicates(rng *rand.Rand, rs []in, frac float64, delayMs int64) []in {
	type due struct {
		at int
		r  in
	}
	var out []in
	var pending []due
	maxTS := int64(math.MinInt64)
	for i, r := range rs {
		for len(pending) > 0 && pending[0].at <= i {
			out = append(out, pending[0].r)
			pending = pending[1:]
		}
		out = append(out, r)
		maxTS = max(maxTS, r.ts)
		if r.ts >= maxTS-delayMs/2 && rng.Float64() < frac {
			d := r
			d.p = int32(rng.IntN(3))
			d.temp, d.hum = 1000, 1000 // would show in any aggregate it got into
			pending = append(pending, due{i + 1 + rng.IntN(5), d})
			slices.SortStableFunc(pending, func(a, b due) int { return a.at - b.at })
		}
	}
	for _, d := range pending {
		out = append(out, d.r)
	}
	return out
}

// firstOccurrences keeps the first reading of every (sensor_id, ts).
func firstOccurrences(rs []in) []in {
	type key struct {
		id string
		ts int64
	}
	seen := map[key]bool{}
	var out []in
	for _, r := range rs {
		if k := (key{r.id, r.ts}); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// referenceSliding computes the closed sliding windows independently of the
// engine: per partition, a map folded in input order for every window start
// k·S with k·S <= ts < k·S+L; merged in ascending partition order.
func referenceSliding(cfg Config, rs []in, finalWM int64) []contract.WindowRow {
	l, s := cfg.Window.Milliseconds(), cfg.Slide.Milliseconds()
	type k struct {
		start int64
		id    string
	}
	perPart := map[int32]map[k]*agg{}
	for _, r := range rs {
		if perPart[r.p] == nil {
			perPart[r.p] = map[k]*agg{}
		}
		for start := r.ts / s * s; start+l > r.ts; start -= s { // event times are positive here
			kk := k{start, r.id}
			a := perPart[r.p][kk]
			if a == nil {
				a = &agg{}
				perPart[r.p][kk] = a
			}
			a.fold(r.temp, r.hum, r.ok)
		}
	}
	parts := make([]int32, 0, len(perPart))
	for p := range perPart {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	merged := map[k]*agg{}
	for _, p := range parts {
		for kk, a := range perPart[p] {
			if kk.start+l > finalWM {
				continue
			}
			if merged[kk] == nil {
				merged[kk] = &agg{}
			}
			merged[kk].merge(a)
		}
	}
	var out []contract.WindowRow
	for kk, a := range merged {
		out = append(out, refRow(kk.start, kk.start+l, kk.id, a))
	}
	sortRows(out)
	return out
}

// referenceSessions computes the closed sessions independently of the
// engine: per sensor, every reading sorted by event time, cut where two
// consecutive readings are a gap or more apart. The sums are added in
// event-time order, not the engine's: compare them with checkRowsNear.
func referenceSessions(cfg Config, rs []in, finalWM int64) []contract.WindowRow {
	gap := cfg.SessionGap.Milliseconds()
	by := map[string][]in{}
	for _, r := range rs {
		by[r.id] = append(by[r.id], r)
	}
	var out []contract.WindowRow
	for id, list := range by {
		slices.SortStableFunc(list, func(a, b in) int { return cmpInt(a.ts, b.ts) })
		for i := 0; i < len(list); {
			j := i + 1
			for j < len(list) && list[j].ts-list[j-1].ts < gap {
				j++
			}
			var a agg
			for _, r := range list[i:j] {
				a.fold(r.temp, r.hum, r.ok)
			}
			if end := list[j-1].ts + gap; end <= finalWM {
				out = append(out, refRow(list[i].ts, end, id, &a))
			}
			i = j
		}
	}
	sortRows(out)
	return out
}

func refRow(start, end int64, id string, a *agg) contract.WindowRow {
	return contract.WindowRow{
		WinStart: time.UnixMilli(start).UTC(), WinEnd: time.UnixMilli(end).UTC(), SensorID: id,
		Eventos: a.count, AvgTemp: a.sumT / float64(a.count), AvgHum: a.sumH / float64(a.count),
		OKCount: a.ok, MinTemp: a.minT, MaxTemp: a.maxT,
	}
}

func sortRows(rows []contract.WindowRow) {
	slices.SortFunc(rows, func(a, b contract.WindowRow) int {
		if c := a.WinStart.Compare(b.WinStart); c != 0 {
			return c
		}
		return strings.Compare(a.SensorID, b.SensorID)
	})
}

// checkRowsNear compares rows exactly but for the averages, which may differ
// in the last bits when sums were added in another order.
func checkRowsNear(t *testing.T, what string, got, want []contract.WindowRow) {
	t.Helper()
	round := func(rows []contract.WindowRow) string {
		var b strings.Builder
		for _, r := range rows {
			fmt.Fprintf(&b, "[%d,%d) %s n=%d ok=%d min=%v max=%v avgT=%.9f avgH=%.9f\n", r.WinStart.UnixMilli(), r.WinEnd.UnixMilli(),
				r.SensorID, r.Eventos, r.OKCount, r.MinTemp, r.MaxTemp, r.AvgTemp, r.AvgHum)
		}
		return b.String()
	}
	if g, w := round(got), round(want); g != w {
		t.Errorf("%s rows:\ngot:\n%swant:\n%s", what, g, w)
	}
}

// Every window kind, with dedup and complete mode: the same stream cut into
// batches in different places gives byte-identical Append output and the same
// final state, and that output is what an independent reference computes.
func TestBatchBoundariesDoNotChangeOutputAnyKind(t *testing.T) {
	const delay = 5 * time.Second
	tests := []struct {
		name string
		cfg  Config
	}{
		{"sliding 10s/2s", Config{Window: 10 * time.Second, Slide: 2 * time.Second, Watermark: delay}},
		{"sliding 10s/5s, complete mode", Config{Window: 10 * time.Second, Slide: 5 * time.Second, Watermark: delay, RetainAll: true}},
		{"tumbling 10s, dedup", Config{Window: 10 * time.Second, Watermark: delay, Dedup: true}},
		{"sliding 10s/5s, dedup", Config{Window: 10 * time.Second, Slide: 5 * time.Second, Watermark: delay, Dedup: true}},
		{"session 600ms", Config{SessionGap: 600 * time.Millisecond, Watermark: delay}},
		{"session 600ms, dedup, complete mode", Config{SessionGap: 600 * time.Millisecond, Watermark: delay, Dedup: true, RetainAll: true}},
		// Timeouts fire depending on batch boundaries; windows must not.
		{"session 1s, silence timeout", Config{SessionGap: time.Second, Watermark: delay, SilenceTimeout: 2 * time.Second}},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(ti)))
			rs := genReadings(rng, 3000, 25, 3, delay.Milliseconds())
			if tt.cfg.Dedup {
				rs = withDuplicates(rng, rs, 0.1, delay.Milliseconds())
			}
			maxTS := int64(0)
			for _, r := range rs {
				maxTS = max(maxTS, r.ts)
			}
			finalWM := maxTS - delay.Milliseconds()
			kept := rs
			if tt.cfg.Dedup {
				kept = firstOccurrences(rs)
				if len(rs)-len(kept) < 100 {
					t.Fatalf("only %d duplicates: the generator tests little", len(rs)-len(kept))
				}
			}
			var want []contract.WindowRow
			switch tt.cfg.kind() {
			case kindSession:
				want = referenceSessions(tt.cfg, kept, finalWM)
			case kindSliding:
				want = referenceSliding(tt.cfg, kept, finalWM)
			default:
				want = reference(tt.cfg, kept, finalWM)
			}
			if len(want) < 100 {
				t.Fatalf("reference has only %d closed windows: the generator is too small to test anything", len(want))
			}

			splits := map[string][]int{}
			every := make([]int, 0, len(rs))
			for i := 1; i < len(rs); i++ {
				every = append(every, i)
			}
			if tt.cfg.RetainAll { // each batch emits the whole table: keep the test quick
				every = every[:len(every)/10]
			}
			splits["one reading per batch"] = every
			for s := range 8 {
				n := 1 + rng.IntN(200)
				cuts := make([]int, n)
				for i := range cuts {
					cuts[i] = 1 + rng.IntN(len(rs)-1)
				}
				slices.Sort(cuts)
				splits[fmt.Sprintf("random split %d (%d batches)", s, n+1)] = slices.Compact(cuts)
			}

			first, e := runSplit(t, tt.cfg, rs, nil)
			sortRows(first)
			if tt.cfg.kind() == kindSession {
				checkRowsNear(t, "one batch vs reference", first, want)
			} else {
				checkRows(t, "one batch vs reference", first, want)
			}
			wantSnap := snapshot(t, e)
			for name, cuts := range splits {
				got, e := runSplit(t, tt.cfg, rs, cuts)
				// Sessions close in order of end, not start: rows of
				// different batches interleave differently, compare sets.
				sortRows(got)
				checkRows(t, name, got, first) // byte for byte
				if tt.cfg.SilenceTimeout == 0 && !bytes.Equal(snapshot(t, e), wantSnap) {
					t.Errorf("%s: the remaining state's snapshot differs from one batch's", name)
				}
			}
		})
	}
}
