package expr

import (
	"math"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

type unit uint8

const (
	tMillis unit = iota
	tMicros
	tSeconds
)

// fromUnit is timestamp_millis / _micros / _seconds: a number of units
// since the epoch as a TIMESTAMP. Spark raises an overflow error where
// this engine gives NULL. timestamp_seconds also takes DOUBLE (truncated
// to microseconds; NaN and infinities are NULL) and DECIMAL.
type fromUnit struct {
	x Expr
	u unit
	s types.Vector
}

func buildFromUnit(u unit) func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	return func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		var x Expr
		var err error
		if u == tSeconds {
			x, err = c.numParam(e, a, 0)
		} else {
			x, err = c.param(e, a, 0, types.TBigint)
		}
		if err != nil {
			return nil, err
		}
		return fold(&fromUnit{x: x, u: u}, x), nil
	}
}

func (e *fromUnit) Type() types.Type { return types.TTimestamp }
func (e *fromUnit) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s)
	prepare(out, types.TTimestamp, n)
	unionNulls(out, n, x.Null)
	o := out.I64
	bad := func(i int) {
		if out.Null == nil {
			newNulls(out, n)
		}
		out.Null[i] = true
	}
	xt := e.x.Type()
	switch {
	case e.u == tMicros:
		copy(o, x.I64[:n])
	case e.u == tMillis:
		const lim = math.MaxInt64 / 1000
		for i, v := range x.I64[:n] {
			if v > lim || v < -lim {
				bad(i)
				continue
			}
			o[i] = v * 1000
		}
	case xt.Kind == types.Double:
		for i, v := range x.F64[:n] {
			us := v * microsPerSecond
			if us != us || us >= math.MaxInt64 || us < math.MinInt64 {
				bad(i)
				continue
			}
			o[i] = int64(us)
		}
	case xt.Kind == types.Decimal:
		s := int(xt.Scale)
		for i, v := range x.I64[:n] {
			if s <= 6 {
				r, ok := mulExact(v, pow10[6-s])
				if !ok {
					bad(i)
				}
				o[i] = r
			} else {
				o[i] = v / pow10[s-6]
			}
		}
	default: // INT, BIGINT seconds
		for i, v := range x.I64[:n] {
			r, ok := mulExact(v, microsPerSecond)
			if !ok {
				bad(i)
			}
			o[i] = r
		}
	}
	fixNulls(out)
}

// toUnit is unix_millis / unix_micros / unix_seconds: whole units since
// the epoch, rounded down (Math.floorDiv, as Spark).
type toUnit struct {
	x   Expr
	div int64
	s   types.Vector
}

func buildToUnit(div int64) func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	return func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		x, err := c.param(e, a, 0, types.TTimestamp)
		if err != nil {
			return nil, err
		}
		return fold(&toUnit{x: x, div: div}, x), nil
	}
}

func (e *toUnit) Type() types.Type { return types.TBigint }
func (e *toUnit) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s)
	prepare(out, types.TBigint, n)
	if e.div == 1 {
		copy(out.I64, x.I64[:n])
	} else {
		for i, v := range x.I64[:n] {
			out.I64[i] = floorDiv(v, e.div)
		}
	}
	unionNulls(out, n, x.Null)
	fixNulls(out)
}

// unix_timestamp(ts) is unix_seconds; unix_timestamp(str, fmt) parses first.
func buildUnixTimestamp(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	ts, err := buildToTimestamp(c, e, a)
	if err != nil {
		return nil, err
	}
	return fold(&toUnit{x: ts, div: microsPerSecond}, ts), nil
}

// buildToTimestamp is to_timestamp(x [, fmt]): without a format, a
// STRING is read as CAST(x AS TIMESTAMP) reads it (ISO-8601 and
// 'yyyy-MM-dd HH:mm:ss[.SSS]'), a number as seconds; with one, the string
// must match the Java pattern (see pattern.parse). No match gives NULL.
func buildToTimestamp(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	if len(a) == 1 {
		x := a[0]
		switch k := x.Type().Kind; {
		case k == types.Timestamp:
			return x, nil
		case k == types.String || k == types.Null || k == types.Date || x.Type().IsNumeric():
			return castTo(x, types.TTimestamp), nil
		}
		return nil, errAt(e.Args[0], "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: Parameter 1 requires the \"STRING\" or \"TIMESTAMP\" type, however %q has the type %q.", exprSQL(e), exprSQL(e.Args[0]), x.Type().String())
	}
	x, err := c.param(e, a, 0, types.TString)
	if err != nil {
		return nil, err
	}
	f, err := c.param(e, a, 1, types.TString)
	if err != nil {
		return nil, err
	}
	p := &patternExpr{x: x, f: f, parse: true}
	if err := p.compileConst(e); err != nil {
		return nil, err
	}
	return fold(p, x, f), nil
}

// date_format(ts, fmt) prints ts (UTC) with the Java pattern fmt.
func buildDateFormat(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	x, err := c.param(e, a, 0, types.TTimestamp)
	if err != nil {
		return nil, err
	}
	f, err := c.param(e, a, 1, types.TString)
	if err != nil {
		return nil, err
	}
	p := &patternExpr{x: x, f: f}
	if err := p.compileConst(e); err != nil {
		return nil, err
	}
	return fold(p, x, f), nil
}

// patternExpr parses (to_timestamp) or prints (date_format) with a
// pattern; a constant pattern is compiled once, a varying one per
// distinct value seen last.
type patternExpr struct {
	x, f  Expr
	parse bool
	pat   pattern
	last  string
	lpat  pattern
	lerr  error
	s     [2]types.Vector
}

func (p *patternExpr) compileConst(e *sql.Call) error {
	v, ok := Const(p.f)
	if !ok || v == nil {
		return nil
	}
	pat, err := compilePattern(v.(string))
	if err != nil {
		return errAt(e.Args[1], "[INVALID_DATETIME_PATTERN] Unrecognized datetime pattern: %s (%v).", v, err)
	}
	p.pat = pat
	return nil
}

func (p *patternExpr) Type() types.Type {
	if p.parse {
		return types.TTimestamp
	}
	return types.TString
}

func (p *patternExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(p.x, b, &p.s[0])
	f := arg(p.f, b, &p.s[1])
	prepare(out, p.Type(), n)
	unionNulls(out, n, x.Null, f.Null)
	bad := func(i int) {
		if out.Null == nil {
			newNulls(out, n)
		}
		out.Null[i] = true
	}
	for i := 0; i < n; i++ {
		if out.IsNull(i) {
			continue
		}
		pat := p.pat
		if pat == nil {
			if p.lpat == nil || f.Str[i] != p.last {
				p.last = f.Str[i]
				p.lpat, p.lerr = compilePattern(p.last)
			}
			if p.lerr != nil {
				bad(i)
				continue
			}
			pat = p.lpat
		}
		if p.parse {
			us, ok := pat.parse(x.Str[i])
			if !ok {
				bad(i)
				continue
			}
			out.I64[i] = us
		} else {
			out.Str[i] = pat.format(x.I64[i])
		}
	}
	fixNulls(out)
}

type field uint8

const (
	xHour field = iota
	xMinute
	xSecond
	xYear
	xQuarter
	xMonth
	xDay
	xDayOfWeek // 1 = Sunday … 7 = Saturday, as Spark's dayofweek
	xDayOfYear
)

// extract is hour(ts), minute(ts), … in UTC, as INT. As in Spark,
// hour, minute and second take a TIMESTAMP (a DATE is its midnight) and
// the calendar fields take a DATE: a TIMESTAMP gives its UTC day, and a
// STRING is read as CAST(… AS DATE) reads it.
type extract struct {
	x Expr
	f field
	s types.Vector
}

func buildExtract(f field) func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	return func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		want := types.TTimestamp
		if f >= xYear && a[0].Type().Kind != types.Timestamp {
			want = types.TDate // a TIMESTAMP is read in place, as its day
		}
		x, err := c.param(e, a, 0, want)
		if err != nil {
			return nil, err
		}
		return fold(&extract{x: x, f: f}, x), nil
	}
}

func (e *extract) Type() types.Type { return types.TInt }
func (e *extract) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s)
	prepare(out, types.TInt, n)
	o, in := out.I64, x.I64[:n]
	switch e.f {
	case xHour:
		for i, v := range in {
			o[i] = floorMod(v, microsPerDay) / (3600 * microsPerSecond)
		}
	case xMinute:
		for i, v := range in {
			o[i] = floorMod(v, 3600*microsPerSecond) / (60 * microsPerSecond)
		}
	case xSecond:
		for i, v := range in {
			o[i] = floorMod(v, 60*microsPerSecond) / microsPerSecond
		}
	default:
		date := e.x.Type().Kind == types.Date
		for i, v := range in {
			var f fields
			if date {
				f = splitDays(v)
			} else {
				f = split(v)
			}
			var r int
			switch e.f {
			case xYear:
				r = int(f.year)
			case xQuarter:
				r = (f.month-1)/3 + 1
			case xMonth:
				r = f.month
			case xDay:
				r = f.day
			case xDayOfWeek:
				r = f.dayOfWeek%7 + 1
			case xDayOfYear:
				r = f.dayOfYear
			}
			o[i] = int64(r)
		}
	}
	unionNulls(out, n, x.Null)
	fixNulls(out)
}
