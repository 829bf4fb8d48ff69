package decode

import "math"

// maxExp bounds the exponent parseDecimal reads: beyond it every DECIMAL
// value is 0 or overflows, and clamping keeps the arithmetic in range.
const maxExp = 1 << 20

// parseDecimal converts a decimal literal to the unscaled value of
// DECIMAL(prec, scale), rounding HALF_UP (ties away from zero) to scale
// digits as Spark's Decimal.set(BigDecimal, p, s) does; ok is false when
// the text is not a literal or the rounded value needs more than prec
// digits. A literal is [+-]?(d+|d+.d*|.d+)([eE][+-]?d+)?, the grammar of
// java.math.BigDecimal(String) (every JSON number is one). With commas set,
// ',' is ignored wherever it appears, as Spark's default (en-US) decimal
// parser ignores it in strings ("1,234.50").
func parseDecimal(s []byte, prec, scale int, commas bool) (x int64, ok bool) {
	i, n := 0, len(s)
	neg := false
	if i < n && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	// The digits, with the dot and commas taken out: their start and end in
	// s, how many there are, and how many follow the dot.
	start, ndig, frac, dot := i, 0, 0, false
	for ; i < n; i++ {
		switch c := s[i]; {
		case isDigit(c):
			ndig++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		case c == ',' && commas:
		default:
			goto digitsDone
		}
	}
digitsDone:
	end := i
	if ndig == 0 {
		return 0, false
	}
	exp := 0
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < n && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		k := i
		for ; i < n && isDigit(s[i]); i++ {
			if exp < maxExp {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if i == k {
			return 0, false
		}
		if eneg {
			exp = -exp
		}
	}
	if i != n {
		return 0, false
	}
	// The value is D * 10^(exp-frac), D the digits as one integer; the
	// unscaled value is D * 10^t rounded, t = exp - frac + scale: the first
	// ndig+t digits of D, times 10^t when t > 0, plus one when the first
	// dropped digit is 5 or more.
	t := exp - frac + scale
	keep := ndig + t
	limit := uint64(pow10u64[prec])
	var u uint64
	k := 0 // digits of D read so far
	roundUp := false
	for j := start; j < end; j++ {
		c := s[j]
		if !isDigit(c) {
			continue
		}
		if k < keep {
			if u = u*10 + uint64(c-'0'); u >= limit {
				return 0, false
			}
		} else {
			roundUp = k == keep && c >= '5' // keep < 0: the dropped digit is a leading 0
			break
		}
		k++
	}
	if t > 0 && u != 0 {
		if t > 18 {
			return 0, false
		}
		if u > (limit-1)/pow10u64[t] {
			return 0, false
		}
		u *= pow10u64[t]
	}
	if roundUp {
		if u++; u >= limit {
			return 0, false
		}
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// pow10u64 holds 10^0 .. 10^19.
var pow10u64 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// secondsToMicros converts a JSON integer read as a TIMESTAMP (seconds since
// the epoch, as Spark's JSON reader reads one) to microseconds, reporting
// false when that overflows an int64.
func secondsToMicros(s int64) (int64, bool) {
	const perSec = 1_000_000
	if s > math.MaxInt64/perSec || s < math.MinInt64/perSec {
		return 0, false
	}
	return s * perSec, true
}

// parseTimestamp reads a timestamp string as Spark's JSON reader reads one
// with its default format, into microseconds since the epoch, UTC:
//
//	yyyy-[m]m-[d]d[(T| )[h]h:[m]m[:[s]s[.fraction]]][zone]
//
// with a fraction of 1 to 9 digits (those past the sixth are dropped:
// microseconds are the precision), and zone one of Z, ±hh, ±hh:mm, ±hhmm
// (at most ±18:00). Without a zone the time is read in the session time
// zone, which is UTC in this engine. ok is false for any other text and for
// dates or times that do not exist (2024-02-30, 24:00).
func parseTimestamp(s []byte) (micros int64, ok bool) {
	i, n := 0, len(s)
	num := func(min, max int) (int, bool) { // min..max digits at i
		v, k := 0, 0
		for i < n && k < max && isDigit(s[i]) {
			v = v*10 + int(s[i]-'0')
			i++
			k++
		}
		return v, k >= min
	}
	expect := func(c byte) bool {
		if i < n && s[i] == c {
			i++
			return true
		}
		return false
	}
	year, ok1 := num(4, 4)
	if !ok1 || !expect('-') {
		return 0, false
	}
	month, ok1 := num(1, 2)
	if !ok1 || !expect('-') {
		return 0, false
	}
	day, ok1 := num(1, 2)
	if !ok1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, false
	}
	var hour, minute, sec, micro int
	if i < n && (s[i] == 'T' || s[i] == ' ') {
		i++
		var okh, okm bool
		hour, okh = num(1, 2)
		if !okh || !expect(':') {
			return 0, false
		}
		if minute, okm = num(1, 2); !okm {
			return 0, false
		}
		if expect(':') {
			var oks bool
			if sec, oks = num(1, 2); !oks {
				return 0, false
			}
			if expect('.') {
				k := 0
				for i < n && isDigit(s[i]) {
					if k < 6 {
						micro = micro*10 + int(s[i]-'0')
					}
					i++
					k++
				}
				if k == 0 || k > 9 {
					return 0, false
				}
				for ; k < 6; k++ {
					micro *= 10
				}
			}
		}
		if hour > 23 || minute > 59 || sec > 59 {
			return 0, false
		}
	}
	offset := 0 // seconds east of UTC
	if i < n {
		switch s[i] {
		case 'Z':
			i++
		case '+', '-':
			sign := 1
			if s[i] == '-' {
				sign = -1
			}
			i++
			oh, okh := num(2, 2)
			if !okh {
				return 0, false
			}
			om := 0
			if i < n {
				expect(':')
				var okm bool
				if om, okm = num(2, 2); !okm {
					return 0, false
				}
			}
			if om > 59 || oh*60+om > 18*60 {
				return 0, false
			}
			offset = sign * (oh*3600 + om*60)
		default:
			return 0, false
		}
	}
	if i != n {
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return secs*1_000_000 + int64(micro), true
}

// daysIn returns the number of days of a month of the proleptic Gregorian
// calendar (Spark's since 3.0).
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400 // floor: year 0 in January or February
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}
