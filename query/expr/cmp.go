package expr

import (
	"cmp"

	"github.com/sensorlab/sensorlab/query/types"
)

// Comparisons: strings compare bytewise (UTF-8 order, as Spark's
// UTF8String), FALSE < TRUE, and DOUBLE follows Spark's total order where
// NaN equals NaN and is larger than any other value (and -0.0 = 0.0).

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

func parseCmpOp(op string) cmpOp {
	switch op {
	case "=":
		return opEq
	case "<>":
		return opNe
	case "<":
		return opLt
	case "<=":
		return opLe
	case ">":
		return opGt
	}
	return opGe
}

// flip returns the operator with its operands swapped (a < b is b > a).
func (o cmpOp) flip() cmpOp {
	switch o {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return o
}

// holds reports whether a comparison result c (-1, 0, 1) satisfies o.
func (o cmpOp) holds(c int) bool {
	switch o {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	}
	return c >= 0
}

type cmpClass uint8

const (
	cStr cmpClass = iota
	cBool
	cI64 // same scale
	cDec // INT/BIGINT/DECIMAL of different scales
	cF64
	cNull
)

type cmpExpr struct {
	op     cmpOp
	l, r   Expr
	class  cmpClass
	sa, sb int
	lv, rv types.Vector
}

func newCompare(op string, l, r Expr) *cmpExpr {
	e := &cmpExpr{op: parseCmpOp(op), l: l, r: r}
	lt, rt := l.Type(), r.Type()
	switch physOf(lt) {
	case pStr:
		e.class = cStr
	case pBool:
		e.class = cBool
	case pF64:
		e.class = cF64
	case pI64:
		e.class = cI64
		if lt.Scale != rt.Scale {
			e.class, e.sa, e.sb = cDec, int(lt.Scale), int(rt.Scale)
		}
	default:
		e.class = cNull
	}
	return e
}

func (e *cmpExpr) Type() types.Type { return types.TBoolean }

func (e *cmpExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	if e.class == cNull {
		allNull(out, types.TBoolean, n)
		return
	}
	prepare(out, types.TBoolean, n)
	o := out.Bool
	// A side that is the same for every row is read once rather than as a
	// vector.
	if k := scalarOf(e.r); k != nil && !k.IsNull(0) && e.class != cDec {
		l := arg(e.l, b, &e.lv)
		e.scalar(e.op, l, k, o, n)
		unionNulls(out, n, l.Null)
		fixNulls(out)
		return
	}
	if k := scalarOf(e.l); k != nil && !k.IsNull(0) && e.class != cDec {
		r := arg(e.r, b, &e.rv)
		e.scalar(e.op.flip(), r, k, o, n)
		unionNulls(out, n, r.Null)
		fixNulls(out)
		return
	}
	l := arg(e.l, b, &e.lv)
	r := arg(e.r, b, &e.rv)
	switch e.class {
	case cStr:
		cmpVV(e.op, l.Str[:n], r.Str[:n], o)
	case cI64:
		cmpVV(e.op, l.I64[:n], r.I64[:n], o)
	case cF64:
		x, y := l.F64[:n], r.F64[:n]
		cmpVV(e.op, x, y, o)
		for i := range o {
			if x[i] != x[i] || y[i] != y[i] {
				o[i] = e.op.holds(cmpFloat(x[i], y[i]))
			}
		}
	case cBool:
		x, y := l.Bool[:n], r.Bool[:n]
		for i := range o {
			o[i] = e.op.holds(int(b2i(x[i]) - b2i(y[i])))
		}
	case cDec:
		x, y := l.I64[:n], r.I64[:n]
		for i := range o {
			o[i] = e.op.holds(cmpDec(x[i], e.sa, y[i], e.sb))
		}
	}
	unionNulls(out, n, l.Null, r.Null)
	fixNulls(out)
}

// scalar compares vector x with the one-row constant k.
func (e *cmpExpr) scalar(op cmpOp, x, k *types.Vector, o []bool, n int) {
	switch e.class {
	case cStr:
		cmpVS(op, x.Str[:n], k.Str[0], o)
	case cI64:
		cmpVS(op, x.I64[:n], k.I64[0], o)
	case cF64:
		s := k.F64[0]
		xs := x.F64[:n]
		if s != s {
			for i := range o {
				o[i] = op.holds(cmpFloat(xs[i], s))
			}
			return
		}
		cmpVS(op, xs, s, o)
		for i := range o {
			if xs[i] != xs[i] {
				o[i] = op.holds(1)
			}
		}
	case cBool:
		s := b2i(k.Bool[0])
		for i, v := range x.Bool[:n] {
			o[i] = op.holds(int(b2i(v) - s))
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	an, bn := a != a, b != b
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	}
	return -1
}

func cmpVV[T cmp.Ordered](op cmpOp, a, b []T, o []bool) {
	a, b = a[:len(o)], b[:len(o)]
	switch op {
	case opEq:
		for i := range o {
			o[i] = a[i] == b[i]
		}
	case opNe:
		for i := range o {
			o[i] = a[i] != b[i]
		}
	case opLt:
		for i := range o {
			o[i] = a[i] < b[i]
		}
	case opLe:
		for i := range o {
			o[i] = a[i] <= b[i]
		}
	case opGt:
		for i := range o {
			o[i] = a[i] > b[i]
		}
	case opGe:
		for i := range o {
			o[i] = a[i] >= b[i]
		}
	}
}

func cmpVS[T cmp.Ordered](op cmpOp, a []T, s T, o []bool) {
	a = a[:len(o)]
	switch op {
	case opEq:
		for i := range o {
			o[i] = a[i] == s
		}
	case opNe:
		for i := range o {
			o[i] = a[i] != s
		}
	case opLt:
		for i := range o {
			o[i] = a[i] < s
		}
	case opLe:
		for i := range o {
			o[i] = a[i] <= s
		}
	case opGt:
		for i := range o {
			o[i] = a[i] > s
		}
	case opGe:
		for i := range o {
			o[i] = a[i] >= s
		}
	}
}

// newIn builds x [NOT] IN (list), all of one type. A list of constants is
// looked up in a set; otherwise it is x = e1 OR x = e2 …, whose
// three-valued logic is IN's: NULL when x is NULL, or when no element
// matches and one of them is NULL.
func newIn(x Expr, list []Expr, not bool) Expr {
	allConst := true
	for _, y := range list {
		if _, ok := y.(*constant); !ok {
			allConst = false
		}
	}
	var e Expr
	if allConst && x.Type().Kind != types.Null {
		s := &inSet{x: x}
		for _, y := range list {
			k := y.(*constant)
			if k.isNull() {
				s.hasNull = true
				continue
			}
			s.add(k)
		}
		e = s
	} else {
		for _, y := range list {
			var eq Expr = newCompare("=", x, y)
			if e == nil {
				e = eq
			} else {
				e = &logicExpr{or: true, l: e, r: eq}
			}
		}
	}
	if not {
		e = &notExpr{x: e}
	}
	return e
}

type inSet struct {
	x       Expr
	hasNull bool
	strs    map[string]struct{}
	ints    map[int64]struct{}
	floats  map[float64]struct{}
	hasNaN  bool
	bools   [2]bool
	s       types.Vector
}

func (e *inSet) add(k *constant) {
	switch physOf(k.t) {
	case pStr:
		if e.strs == nil {
			e.strs = map[string]struct{}{}
		}
		e.strs[k.one.Str[0]] = struct{}{}
	case pI64:
		if e.ints == nil {
			e.ints = map[int64]struct{}{}
		}
		e.ints[k.one.I64[0]] = struct{}{}
	case pF64:
		if e.floats == nil {
			e.floats = map[float64]struct{}{}
		}
		v := k.one.F64[0]
		if v != v {
			e.hasNaN = true
		}
		e.floats[v+0] = struct{}{} // -0.0 is found as 0.0
	case pBool:
		e.bools[b2i(k.one.Bool[0])] = true
	}
}

func (e *inSet) Type() types.Type { return types.TBoolean }

func (e *inSet) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s)
	prepare(out, types.TBoolean, n)
	o := out.Bool
	switch physOf(e.x.Type()) {
	case pStr:
		for i, v := range x.Str[:n] {
			_, o[i] = e.strs[v]
		}
	case pI64:
		for i, v := range x.I64[:n] {
			_, o[i] = e.ints[v]
		}
	case pF64:
		for i, v := range x.F64[:n] {
			_, o[i] = e.floats[v]
			if v != v {
				o[i] = e.hasNaN
			}
		}
	case pBool:
		for i, v := range x.Bool[:n] {
			o[i] = e.bools[b2i(v)]
		}
	}
	unionNulls(out, n, x.Null)
	if e.hasNull {
		if out.Null == nil {
			newNulls(out, n)
		}
		for i, v := range o {
			if !v {
				out.Null[i] = true
			}
		}
	}
	fixNulls(out)
}

// newExactIn is x [NOT] IN (list) for INT, BIGINT and DECIMAL operands of
// different types. Constant elements are converted to x's type when they
// are exactly representable in it and dropped when they are not (no x
// can equal them); varying ones are compared exactly, one by one.
func newExactIn(x Expr, list []Expr, not bool) Expr {
	xt := x.Type()
	var keep []Expr
	allConst := true
	for _, y := range list {
		k, ok := y.(*constant)
		if !ok {
			allConst = false
			keep = append(keep, y)
			continue
		}
		if k.isNull() {
			keep = append(keep, constNull(xt))
			continue
		}
		v, ok := exactTo(k.one.I64[0], int(k.t.Scale), xt)
		if ok {
			keep = append(keep, constInt(xt, v))
		}
	}
	if !allConst {
		return newIn(x, list, not) // comparisons: exact across scales
	}
	if len(keep) == 0 {
		var e Expr = &isNull{x: x}
		// No element can match: FALSE, or NULL for a NULL x.
		e = newCase(types.TBoolean, []Expr{e}, []Expr{constNull(types.TBoolean)}, constBool(false))
		if not {
			e = &notExpr{x: e}
		}
		return e
	}
	return newIn(x, keep, not)
}

// exactTo converts v at scale s to type t when no digit is lost.
func exactTo(v int64, s int, t types.Type) (int64, bool) {
	ts := int(t.Scale)
	if ts < s {
		p := pow10[s-ts]
		if v%p != 0 {
			return 0, false
		}
		v /= p
	} else {
		var ok bool
		if v, ok = rescale(v, s, ts); !ok {
			return 0, false
		}
	}
	switch t.Kind {
	case types.Int:
		return v, v == int64(int32(v))
	case types.Decimal:
		return v, fits(v, int(t.Precision))
	}
	return v, true
}
