package expr

import (
	"math"
	"strings"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// DATE is a day number since 1970-01-01 (query/types), kept within the
// int32 range as Spark's DateType: arithmetic on days wraps to 32 bits as
// Spark's Int does (date_add, date_sub), and a string whose day does not
// fit is NULL.

// parseDate reads a string as Spark's CAST(… AS DATE) does
// (DateTimeUtils.stringToDate): surrounding whitespace, an optional sign,
// then yyyy[y…] (4 to 7 digits), yyyy-[m]m, or yyyy-[m]m-[d]d followed by
// nothing, or by ' ' or 'T' and anything (a time, ignored). The year and
// year-month forms must end the string. Anything else gives ok=false.
func parseDate(s string) (int64, bool) {
	s = trimSpace(s)
	if s == "" {
		return 0, false
	}
	sign := int64(1)
	j := 0
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		j++
	}
	seg := [3]int64{1, 1, 1}
	i, val, digits := 0, int64(0), 0
	validDigits := func() bool {
		if i == 0 {
			return digits >= 4 && digits <= 7
		}
		return digits > 0 && digits <= 2
	}
	for ; j < len(s) && s[j] != ' ' && s[j] != 'T'; j++ {
		c := s[j]
		if i < 2 && c == '-' {
			if !validDigits() {
				return 0, false
			}
			seg[i] = val
			val, digits = 0, 0
			i++
			continue
		}
		if !isDigit(c) || digits >= 7 {
			return 0, false
		}
		val = val*10 + int64(c-'0')
		digits++
	}
	if !validDigits() {
		return 0, false
	}
	if i < 2 && j < len(s) {
		return 0, false // yyyy and yyyy-[m]m must be the whole string
	}
	seg[i] = val
	y, m, d := sign*seg[0], int(seg[1]), int(seg[2])
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	days := daysOf(y, m, d)
	if days != int64(int32(days)) {
		return 0, false // LocalDate.toEpochDay does not fit Spark's Int
	}
	return days, true
}

// formatDate prints a day as Spark casts a DATE to STRING: yyyy-MM-dd
// (years beyond 0…9999 written with all their digits and sign, as
// formatTimestamp writes them).
func formatDate(days int64) string {
	y, m, d := civil(days)
	var buf [24]byte
	b := buf[:0]
	if y < 0 || y > 9999 {
		b = append(b, []byte(itoa(y))...)
	} else {
		b = pad(b, int(y), 4)
	}
	b = append(b, '-')
	b = pad(b, m, 2)
	b = append(b, '-')
	b = pad(b, d, 2)
	return string(b)
}

func itoa(v int64) string { return formatDecimal(v, 0) }

// dateToMicros is midnight UTC of a day; ok=false when it is beyond the
// TIMESTAMP range (Spark raises an overflow error there).
func dateToMicros(days int64) (int64, bool) {
	return mulExact(days, microsPerDay)
}

// dateParam converts argument i of call e to DATE as Spark's implicit
// casts do (STRING, TIMESTAMP and NULL convert; others are refused).
func (c *compiler) dateParam(e *sql.Call, args []Expr, i int) (Expr, error) {
	return c.param(e, args, i, types.TDate)
}

// buildToDate is to_date(x [, fmt]). Without a format it is CAST(x AS
// DATE), any other type read through its STRING form as Spark's
// TypeCollection(STRING, DATE, TIMESTAMP) coercion does; with one, a
// STRING is parsed as to_timestamp(x, fmt) parses it and the result's day
// taken, while a DATE or TIMESTAMP ignores the format.
func buildToDate(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	x := a[0]
	switch x.Type().Kind {
	case types.Date, types.Timestamp, types.String, types.Null:
	default:
		x = castTo(x, types.TString)
	}
	if len(a) == 1 || x.Type().Kind == types.Date || x.Type().Kind == types.Timestamp {
		if len(a) == 2 {
			if _, err := c.param(e, a, 1, types.TString); err != nil {
				return nil, err
			}
		}
		return castTo(x, types.TDate), nil
	}
	ts, err := buildToTimestamp(c, e, []Expr{x, a[1]})
	if err != nil {
		return nil, err
	}
	return castTo(ts, types.TDate), nil
}

// dateAdd is date_add(d, n) and date_sub(d, n): the day n days later or
// earlier, wrapped to 32 bits as Spark's Int addition.
type dateAdd struct {
	d, n   Expr
	sub    bool
	ds, ns types.Vector
}

// buildDateAdd checks date_add's operands: d converts to DATE (STRING,
// TIMESTAMP), n to INT (any number, STRING), as Spark's implicit casts do.
func (c *compiler) buildDateAdd(e sql.Expr, name string, d, n Expr, dSrc, nSrc sql.Expr, sub bool) (Expr, error) {
	if !implicitOK(d.Type(), types.TDate) {
		return nil, errAt(dSrc, "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: Parameter 1 requires the \"DATE\" type, however %q has the type %q.", name, exprSQL(dSrc), d.Type().String())
	}
	if !implicitOK(n.Type(), types.TInt) {
		return nil, errAt(nSrc, "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: Parameter 2 requires the (\"INT\" or \"SMALLINT\" or \"TINYINT\") type, however %q has the type %q.", name, exprSQL(nSrc), n.Type().String())
	}
	d, n = castTo(d, types.TDate), castTo(n, types.TInt)
	return fold(&dateAdd{d: d, n: n, sub: sub}, d, n), nil
}

func buildDateAddCall(sub bool) func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	return func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		return c.buildDateAdd(e, exprSQL(e), a[0], a[1], e.Args[0], e.Args[1], sub)
	}
}

func (e *dateAdd) Type() types.Type { return types.TDate }
func (e *dateAdd) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	d := arg(e.d, b, &e.ds)
	k := arg(e.n, b, &e.ns)
	prepare(out, types.TDate, n)
	o := out.I64
	if e.sub {
		for i, v := range d.I64[:n] {
			o[i] = int64(int32(v - k.I64[i]))
		}
	} else {
		for i, v := range d.I64[:n] {
			o[i] = int64(int32(v + k.I64[i]))
		}
	}
	unionNulls(out, n, d.Null, k.Null)
	fixNulls(out)
}

// dayDiff is datediff(end, start): end - start in days, as INT.
type dayDiff struct {
	a, b   Expr
	as, bs types.Vector
}

func buildDateDiff(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	end, err := c.dateParam(e, a, 0)
	if err != nil {
		return nil, err
	}
	start, err := c.dateParam(e, a, 1)
	if err != nil {
		return nil, err
	}
	return fold(&dayDiff{a: end, b: start}, end, start), nil
}

func (e *dayDiff) Type() types.Type { return types.TInt }
func (e *dayDiff) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.a, b, &e.as)
	y := arg(e.b, b, &e.bs)
	prepare(out, types.TInt, n)
	for i, v := range x.I64[:n] {
		out.I64[i] = int64(int32(v - y.I64[i]))
	}
	unionNulls(out, n, x.Null, y.Null)
	fixNulls(out)
}

// reinterpret gives its operand's values another I64 type unchanged:
// unix_date(d) (DATE to INT) and date_from_unix_date(n) (INT to DATE).
type reinterpret struct {
	x Expr
	t types.Type
	s types.Vector
}

func (e *reinterpret) Type() types.Type { return e.t }
func (e *reinterpret) Eval(b *types.Batch, out *types.Vector) {
	x := arg(e.x, b, &e.s)
	copyVector(out, x, b.N)
	out.Type = e.t
}

func buildUnixDate(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	x, err := c.dateParam(e, a, 0)
	if err != nil {
		return nil, err
	}
	return fold(&reinterpret{x: x, t: types.TInt}, x), nil
}

func buildDateFromUnixDate(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	x, err := c.param(e, a, 0, types.TInt)
	if err != nil {
		return nil, err
	}
	return fold(&reinterpret{x: x, t: types.TDate}, x), nil
}

// buildCurrentDate is current_date(): the UTC day of current_timestamp().
func buildCurrentDate(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	return &castExpr{x: &nowExpr{now: c.s.Now}, to: types.TDate}, nil
}

// dayUnitsOnly reports whether an interval is written in whole days only
// (INTERVAL '2' DAY, INTERVAL 1 WEEK): Spark adds such an interval to a
// DATE as days (a DATE result), any other to the DATE's midnight (a
// TIMESTAMP result).
func dayUnitsOnly(iv *sql.Interval) bool {
	if iv.Micros%microsPerDay != 0 {
		return false
	}
	words := strings.FieldsFunc(strings.ToLower(iv.Text), func(r rune) bool { return r < 'a' || r > 'z' })
	for _, w := range words {
		switch w {
		case "interval", "day", "days", "week", "weeks":
		default:
			return false
		}
	}
	return true
}

// dateInterval is DATE ± INTERVAL (the interval on the right, or on the
// left of +).
func (c *compiler) dateInterval(e *sql.Binary, d Expr, iv *sql.Interval, sub bool) (Expr, error) {
	if !dayUnitsOnly(iv) {
		ts := castTo(d, types.TTimestamp)
		delta := iv.Micros
		if sub {
			delta = -delta
		}
		return fold(&addMicros{x: ts, d: delta}, ts), nil
	}
	days := iv.Micros / microsPerDay
	if days > math.MaxInt32 || days < math.MinInt32 {
		return nil, errAt(iv, "interval %s is beyond the DATE range", iv.Text)
	}
	k := constInt(types.TInt, days)
	out := &dateAdd{d: d, n: k, sub: sub}
	return fold(out, d, k), nil
}
