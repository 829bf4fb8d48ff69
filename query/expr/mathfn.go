package expr

import (
	"math"
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// abs keeps its argument's type; abs of the smallest INT or BIGINT wraps
// to itself, as in non-ANSI Spark.
type absExpr struct {
	x Expr
	s types.Vector
}

func buildAbs(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	x, err := c.numParam(e, a, 0)
	if err != nil {
		return nil, err
	}
	return fold(&absExpr{x: x}, x), nil
}

func (e *absExpr) Type() types.Type { return e.x.Type() }
func (e *absExpr) Eval(b *types.Batch, out *types.Vector) {
	x := arg(e.x, b, &e.s)
	t := e.x.Type()
	prepare(out, t, b.N)
	if t.Kind == types.Double {
		for i, v := range x.F64[:b.N] {
			out.F64[i] = math.Abs(v)
		}
	} else {
		for i, v := range x.I64[:b.N] {
			if v < 0 {
				v = -v
			}
			out.I64[i] = v
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

// roundExpr is round(x, d) with HALF_UP (Spark's Round): DOUBLE is rounded
// on its shortest decimal representation (round(2.675, 2) = 2.68, as
// Spark's BigDecimal(double) does), integers with d < 0 to tens, hundreds…,
// DECIMAL(p,s) gives Spark's DECIMAL(p-s+min(s,d)+1, min(s,d)) (d >= 0) or
// DECIMAL(max(p-s+1, -d+1), 0) (d < 0).
type roundExpr struct {
	x  Expr
	d  int
	t  types.Type
	fs int // the argument's scale (DECIMAL)
	s  types.Vector
}

func buildRound(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	x, err := c.numParam(e, a, 0)
	if err != nil {
		return nil, err
	}
	d := 0
	if len(a) == 2 {
		dx, err := c.param(e, a, 1, types.TInt)
		if err != nil {
			return nil, err
		}
		v, ok := Const(dx)
		if !ok || v == nil {
			return nil, errAt(e.Args[1], "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] Cannot resolve %q due to data type mismatch: the input `scale` should be a foldable \"INT\" expression; however, got %q.", exprSQL(e), exprSQL(e.Args[1]))
		}
		d = int(v.(int64))
	}
	r := &roundExpr{x: x, d: d, t: x.Type()}
	if t := x.Type(); t.Kind == types.Decimal {
		p, s := int(t.Precision), int(t.Scale)
		r.fs = s
		if d < 0 {
			r.t = boundedDecimal(max(p-s+1, -d+1), 0)
		} else {
			ns := min(s, d)
			r.t = boundedDecimal(p-s+1+ns, ns)
		}
	}
	return fold(r, x), nil
}

func (e *roundExpr) Type() types.Type { return e.t }
func (e *roundExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s)
	prepare(out, e.t, n)
	unionNulls(out, n, x.Null)
	switch e.t.Kind {
	case types.Double:
		for i, v := range x.F64[:n] {
			out.F64[i] = roundFloat(v, e.d)
		}
	case types.Int, types.Bigint:
		for i, v := range x.I64[:n] {
			out.I64[i] = roundInt(v, e.d)
		}
		if e.t.Kind == types.Int {
			for i, v := range out.I64 {
				out.I64[i] = int64(int32(v))
			}
		}
	case types.Decimal:
		p, s := int(e.t.Precision), int(e.t.Scale)
		for i, v := range x.I64[:n] {
			r, ok := rescale(v, e.fs, e.d)
			if ok && e.d < 0 {
				r, ok = mulExact(r, pow10[min(-e.d, 18)])
			} else if ok {
				r, ok = rescale(r, e.d, s)
			}
			if !ok || !fits(r, p) {
				if out.Null == nil {
					newNulls(out, n)
				}
				out.Null[i] = true
				continue
			}
			out.I64[i] = r
		}
	}
	fixNulls(out)
}

func roundInt(v int64, d int) int64 {
	if d >= 0 {
		return v
	}
	if -d >= len(pow10) {
		return 0
	}
	r, _ := rescale(v, 0, d)
	return r * pow10[-d] // wraps on overflow, as Java's longValue
}

// roundFloat rounds v HALF_UP to d fraction digits of its shortest
// decimal representation.
func roundFloat(v float64, d int) float64 {
	if v != v || math.IsInf(v, 0) || v == 0 {
		return v
	}
	mant, exp, _ := splitNumber(strconv.FormatFloat(v, 'e', -1, 64))
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	k := exp + d // mant·10^exp has -exp fraction digits; keep d of them
	if k >= 0 {
		return v
	}
	if -k > len(mant) {
		return math.Copysign(0, v)
	}
	keep, drop := mant[:len(mant)+k], mant[len(mant)+k:]
	if keep == "" {
		keep = "0"
	}
	if drop[0] >= '5' {
		keep = incDigits(keep)
	}
	s := keep + "e" + strconv.Itoa(-d)
	if neg {
		s = "-" + s
	}
	r, _ := strconv.ParseFloat(s, 64)
	return r
}

// floorCeil is floor(x) / ceil(x): BIGINT for INT, BIGINT and DOUBLE
// (the double saturating, as Java's (long)), DECIMAL(p-s+1, 0) for a
// DECIMAL(p,s).
type floorCeil struct {
	x    Expr
	ceil bool
	t    types.Type
	s    types.Vector
}

func buildFloorCeil(ceil bool) func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	return func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		x, err := c.numParam(e, a, 0)
		if err != nil {
			return nil, err
		}
		t := types.TBigint
		if xt := x.Type(); xt.Kind == types.Decimal {
			t = boundedDecimal(int(xt.Precision)-int(xt.Scale)+1, 0)
		}
		return fold(&floorCeil{x: x, ceil: ceil, t: t}, x), nil
	}
}

func (e *floorCeil) Type() types.Type { return e.t }
func (e *floorCeil) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s)
	prepare(out, e.t, n)
	xt := e.x.Type()
	switch xt.Kind {
	case types.Double:
		for i, v := range x.F64[:n] {
			if e.ceil {
				v = math.Ceil(v)
			} else {
				v = math.Floor(v)
			}
			out.I64[i] = floatToInt(v, false)
		}
	case types.Int, types.Bigint:
		copy(out.I64, x.I64[:n])
	case types.Decimal:
		p := pow10[xt.Scale]
		for i, v := range x.I64[:n] {
			q := floorDiv(v, p)
			if e.ceil && q*p != v {
				q++
			}
			out.I64[i] = q
		}
	}
	unionNulls(out, n, x.Null)
	fixNulls(out)
}
