package expr

import (
	"math"
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/query/types"
)

// Casts follow Spark 3.5's Cast in non-ANSI mode:
//   - a string that is not a value of the target type gives NULL; strings
//     are trimmed of surrounding whitespace first;
//   - STRING to INT/BIGINT accepts a fraction and drops it ('1.9' is 1),
//     and an out-of-range number is NULL (UTF8String.toInt/toLong);
//   - STRING to BOOLEAN accepts t, true, y, yes, 1 and f, false, n, no, 0
//     in any case;
//   - DOUBLE to INT/BIGINT truncates toward zero and saturates at the
//     type's bounds, NaN giving 0 (Java's (int)/(long));
//   - BIGINT to INT and DECIMAL to INT wrap to 32 bits (Scala's toInt);
//   - DOUBLE to DECIMAL rounds HALF_UP from the double's shortest decimal
//     string (Scala's BigDecimal(double)); a value that does not fit the
//     precision is NULL, and so are NaN and the infinities;
//   - TIMESTAMP to BIGINT is whole seconds (floor), to DOUBLE seconds with
//     a fraction; BIGINT/INT/DOUBLE/DECIMAL to TIMESTAMP read seconds;
//   - any type to STRING prints it as Spark does: DOUBLE as Java's
//     Double.toString (1.0, 1.0E10), DECIMAL with its scale's digits,
//     TIMESTAMP as yyyy-MM-dd HH:mm:ss[.fraction without trailing zeros],
//     DATE as yyyy-MM-dd;
//   - TIMESTAMP to DATE is the UTC day (rounded down), DATE to TIMESTAMP
//     its midnight UTC (NULL beyond the TIMESTAMP range, where Spark
//     raises an overflow error); STRING to DATE reads yyyy[-[m]m[-[d]d]]
//     with anything after ' ' or 'T' ignored (parseDate);
//   - DATE to a number or BOOLEAN is allowed and always NULL (Spark's
//     non-ANSI Cast, following Hive); a number or BOOLEAN to DATE is
//     refused.

// castable reports whether CAST(from AS to) is allowed.
func castable(from, to types.Type) bool {
	if from.Kind == types.Null || from == to || to.Kind == types.String || from.Kind == types.String {
		return true
	}
	if to.Kind == types.Date {
		return from.Kind == types.Timestamp
	}
	return from.Kind != types.Invalid && to.Kind != types.Null && to.Kind != types.Invalid
}

// castTo converts x to type to (no-op when it has it already), folding
// constants.
func castTo(x Expr, to types.Type) Expr {
	if x.Type() == to {
		return x
	}
	return fold(&castExpr{x: x, to: to}, x)
}

type castExpr struct {
	x  Expr
	to types.Type
	s  types.Vector
}

func (e *castExpr) Type() types.Type { return e.to }

func (e *castExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	from := e.x.Type()
	if from.Kind == types.Null {
		allNull(out, e.to, n)
		return
	}
	if from.Kind == types.Date && e.to.Kind != types.String && e.to.Kind != types.Timestamp && e.to.Kind != types.Date {
		allNull(out, e.to, n) // Spark: a DATE is no number and no BOOLEAN
		return
	}
	x := arg(e.x, b, &e.s)
	prepare(out, e.to, n)
	var nulls []bool // rows the cast itself makes null
	bad := func(i int) {
		if nulls == nil {
			nulls = newNulls(out, n)
		}
		nulls[i] = true
	}
	to := e.to
	switch to.Kind {
	case types.String:
		o := out.Str
		switch from.Kind {
		case types.Boolean:
			for i, v := range x.Bool[:n] {
				o[i] = strconv.FormatBool(v)
			}
		case types.Int, types.Bigint:
			for i, v := range x.I64[:n] {
				o[i] = strconv.FormatInt(v, 10)
			}
		case types.Double:
			for i, v := range x.F64[:n] {
				o[i] = javaDouble(v)
			}
		case types.Decimal:
			for i, v := range x.I64[:n] {
				o[i] = formatDecimal(v, int(from.Scale))
			}
		case types.Timestamp:
			for i, v := range x.I64[:n] {
				o[i] = formatTimestamp(v)
			}
		case types.Date:
			for i, v := range x.I64[:n] {
				o[i] = formatDate(v)
			}
		}
	case types.Date:
		o := out.I64
		switch from.Kind {
		case types.String:
			for i, v := range x.Str[:n] {
				r, ok := parseDate(v)
				if !ok {
					bad(i)
				}
				o[i] = r
			}
		case types.Timestamp:
			for i, v := range x.I64[:n] {
				o[i] = floorDiv(v, microsPerDay)
			}
		}
	case types.Boolean:
		o := out.Bool
		switch from.Kind {
		case types.String:
			for i, v := range x.Str[:n] {
				r, ok := parseBool(v)
				if !ok {
					bad(i)
				}
				o[i] = r
			}
		case types.Int, types.Bigint, types.Decimal, types.Timestamp:
			for i, v := range x.I64[:n] {
				o[i] = v != 0
			}
		case types.Double:
			for i, v := range x.F64[:n] {
				o[i] = v != 0
			}
		}
	case types.Int, types.Bigint:
		o := out.I64
		narrow := to.Kind == types.Int
		switch from.Kind {
		case types.String:
			for i, v := range x.Str[:n] {
				r, ok := parseIntegral(v, narrow)
				if !ok {
					bad(i)
				}
				o[i] = r
			}
		case types.Boolean:
			for i, v := range x.Bool[:n] {
				o[i] = b2i(v)
			}
		case types.Int, types.Bigint:
			copy(o, x.I64[:n])
			if narrow {
				for i, v := range o {
					o[i] = int64(int32(v))
				}
			}
		case types.Double:
			for i, v := range x.F64[:n] {
				o[i] = floatToInt(v, narrow)
			}
		case types.Decimal:
			p := pow10[from.Scale]
			for i, v := range x.I64[:n] {
				o[i] = v / p
			}
			if narrow {
				for i, v := range o {
					o[i] = int64(int32(v))
				}
			}
		case types.Timestamp:
			for i, v := range x.I64[:n] {
				o[i] = floorDiv(v, 1_000_000)
			}
			if narrow {
				for i, v := range o {
					o[i] = int64(int32(v))
				}
			}
		}
	case types.Double:
		o := out.F64
		switch from.Kind {
		case types.String:
			for i, v := range x.Str[:n] {
				r, ok := parseDouble(v)
				if !ok {
					bad(i)
				}
				o[i] = r
			}
		case types.Boolean:
			for i, v := range x.Bool[:n] {
				o[i] = float64(b2i(v))
			}
		case types.Int, types.Bigint:
			for i, v := range x.I64[:n] {
				o[i] = float64(v)
			}
		case types.Decimal:
			s := int(from.Scale)
			for i, v := range x.I64[:n] {
				o[i] = decimalToFloat(v, s)
			}
		case types.Timestamp:
			for i, v := range x.I64[:n] {
				o[i] = float64(v) / 1e6
			}
		}
	case types.Decimal:
		o := out.I64
		p, s := int(to.Precision), int(to.Scale)
		put := func(i int, v int64, ok bool) {
			if !ok || !fits(v, p) {
				bad(i)
				v = 0
			}
			o[i] = v
		}
		switch from.Kind {
		case types.String:
			for i, v := range x.Str[:n] {
				r, ok := parseDecimal(v, p, s)
				put(i, r, ok)
			}
		case types.Boolean:
			for i, v := range x.Bool[:n] {
				put(i, b2i(v)*pow10[s], true)
			}
		case types.Int, types.Bigint, types.Decimal:
			fs := 0
			if from.Kind == types.Decimal {
				fs = int(from.Scale)
			}
			for i, v := range x.I64[:n] {
				r, ok := rescale(v, fs, s)
				put(i, r, ok)
			}
		case types.Double:
			for i, v := range x.F64[:n] {
				r, ok := floatToDecimal(v, p, s)
				put(i, r, ok)
			}
		case types.Timestamp:
			for i, v := range x.I64[:n] {
				r, ok := floatToDecimal(float64(v)/1e6, p, s)
				put(i, r, ok)
			}
		}
	case types.Timestamp:
		o := out.I64
		switch from.Kind {
		case types.String:
			for i, v := range x.Str[:n] {
				r, ok := parseTimestamp(v)
				if !ok {
					bad(i)
				}
				o[i] = r
			}
		case types.Boolean:
			for i, v := range x.Bool[:n] {
				o[i] = b2i(v)
			}
		case types.Int, types.Bigint:
			for i, v := range x.I64[:n] {
				o[i] = secondsToMicros(v)
			}
		case types.Double:
			for i, v := range x.F64[:n] {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					bad(i)
					continue
				}
				o[i] = floatToInt(v*1e6, false)
			}
		case types.Decimal:
			s := int(from.Scale)
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
		case types.Date:
			for i, v := range x.I64[:n] {
				r, ok := dateToMicros(v)
				if !ok {
					bad(i)
				}
				o[i] = r
			}
		}
	}
	if x.Null != nil {
		if nulls == nil {
			nulls = newNulls(out, n)
		}
		for i, v := range x.Null[:n] {
			nulls[i] = nulls[i] || v
		}
	}
	fixNulls(out)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// secondsToMicros is Java's TimeUnit.SECONDS.toMicros: saturating.
func secondsToMicros(s int64) int64 {
	const lim = math.MaxInt64 / 1_000_000
	switch {
	case s > lim:
		return math.MaxInt64
	case s < -lim:
		return math.MinInt64
	}
	return s * 1_000_000
}

// floatToInt is Java's (long) or (int) conversion: truncation toward
// zero, saturating, NaN to 0.
func floatToInt(v float64, narrow bool) int64 {
	lo, hi := float64(math.MinInt64), float64(math.MaxInt64)
	if narrow {
		lo, hi = math.MinInt32, math.MaxInt32
	}
	switch {
	case v != v:
		return 0
	case v <= lo:
		return int64(lo)
	case v >= hi:
		if narrow {
			return math.MaxInt32
		}
		return math.MaxInt64
	}
	return int64(v)
}

// trimSpace trims what Java's String.trim does: bytes up to ' '.
func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(trimSpace(s)) {
	case "t", "true", "y", "yes", "1":
		return true, true
	case "f", "false", "n", "no", "0":
		return false, true
	}
	return false, false
}

// parseIntegral is UTF8String.toLong/toInt: [+-]digits[.digits], the
// fraction dropped; narrow checks the INT range.
func parseIntegral(s string, narrow bool) (int64, bool) {
	s = trimSpace(s)
	if s == "" {
		return 0, false
	}
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
		if s == "" {
			return 0, false
		}
	}
	var v uint64
	i := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		if v > (1<<63)/10 {
			return 0, false
		}
		v = v*10 + uint64(s[i]-'0')
		if v > 1<<63 {
			return 0, false
		}
	}
	if i < len(s) {
		if s[i] != '.' {
			return 0, false
		}
		for _, c := range []byte(s[i+1:]) {
			if !isDigit(c) {
				return 0, false
			}
		}
	}
	if !neg && v > math.MaxInt64 {
		return 0, false
	}
	r := int64(v) // -2^63 wraps onto itself when neg
	if neg {
		r = -r
	}
	if narrow && (r < math.MinInt32 || r > math.MaxInt32) {
		return 0, false
	}
	return r, true
}

// parseDouble is Java's Double.parseDouble as Spark's cast uses it: the
// trailing d/D/f/F suffix is allowed, and so are Spark's special strings
// inf, +inf, -inf, infinity, nan (any case).
func parseDouble(s string) (float64, bool) {
	s = trimSpace(s)
	if s == "" || strings.ContainsAny(s, "_xXpP") {
		return 0, false
	}
	switch strings.ToLower(s) {
	case "inf", "+inf", "infinity", "+infinity":
		return math.Inf(1), true
	case "-inf", "-infinity":
		return math.Inf(-1), true
	case "nan":
		return math.NaN(), true
	}
	if c := s[len(s)-1]; c == 'd' || c == 'D' || c == 'f' || c == 'F' {
		s = s[:len(s)-1]
	}
	if s == "" || (s[0] != '+' && s[0] != '-' && s[0] != '.' && !isDigit(s[0])) {
		return 0, false // ParseFloat's own words (Inf, NaN) are not Java's
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true // Java reads huge values as ±Infinity and tiny ones as 0
		}
		return 0, false
	}
	return f, true
}

// javaDouble formats v as Java's Double.toString: plain between 10^-3 and
// 10^7, else computerized scientific notation, always with a fraction.
func javaDouble(v float64) string {
	switch {
	case v != v:
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	case v == 0:
		if math.Signbit(v) {
			return "-0.0"
		}
		return "0.0"
	}
	a := math.Abs(v)
	if a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}
