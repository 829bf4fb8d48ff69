package expr

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/sensorlab/sensorlab/query/types"
)

// Filter selects rows of a batch by a BOOLEAN expression, narrowing a
// selection vector (ascending row indexes) rather than computing the
// expression's value for every row and combining vectors.
//
// NewFilter derives a tree of selectors from the compiled expression, for
// any expression: AND keeping TRUE (or not FALSE) rows is its conjuncts one
// after the other, each over the rows the previous one kept; OR keeping
// FALSE (or not TRUE) rows likewise; NOT keeps the other truth value of its
// operand. The leaves are typed loops over the selected rows for the common
// shapes (x op k with k the same for every row of the batch, over BIGINT,
// INT, TIMESTAMP, DATE, DOUBLE and STRING; length or octet_length of a
// string in such a comparison; RLIKE with a constant pattern; IS [NOT]
// NULL; a constant), and any other subtree is evaluated as an Expr over the
// batch and its value read at the selected rows. The rows kept are exactly
// those whose value, as Eval computes it, is TRUE, or NULL when passNull
// is set.
type Filter struct {
	root selector
	all  []int32 // 0, 1, …: the selection of every row
}

// The truth values a selector keeps, as a set.
const (
	keepFalse uint8 = 1 << iota
	keepTrue
	keepNull
)

// NewFilter returns the filter of a BOOLEAN (or NULL-typed) expression: it
// keeps the rows where e is TRUE, as WHERE does, and also those where it is
// NULL when passNull is set, as a CHECK constraint does.
func NewFilter(e Expr, passNull bool) (*Filter, error) {
	if k := e.Type().Kind; k != types.Boolean && k != types.Null {
		return nil, fmt.Errorf("a filter needs a BOOLEAN expression, not %v", e.Type())
	}
	keep := keepTrue
	if passNull {
		keep |= keepNull
	}
	return &Filter{root: newSelector(e, keep)}, nil
}

// Select returns the rows of sel that the filter keeps, in order, in dst's
// storage (grown when needed; it may be sel's own). sel holds ascending
// row indexes of b, or is nil for all of b's rows.
func (f *Filter) Select(b *types.Batch, sel, dst []int32) []int32 {
	if sel == nil {
		if len(f.all) < b.N {
			f.all = make([]int32, max(b.N, 1024))
			for i := range f.all {
				f.all[i] = int32(i)
			}
		}
		sel = f.all[:b.N]
	}
	if cap(dst) < len(sel) {
		dst = make([]int32, 0, len(sel))
	}
	if len(sel) == 0 {
		return dst[:0]
	}
	return f.root.sel(b, sel, dst[:0])
}

// selector appends to out the rows of in it keeps. out has room for all of
// in and may share in's storage from its start: each row is read before
// the slot it could be written to.
type selector interface {
	sel(b *types.Batch, in, out []int32) []int32
}

func newSelector(e Expr, keep uint8) selector {
	keepsT, keepsF := keep&keepTrue != 0, keep&keepFalse != 0
	switch x := e.(type) {
	case *constant:
		return &constSel{keep: keep&truth(&x.one, 0) != 0}
	case *logicExpr:
		// a AND b is TRUE when both are, not FALSE when neither is; a OR
		// b is FALSE when both are, not TRUE when neither is.
		if (!x.or && keepsT && !keepsF) || (x.or && keepsF && !keepsT) {
			c := &chainSel{first: newSelector(x.l, keep), then: newSelector(x.r, keep)}
			if !x.or {
				if r := newRangeSel(c); r != nil {
					return r
				}
			}
			return c
		}
	case *notExpr:
		swapped := keep &^ (keepTrue | keepFalse)
		if keepsT {
			swapped |= keepFalse
		}
		if keepsF {
			swapped |= keepTrue
		}
		return newSelector(x.x, swapped)
	case *isNull:
		return &isNullSel{x: x.x, keepNull: keep&(outcome(!x.not)) != 0, keepValue: keep&outcome(x.not) != 0}
	case *cmpExpr:
		if s := newCmpSel(x, keep); s != nil {
			return s
		}
	case *regexpExpr:
		if x.re != nil {
			match := x.fast
			if match == nil {
				match = x.re.MatchString
			}
			return &regexpSel{x: x.x, match: match, set: classPattern(x.re.String()),
				keepT: keepsT, keepF: keepsF, keepN: keep&keepNull != 0}
		}
	}
	return &evalSel{e: e, keep: keep}
}

// outcome is the truth value TRUE or FALSE as a keep bit.
func outcome(v bool) uint8 {
	if v {
		return keepTrue
	}
	return keepFalse
}

// truth returns row i of a BOOLEAN vector as a keep bit.
func truth(v *types.Vector, i int) uint8 {
	switch {
	case v.IsNull(i) || len(v.Bool) <= i:
		return keepNull
	case v.Bool[i]:
		return keepTrue
	}
	return keepFalse
}

type constSel struct{ keep bool }

func (s *constSel) sel(_ *types.Batch, in, out []int32) []int32 {
	if s.keep {
		return append(out, in...)
	}
	return out
}

// chainSel runs then over the rows first kept.
type chainSel struct{ first, then selector }

func (s *chainSel) sel(b *types.Batch, in, out []int32) []int32 {
	out = s.first.sel(b, in, out)
	if len(out) == 0 {
		return out
	}
	return s.then.sel(b, out, out[:0])
}

// evalSel is any expression: evaluated over the batch, read at the rows.
type evalSel struct {
	e    Expr
	keep uint8
	v    types.Vector
}

func (s *evalSel) sel(b *types.Batch, in, out []int32) []int32 {
	v := arg(s.e, b, &s.v)
	if v.Null == nil && v.Type.Kind == types.Boolean {
		wantT, wantF := s.keep&keepTrue != 0, s.keep&keepFalse != 0
		if wantT == wantF {
			if wantT {
				out = append(out, in...)
			}
			return out
		}
		vals := v.Bool
		for _, i := range in {
			if vals[i] == wantT {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range in {
		if s.keep&truth(v, int(i)) != 0 {
			out = append(out, i)
		}
	}
	return out
}

type isNullSel struct {
	x                   Expr
	keepNull, keepValue bool // keep the rows where x is NULL, where it is not
	v                   types.Vector
}

func (s *isNullSel) sel(b *types.Batch, in, out []int32) []int32 {
	x := arg(s.x, b, &s.v)
	if x.Null == nil {
		if s.keepValue {
			out = append(out, in...)
		}
		return out
	}
	for _, i := range in {
		if x.Null[i] && s.keepNull || !x.Null[i] && s.keepValue {
			out = append(out, i)
		}
	}
	return out
}

// regexpSel is x RLIKE pattern, a constant pattern. One that is a class
// of ASCII characters is a byte-set scan in the loop.
type regexpSel struct {
	x                   Expr
	match               func(string) bool
	set                 *byteSet
	keepT, keepF, keepN bool
	v                   types.Vector
}

func (s *regexpSel) sel(b *types.Batch, in, out []int32) []int32 {
	x := arg(s.x, b, &s.v)
	strs := x.Str
	if set := s.set; set != nil && x.Null == nil && s.keepT != s.keepF {
		for _, i := range in {
			if set.any(strs[i]) == s.keepT {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range in {
		if x.Null != nil && x.Null[i] {
			if s.keepN {
				out = append(out, i)
			}
			continue
		}
		if m := s.match(strs[i]); m && s.keepT || !m && s.keepF {
			out = append(out, i)
		}
	}
	return out
}

// cmpSel is x op k, k the same for every row of a batch, for the classes
// whose values compare as Go values: integers of one scale, DOUBLE (Spark's
// total order, NaN largest) and STRING. Keeping the FALSE rows is keeping
// the TRUE rows of the negated operator: each class is a total order.
type cmpSel struct {
	x      Expr
	k      Expr
	op     cmpOp
	class  cmpClass
	keep   uint8
	length int8 // 1: x is octet_length(s), 2: length(s), of the string s
	v      types.Vector
}

func newCmpSel(e *cmpExpr, keep uint8) selector {
	switch e.class {
	case cI64, cF64, cStr:
	default:
		return nil
	}
	x, k, op := e.l, e.r, e.op
	if scalarSide(x) && !scalarSide(k) {
		x, k, op = k, x, op.flip()
	}
	if !scalarSide(k) {
		return nil
	}
	s := &cmpSel{x: x, k: k, op: op, class: e.class, keep: keep}
	if l, ok := x.(*lengthExpr); ok && e.class == cI64 {
		s.x, s.length = l.x, 2
		if l.bytes {
			s.length = 1
		}
	}
	return s
}

// scalarSide reports whether e is the same for every row of a batch.
func scalarSide(e Expr) bool {
	switch e.(type) {
	case *constant, *batchConst:
		return true
	}
	return false
}

// negate returns the operator that holds exactly where o does not, in a
// total order.
func (o cmpOp) negate() cmpOp {
	switch o {
	case opEq:
		return opNe
	case opNe:
		return opEq
	case opLt:
		return opGe
	case opLe:
		return opGt
	case opGt:
		return opLe
	}
	return opLt
}

func (s *cmpSel) sel(b *types.Batch, in, out []int32) []int32 {
	k := scalarOf(s.k)
	keepN := s.keep&keepNull != 0
	if k.IsNull(0) {
		if keepN {
			out = append(out, in...)
		}
		return out
	}
	op := s.op
	switch s.keep & (keepTrue | keepFalse) {
	case keepFalse:
		op = op.negate()
	case keepTrue | keepFalse:
		return s.nonNull(b, in, out, keepN)
	case 0:
		return s.nulls(b, in, out, keepN)
	}
	x := arg(s.x, b, &s.v)
	nulls := x.Null
	if s.length != 0 {
		return selLen(op, x.Str, k.I64[0], s.length == 2, nulls, keepN, in, out)
	}
	switch s.class {
	case cI64:
		return selOrdered(op, x.I64, k.I64[0], nulls, keepN, in, out)
	case cStr:
		return selOrdered(op, x.Str, k.Str[0], nulls, keepN, in, out)
	}
	return selFloat(op, x.F64, k.F64[0], nulls, keepN, in, out)
}

// nonNull keeps the rows where x is not NULL (and the NULL ones if keepN).
func (s *cmpSel) nonNull(b *types.Batch, in, out []int32, keepN bool) []int32 {
	x := arg(s.x, b, &s.v)
	if x.Null == nil || keepN {
		return append(out, in...)
	}
	for _, i := range in {
		if !x.Null[i] {
			out = append(out, i)
		}
	}
	return out
}

// nulls keeps the rows where x is NULL, if keepN.
func (s *cmpSel) nulls(b *types.Batch, in, out []int32, keepN bool) []int32 {
	x := arg(s.x, b, &s.v)
	if x.Null == nil || !keepN {
		return out
	}
	for _, i := range in {
		if x.Null[i] {
			out = append(out, i)
		}
	}
	return out
}

// selOrdered keeps the rows i of in where xs[i] op k holds, and the NULL
// rows if keepN.
func selOrdered[T int64 | string](op cmpOp, xs []T, k T, nulls []bool, keepN bool, in, out []int32) []int32 {
	if nulls != nil {
		for _, i := range in {
			if nulls[i] {
				if keepN {
					out = append(out, i)
				}
			} else if op.holds(compareOrdered(xs[i], k)) {
				out = append(out, i)
			}
		}
		return out
	}
	switch op {
	case opEq:
		for _, i := range in {
			if xs[i] == k {
				out = append(out, i)
			}
		}
	case opNe:
		for _, i := range in {
			if xs[i] != k {
				out = append(out, i)
			}
		}
	case opLt:
		for _, i := range in {
			if xs[i] < k {
				out = append(out, i)
			}
		}
	case opLe:
		for _, i := range in {
			if xs[i] <= k {
				out = append(out, i)
			}
		}
	case opGt:
		for _, i := range in {
			if xs[i] > k {
				out = append(out, i)
			}
		}
	case opGe:
		for _, i := range in {
			if xs[i] >= k {
				out = append(out, i)
			}
		}
	}
	return out
}

// selFloat is selOrdered for DOUBLE in Spark's total order (NaN equal to
// itself and larger than any other value).
func selFloat(op cmpOp, xs []float64, k float64, nulls []bool, keepN bool, in, out []int32) []int32 {
	if nulls != nil || k != k {
		for _, i := range in {
			if nulls != nil && nulls[i] {
				if keepN {
					out = append(out, i)
				}
			} else if op.holds(cmpFloat(xs[i], k)) {
				out = append(out, i)
			}
		}
		return out
	}
	// k is a number: a NaN x is larger, which the native comparisons say
	// for <, <=, = and <> but not for > and >=.
	switch op {
	case opEq:
		for _, i := range in {
			if xs[i] == k {
				out = append(out, i)
			}
		}
	case opNe:
		for _, i := range in {
			if xs[i] != k {
				out = append(out, i)
			}
		}
	case opLt:
		for _, i := range in {
			if xs[i] < k {
				out = append(out, i)
			}
		}
	case opLe:
		for _, i := range in {
			if xs[i] <= k {
				out = append(out, i)
			}
		}
	case opGt:
		for _, i := range in {
			if x := xs[i]; x > k || x != x {
				out = append(out, i)
			}
		}
	case opGe:
		for _, i := range in {
			if x := xs[i]; x >= k || x != x {
				out = append(out, i)
			}
		}
	}
	return out
}

// rangeSel is x >= lo AND x <= hi (BETWEEN) keeping the TRUE (or not
// FALSE) rows, x an integer, a DOUBLE or a string's length: one loop
// rather than two. A NULL or NaN bound leaves it to the two comparisons.
type rangeSel struct {
	lo, hi *cmpSel
	chain  selector
}

func newRangeSel(c *chainSel) selector {
	lo, ok1 := c.first.(*cmpSel)
	hi, ok2 := c.then.(*cmpSel)
	// Both keep the TRUE rows as the AND does (under NOT, a comparison
	// keeps its FALSE ones instead).
	if !ok1 || !ok2 || lo.keep != hi.keep || lo.keep&keepFalse != 0 {
		return nil
	}
	if lo.op == opLe && hi.op == opGe {
		lo, hi = hi, lo
	}
	if lo.op != opGe || hi.op != opLe || lo.class != hi.class || lo.class == cStr || lo.length != hi.length {
		return nil
	}
	if !sameColumn(lo.x, hi.x) {
		return nil
	}
	return &rangeSel{lo: lo, hi: hi, chain: c}
}

// sameColumn reports whether a and b are the same input column.
func sameColumn(a, b Expr) bool {
	ca, ok1 := a.(*colRef)
	cb, ok2 := b.(*colRef)
	return ok1 && ok2 && ca.idx == cb.idx
}

func (s *rangeSel) sel(b *types.Batch, in, out []int32) []int32 {
	kl, kh := scalarOf(s.lo.k), scalarOf(s.hi.k)
	if kl.IsNull(0) || kh.IsNull(0) {
		return s.chain.sel(b, in, out)
	}
	x := b.Cols[s.lo.x.(*colRef).idx]
	keepN := s.lo.keep&keepNull != 0
	switch {
	case s.lo.length != 0:
		return selLenIn(x.Str, max(kl.I64[0], 0), kh.I64[0], true, s.lo.length == 2, x.Null, keepN, in, out)
	case s.lo.class == cI64:
		return selRange(x.I64, kl.I64[0], kh.I64[0], x.Null, keepN, in, out)
	}
	lo, hi := kl.F64[0], kh.F64[0]
	if lo != lo || hi != hi {
		return s.chain.sel(b, in, out)
	}
	// A NaN x is above hi: the native comparison refuses it too.
	return selRange(x.F64, lo, hi, x.Null, keepN, in, out)
}

// selRange keeps the rows where lo <= xs[i] <= hi, and the NULL rows if
// keepN.
func selRange[T int64 | float64](xs []T, lo, hi T, nulls []bool, keepN bool, in, out []int32) []int32 {
	if nulls == nil {
		for _, i := range in {
			if x := xs[i]; lo <= x && x <= hi {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range in {
		if x := xs[i]; nulls[i] && keepN || !nulls[i] && lo <= x && x <= hi {
			out = append(out, i)
		}
	}
	return out
}

// selLen keeps the rows where the length of xs[i] (in bytes, or in
// characters when chars) op k holds, and the NULL rows if keepN. The
// operator is an interval of lengths, or its complement.
func selLen(op cmpOp, xs []string, k int64, chars bool, nulls []bool, keepN bool, in, out []int32) []int32 {
	lo, hi, inside := int64(0), int64(-1), true // empty
	switch op {
	case opEq, opNe:
		lo, hi, inside = k, k, op == opEq
	case opLt:
		if k > 0 {
			lo, hi = 0, k-1
		}
	case opLe:
		if k >= 0 {
			lo, hi = 0, k
		}
	case opGt:
		lo, hi = max(k+1, 0), math.MaxInt64
		if k == math.MaxInt64 {
			lo, hi = 0, -1
		}
	case opGe:
		lo, hi = max(k, 0), math.MaxInt64
	}
	return selLenIn(xs, lo, hi, inside, chars, nulls, keepN, in, out)
}

// selLenIn keeps the rows where the length of xs[i] is in [lo, hi] (lo >=
// 0), or outside it when not inside, and the NULL rows if keepN.
func selLenIn(xs []string, lo, hi int64, inside, chars bool, nulls []bool, keepN bool, in, out []int32) []int32 {
	if nulls == nil && inside && !chars {
		for _, i := range in {
			if n := int64(len(xs[i])); lo <= n && n <= hi {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range in {
		if nulls != nil && nulls[i] {
			if keepN {
				out = append(out, i)
			}
			continue
		}
		n := int64(len(xs[i]))
		if chars {
			n = int64(utf8.RuneCountInString(xs[i]))
		}
		if (lo <= n && n <= hi) == inside {
			out = append(out, i)
		}
	}
	return out
}
