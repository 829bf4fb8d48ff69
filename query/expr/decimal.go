package expr

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/query/types"
)

// pow10 holds 10^0 … 10^18, every power of ten an int64 holds.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// Spark's rules for the result type of decimal arithmetic
// (DecimalPrecision / the arithmetic expressions' resultDecimalType in Spark
// 3.5, spark.sql.decimalOperations.allowPrecisionLoss=true), with this
// engine's maximum precision of 18 in place of Spark's 38: when the exact
// result type needs more than 18 digits, adjustPrecisionScale keeps the
// integer digits and gives up fraction digits down to a scale of 6, exactly
// as Spark does at 38. A result that still does not fit is NULL (non-ANSI).
const minAdjustedScale = 6

func adjustPrecisionScale(p, s int) types.Type {
	if p <= types.MaxDecimalPrecision {
		return types.DecimalOf(max(p, 1), s)
	}
	intDigits := p - s
	minScale := min(s, minAdjustedScale)
	scale := max(types.MaxDecimalPrecision-intDigits, minScale)
	return types.DecimalOf(types.MaxDecimalPrecision, scale)
}

// boundedDecimal is Spark's DecimalType.bounded at this engine's maximum.
func boundedDecimal(p, s int) types.Type {
	s = min(s, types.MaxDecimalPrecision)
	return types.DecimalOf(min(max(p, 1), types.MaxDecimalPrecision), s)
}

// decOf gives the precision and scale an operand counts with in decimal
// arithmetic: its own for a DECIMAL, DECIMAL(10,0) for INT and
// DECIMAL(20,0) for BIGINT (Spark's DecimalType.forType), and for an
// integer literal the digits it has (Spark's
// spark.sql.legacy.literal.pickMinimumPrecision, on by default; Spark
// applies it to literals as written, before constant folding).
func decOf(e Expr) (p, s int) {
	t := e.Type()
	switch t.Kind {
	case types.Decimal:
		return int(t.Precision), int(t.Scale)
	case types.Int, types.Bigint:
		if k, ok := e.(*constant); ok && k.lit {
			return digits(k.one.I64[0]), 0
		}
		if t.Kind == types.Int {
			return 10, 0
		}
		return 20, 0
	}
	return 0, 0
}

func digits(x int64) int {
	if x == math.MinInt64 {
		return 19
	}
	if x < 0 {
		x = -x
	}
	n := 1
	for x >= 10 {
		x /= 10
		n++
	}
	return n
}

func uabs(x int64) uint64 {
	if x < 0 {
		return uint64(-x)
	}
	return uint64(x)
}

// fits reports whether the unscaled value x fits DECIMAL(p, ·).
func fits(x int64, p int) bool {
	return x < pow10[p] && x > -pow10[p]
}

// rescale changes x from scale s to scale t, rounding HALF_UP when t < s;
// ok is false when the result does not fit an int64.
func rescale(x int64, s, t int) (int64, bool) {
	switch {
	case t == s:
		return x, true
	case t > s:
		d := t - s
		if d >= len(pow10) {
			return 0, x == 0
		}
		return mulExact(x, pow10[d])
	}
	d := s - t
	if d >= len(pow10) {
		return 0, true // |x| < 10^19/2: rounds to zero
	}
	p := pow10[d]
	q, r := x/p, x%p
	if r < 0 {
		r = -r
	}
	if r >= p-r { // 2r >= p without overflow
		if x < 0 {
			q--
		} else {
			q++
		}
	}
	return q, true
}

func mulExact(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uabs(a), uabs(b))
	if hi != 0 {
		return 0, false
	}
	if (a < 0) != (b < 0) {
		if lo > 1<<63 {
			return 0, false
		}
		return -int64(lo), true
	}
	if lo >= 1<<63 {
		return 0, false
	}
	return int64(lo), true
}

// Decimal kernels: each takes two unscaled operands with their scales and
// the result's precision and scale, and reports ok=false for NULL
// (overflow, or a zero divisor). The exact result is rounded HALF_UP to the
// result scale, as Spark's Decimal.toPrecision does. Common cases stay in
// int64 / 128-bit arithmetic; the rest fall back to math/big.

func decAdd(a int64, sa int, b int64, sb int, rp, rs int) (int64, bool) {
	if sa == sb && sa == rs {
		c := a + b
		if (c > a) == (b > 0) && fits(c, rp) {
			return c, true
		}
		return 0, false
	}
	s := max(sa, sb)
	x, ok1 := rescale(a, sa, s)
	y, ok2 := rescale(b, sb, s)
	if ok1 && ok2 {
		c := x + y
		if (c > x) == (y > 0) {
			if r, ok := rescale(c, s, rs); ok && fits(r, rp) {
				return r, true
			}
			return 0, false
		}
	}
	return decBig('+', a, sa, b, sb, rp, rs)
}

func decSub(a int64, sa int, b int64, sb int, rp, rs int) (int64, bool) {
	if b == math.MinInt64 {
		return decBig('-', a, sa, b, sb, rp, rs)
	}
	return decAdd(a, sa, -b, sb, rp, rs)
}

func decMul(a int64, sa int, b int64, sb int, rp, rs int) (int64, bool) {
	d := sa + sb - rs
	if d < 0 || d >= len(pow10) {
		return decBig('*', a, sa, b, sb, rp, rs)
	}
	hi, lo := bits.Mul64(uabs(a), uabs(b))
	neg := (a < 0) != (b < 0)
	var q uint64
	if d == 0 {
		if hi != 0 {
			return 0, false
		}
		q = lo
	} else {
		p := uint64(pow10[d])
		if hi >= p {
			return 0, false
		}
		var r uint64
		q, r = bits.Div64(hi, lo, p)
		if r >= p-r {
			q++
		}
	}
	if q >= uint64(pow10[rp]) {
		return 0, false
	}
	if neg {
		return -int64(q), true
	}
	return int64(q), true
}

func decDiv(a int64, sa int, b int64, sb int, rp, rs int) (int64, bool) {
	if b == 0 {
		return 0, false
	}
	k := rs - sa + sb
	if k < 0 || k >= len(pow10) {
		return decBig('/', a, sa, b, sb, rp, rs)
	}
	ua, ub := uabs(a), uabs(b)
	hi, lo := bits.Mul64(ua, uint64(pow10[k]))
	if hi >= ub {
		return 0, false // the quotient is at least 2^64
	}
	q, r := bits.Div64(hi, lo, ub)
	if r >= ub-r {
		q++
	}
	if q >= uint64(pow10[rp]) {
		return 0, false
	}
	if (a < 0) != (b < 0) {
		return -int64(q), true
	}
	return int64(q), true
}

func decRem(a int64, sa int, b int64, sb int, rp, rs int) (int64, bool) {
	if b == 0 {
		return 0, false
	}
	s := max(sa, sb)
	x, ok1 := rescale(a, sa, s)
	y, ok2 := rescale(b, sb, s)
	if !ok1 || !ok2 {
		return decBig('%', a, sa, b, sb, rp, rs)
	}
	r, ok := rescale(x%y, s, rs)
	if !ok || !fits(r, rp) {
		return 0, false
	}
	return r, true
}

var bigTen = big.NewInt(10)

func bigPow10(n int) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

// divRoundHalfUp returns num/den rounded half away from zero.
func divRoundHalfUp(num, den *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	if r2.Cmp(new(big.Int).Abs(den)) >= 0 {
		if (num.Sign() < 0) != (den.Sign() < 0) {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// decBig is the exact, slow path of the decimal kernels.
func decBig(op byte, a int64, sa int, b int64, sb int, rp, rs int) (int64, bool) {
	x, y := big.NewInt(a), big.NewInt(b)
	var num, den *big.Int // result = num/den at scale rs
	switch op {
	case '+', '-', '%':
		s := max(sa, sb)
		x.Mul(x, bigPow10(s-sa))
		y.Mul(y, bigPow10(s-sb))
		switch op {
		case '+':
			num = x.Add(x, y)
		case '-':
			num = x.Sub(x, y)
		default:
			if y.Sign() == 0 {
				return 0, false
			}
			num = x.Rem(x, y)
		}
		num, den = scaleTo(num, s, rs)
	case '*':
		num, den = scaleTo(x.Mul(x, y), sa+sb, rs)
	case '/':
		if b == 0 {
			return 0, false
		}
		k := rs - sa + sb
		if k >= 0 {
			num, den = x.Mul(x, bigPow10(k)), y
		} else {
			num, den = x, y.Mul(y, bigPow10(-k))
		}
	}
	q := divRoundHalfUp(num, den)
	if !q.IsInt64() || !fits(q.Int64(), rp) {
		return 0, false
	}
	return q.Int64(), true
}

// scaleTo expresses x at scale s as num/den at scale t.
func scaleTo(x *big.Int, s, t int) (num, den *big.Int) {
	if t >= s {
		return x.Mul(x, bigPow10(t-s)), big.NewInt(1)
	}
	return x, bigPow10(s - t)
}

// cmpDec compares a at scale sa with b at scale sb exactly.
func cmpDec(a int64, sa int, b int64, sb int) int {
	if sa < sb {
		x, ok := rescale(a, sa, sb)
		if !ok { // |a| at scale sb exceeds every int64, b among them
			if a > 0 {
				return 1
			}
			return -1
		}
		a = x
	} else if sa > sb {
		y, ok := rescale(b, sb, sa)
		if !ok {
			if b > 0 {
				return -1
			}
			return 1
		}
		b = y
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// formatDecimal writes the unscaled x at scale s as Spark prints a
// DECIMAL: plain digits, exactly s fraction digits.
func formatDecimal(x int64, s int) string {
	neg := x < 0
	digits := strconv.FormatUint(uabs(x), 10)
	if s > 0 {
		if len(digits) <= s {
			digits = strings.Repeat("0", s-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-s] + "." + digits[len(digits)-s:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// parseDecimal reads a decimal number ([+-]digits[.digits][e[+-]n]) and
// returns it at scale s rounded HALF_UP, with ok=false when it is not a
// number or does not fit DECIMAL(p,s). It is Spark's Decimal.fromString
// followed by changePrecision(p, s, HALF_UP).
func parseDecimal(text string, p, s int) (int64, bool) {
	mant, exp, ok := splitNumber(text)
	if !ok {
		return 0, false
	}
	// value = mant · 10^exp; at scale s the unscaled value is mant·10^(exp+s).
	k := exp + s
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimLeft(strings.TrimPrefix(mant, "-"), "0")
	if k < 0 {
		if -k > len(mant) {
			return 0, true
		}
		cut := len(mant) + k
		keep, drop := mant[:cut], mant[cut:]
		mant = keep
		if drop != "" && drop[0] >= '5' {
			mant = incDigits(mant)
		}
	} else {
		if len(mant) == 0 {
			return 0, true
		}
		if len(mant)+k > p {
			return 0, false
		}
		mant += strings.Repeat("0", k)
	}
	mant = strings.TrimLeft(mant, "0")
	if len(mant) > p {
		return 0, false
	}
	if mant == "" {
		return 0, true
	}
	v, err := strconv.ParseInt(mant, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// incDigits adds one to a string of decimal digits.
func incDigits(d string) string {
	b := []byte(d)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}

// splitNumber reads [+-]digits[.digits][(e|E)[+-]digits] (surrounding
// whitespace allowed) into its digits without the point, with the sign as
// a leading "-", and the power of ten they are to be multiplied by.
func splitNumber(text string) (mant string, exp int, ok bool) {
	t := strings.TrimSpace(text)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	var b strings.Builder
	i, nd, frac := 0, 0, 0
	for ; i < len(t) && isDigit(t[i]); i++ {
		b.WriteByte(t[i])
		nd++
	}
	if i < len(t) && t[i] == '.' {
		i++
		for ; i < len(t) && isDigit(t[i]); i++ {
			b.WriteByte(t[i])
			nd++
			frac++
		}
	}
	if nd == 0 {
		return "", 0, false
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		e, err := strconv.Atoi(t[i+1:])
		if err != nil || e > 1000 || e < -1000 || strings.ContainsAny(t[i+1:], "_ ") {
			return "", 0, false
		}
		exp = e
		i = len(t)
	}
	if i != len(t) {
		return "", 0, false
	}
	mant = b.String()
	if neg {
		mant = "-" + mant
	}
	return mant, exp - frac, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// floatToDecimal converts x to DECIMAL(p,s) as Spark does: through the
// shortest decimal string that reads back as x (Scala's BigDecimal(double)),
// then HALF_UP to scale s; NaN, infinities and overflow give ok=false.
func floatToDecimal(x float64, p, s int) (int64, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return parseDecimal(strconv.FormatFloat(x, 'e', -1, 64), p, s)
}

// decimalToFloat converts an unscaled value at scale s to the nearest DOUBLE.
func decimalToFloat(x int64, s int) float64 {
	if x < 1<<53 && x > -(1<<53) {
		return float64(x) / float64(pow10[s]) // both exact: one rounding
	}
	f, _ := strconv.ParseFloat(formatDecimal(x, s), 64)
	return f
}
