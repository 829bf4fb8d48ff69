package agg

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/sensorlab/sensorlab/query/types"
)

// slotKind says what a record slot holds.
type slotKind uint8

const (
	slotWord slotKind = iota // the value itself (integer, or float bits)
	slotStr                  // index+1 in store.strs; 0: no value
	slotHLL                  // index+1 of a sketch in store.hll (sketchAt); 0: empty
	slotSet                  // index+1 in store.sets; 0: empty
)

type slot struct {
	kind slotKind
	init uint64 // the initial word of a new record
}

// foldKind is how an aggregate folds a value into its slot. The initial
// word makes the first value need no test: sums start at 0 (+0.0 for
// doubles, as Spark's coalesce(sum, 0) + x), a minimum at the greatest
// value of its order, a maximum at the least.
type foldKind uint8

const (
	fNone    foldKind = iota // reads a counter only (count)
	fCountIf                 // slot += value is true
	fSumI                    // integer sum, wrapping as Spark's non-ANSI sum of BIGINT
	fSumDec                  // DECIMAL sum, refused beyond the result precision
	fSumF                    // DOUBLE sum of a DOUBLE column
	fSumIF                   // DOUBLE sum of an INT/BIGINT column (avg)
	fMinI                    // INT, BIGINT, DECIMAL, TIMESTAMP
	fMaxI                    //
	fMinF                    // DOUBLE in Spark's order (NaN greatest, -0 = 0)
	fMaxF                    //
	fMinB                    // BOOLEAN, coded 1 false, 2 true (0 and 3 are the sentinels)
	fMaxB                    //
	fMinS                    // STRING, bytewise
	fMaxS                    //
	fHLL                     // approx_count_distinct
	fSet                     // count(DISTINCT)
)

// aggImpl is one aggregate specialised for its argument's type.
type aggImpl struct {
	Agg
	fold    foldKind
	in      types.Type // argument type
	out     types.Type // result type
	slot    int        // its slot (word offset in the record); -1 for fNone
	cnt     int        // the counter slot of its argument's non-null values
	decMax  int64      // fSumDec: the sums' bound, 10^precision (exclusive)
	valCode keyCol     // fSet: encodes a value as a set member
}

// counter counts rows (col -1) or a column's non-null values into slot.
type counter struct {
	col  int
	slot int
}

// ErrOverflow is returned when a DECIMAL sum or average leaves the
// precision this engine stores.
var ErrOverflow = errors.New("DECIMAL overflow")

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// lessF is Spark's order on doubles: NaN is greater than every number.
func lessF(a, b float64) bool { return a < b || (b != b && a == a) }

// foldSeg folds the entries lo..hi of the fold list (input row src[e] into
// record dst[e] of st).
func (a *aggImpl) foldSeg(b *types.Batch, st *store, src, dst []int32, stride int) error {
	if a.fold == fNone {
		return nil
	}
	v := b.Cols[a.Arg]
	null := v.Null
	rec := st.rec
	off := a.slot
	switch a.fold {
	case fCountIf:
		for e, i := range src {
			if v.Bool[i] && (null == nil || !null[i]) {
				rec[int(dst[e])*stride+off]++
			}
		}
	case fSumI:
		for e, i := range src {
			if null == nil || !null[i] {
				rec[int(dst[e])*stride+off] += uint64(v.I64[i])
			}
		}
	case fSumDec:
		lim := a.decMax
		for e, i := range src {
			if null != nil && null[i] {
				continue
			}
			p := &rec[int(dst[e])*stride+off]
			s := int64(*p) + v.I64[i] // both < 10^18: no int64 overflow
			if s >= lim || s <= -lim {
				return fmt.Errorf("%s: %w: the sum leaves %s", a.Agg, ErrOverflow, a.out)
			}
			*p = uint64(s)
		}
	case fSumF:
		for e, i := range src {
			if null == nil || !null[i] {
				p := &rec[int(dst[e])*stride+off]
				*p = math.Float64bits(math.Float64frombits(*p) + v.F64[i])
			}
		}
	case fSumIF:
		for e, i := range src {
			if null == nil || !null[i] {
				p := &rec[int(dst[e])*stride+off]
				*p = math.Float64bits(math.Float64frombits(*p) + float64(v.I64[i]))
			}
		}
	case fMinI:
		for e, i := range src {
			if x := v.I64[i]; (null == nil || !null[i]) && x < int64(rec[int(dst[e])*stride+off]) {
				rec[int(dst[e])*stride+off] = uint64(x)
			}
		}
	case fMaxI:
		for e, i := range src {
			if x := v.I64[i]; (null == nil || !null[i]) && x > int64(rec[int(dst[e])*stride+off]) {
				rec[int(dst[e])*stride+off] = uint64(x)
			}
		}
	case fMinF:
		for e, i := range src {
			if null != nil && null[i] {
				continue
			}
			p := &rec[int(dst[e])*stride+off]
			if x := v.F64[i]; lessF(x, math.Float64frombits(*p)) {
				*p = math.Float64bits(x)
			}
		}
	case fMaxF:
		for e, i := range src {
			if null != nil && null[i] {
				continue
			}
			p := &rec[int(dst[e])*stride+off]
			if x := v.F64[i]; lessF(math.Float64frombits(*p), x) {
				*p = math.Float64bits(x)
			}
		}
	case fMinB, fMaxB:
		for e, i := range src {
			if null != nil && null[i] {
				continue
			}
			x := uint64(1)
			if v.Bool[i] {
				x = 2
			}
			p := &rec[int(dst[e])*stride+off]
			if (a.fold == fMinB && x < *p) || (a.fold == fMaxB && x > *p) {
				*p = x
			}
		}
	case fMinS, fMaxS:
		for e, i := range src {
			if null != nil && null[i] {
				continue
			}
			st.foldString(int(dst[e])*stride+off, v.Str[i], a.fold == fMinS)
		}
	case fHLL:
		for e, i := range src {
			if null != nil && null[i] {
				continue
			}
			st.sketch(int(dst[e])*stride + off).add(hashValue(v, int(i)))
		}
	case fSet:
		var buf []byte
		for e, i := range src {
			if null != nil && null[i] {
				continue
			}
			buf = a.valCode.appendValue(buf[:0], v, int(i))
			m := st.set(int(dst[e])*stride + off)
			if _, ok := m[string(buf)]; !ok {
				m[string(buf)] = struct{}{}
			}
		}
	}
	return nil
}

// foldString keeps s in the string slot at word w if it is the first value
// or less (min) or greater (max) than the slot's. Values are copied: input
// strings may alias a decoder's buffer.
func (st *store) foldString(w int, s string, isMin bool) {
	i := st.rec[w]
	if i == 0 {
		if n := len(st.freeStr); n > 0 {
			i = st.freeStr[n-1]
			st.freeStr = st.freeStr[:n-1]
			st.strs[i-1] = strings.Clone(s)
		} else {
			st.strs = append(st.strs, strings.Clone(s))
			i = uint64(len(st.strs))
		}
		st.rec[w] = i
		return
	}
	cur := st.strs[i-1]
	if (isMin && s < cur) || (!isMin && s > cur) {
		st.strs[i-1] = strings.Clone(s)
	}
}

// sketch returns the HyperLogLog sketch of the slot at word w, creating it.
func (st *store) sketch(w int) hll {
	i := st.rec[w]
	if i == 0 {
		if n := len(st.freeHLL); n > 0 {
			i = st.freeHLL[n-1]
			st.freeHLL = st.freeHLL[:n-1]
		} else {
			if st.nHLL/hllPage == len(st.hll) {
				st.hll = append(st.hll, make([]uint8, hllPage*hllM))
			}
			st.nHLL++
			i = uint64(st.nHLL)
		}
		st.rec[w] = i
	}
	return st.sketchAt(i)
}

// set returns the distinct-value set of the slot at word w, creating it.
func (st *store) set(w int) map[string]struct{} {
	i := st.rec[w]
	if i == 0 {
		if n := len(st.freeSet); n > 0 {
			i = st.freeSet[n-1]
			st.freeSet = st.freeSet[:n-1]
		} else {
			st.sets = append(st.sets, map[string]struct{}{})
			i = uint64(len(st.sets))
		}
		st.rec[w] = i
	}
	return st.sets[i-1]
}

// merge folds the partial at record sr of src into record dr of dst, as
// the existing engine merges partitions: counts and sums add (dst's first),
// a minimum or maximum is replaced only by a strictly lesser or greater
// value, so ties keep dst's.
func (a *aggImpl) merge(dst *store, dr int, src *store, sr int, stride int) error {
	if a.fold == fNone {
		return nil
	}
	d, s := &dst.rec[dr*stride+a.slot], src.rec[sr*stride+a.slot]
	switch a.fold {
	case fCountIf, fSumI:
		*d += s
	case fSumDec:
		x := int64(*d) + int64(s)
		if x >= a.decMax || x <= -a.decMax {
			return fmt.Errorf("%s: %w: the sum leaves %s", a.Agg, ErrOverflow, a.out)
		}
		*d = uint64(x)
	case fSumF, fSumIF:
		*d = math.Float64bits(math.Float64frombits(*d) + math.Float64frombits(s))
	case fMinI:
		if int64(s) < int64(*d) {
			*d = s
		}
	case fMaxI:
		if int64(s) > int64(*d) {
			*d = s
		}
	case fMinF:
		if lessF(math.Float64frombits(s), math.Float64frombits(*d)) {
			*d = s
		}
	case fMaxF:
		if lessF(math.Float64frombits(*d), math.Float64frombits(s)) {
			*d = s
		}
	case fMinB:
		if s < *d {
			*d = s
		}
	case fMaxB:
		if s > *d {
			*d = s
		}
	case fMinS, fMaxS:
		if s != 0 {
			dst.foldString(dr*stride+a.slot, src.strs[s-1], a.fold == fMinS)
		}
	case fHLL:
		if s != 0 {
			dst.sketch(dr*stride + a.slot).merge(src.sketchAt(s))
		}
	case fSet:
		if s != 0 {
			m := dst.set(dr*stride + a.slot)
			for k := range src.sets[s-1] {
				m[k] = struct{}{}
			}
		}
	}
	return nil
}

// emit appends the aggregate's value for record r of st to v.
func (a *aggImpl) emit(st *store, r int, stride int, v *types.Vector) error {
	w := st.rec[r*stride:]
	n := int64(w[a.cnt])
	x := w[max(a.slot, 0)]
	switch a.Func {
	case Count:
		v.AppendInt(n)
		return nil
	case CountIf:
		v.AppendInt(int64(x))
		return nil
	case ApproxCountDistinct:
		if x == 0 {
			v.AppendInt(0)
		} else {
			v.AppendInt(st.sketchAt(x).estimate())
		}
		return nil
	case CountDistinct:
		if x == 0 {
			v.AppendInt(0)
		} else {
			v.AppendInt(int64(len(st.sets[x-1])))
		}
		return nil
	}
	if n == 0 {
		v.AppendNull()
		return nil
	}
	switch a.fold {
	case fSumI, fMinI, fMaxI:
		v.AppendInt(int64(x))
	case fSumDec:
		if a.Func == Avg {
			q, err := avgDecimal(int64(x), n, int(a.out.Scale-a.in.Scale), pow10[a.out.Precision])
			if err != nil {
				return fmt.Errorf("%s: %w", a.Agg, err)
			}
			v.AppendInt(q)
		} else {
			v.AppendInt(int64(x))
		}
	case fSumF, fSumIF:
		f := math.Float64frombits(x)
		if a.Func == Avg {
			f /= float64(n)
		}
		v.AppendFloat(f)
	case fMinF, fMaxF:
		v.AppendFloat(math.Float64frombits(x))
	case fMinB, fMaxB:
		v.AppendBool(x == 2)
	case fMinS, fMaxS:
		v.AppendString(st.strs[x-1])
	}
	return nil
}

// emitCol appends the aggregate's value for each group of refs to v:
// record r of st, or (r < 0) record ^r of acc.
func (a *aggImpl) emitCol(st, acc *store, refs []keyRef, stride int, v *types.Vector) error {
	switch a.fold {
	case fNone, fSumF, fSumIF, fMinF, fMaxF, fSumI, fMinI, fMaxI:
	default:
		for _, kr := range refs {
			s, r := st, int(kr.r)
			if kr.r < 0 {
				s, r = acc, int(^kr.r)
			}
			if err := a.emit(s, r, stride, v); err != nil {
				return err
			}
		}
		return nil
	}
	// Counts, and sums, averages, minima and maxima of DOUBLE and integer
	// columns: one loop each, no per-row dispatch.
	slot, cnt := max(a.slot, 0), a.cnt
	avg := a.Func == Avg
	for _, kr := range refs {
		rec := st.rec
		r := int(kr.r)
		if kr.r < 0 {
			rec, r = acc.rec, int(^kr.r)
		}
		w := rec[r*stride : (r+1)*stride]
		n := int64(w[cnt])
		if a.fold == fNone {
			v.AppendInt(n)
			continue
		}
		if n == 0 {
			v.AppendNull()
			continue
		}
		x := w[slot]
		switch a.fold {
		case fSumI, fMinI, fMaxI:
			v.AppendInt(int64(x))
		case fSumF, fSumIF:
			f := math.Float64frombits(x)
			if avg {
				f /= float64(n)
			}
			v.AppendFloat(f)
		default: // fMinF, fMaxF
			v.AppendFloat(math.Float64frombits(x))
		}
	}
	return nil
}

// avgDecimal is sum/n rescaled by 10^up, rounded half up (away from zero
// at .5, as Java's HALF_UP), refused unless |result| < lim.
func avgDecimal(sum, n int64, up int, lim int64) (int64, error) {
	neg := sum < 0
	mag := uint64(sum)
	if neg {
		mag = -mag
	}
	hi, lo := bits.Mul64(mag, uint64(pow10[up]))
	if hi >= uint64(n) {
		return 0, fmt.Errorf("%w: the average leaves the result precision", ErrOverflow)
	}
	q, rem := bits.Div64(hi, lo, uint64(n))
	if rem >= uint64(n)-rem { // 2·rem >= n without overflow
		q++
	}
	if q >= uint64(lim) {
		return 0, fmt.Errorf("%w: the average leaves the result precision", ErrOverflow)
	}
	if neg {
		return -int64(q), nil
	}
	return int64(q), nil
}

// fusedFold folds, in one loop over the fold list, the row count and
// every sum, min and max of a DOUBLE or integer (INT, BIGINT, DECIMAL,
// TIMESTAMP) column with their non-null counts: each entry's record is
// addressed once and each value loaded once, where a loop per aggregate
// walks the list again for each. Each slot sees the same values in the
// same order (the rows of its record in input order) as in its own loop:
// the result is bit-identical.
type fusedFold struct {
	rowCnt int // the row count's slot
	cols   []fusedCol
	bound  []boundCol // cols bound to the current batch's vectors
}

// fusedCol is one argument column's aggregates in a fusedFold.
type fusedCol struct {
	col                int
	f64                bool
	sum, min, max, cnt int // slots; -1 when absent
}

type boundCol struct {
	f64                []float64
	i64                []int64
	null               []bool
	sum, min, max, cnt int
}

// fuse builds the fused fold of aggs (nil when none of them fits) and
// returns what is left to fold one by one: the indices of the aggregates
// of other kinds (and of a second sum, min or max of one column), and the
// counters of the columns it does not fold. Without a fused fold, that
// is every counter, the row count included.
func fuse(aggs []aggImpl, counters []counter) (f *fusedFold, plain []int, rest []counter) {
	f = &fusedFold{rowCnt: -1}
	byCol := map[int]int{} // column -> index in f.cols
	for i := range aggs {
		a := &aggs[i]
		var f64 bool
		switch a.fold {
		case fSumF, fMinF, fMaxF:
			f64 = true
		case fSumI, fMinI, fMaxI:
		default:
			plain = append(plain, i)
			continue
		}
		j, ok := byCol[a.Arg]
		if !ok {
			j = len(f.cols)
			byCol[a.Arg] = j
			f.cols = append(f.cols, fusedCol{col: a.Arg, f64: f64, sum: -1, min: -1, max: -1, cnt: -1})
		}
		c := &f.cols[j]
		var p *int
		switch a.fold {
		case fSumF, fSumI:
			p = &c.sum
		case fMinF, fMinI:
			p = &c.min
		default:
			p = &c.max
		}
		if *p >= 0 {
			plain = append(plain, i)
			continue
		}
		*p = a.slot
	}
	if len(f.cols) == 0 {
		return nil, plain, counters
	}
	for _, c := range counters {
		if j, ok := byCol[c.col]; ok {
			f.cols[j].cnt = c.slot
		} else if c.col < 0 {
			f.rowCnt = c.slot
		} else {
			rest = append(rest, c)
		}
	}
	f.bound = make([]boundCol, len(f.cols))
	return f, plain, rest
}

// foldSeg folds entries of the fold list: input row src[e] into record
// dst[e] of st.
func (f *fusedFold) foldSeg(b *types.Batch, st *store, src, dst []int32, stride int) {
	bc := f.bound
	for k, c := range f.cols {
		v := b.Cols[c.col]
		bc[k] = boundCol{null: v.Null, sum: c.sum, min: c.min, max: c.max, cnt: c.cnt}
		if c.f64 {
			bc[k].f64 = v.F64
		} else {
			bc[k].i64 = v.I64
		}
	}
	rec := st.rec
	rc := f.rowCnt
	if f.noNulls(bc) {
		f.foldFlat(bc, rec, src, dst, stride)
		return
	}
	for e, i := range src {
		w := rec[int(dst[e])*stride : (int(dst[e])+1)*stride]
		w[rc]++
		for k := range bc {
			c := &bc[k]
			if c.null != nil && c.null[i] {
				continue
			}
			if c.cnt >= 0 {
				w[c.cnt]++
			}
			sum, mn, mx := c.sum, c.min, c.max
			if c.f64 != nil {
				x := c.f64[i]
				if sum >= 0 {
					w[sum] = math.Float64bits(math.Float64frombits(w[sum]) + x)
				}
				if mn >= 0 && lessF(x, math.Float64frombits(w[mn])) {
					w[mn] = math.Float64bits(x)
				}
				if mx >= 0 && lessF(math.Float64frombits(w[mx]), x) {
					w[mx] = math.Float64bits(x)
				}
				continue
			}
			x := c.i64[i]
			if sum >= 0 {
				w[sum] += uint64(x)
			}
			if mn >= 0 && x < int64(w[mn]) {
				w[mn] = uint64(x)
			}
			if mx >= 0 && x > int64(w[mx]) {
				w[mx] = uint64(x)
			}
		}
	}
}

func (f *fusedFold) noNulls(bc []boundCol) bool {
	for k := range bc {
		if bc[k].null != nil {
			return false
		}
	}
	return true
}

// foldFlat is foldSeg when no bound column has a null: one tight loop per
// slot over the entries.
func (f *fusedFold) foldFlat(bc []boundCol, rec []uint64, src, dst []int32, stride int) {
	dst = dst[:len(src)]
	slot := func(off int) {
		for _, d := range dst {
			rec[int(d)*stride+off]++
		}
	}
	rc := f.rowCnt // the row count, folded by the first sum's loop if any
	for k := range bc {
		c := &bc[k]
		if c.cnt >= 0 {
			slot(c.cnt)
		}
		if xs := c.f64; xs != nil {
			// The records' words as doubles (a DOUBLE slot holds the
			// value's bits), so that each value is added or compared in
			// place.
			recF := unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(rec))), len(rec))
			if off := c.sum; off >= 0 && rc >= 0 {
				for e, i := range src {
					b := int(dst[e]) * stride
					recF[b+off] += xs[i]
					rec[b+rc]++
				}
				rc = -1
			} else if off >= 0 {
				for e, i := range src {
					recF[int(dst[e])*stride+off] += xs[i]
				}
			}
			if c.min >= 0 {
				off := c.min
				for e, i := range src {
					p := &recF[int(dst[e])*stride+off]
					if x := xs[i]; lessF(x, *p) {
						*p = x
					}
				}
			}
			if c.max >= 0 {
				off := c.max
				for e, i := range src {
					p := &recF[int(dst[e])*stride+off]
					if x := xs[i]; lessF(*p, x) {
						*p = x
					}
				}
			}
			continue
		}
		xs := c.i64
		if off := c.sum; off >= 0 && rc >= 0 {
			for e, i := range src {
				b := int(dst[e]) * stride
				rec[b+off] += uint64(xs[i])
				rec[b+rc]++
			}
			rc = -1
		} else if off >= 0 {
			for e, i := range src {
				rec[int(dst[e])*stride+off] += uint64(xs[i])
			}
		}
		if c.min >= 0 {
			off := c.min
			for e, i := range src {
				p := &rec[int(dst[e])*stride+off]
				if x := xs[i]; x < int64(*p) {
					*p = uint64(x)
				}
			}
		}
		if c.max >= 0 {
			off := c.max
			for e, i := range src {
				p := &rec[int(dst[e])*stride+off]
				if x := xs[i]; x > int64(*p) {
					*p = uint64(x)
				}
			}
		}
	}
	if rc >= 0 {
		slot(rc)
	}
}
