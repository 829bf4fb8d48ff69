package agg

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// The property test compares the operator with a naive reference over
// random inputs: every window kind and output mode, keys of every type,
// nulls. The reference keeps the on-time rows themselves and recomputes
// every group from them at each batch's end. Doubles are multiples of
// 0.25 below 2^20, so their sums are exact in any order (the order of
// additions is checked bit for bit by TestSeedQueryMatchesEngineArithmetic).

var propKeyTypes = []types.Type{types.TString, types.TBigint, types.TInt, types.TBoolean,
	types.DecimalOf(5, 2), types.TTimestamp, types.TDouble}

// Value columns after ts and the keys.
var propValues = types.Schema{
	{Name: "x", Type: types.TBigint, Nullable: true},
	{Name: "d", Type: types.TDouble, Nullable: true},
	{Name: "m", Type: types.DecimalOf(6, 2), Nullable: true},
	{Name: "s", Type: types.TString, Nullable: true},
	{Name: "b", Type: types.TBoolean, Nullable: true},
	{Name: "y", Type: types.TBigint},
}

type propCase struct {
	in    types.Schema
	cfg   Config
	nKeys int
}

func randomCase(rng *rand.Rand) propCase {
	in := types.Schema{{Name: "ts", Type: types.TTimestamp}}
	nk := rng.IntN(3)
	var keys []int
	for i := range nk {
		in = append(in, types.Field{Name: fmt.Sprintf("k%d", i), Type: propKeyTypes[rng.IntN(len(propKeyTypes))], Nullable: rng.IntN(2) == 0})
		keys = append(keys, len(in)-1)
	}
	v := len(in)
	in = append(in, propValues...)
	x, d, m, s, b, y := v, v+1, v+2, v+3, v+4, v+5
	all := []Agg{{Count, -1}, {Count, x}, {Sum, x}, {Avg, x}, {Min, x}, {Max, x}, {Sum, d}, {Avg, d}, {Min, d}, {Max, d},
		{Sum, m}, {Avg, m}, {Min, m}, {Max, s}, {Min, s}, {CountIf, b}, {Min, b}, {Max, b}, {ApproxCountDistinct, x},
		{CountDistinct, s}, {Sum, y}, {Max, y}, {Avg, y}, {Max, 0}}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	cfg := Config{Keys: keys, Aggs: all[:1+rng.IntN(8)], HasWatermark: rng.IntN(4) != 0, Delay: rng.Int64N(4) * 1000}
	switch rng.IntN(4) {
	case 0:
		cfg.Window = Window{Kind: Tumbling, Size: 2000}
	case 1:
		cfg.Window = Window{Kind: Sliding, Size: []int64{3000, 2500}[rng.IntN(2)], Slide: 1000}
	case 2:
		cfg.Window = Window{Kind: Session, Gap: 1500}
	}
	cfg.Mode = Mode(rng.IntN(3))
	if cfg.Mode == Append && (!cfg.HasWatermark || cfg.Window.Kind == None) {
		cfg.Mode = Update // the planner refuses the rest
	}
	return propCase{in: in, cfg: cfg, nKeys: 1 + rng.IntN(6)}
}

type propRow struct {
	part  int32
	batch int
	vals  *types.Batch // one-row batch
}

func randomBatch(rng *rand.Rand, c propCase, n int, t *int64) *types.Batch {
	b := types.NewBatch(c.in, n)
	for range n {
		// Multiples of 250 µs, so that rows fall on window and gap bounds.
		*t += 250 * rng.Int64N(2)
		b.Cols[0].AppendInt(max(250, *t-250*rng.Int64N(10)))
		for i, f := range c.in[1:] {
			v := b.Cols[i+1]
			if f.Nullable && rng.IntN(5) == 0 {
				v.AppendNull()
				continue
			}
			k := rng.IntN(c.nKeys)
			switch f.Type.Kind {
			case types.String:
				v.AppendString([]string{"", "a", "a\x00", "b", "ab", "zz"}[k])
			case types.Boolean:
				v.AppendBool(k%2 == 0)
			case types.Double:
				if i+1 >= len(c.in)-len(propValues) {
					k = rng.IntN(100)
				}
				v.AppendFloat([]float64{-1.5, 0, math.Copysign(0, -1), 2.25, 1e5}[k%5] + float64(k)*0.25)
			default:
				x := int64(k*37 - 50)
				if i+1 >= len(c.in)-len(propValues) {
					x = rng.Int64N(20000) - 10000
				}
				v.AppendInt(x)
			}
		}
		b.Partition = append(b.Partition, int32(rng.IntN(3)))
	}
	b.N = n
	return b
}

// refOp is the naive reference.
type refOp struct {
	c       propCase
	codec   keyCodec
	wm, max int64
	rows    []refEntry // (window, row) pairs in state; sessions: start 0
	batch   int
}

type refEntry struct {
	start int64
	key   string
	ts    int64
	batch int
	b     *types.Batch
	i     int
}

func (r *refOp) add(b *types.Batch) {
	codec := r.codec
	buf, ends := []byte(nil), make([]uint32, b.N)
	buf, _ = codec.encodeBatch(b, buf, ends)
	for i := 0; i < b.N; i++ {
		ts := b.Cols[0].I64[i]
		r.max = max(r.max, ts)
		if r.c.cfg.HasWatermark && ts <= r.wm {
			continue
		}
		lo := uint32(0)
		if i > 0 {
			lo = ends[i-1]
		}
		e := refEntry{key: string(buf[lo:ends[i]]), ts: ts, batch: r.batch, b: b, i: i}
		w := r.c.cfg.Window
		switch w.Kind {
		case Tumbling, Sliding:
			slide := w.Slide
			if w.Kind == Tumbling {
				slide = w.Size
			}
			for st := ts - floorMod(ts, slide); st > ts-w.Size; st -= slide {
				e.start = st
				r.rows = append(r.rows, e)
			}
		default:
			r.rows = append(r.rows, e)
		}
	}
}

type refGroup struct {
	start, end int64
	key        string
	rows       []refEntry
}

func (r *refOp) groups() []refGroup {
	w := r.c.cfg.Window
	var gs []refGroup
	if w.Kind == Session {
		byKey := map[string][]refEntry{}
		for _, e := range r.rows {
			byKey[e.key] = append(byKey[e.key], e)
		}
		for k, es := range byKey {
			slices.SortStableFunc(es, func(a, b refEntry) int { return cmp.Compare(a.ts, b.ts) })
			for i := 0; i < len(es); {
				j, last := i+1, es[i].ts
				for j < len(es) && es[j].ts-last < w.Gap {
					last = es[j].ts
					j++
				}
				gs = append(gs, refGroup{start: es[i].ts, end: last + w.Gap, key: k, rows: es[i:j]})
				i = j
			}
		}
	} else {
		idx := map[[2]string]int{}
		for _, e := range r.rows {
			id := [2]string{fmt.Sprint(e.start), e.key}
			g, ok := idx[id]
			if !ok {
				g = len(gs)
				idx[id] = g
				gs = append(gs, refGroup{start: e.start, end: e.start + w.Size, key: e.key})
			}
			gs[g].rows = append(gs[g].rows, e)
		}
	}
	slices.SortFunc(gs, func(a, b refGroup) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.key), []byte(b.key))
	})
	return gs
}

func (r *refOp) finish(out types.Schema) *types.Batch {
	cfg := r.c.cfg
	res := types.NewBatch(out, 0)
	closes := cfg.HasWatermark && cfg.Window.Kind != None
	drop := map[int]bool{} // indexes in r.rows... by identity below
	_ = drop
	var keep []refEntry
	for _, g := range r.groups() {
		closed := closes && g.end <= r.wm
		touched := slices.ContainsFunc(g.rows, func(e refEntry) bool { return e.batch == r.batch })
		if (cfg.Mode == Append && closed) || (cfg.Mode == Update && touched) || cfg.Mode == Complete {
			r.emit(res, g)
		}
		if !closed || cfg.Mode == Complete {
			keep = append(keep, g.rows...)
		}
	}
	r.rows = keep
	if cfg.HasWatermark && r.max != math.MinInt64 {
		r.wm = max(r.wm, r.max-cfg.Delay)
	}
	r.batch++
	return res
}

func (r *refOp) emit(res *types.Batch, g refGroup) {
	c := 0
	if r.c.cfg.Window.Kind != None {
		res.Cols[0].AppendInt(g.start)
		res.Cols[1].AppendInt(g.end)
		c = 2
	}
	if err := r.codec.decode([]byte(g.key), res.Cols[c:c+len(r.c.cfg.Keys)]); err != nil {
		panic(err)
	}
	c += len(r.c.cfg.Keys)
	for ai, a := range r.c.cfg.Aggs {
		out := res.Cols[c+ai]
		var vals []*types.Vector
		var idx []int
		for _, e := range g.rows {
			if a.Arg < 0 || !e.b.Cols[a.Arg].IsNull(e.i) {
				vals = append(vals, e.b.Cols[max(a.Arg, 0)])
				idx = append(idx, e.i)
			}
		}
		if a.Arg < 0 {
			out.AppendInt(int64(len(g.rows)))
			continue
		}
		t := r.c.in[a.Arg].Type
		switch a.Func {
		case Count:
			out.AppendInt(int64(len(vals)))
			continue
		case CountIf:
			n := int64(0)
			for k, v := range vals {
				if v.Bool[idx[k]] {
					n++
				}
			}
			out.AppendInt(n)
			continue
		case ApproxCountDistinct:
			h := make(hll, hllM)
			for k, v := range vals {
				h.add(hashValue(v, idx[k]))
			}
			out.AppendInt(h.estimate())
			continue
		case CountDistinct:
			m := map[string]bool{}
			for k, v := range vals {
				m[v.Str[idx[k]]] = true
			}
			out.AppendInt(int64(len(m)))
			continue
		}
		if len(vals) == 0 {
			out.AppendNull()
			continue
		}
		switch {
		case a.Func == Sum && t.Kind == types.Double, a.Func == Avg && t.Kind != types.Decimal:
			s := 0.0
			for k, v := range vals {
				if t.Kind == types.Double {
					s += v.F64[idx[k]]
				} else {
					s += float64(v.I64[idx[k]])
				}
			}
			if a.Func == Avg {
				s /= float64(len(vals))
			}
			out.AppendFloat(s)
		case a.Func == Sum:
			s := int64(0)
			for k, v := range vals {
				s += v.I64[idx[k]]
			}
			out.AppendInt(s)
		case a.Func == Avg: // DECIMAL: exact, rounded half up
			s := new(big.Rat)
			for k, v := range vals {
				s.Add(s, new(big.Rat).SetInt64(v.I64[idx[k]]))
			}
			s.Quo(s, new(big.Rat).SetInt64(int64(len(vals))))
			s.Mul(s, new(big.Rat).SetInt64(10000)) // scale 2 -> 6
			neg := s.Sign() < 0
			s.Abs(s)
			s.Add(s, big.NewRat(1, 2))
			q := new(big.Int).Quo(s.Num(), s.Denom()).Int64()
			if neg {
				q = -q
			}
			out.AppendInt(q)
		default: // min, max: the first of the extreme values in Spark's order
			best := 0
			for k := 1; k < len(vals); k++ {
				c := compareVal(vals[k], idx[k], vals[best], idx[best])
				if (a.Func == Min && c < 0) || (a.Func == Max && c > 0) {
					best = k
				}
			}
			v, i := vals[best], idx[best]
			switch t.Kind {
			case types.String:
				out.AppendString(v.Str[i])
			case types.Boolean:
				out.AppendBool(v.Bool[i])
			case types.Double:
				out.AppendFloat(v.F64[i])
			default:
				out.AppendInt(v.I64[i])
			}
		}
	}
	res.N++
}

func compareVal(a *types.Vector, i int, b *types.Vector, j int) int {
	switch a.Type.Kind {
	case types.String:
		return cmp.Compare(a.Str[i], b.Str[j])
	case types.Boolean:
		return cmp.Compare(btoi(a.Bool[i]), btoi(b.Bool[j]))
	case types.Double:
		x, y := a.F64[i], b.F64[j]
		switch {
		case lessF(x, y):
			return -1
		case lessF(y, x):
			return 1
		}
		return 0
	}
	return cmp.Compare(a.I64[i], b.I64[j])
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// renderZeros is render with -0 and 0 told apart only where the operator
// must keep the sign (min and max keep the first extreme value; the
// reference picks it the same way only within one partition, so the sign
// of a zero min or max is not compared here).
func renderNoZeroSign(b *types.Batch) []string {
	for _, v := range b.Cols {
		if v.Type.Kind == types.Double {
			for i := range v.F64 {
				if v.F64[i] == 0 {
					v.F64[i] = 0
				}
			}
		}
	}
	return render(b)
}

func TestAgainstNaiveReference(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		c := randomCase(rng)
		op, err := New(c.in, c.cfg)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		ref := &refOp{c: c, codec: newKeyCodec(c.in, c.cfg.Keys), max: math.MinInt64}
		tm := int64(1000)
		for bi := 0; bi < 25; bi++ {
			b := randomBatch(rng, c, rng.IntN(40), &tm)
			if err := op.Add(b); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			ref.add(b)
			got, st := op.Finish()
			want := ref.finish(op.OutputSchema())
			g, w := renderNoZeroSign(got), renderNoZeroSign(want)
			if !slices.Equal(g, w) {
				t.Fatalf("seed %d (%+v), batch %d:\ngot  %q\nwant %q", seed, c.cfg, bi, g, w)
			}
			if c.cfg.HasWatermark && st.NextWatermark != ref.wm {
				t.Fatalf("seed %d batch %d: next watermark %d, want %d", seed, bi, st.NextWatermark, ref.wm)
			}
		}
	}
}

// TestSharedFinishIsEachModesFinish: one operator shared by an append and
// an update query (FinishShared) emits, batch after batch, exactly what an
// append operator and an update operator of the same input emit alone, and
// checkpoints the same state as the append operator.
func TestSharedFinishIsEachModesFinish(t *testing.T) {
	defer func(n int) { parallelEmit = n }(parallelEmit)
	tested := 0
	for seed := uint64(0); tested < 150; seed++ {
		rng := rand.New(rand.NewPCG(seed, 13))
		c := randomCase(rng)
		if !c.cfg.HasWatermark || c.cfg.Window.Kind == None || c.cfg.Window.Kind == Session {
			continue
		}
		tested++
		// Every other case builds its append and update rows on two
		// goroutines, as a large batch does.
		parallelEmit = 4096
		if tested%2 == 0 {
			parallelEmit = 1
		}
		appCfg, updCfg := c.cfg, c.cfg
		appCfg.Mode, updCfg.Mode = Append, Update
		app, err1 := New(c.in, appCfg)
		upd, err2 := New(c.in, updCfg)
		shared, err3 := New(c.in, appCfg)
		if err := cmp.Or(err1, err2, err3); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !appCfg.Shareable() || !updCfg.Shareable() {
			t.Fatalf("seed %d: %+v not shareable", seed, appCfg)
		}
		tm := int64(1000)
		for bi := 0; bi < 25; bi++ {
			b := randomBatch(rng, c, rng.IntN(40), &tm)
			for _, o := range []*Op{app, upd, shared} {
				if err := o.Add(b); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
			}
			wantApp, stApp := app.Finish()
			wantUpd, stUpd := upd.Finish()
			gotApp, gotUpd, st := shared.FinishShared()
			if g, w := render(gotApp), render(wantApp); !slices.Equal(g, w) {
				t.Fatalf("seed %d (%+v), batch %d, append rows:\ngot  %q\nwant %q", seed, c.cfg, bi, g, w)
			}
			if g, w := render(gotUpd), render(wantUpd); !slices.Equal(g, w) {
				t.Fatalf("seed %d (%+v), batch %d, update rows:\ngot  %q\nwant %q", seed, c.cfg, bi, g, w)
			}
			if st != stApp || st.NumRowsTotal != stUpd.NumRowsTotal || st.NextWatermark != stUpd.NextWatermark {
				t.Fatalf("seed %d batch %d: stats %+v, append alone %+v, update alone %+v", seed, bi, st, stApp, stUpd)
			}
		}
		var a, s bytes.Buffer
		if err := cmp.Or(app.WriteSnapshot(&a), shared.WriteSnapshot(&s)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), s.Bytes()) {
			t.Fatalf("seed %d: the shared operator's snapshot differs from the append operator's", seed)
		}
	}
}
