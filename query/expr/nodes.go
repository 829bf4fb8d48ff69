package expr

import (
	"github.com/sensorlab/sensorlab/query/types"
)

// colRef is input column idx.
type colRef struct {
	idx int
	t   types.Type
}

func (c *colRef) Type() types.Type { return c.t }
func (c *colRef) Eval(b *types.Batch, out *types.Vector) {
	copyVector(out, b.Cols[c.idx], b.N)
	out.Type = c.t
}

// constant is a value that does not depend on the input: a literal or a
// folded expression. one holds it as a vector of one row; view serves it
// as a read-only vector of any length.
type constant struct {
	t    types.Type
	lit  bool // an integer literal as written (its digits type it in decimal arithmetic)
	one  types.Vector
	fill types.Vector // one's value repeated; grows as needed
	view types.Vector
}

func constInt(t types.Type, v int64) *constant {
	return &constant{t: t, one: types.Vector{Type: t, I64: []int64{v}}}
}
func constFloat(v float64) *constant {
	return &constant{t: types.TDouble, one: types.Vector{Type: types.TDouble, F64: []float64{v}}}
}
func constString(v string) *constant {
	return &constant{t: types.TString, one: types.Vector{Type: types.TString, Str: []string{v}}}
}
func constBool(v bool) *constant {
	return &constant{t: types.TBoolean, one: types.Vector{Type: types.TBoolean, Bool: []bool{v}}}
}
func constNull(t types.Type) *constant {
	var v types.Vector
	allNull(&v, t, 1)
	return &constant{t: t, one: v}
}

// notLiteral returns e, or, for an integer literal, a copy that no longer
// counts as one: Spark types a literal by its digits only where it is
// written directly as an operand, not through CAST, CASE or +x.
func notLiteral(e Expr) Expr {
	if k, ok := e.(*constant); ok && k.lit {
		return &constant{t: k.t, one: k.one}
	}
	return e
}

func (c *constant) Type() types.Type { return c.t }
func (c *constant) isNull() bool     { return c.one.IsNull(0) }

func (c *constant) value() any {
	if c.isNull() {
		return nil
	}
	switch physOf(c.t) {
	case pStr:
		return c.one.Str[0]
	case pBool:
		return c.one.Bool[0]
	case pI64:
		return c.one.I64[0]
	case pF64:
		return c.one.F64[0]
	}
	return nil
}

func (c *constant) Eval(b *types.Batch, out *types.Vector) {
	copyVector(out, c.broadcast(b.N), b.N)
}

// broadcast returns a read-only vector of n copies of the value.
func (c *constant) broadcast(n int) *types.Vector {
	f := &c.fill
	if f.Type != c.t || f.Len() < n {
		m := max(n, 1024)
		prepare(f, c.t, m)
		switch physOf(c.t) {
		case pStr:
			for i := range f.Str {
				f.Str[i] = c.one.Str[0]
			}
		case pBool:
			for i := range f.Bool {
				f.Bool[i] = c.one.Bool[0]
			}
		case pI64:
			for i := range f.I64 {
				f.I64[i] = c.one.I64[0]
			}
		case pF64:
			for i := range f.F64 {
				f.F64[i] = c.one.F64[0]
			}
		}
		if c.isNull() {
			nulls := newNulls(f, m)
			for i := range nulls {
				nulls[i] = true
			}
		}
	}
	v := &c.view
	*v = types.Vector{Type: c.t}
	switch physOf(c.t) {
	case pStr:
		v.Str = f.Str[:n]
	case pBool:
		v.Bool = f.Bool[:n]
	case pI64:
		v.I64 = f.I64[:n]
	case pF64:
		v.F64 = f.F64[:n]
	}
	if f.Null != nil {
		v.Null = f.Null[:n]
	}
	return v
}

// nowExpr is current_timestamp(): Scope.Now, read once per batch.
type nowExpr struct{ now func() int64 }

func (e *nowExpr) Type() types.Type { return types.TTimestamp }
func (e *nowExpr) Eval(b *types.Batch, out *types.Vector) {
	t := nowFunc(e.now)()
	prepare(out, types.TTimestamp, b.N)
	for i := range out.I64 {
		out.I64[i] = t
	}
}

// batchConst is an expression that reads no column but is no constant
// either, because it reads current_timestamp(), fixed for a batch
// (unix_millis(current_timestamp()) + 86400000): fold wraps it so that it
// is computed once per batch, on one row, rather than once per row.
type batchConst struct {
	x   Expr
	one types.Vector // the value, as evaluated by the last Eval or row
	b   types.Batch  // a batch of one row and no column
}

func (e *batchConst) Type() types.Type { return e.x.Type() }

// row evaluates the expression on one row and returns it as a one-row
// vector, valid until the next call.
func (e *batchConst) row() *types.Vector {
	e.b.N = 1
	e.x.Eval(&e.b, &e.one)
	return &e.one
}

func (e *batchConst) Eval(b *types.Batch, out *types.Vector) {
	one := e.row()
	t := e.x.Type()
	if one.IsNull(0) {
		allNull(out, t, b.N)
		return
	}
	prepare(out, t, b.N)
	switch physOf(t) {
	case pStr:
		for i := range out.Str {
			out.Str[i] = one.Str[0]
		}
	case pBool:
		for i := range out.Bool {
			out.Bool[i] = one.Bool[0]
		}
	case pI64:
		for i := range out.I64 {
			out.I64[i] = one.I64[0]
		}
	case pF64:
		for i := range out.F64 {
			out.F64[i] = one.F64[0]
		}
	}
}

// scalarOf returns the one-row value of an operand that is the same for
// every row of the batch (a constant, or a batchConst evaluated now), or
// nil for an operand that varies by row.
func scalarOf(e Expr) *types.Vector {
	switch k := e.(type) {
	case *constant:
		return &k.one
	case *batchConst:
		return k.row()
	}
	return nil
}

// isNull is x IS [NOT] NULL.
type isNull struct {
	x   Expr
	not bool
	s   types.Vector
}

func (e *isNull) Type() types.Type { return types.TBoolean }
func (e *isNull) Eval(b *types.Batch, out *types.Vector) {
	x := arg(e.x, b, &e.s)
	prepare(out, types.TBoolean, b.N)
	if x.Null == nil {
		for i := range out.Bool {
			out.Bool[i] = e.not
		}
		return
	}
	for i, n := range x.Null[:b.N] {
		out.Bool[i] = n != e.not
	}
}

// notExpr is NOT x (NULL stays NULL).
type notExpr struct {
	x Expr
	s types.Vector
}

func (e *notExpr) Type() types.Type { return types.TBoolean }
func (e *notExpr) Eval(b *types.Batch, out *types.Vector) {
	x := arg(e.x, b, &e.s)
	prepare(out, types.TBoolean, b.N)
	for i, v := range x.Bool[:b.N] {
		out.Bool[i] = !v
	}
	unionNulls(out, b.N, x.Null)
	fixNulls(out)
}

// logicExpr is l AND r or l OR r, with SQL's three-valued logic: FALSE AND
// NULL is FALSE, TRUE OR NULL is TRUE, otherwise NULL wins.
type logicExpr struct {
	or     bool
	l, r   Expr
	ls, rs types.Vector
}

func (e *logicExpr) Type() types.Type { return types.TBoolean }
func (e *logicExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	l := arg(e.l, b, &e.ls)
	r := arg(e.r, b, &e.rs)
	prepare(out, types.TBoolean, n)
	lv, rv, ov := l.Bool[:n], r.Bool[:n], out.Bool[:n]
	if e.or {
		for i := range ov {
			ov[i] = lv[i] || rv[i]
		}
	} else {
		for i := range ov {
			ov[i] = lv[i] && rv[i]
		}
	}
	if l.Null == nil && r.Null == nil {
		return
	}
	// A null side decides nothing; the other side decides when it is the
	// dominant value (TRUE for OR, FALSE for AND).
	nulls := newNulls(out, n)
	dom := e.or
	for i := range ov {
		ln := l.Null != nil && l.Null[i]
		rn := r.Null != nil && r.Null[i]
		if !ln && !rn {
			continue
		}
		if (!ln && lv[i] == dom) || (!rn && rv[i] == dom) {
			ov[i] = dom
			continue
		}
		nulls[i] = true
	}
	fixNulls(out)
}
