package expr

import (
	"github.com/sensorlab/sensorlab/query/types"
)

// caseExpr is CASE WHEN c1 THEN v1 … ELSE e END over values of one type.
// Every branch is evaluated for every row (no branch can fail in non-ANSI
// mode, so the result is the same as Spark's lazy evaluation), then the
// arms are applied from last to first, so that the first true condition
// wins; a NULL condition counts as false. The last arm and ELSE are
// applied together, each row taking one or the other.
type caseExpr struct {
	t     types.Type
	conds []Expr
	vals  []Expr
	els   Expr
	cs    []types.Vector
	vs    []types.Vector
	es    types.Vector
}

func newCase(t types.Type, conds, vals []Expr, els Expr) Expr {
	e := &caseExpr{t: t, conds: conds, vals: vals, els: els,
		cs: make([]types.Vector, len(conds)), vs: make([]types.Vector, len(vals))}
	// Arms whose condition is constant are decided now.
	var kc, kv []Expr
	for i, c := range conds {
		if k, ok := c.(*constant); ok {
			if !k.isNull() && k.one.Bool[0] {
				e.els = vals[i] // always taken: nothing after it matters
				break
			}
			continue // never taken
		}
		kc, kv = append(kc, c), append(kv, vals[i])
	}
	if len(kc) == 0 {
		return notLiteral(e.els)
	}
	e.conds, e.vals = kc, kv
	e.cs, e.vs = make([]types.Vector, len(kc)), make([]types.Vector, len(kv))
	return fold(e, append(append(kc[:len(kc):len(kc)], kv...), e.els)...)
}

func (e *caseExpr) Type() types.Type { return e.t }

func (e *caseExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	last := len(e.conds) - 1
	els := arg(e.els, b, &e.es)
	cond := arg(e.conds[last], b, &e.cs[last]).Bool[:n] // NULL rows hold false
	v := arg(e.vals[last], b, &e.vs[last])
	prepare(out, e.t, n)
	switch physOf(e.t) {
	case pStr:
		selectWhere(out.Str, v.Str, els.Str, cond)
	case pBool:
		selectWhere(out.Bool, v.Bool, els.Bool, cond)
	case pI64:
		selectWhere(out.I64, v.I64, els.I64, cond)
	case pF64:
		selectWhere(out.F64, v.F64, els.F64, cond)
	}
	if v.Null != nil || els.Null != nil {
		nulls := newNulls(out, n)
		for i, c := range cond {
			if c {
				nulls[i] = v.IsNull(i)
			} else {
				nulls[i] = els.IsNull(i)
			}
		}
	}
	for k := last - 1; k >= 0; k-- {
		cond := arg(e.conds[k], b, &e.cs[k]).Bool[:n]
		v := arg(e.vals[k], b, &e.vs[k])
		switch physOf(e.t) {
		case pStr:
			assignWhere(out.Str, v.Str, cond)
		case pBool:
			assignWhere(out.Bool, v.Bool, cond)
		case pI64:
			assignWhere(out.I64, v.I64, cond)
		case pF64:
			assignWhere(out.F64, v.F64, cond)
		}
		if v.Null != nil || out.Null != nil {
			if out.Null == nil {
				newNulls(out, n)
			}
			if v.Null == nil {
				for i, c := range cond {
					if c {
						out.Null[i] = false
					}
				}
			} else {
				assignWhere(out.Null, v.Null, cond)
			}
		}
	}
	fixNulls(out)
}

// selectWhere sets dst[i] to a[i] where cond[i], to b[i] elsewhere.
func selectWhere[T any](dst, a, b []T, cond []bool) {
	dst, a, b = dst[:len(cond)], a[:len(cond)], b[:len(cond)]
	for i, c := range cond {
		x := b[i]
		if c {
			x = a[i] // a conditional move, not a branch, for scalar T
		}
		dst[i] = x
	}
}

func assignWhere[T any](dst, src []T, cond []bool) {
	dst, src = dst[:len(cond)], src[:len(cond)]
	for i, c := range cond {
		if c {
			dst[i] = src[i]
		}
	}
}

// coalesceExpr is coalesce(…) / nvl: the first non-NULL argument. Later
// arguments are not evaluated once no row is NULL.
type coalesceExpr struct {
	t  types.Type
	xs []Expr
	s  []types.Vector
}

func (e *coalesceExpr) Type() types.Type { return e.t }

func (e *coalesceExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	copyVector(out, arg(e.xs[0], b, &e.s[0]), n)
	out.Type = e.t
	for k := 1; k < len(e.xs) && out.Null != nil; k++ {
		v := arg(e.xs[k], b, &e.s[k])
		for i, isNull := range out.Null {
			if !isNull || v.IsNull(i) {
				continue
			}
			out.Null[i] = false
			switch physOf(e.t) {
			case pStr:
				out.Str[i] = v.Str[i]
			case pBool:
				out.Bool[i] = v.Bool[i]
			case pI64:
				out.I64[i] = v.I64[i]
			case pF64:
				out.F64[i] = v.F64[i]
			}
		}
		fixNulls(out)
	}
	if physOf(e.t) == pNone {
		allNull(out, e.t, n)
	}
}

// extremeExpr is greatest(…) / least(…): NULL arguments are skipped, the
// result is NULL only when all are (Spark's Greatest/Least).
type extremeExpr struct {
	t        types.Type
	greatest bool
	xs       []Expr
	s        []types.Vector
}

func (e *extremeExpr) Type() types.Type { return e.t }

func (e *extremeExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	copyVector(out, arg(e.xs[0], b, &e.s[0]), n)
	out.Type = e.t
	for k := 1; k < len(e.xs); k++ {
		v := arg(e.xs[k], b, &e.s[k])
		for i := 0; i < n; i++ {
			if v.IsNull(i) {
				continue
			}
			if out.IsNull(i) {
				out.Null[i] = false
				setFrom(out, v, i)
				continue
			}
			var c int
			switch physOf(e.t) {
			case pStr:
				c = compareOrdered(v.Str[i], out.Str[i])
			case pBool:
				c = int(b2i(v.Bool[i]) - b2i(out.Bool[i]))
			case pI64:
				c = compareOrdered(v.I64[i], out.I64[i])
			case pF64:
				c = cmpFloat(v.F64[i], out.F64[i])
			}
			if (e.greatest && c > 0) || (!e.greatest && c < 0) {
				setFrom(out, v, i)
			}
		}
	}
	fixNulls(out)
}

func compareOrdered[T int64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func setFrom(out, v *types.Vector, i int) {
	switch physOf(out.Type) {
	case pStr:
		out.Str[i] = v.Str[i]
	case pBool:
		out.Bool[i] = v.Bool[i]
	case pI64:
		out.I64[i] = v.I64[i]
	case pF64:
		out.F64[i] = v.F64[i]
	}
}
