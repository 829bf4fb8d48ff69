package sql

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Interval units and their fixed lengths in microseconds. Months and years
// have no fixed length, so a stream's time arithmetic (windows, watermarks)
// cannot use them; they are refused by name.
var durationUnits = [...]struct {
	name   string // singular, lower case
	micros int64
}{
	{"microsecond", 1},
	{"millisecond", 1_000},
	{"second", 1_000_000},
	{"minute", 60 * 1_000_000},
	{"hour", 3600 * 1_000_000},
	{"day", 24 * 3600 * 1_000_000},
	{"week", 7 * 24 * 3600 * 1_000_000},
}

const unitList = "microseconds, milliseconds, seconds, minutes, hours, days or weeks"

var errIntervalRange = errors.New("out of range")

// lookupUnit maps a unit word (any case, singular or plural) to its length
// in microseconds. ok is false for a word that is no unit; err is set for
// MONTH and YEAR, which are units with no fixed length.
func lookupUnit(word string) (micros int64, ok bool, err error) {
	w := word
	if len(w) > 1 && (w[len(w)-1] == 's' || w[len(w)-1] == 'S') {
		w = w[:len(w)-1]
	}
	for _, u := range durationUnits {
		if strings.EqualFold(w, u.name) {
			return u.micros, true, nil
		}
	}
	for _, u := range [...]string{"month", "year"} {
		if strings.EqualFold(w, u) {
			return 0, true, fmt.Errorf("%s intervals are not supported in streaming queries: use days, hours, minutes or seconds", strings.ToUpper(u))
		}
	}
	return 0, false, nil
}

// unitValue returns value × unit in microseconds, where value is written
// as digits with an optional fraction ("10", "1.5"). As in Spark, only
// seconds may have a fractional part, of at most six digits.
func unitValue(neg bool, value, unitWord string, unit int64) (int64, error) {
	intPart, frac, hasFrac := strings.Cut(value, ".")
	if intPart == "" && frac == "" {
		return 0, fmt.Errorf("invalid interval value '%s'", value)
	}
	var n int64
	for _, c := range []byte(intPart) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid interval value '%s'", value)
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, errIntervalRange
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt64/unit {
		return 0, errIntervalRange
	}
	total := n * unit
	if hasFrac {
		if unit != 1_000_000 {
			return 0, fmt.Errorf("'%s %s' has a fractional part: only seconds may have one", value, unitWord)
		}
		if len(frac) > 6 {
			return 0, fmt.Errorf("'%s %s' has more than 6 fractional digits: the finest unit is the microsecond", value, unitWord)
		}
		var f int64
		for i := 0; i < 6; i++ {
			f *= 10
			if i < len(frac) {
				c := frac[i]
				if c < '0' || c > '9' {
					return 0, fmt.Errorf("invalid interval value '%s'", value)
				}
				f += int64(c - '0')
			}
		}
		if total > math.MaxInt64-f {
			return 0, errIntervalRange
		}
		total += f
	}
	if neg {
		total = -total
	}
	return total, nil
}

// addMicros returns a+b, or errIntervalRange when it overflows.
func addMicros(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, errIntervalRange
	}
	return s, nil
}

// ParseDuration reads an interval string as Spark reads the arguments of
// window() and session_window() and the text of INTERVAL '…': one or more
// "<number> <unit>" pairs, optionally preceded by the word "interval", e.g.
// "10 seconds", "1 minute", "5 minutes 30 seconds", "500 milliseconds",
// "2 days". Units are microsecond, millisecond, second, minute, hour, day
// and week, singular or plural, in any case; a number may carry a sign, and
// seconds a fraction. It returns the length in microseconds. Months and
// years are refused: they have no fixed length.
//
// Errors are plain errors without a position: a caller that knows where
// the string was written wraps them (the parser does, as an *Error).
func ParseDuration(text string) (int64, error) {
	micros, err := parseDuration(text)
	if err != nil {
		return 0, fmt.Errorf("invalid interval '%s': %w", text, err)
	}
	return micros, nil
}

func parseDuration(text string) (int64, error) {
	s := strings.TrimSpace(text)
	if len(s) > len("interval") && strings.EqualFold(s[:len("interval")], "interval") && isSpace(s[len("interval")]) {
		s = strings.TrimSpace(s[len("interval"):])
	}
	if s == "" {
		return 0, errors.New("it is empty; write e.g. '10 seconds'")
	}
	var total int64
	i := 0
	for i < len(s) {
		// Sign and number.
		neg := false
		if s[i] == '+' || s[i] == '-' {
			neg = s[i] == '-'
			i++
			for i < len(s) && isSpace(s[i]) {
				i++
			}
		}
		j := i
		for j < len(s) && (isDigit(s[j]) || s[j] == '.') {
			j++
		}
		value := s[i:j]
		if value == "" || value == "." {
			return 0, fmt.Errorf("expected a number but found '%s'", firstField(s[i:]))
		}
		i = j
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		// Unit.
		j = i
		for j < len(s) && !isSpace(s[j]) && !isDigit(s[j]) && s[j] != '+' && s[j] != '-' {
			j++
		}
		word := s[i:j]
		if word == "" {
			return 0, fmt.Errorf("'%s' has no unit; use %s", value, unitList)
		}
		unit, ok, err := lookupUnit(word)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("unknown unit '%s'; use %s", word, unitList)
		}
		v, err := unitValue(neg, value, word, unit)
		if err != nil {
			return 0, err
		}
		if total, err = addMicros(total, v); err != nil {
			return 0, err
		}
		i = j
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	return total, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}
