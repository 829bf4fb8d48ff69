package agg

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// The seed query: per (10 s window, sensor_id), count(*), avg(temp),
// avg(hum), sum(ok ? 1 : 0), min(temp), max(temp); watermark 1 minute.
var seedSchema = types.Schema{
	{Name: "ts", Type: types.TTimestamp},
	{Name: "sensor_id", Type: types.TString},
	{Name: "temp", Type: types.TDouble},
	{Name: "hum", Type: types.TDouble},
	{Name: "ok", Type: types.TBigint},
}

func seedConfig(mode Mode) Config {
	return Config{
		Keys:   []int{1},
		Window: Window{Kind: Tumbling, TimeCol: 0, Size: 10_000_000},
		Aggs:   []Agg{{Count, -1}, {Avg, 2}, {Avg, 3}, {Sum, 4}, {Min, 2}, {Max, 2}},
		Mode:   mode, HasWatermark: true, Delay: 60_000_000,
	}
}

type reading struct {
	part      int32
	ts        int64 // micros
	sensor    string
	temp, hum float64
	ok        bool
}

// seedRef is the existing engine's arithmetic, written out: per
// (window, sensor, partition) a partial folded in arrival order; at emit
// the partials merged in ascending partition order (the first copied, the
// next added), min and max replaced only by strictly lesser or greater
// values; avg = sum / count.
type seedAgg struct {
	count, ok              int64
	sumT, sumH, minT, maxT float64
}

func (a *seedAgg) fold(r reading) {
	if a.count == 0 {
		a.minT, a.maxT = r.temp, r.temp
	} else {
		if r.temp < a.minT {
			a.minT = r.temp
		}
		if r.temp > a.maxT {
			a.maxT = r.temp
		}
	}
	a.count++
	if r.ok {
		a.ok++
	}
	a.sumT += r.temp
	a.sumH += r.hum
}

func (a *seedAgg) merge(b *seedAgg) {
	if a.count == 0 {
		*a = *b
		return
	}
	a.count += b.count
	a.ok += b.ok
	a.sumT += b.sumT
	a.sumH += b.sumH
	if b.minT < a.minT {
		a.minT = b.minT
	}
	if b.maxT > a.maxT {
		a.maxT = b.maxT
	}
}

type seedKey struct {
	start  int64
	sensor string
}

type seedRef struct {
	mode    Mode
	wm, max int64
	state   map[seedKey]map[int32]*seedAgg
	touched map[seedKey]bool
}

func newSeedRef(mode Mode) *seedRef {
	return &seedRef{mode: mode, max: math.MinInt64, state: map[seedKey]map[int32]*seedAgg{}, touched: map[seedKey]bool{}}
}

func (s *seedRef) add(r reading) {
	s.max = max(s.max, r.ts)
	if r.ts <= s.wm {
		return
	}
	k := seedKey{r.ts - floorMod(r.ts, 10_000_000), r.sensor}
	ps := s.state[k]
	if ps == nil {
		ps = map[int32]*seedAgg{}
		s.state[k] = ps
	}
	if ps[r.part] == nil {
		ps[r.part] = &seedAgg{}
	}
	ps[r.part].fold(r)
	s.touched[k] = true
}

// finish returns the batch's rows as strings of the float bits.
func (s *seedRef) finish() []string {
	var keys []seedKey
	for k := range s.state {
		closed := k.start+10_000_000 <= s.wm
		if (s.mode == Append && closed) || (s.mode == Update && s.touched[k]) || s.mode == Complete {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b seedKey) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.sensor, b.sensor)
	})
	var rows []string
	for _, k := range keys {
		ps := s.state[k]
		parts := slices.Sorted(func(yield func(int32) bool) {
			for p := range ps {
				if !yield(p) {
					return
				}
			}
		})
		var a seedAgg
		for _, p := range parts {
			a.merge(ps[p])
		}
		n := float64(a.count)
		rows = append(rows, seedRow(k.start, k.start+10_000_000, k.sensor, a.count, a.sumT/n, a.sumH/n, a.ok, a.minT, a.maxT))
	}
	if s.mode != Complete {
		for k := range s.state {
			if k.start+10_000_000 <= s.wm {
				delete(s.state, k)
			}
		}
	}
	clear(s.touched)
	if s.max != math.MinInt64 {
		s.wm = max(s.wm, s.max-60_000_000)
	}
	return rows
}

func seedRow(start, end int64, sensor string, n int64, avgT, avgH float64, ok int64, minT, maxT float64) string {
	return fmt.Sprintf("%d %d %s %d %x %x %d %x %x", start, end, sensor, n,
		math.Float64bits(avgT), math.Float64bits(avgH), ok, math.Float64bits(minT), math.Float64bits(maxT))
}

// opRows renders an output batch of the seed query like seedRow.
func opRows(t testing.TB, b *types.Batch) []string {
	t.Helper()
	var rows []string
	for i := 0; i < b.N; i++ {
		c := b.Cols
		for _, v := range c[3:] {
			if v.IsNull(i) {
				t.Fatalf("row %d: unexpected null", i)
			}
		}
		rows = append(rows, seedRow(c[0].I64[i], c[1].I64[i], c[2].Str[i], c[3].I64[i], c[4].F64[i], c[5].F64[i], c[6].I64[i], c[7].F64[i], c[8].F64[i]))
	}
	return rows
}

// seedReadings makes n readings of nSensors sensors over 3 partitions,
// each partition in offset order, event times mostly increasing with
// disorder and some late stragglers; temperatures with 2 decimals (not
// exact in binary, so the order of additions shows in the bits), some
// equal to another with opposite zero signs.
func seedReadings(rng *rand.Rand, n, nSensors int) [3][]reading {
	var parts [3][]reading
	t := int64(1_732_200_000_000_000)
	for i := 0; i < n; i++ {
		p := rng.IntN(3)
		t += rng.Int64N(400_000)
		ts := t - rng.Int64N(15_000_000) // disorder up to 15 s
		if rng.IntN(50) == 0 {
			ts -= 90_000_000 // late
		}
		temp := float64(1800+rng.IntN(2200)) / 100
		if rng.IntN(100) == 0 {
			temp = math.Copysign(0, float64(rng.IntN(2)*2-1))
		}
		parts[p] = append(parts[p], reading{part: int32(p), ts: ts, sensor: fmt.Sprintf("S%03d", rng.IntN(nSensors)+1),
			temp: temp, hum: float64(3500+rng.IntN(6000)) / 100, ok: rng.IntN(20) != 0})
	}
	return parts
}

// interleave merges the partitions in a random order that keeps each
// partition's offset order, and cuts it into random batches.
func interleave(rng *rand.Rand, parts [3][]reading) [][]reading {
	var all []reading
	idx := [3]int{}
	for {
		var open []int
		for p := range parts {
			if idx[p] < len(parts[p]) {
				open = append(open, p)
			}
		}
		if len(open) == 0 {
			break
		}
		p := open[rng.IntN(len(open))]
		run := 1 + rng.IntN(20)
		for ; run > 0 && idx[p] < len(parts[p]); run-- {
			all = append(all, parts[p][idx[p]])
			idx[p]++
		}
	}
	var batches [][]reading
	for len(all) > 0 {
		n := min(len(all), 1+rng.IntN(300))
		batches = append(batches, all[:n])
		all = all[n:]
	}
	return batches
}

func seedBatch(rs []reading) *types.Batch {
	b := types.NewBatch(seedSchema, len(rs))
	for _, r := range rs {
		b.Cols[0].AppendInt(r.ts)
		b.Cols[1].AppendString(r.sensor)
		b.Cols[2].AppendFloat(r.temp)
		b.Cols[3].AppendFloat(r.hum)
		ok := int64(0)
		if r.ok {
			ok = 1
		}
		b.Cols[4].AppendInt(ok)
		b.Partition = append(b.Partition, r.part)
	}
	b.N = len(rs)
	return b
}

// TestSeedQueryMatchesEngineArithmetic feeds the same readings to the
// operator and to the reference, cut into batches at random, and compares
// every batch's rows, floats by their bits.
func TestSeedQueryMatchesEngineArithmetic(t *testing.T) {
	for _, mode := range []Mode{Append, Update, Complete} {
		for seed := uint64(1); seed <= 6; seed++ {
			t.Run(fmt.Sprintf("%s/%d", mode, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 7))
				batches := interleave(rng, seedReadings(rng, 4000, 20))
				op, err := New(seedSchema, seedConfig(mode))
				if err != nil {
					t.Fatal(err)
				}
				ref := newSeedRef(mode)
				total := 0
				for bi, rs := range batches {
					if err := op.Add(seedBatch(rs)); err != nil {
						t.Fatal(err)
					}
					for _, r := range rs {
						ref.add(r)
					}
					out, st := op.Finish()
					got, want := opRows(t, out), ref.finish()
					if !slices.Equal(got, want) {
						t.Fatalf("batch %d: %d rows, want %d\ngot  %q\nwant %q", bi, len(got), len(want), head(got), head(want))
					}
					if st.NextWatermark != ref.wm {
						t.Fatalf("batch %d: next watermark %d, want %d", bi, st.NextWatermark, ref.wm)
					}
					total += len(got)
				}
				if total == 0 {
					t.Fatal("no rows emitted")
				}
			})
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }
