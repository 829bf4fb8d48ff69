package expr

import (
	"math"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// Arithmetic follows Spark 3.5 in non-ANSI mode:
//   - INT op INT is INT and BIGINT with either is BIGINT; results wrap
//     around on overflow (two's complement), as Java's int and long do;
//   - `/` on anything but DECIMAL is DOUBLE division; x/0 and x%0 are NULL
//     for every type (Spark's DivModLike), including DOUBLE;
//   - DOUBLE with any number is DOUBLE, STRING operands are read as DOUBLE;
//   - DECIMAL with DECIMAL or an integral type is DECIMAL with Spark's
//     result precision and scale (see decimal.go), NULL on overflow.

type numClass uint8

const (
	nInt numClass = iota // INT: wraps to 32 bits
	nBig
	nF64
	nDec
)

type arithExpr struct {
	op     byte
	l, r   Expr
	t      types.Type
	class  numClass
	sa, sb int // decimal operand scales
	rp, rs int // decimal result precision and scale
	lv, rv types.Vector
}

func (c *compiler) arith(e sql.Expr, op string, l, r Expr) (Expr, error) {
	lt, rt := l.Type(), r.Type()
	if b, ok := e.(*sql.Binary); ok && (lt.Kind == types.Date || rt.Kind == types.Date) {
		// Spark's ResolveBinaryArithmetic: DATE + n and n + DATE are
		// date_add, DATE - n is date_sub.
		switch {
		case op == "-" && isDatetime(lt) && isDatetime(rt):
			return nil, errAt(e, "[DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES] Cannot resolve %q: subtracting dates gives an INTERVAL, which this engine has no type for; use datediff(a, b)", exprSQL(e))
		case op == "+" && lt.Kind == types.Date && rt.Kind != types.Date:
			return c.buildDateAdd(e, exprSQL(e), l, r, b.L, b.R, false)
		case op == "+" && rt.Kind == types.Date && lt.Kind != types.Date:
			return c.buildDateAdd(e, exprSQL(e), r, l, b.R, b.L, false)
		case op == "-" && lt.Kind == types.Date:
			return c.buildDateAdd(e, exprSQL(e), l, r, b.L, b.R, true)
		}
	}
	okType := func(t types.Type) bool { return t.IsNumeric() || t.Kind == types.String || t.Kind == types.Null }
	if !okType(lt) || !okType(rt) {
		if lt.Kind == types.Timestamp && rt.Kind == types.Timestamp && op == "-" {
			return nil, errAt(e, "[DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES] Cannot resolve %q: subtracting timestamps gives an INTERVAL, which this engine has no type for; use unix_micros(a) - unix_micros(b)", exprSQL(e))
		}
		if lt == rt {
			return nil, errAt(e, "[DATATYPE_MISMATCH.BINARY_OP_WRONG_TYPE] Cannot resolve %q due to data type mismatch: the binary operator requires the input type \"NUMERIC\", not %q.", exprSQL(e), lt.String())
		}
		return nil, mismatch(e, l, r)
	}
	// STRING and NULL operands are read as DOUBLE, unless NULL meets a
	// number whose type it then takes.
	if lt.Kind == types.String || (lt.Kind == types.Null && !rt.IsNumeric()) {
		l, lt = castTo(l, types.TDouble), types.TDouble
	}
	if rt.Kind == types.String || (rt.Kind == types.Null && !lt.IsNumeric()) {
		r, rt = castTo(r, types.TDouble), types.TDouble
	}
	if lt.Kind == types.Null {
		l, lt = castTo(l, rt), rt
	}
	if rt.Kind == types.Null {
		r, rt = castTo(r, lt), lt
	}
	a := &arithExpr{op: op[0], l: l, r: r}
	switch {
	case lt.Kind == types.Double || rt.Kind == types.Double ||
		(op == "/" && lt.Kind != types.Decimal && rt.Kind != types.Decimal):
		a.class, a.t = nF64, types.TDouble
		a.l, a.r = castTo(l, types.TDouble), castTo(r, types.TDouble)
	case lt.Kind == types.Decimal || rt.Kind == types.Decimal:
		p1, s1 := decOf(l)
		p2, s2 := decOf(r)
		var rt types.Type
		switch a.op {
		case '+', '-':
			s := max(s1, s2)
			rt = adjustPrecisionScale(max(p1-s1, p2-s2)+s+1, s)
		case '*':
			rt = adjustPrecisionScale(p1+p2+1, s1+s2)
		case '/':
			s := max(6, s1+p2+1)
			rt = adjustPrecisionScale(p1-s1+s2+s, s)
		case '%':
			s := max(s1, s2)
			rt = adjustPrecisionScale(min(p1-s1, p2-s2)+s, s)
		}
		a.class, a.t = nDec, rt
		a.sa, a.sb, a.rp, a.rs = s1, s2, int(rt.Precision), int(rt.Scale)
	case lt.Kind == types.Bigint || rt.Kind == types.Bigint:
		a.class, a.t = nBig, types.TBigint
	default:
		a.class, a.t = nInt, types.TInt
	}
	return fold(a, a.l, a.r), nil
}

func (a *arithExpr) Type() types.Type { return a.t }

func (a *arithExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	l := arg(a.l, b, &a.lv)
	r := arg(a.r, b, &a.rv)
	prepare(out, a.t, n)
	unionNulls(out, n, l.Null, r.Null)
	switch a.class {
	case nF64:
		lk, lc := a.l.(*constant)
		rk, rc := a.r.(*constant)
		switch {
		case rc && !rk.isNull():
			vsArith(a.op, l.F64[:n], rk.one.F64[0], out.F64)
		case lc && !lk.isNull():
			svArith(a.op, lk.one.F64[0], r.F64[:n], out.F64)
		default:
			vvArith(a.op, l.F64[:n], r.F64[:n], out.F64)
		}
		if a.op == '/' || a.op == '%' {
			zeroDivisors(out, r.F64[:n])
		}
	case nInt, nBig:
		if a.op == '/' || a.op == '%' {
			// Only % reaches here: integral / is DOUBLE division.
			x, y, o := l.I64[:n], r.I64[:n], out.I64
			for i := range o {
				if y[i] == 0 {
					o[i] = 0
					continue
				}
				o[i] = x[i] % y[i]
			}
			zeroDivisors(out, y)
		} else {
			lk, lc := a.l.(*constant)
			rk, rc := a.r.(*constant)
			switch {
			case rc && !rk.isNull():
				vsArith(a.op, l.I64[:n], rk.one.I64[0], out.I64)
			case lc && !lk.isNull():
				svArith(a.op, lk.one.I64[0], r.I64[:n], out.I64)
			default:
				vvArith(a.op, l.I64[:n], r.I64[:n], out.I64)
			}
		}
		if a.class == nInt {
			for i, v := range out.I64 {
				out.I64[i] = int64(int32(v))
			}
		}
	case nDec:
		kernel := decAdd
		switch a.op {
		case '-':
			kernel = decSub
		case '*':
			kernel = decMul
		case '/':
			kernel = decDiv
		case '%':
			kernel = decRem
		}
		x, y, o := l.I64[:n], r.I64[:n], out.I64
		for i := range o {
			v, ok := kernel(x[i], a.sa, y[i], a.sb, a.rp, a.rs)
			if !ok {
				if out.Null == nil {
					newNulls(out, n)
				}
				out.Null[i] = true
			}
			o[i] = v
		}
	}
	fixNulls(out)
}

// zeroDivisors makes the rows whose divisor is zero NULL.
func zeroDivisors[T int64 | float64](out *types.Vector, y []T) {
	for i, v := range y {
		if v == 0 {
			if out.Null == nil {
				newNulls(out, len(y))
			}
			out.Null[i] = true
		}
	}
}

func vvArith[T int64 | float64](op byte, a, b, o []T) {
	a, b = a[:len(o)], b[:len(o)]
	switch op {
	case '+':
		for i := range o {
			o[i] = a[i] + b[i]
		}
	case '-':
		for i := range o {
			o[i] = a[i] - b[i]
		}
	case '*':
		for i := range o {
			o[i] = a[i] * b[i]
		}
	case '/':
		for i := range o {
			o[i] = a[i] / nonZero(b[i])
		}
	case '%':
		for i := range o {
			o[i] = mod(a[i], b[i])
		}
	}
}

func vsArith[T int64 | float64](op byte, a []T, s T, o []T) {
	a = a[:len(o)]
	switch op {
	case '+':
		for i := range o {
			o[i] = a[i] + s
		}
	case '-':
		for i := range o {
			o[i] = a[i] - s
		}
	case '*':
		for i := range o {
			o[i] = a[i] * s
		}
	case '/':
		d := nonZero(s)
		for i := range o {
			o[i] = a[i] / d
		}
	case '%':
		for i := range o {
			o[i] = mod(a[i], s)
		}
	}
}

func svArith[T int64 | float64](op byte, s T, b, o []T) {
	b = b[:len(o)]
	switch op {
	case '+':
		for i := range o {
			o[i] = s + b[i]
		}
	case '-':
		for i := range o {
			o[i] = s - b[i]
		}
	case '*':
		for i := range o {
			o[i] = s * b[i]
		}
	case '/':
		for i := range o {
			o[i] = s / nonZero(b[i])
		}
	case '%':
		for i := range o {
			o[i] = mod(s, b[i])
		}
	}
}

// nonZero keeps a division by zero from trapping (integers) or producing
// an infinity worth keeping; the row is made NULL afterwards.
func nonZero[T int64 | float64](x T) T {
	if x == 0 {
		return 1
	}
	return x
}

func mod[T int64 | float64](a, b T) T {
	switch x := any(a).(type) {
	case float64:
		return T(math.Mod(x, float64(nonZero(b))))
	}
	return T(int64(a) % int64(nonZero(b)))
}

// negExpr is unary minus; INT wraps (-(-2^31) is -2^31), as in Java.
type negExpr struct {
	x Expr
	s types.Vector
}

func (e *negExpr) Type() types.Type { return e.x.Type() }
func (e *negExpr) Eval(b *types.Batch, out *types.Vector) {
	x := arg(e.x, b, &e.s)
	t := e.x.Type()
	prepare(out, t, b.N)
	if t.Kind == types.Double {
		for i, v := range x.F64[:b.N] {
			out.F64[i] = -v
		}
	} else {
		for i, v := range x.I64[:b.N] {
			out.I64[i] = -v
		}
		if t.Kind == types.Int {
			for i, v := range out.I64 {
				out.I64[i] = int64(int32(v))
			}
		}
	}
	unionNulls(out, b.N, x.Null)
	fixNulls(out)
}

// addMicros is TIMESTAMP ± INTERVAL; a result beyond the int64 range is NULL.
type addMicros struct {
	x Expr
	d int64
	s types.Vector
}

func (e *addMicros) Type() types.Type { return types.TTimestamp }
func (e *addMicros) Eval(b *types.Batch, out *types.Vector) {
	x := arg(e.x, b, &e.s)
	prepare(out, types.TTimestamp, b.N)
	unionNulls(out, b.N, x.Null)
	d := e.d
	for i, v := range x.I64[:b.N] {
		r := v + d
		if (r > v) != (d > 0) && d != 0 {
			if out.Null == nil {
				newNulls(out, b.N)
			}
			out.Null[i] = true
		}
		out.I64[i] = r
	}
	fixNulls(out)
}
