package expr

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	microsPerSecond = 1_000_000
	microsPerDay    = 86_400 * microsPerSecond
)

// civil splits days since 1970-01-01 into a proleptic Gregorian date
// (Howard Hinnant's civil_from_days).
func civil(days int64) (y int64, m, d int) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysOf is civil's inverse.
func daysOf(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// fields are the parts of a timestamp in UTC.
type fields struct {
	year           int64
	month, day     int
	hour, min, sec int
	micros         int // within the second
	dayOfWeek      int // 1 = Monday … 7 = Sunday (ISO)
	dayOfYear      int
}

func split(us int64) fields {
	days := floorDiv(us, microsPerDay)
	rest := us - days*microsPerDay
	f := splitDays(days)
	f.hour = int(rest / (3600 * microsPerSecond))
	f.min = int(rest / (60 * microsPerSecond) % 60)
	f.sec = int(rest / microsPerSecond % 60)
	f.micros = int(rest % microsPerSecond)
	return f
}

// splitDays gives the date fields of a day number (the time fields zero).
func splitDays(days int64) fields {
	var f fields
	f.year, f.month, f.day = civil(days)
	f.dayOfWeek = int(floorMod(days+3, 7)) + 1 // 1970-01-01 was a Thursday
	f.dayOfYear = int(days-daysOf(f.year, 1, 1)) + 1
	return f
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// formatTimestamp prints us as Spark casts a TIMESTAMP to STRING in UTC:
// yyyy-MM-dd HH:mm:ss, then the fraction without trailing zeros.
func formatTimestamp(us int64) string {
	f := split(us)
	var buf [32]byte
	b := buf[:0]
	if f.year < 0 || f.year > 9999 {
		b = strconv.AppendInt(b, f.year, 10)
	} else {
		b = pad(b, int(f.year), 4)
	}
	b = append(b, '-')
	b = pad(b, f.month, 2)
	b = append(b, '-')
	b = pad(b, f.day, 2)
	b = append(b, ' ')
	b = pad(b, f.hour, 2)
	b = append(b, ':')
	b = pad(b, f.min, 2)
	b = append(b, ':')
	b = pad(b, f.sec, 2)
	if f.micros != 0 {
		b = append(b, '.')
		b = pad(b, f.micros, 6)
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return string(b)
}

func pad(b []byte, v, width int) []byte {
	var d [20]byte
	i := len(d)
	for v > 0 || i == len(d) {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	for len(d)-i < width && i > 0 {
		i--
		d[i] = '0'
	}
	return append(b, d[i:]...)
}

// parseTimestamp reads a string as Spark's CAST(… AS TIMESTAMP) does
// (DateTimeUtils.stringToTimestamp, session time zone UTC):
//
//	yyyy[-[m]m[-[d]d]][(' '|'T')[h]h:[m]m[:[s]s[.fraction]]][zone]
//
// with surrounding whitespace, a fraction of up to 9 digits (beyond
// microseconds truncated), and zone Z, UTC, GMT, ±h[h][[:]mm] or a region
// id such as Europe/Paris. Anything else gives ok=false.
func parseTimestamp(s string) (int64, bool) {
	s = trimSpace(s)
	p := scanner{s: s}
	y, ok := p.digits(4, 6)
	if !ok {
		return 0, false
	}
	mo, d := 1, 1
	if p.eat('-') {
		if mo, ok = p.digits(1, 2); !ok {
			return 0, false
		}
		if p.eat('-') {
			if d, ok = p.digits(1, 2); !ok {
				return 0, false
			}
		}
	}
	var h, mi, sec, frac int
	if p.eat(' ') || p.eat('T') {
		if p.done() {
			return finish(int64(y), mo, d, 0, 0, 0, 0, 0)
		}
		if h, ok = p.digits(1, 2); !ok || !p.eat(':') {
			return 0, false
		}
		if mi, ok = p.digits(1, 2); !ok {
			return 0, false
		}
		if p.eat(':') {
			if sec, ok = p.digits(1, 2); !ok {
				return 0, false
			}
			if p.eat('.') {
				if frac, ok = p.fraction(9); !ok {
					return 0, false
				}
			}
		}
	}
	off := 0
	if !p.done() {
		if off, ok = parseZone(p.s[p.i:], func() int64 { return us0(int64(y), mo, d, h, mi, sec) }); !ok {
			return 0, false
		}
	}
	return finish(int64(y), mo, d, h, mi, sec, frac, off)
}

func us0(y int64, mo, d, h, mi, s int) int64 {
	if mo < 1 || mo > 12 {
		return 0
	}
	return (daysOf(y, mo, d)*86400 + int64(h*3600+mi*60+s)) * microsPerSecond
}

// finish validates the fields and returns the instant; off is the zone's
// offset east of UTC in seconds.
func finish(y int64, mo, d, h, mi, s, frac, off int) (int64, bool) {
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59 {
		return 0, false
	}
	return us0(y, mo, d, h, mi, s) + int64(frac) - int64(off)*microsPerSecond, true
}

// parseZone reads a zone id and returns its offset in seconds at the
// local time local() gives (microseconds, as if UTC; read for region ids
// only).
func parseZone(z string, local func() int64) (int, bool) {
	if z == "" || z == "Z" {
		return 0, true
	}
	if z[0] == '+' || z[0] == '-' {
		return parseOffset(z)
	}
	switch strings.ToUpper(z) {
	case "Z", "UTC", "GMT", "UT":
		return 0, true
	}
	u := strings.ToUpper(z)
	for _, pre := range []string{"UTC", "GMT", "UT"} {
		if strings.HasPrefix(u, pre) && len(z) > len(pre) && (z[len(pre)] == '+' || z[len(pre)] == '-') {
			return parseOffset(z[len(pre):])
		}
	}
	if z[0] == '+' || z[0] == '-' {
		return parseOffset(z)
	}
	loc, err := time.LoadLocation(z)
	if err != nil || strings.ContainsAny(z, " ") {
		return 0, false
	}
	t := time.UnixMicro(local()).UTC()
	_, off := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc).Zone()
	return off, true
}

// parseOffset reads ±h, ±hh, ±hh:mm, ±hhmm, ±hh:mm:ss.
func parseOffset(z string) (int, bool) {
	sign := 1
	if z[0] == '-' {
		sign = -1
	}
	p := scanner{s: z, i: 1}
	h, ok := p.digits(1, 2)
	if !ok {
		return 0, false
	}
	m, s := 0, 0
	if !p.done() {
		p.eat(':')
		if m, ok = p.digits(2, 2); !ok {
			return 0, false
		}
		if p.eat(':') {
			if s, ok = p.digits(2, 2); !ok {
				return 0, false
			}
		}
	}
	if !p.done() || h > 18 || m > 59 || s > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60 + s), true
}

type scanner struct {
	s string
	i int
}

func (p *scanner) done() bool { return p.i >= len(p.s) }

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads between lo and hi decimal digits.
func (p *scanner) digits(lo, hi int) (int, bool) {
	v, n := 0, 0
	for p.i < len(p.s) && n < hi && isDigit(p.s[p.i]) {
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
		n++
	}
	return v, n >= lo
}

// fraction reads 1..max digits of a fraction of a second and returns it
// in microseconds (digits beyond the sixth truncated).
func (p *scanner) fraction(maxDigits int) (int, bool) {
	v, n := 0, 0
	for p.i < len(p.s) && n < maxDigits && isDigit(p.s[p.i]) {
		if n < 6 {
			v = v*10 + int(p.s[p.i]-'0')
		}
		p.i++
		n++
	}
	for k := n; k < 6; k++ {
		v *= 10
	}
	return v, n > 0
}

// A pattern is a compiled Java DateTimeFormatter pattern, the subset Spark
// users write: y, M, d, D, H, h, k, K, m, s, S…, a, E, X, x, Z, 'quoted
// text', other punctuation as itself, and [optional] sections (for
// parsing). Formatting and parsing are in UTC, Spark's session time zone
// here.
type pattern []ptoken

type ptoken struct {
	letter byte    // 0 for literal text
	count  int     // repetitions of letter
	text   string  // literal text
	opt    pattern // non-nil for an optional section
}

func compilePattern(s string) (pattern, error) {
	pat, rest, err := compileSection(s, false)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unbalanced ']' in datetime pattern %q", s)
	}
	return pat, nil
}

func compileSection(s string, nested bool) (pattern, string, error) {
	var pat pattern
	for len(s) > 0 {
		c := s[0]
		switch {
		case c == '[':
			sub, rest, err := compileSection(s[1:], true)
			if err != nil {
				return nil, "", err
			}
			if sub == nil {
				sub = pattern{}
			}
			pat = append(pat, ptoken{opt: sub})
			s = rest
		case c == ']':
			if !nested {
				return nil, s, nil
			}
			return pat, s[1:], nil
		case c == '\'':
			end := 1
			var text strings.Builder
			for {
				if end >= len(s) {
					return nil, "", fmt.Errorf("unterminated quote in datetime pattern")
				}
				if s[end] == '\'' {
					if end+1 < len(s) && s[end+1] == '\'' {
						text.WriteByte('\'')
						end += 2
						continue
					}
					break
				}
				text.WriteByte(s[end])
				end++
			}
			if end == 1 {
				text.WriteByte('\'') // '' is a quote
			}
			pat = append(pat, ptoken{text: text.String()})
			s = s[end+1:]
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			n := 1
			for n < len(s) && s[n] == c {
				n++
			}
			if !strings.ContainsRune("yMLdDHhkKmsSaEXxZ", rune(c)) {
				return nil, "", fmt.Errorf("unsupported datetime pattern letter '%c'", c)
			}
			if (c == 'X' || c == 'x') && n > 5 || c == 'S' && n > 9 || c == 'E' && n > 4 {
				return nil, "", fmt.Errorf("too many pattern letters: %s", s[:n])
			}
			pat = append(pat, ptoken{letter: c, count: n})
			s = s[n:]
		default:
			pat = append(pat, ptoken{text: string(c)})
			s = s[1:]
		}
	}
	if nested {
		return nil, "", fmt.Errorf("unterminated '[' in datetime pattern")
	}
	return pat, "", nil
}

var (
	monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	dayNames   = [...]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
)

// format prints us with the pattern.
func (pat pattern) format(us int64) string {
	f := split(us)
	return string(pat.appendTo(nil, &f))
}

func (pat pattern) appendTo(b []byte, f *fields) []byte {
	for _, t := range pat {
		switch {
		case t.opt != nil:
			b = t.opt.appendTo(b, f)
		case t.letter == 0:
			b = append(b, t.text...)
		default:
			b = t.appendField(b, f)
		}
	}
	return b
}

func (t ptoken) appendField(b []byte, f *fields) []byte {
	n := t.count
	switch t.letter {
	case 'y':
		if n == 2 {
			return pad(b, int(floorMod(f.year, 100)), 2)
		}
		if f.year < 0 {
			b = append(b, '-')
			return pad(b, int(-f.year), n)
		}
		return pad(b, int(f.year), n)
	case 'M', 'L':
		switch {
		case n >= 4:
			return append(b, monthNames[f.month-1]...)
		case n == 3:
			return append(b, monthNames[f.month-1][:3]...)
		}
		return pad(b, f.month, n)
	case 'd':
		return pad(b, f.day, n)
	case 'D':
		return pad(b, f.dayOfYear, n)
	case 'H':
		return pad(b, f.hour, n)
	case 'k':
		h := f.hour
		if h == 0 {
			h = 24
		}
		return pad(b, h, n)
	case 'h':
		h := f.hour % 12
		if h == 0 {
			h = 12
		}
		return pad(b, h, n)
	case 'K':
		return pad(b, f.hour%12, n)
	case 'm':
		return pad(b, f.min, n)
	case 's':
		return pad(b, f.sec, n)
	case 'S':
		var d [9]byte
		v := f.micros * 1000
		for i := 8; i >= 0; i-- {
			d[i] = byte('0' + v%10)
			v /= 10
		}
		return append(b, d[:n]...)
	case 'a':
		if f.hour < 12 {
			return append(b, "AM"...)
		}
		return append(b, "PM"...)
	case 'E':
		if n == 4 {
			return append(b, dayNames[f.dayOfWeek-1]...)
		}
		return append(b, dayNames[f.dayOfWeek-1][:3]...)
	case 'X':
		return append(b, 'Z')
	case 'x':
		switch n {
		case 1:
			return append(b, "+00"...)
		case 2, 4:
			return append(b, "+0000"...)
		}
		return append(b, "+00:00"...)
	case 'Z':
		switch n {
		case 4:
			return append(b, "GMT"...)
		case 5:
			return append(b, 'Z')
		}
		return append(b, "+0000"...)
	}
	return b
}

// parsed collects the fields a parse found.
type parsed struct {
	year           int64
	month, day     int
	dayOfYear      int
	hour, min, sec int
	micros         int
	pm, hasAmPm    bool
	hour12         bool
	off            int
}

// parse reads s with the pattern, as Spark's to_timestamp(s, fmt): the
// whole string must match; letters of names and literals match in any
// case; S… reads 1 to as many digits as letters; missing fields default to
// 1970-01-01 00:00:00. ok is false when s does not match or names no valid
// instant.
func (pat pattern) parse(s string) (int64, bool) {
	p := parsed{year: 1970, month: 1, day: 1}
	i, ok := pat.parseAt(s, 0, &p)
	if !ok || i != len(s) {
		return 0, false
	}
	h := p.hour
	if p.hour12 {
		if h < 1 || h > 12 {
			return 0, false
		}
		h %= 12
		if p.pm {
			h += 12
		}
	} else if p.hasAmPm && p.pm && h < 12 {
		h += 12
	}
	if p.dayOfYear > 0 {
		if p.dayOfYear > 365+b2iInt(daysIn(p.year, 2) == 29) {
			return 0, false
		}
		days := daysOf(p.year, 1, 1) + int64(p.dayOfYear-1)
		_, p.month, p.day = civil(days)
	}
	return finish(p.year, p.month, p.day, h, p.min, p.sec, p.micros, p.off)
}

func b2iInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (pat pattern) parseAt(s string, i int, p *parsed) (int, bool) {
	for _, t := range pat {
		switch {
		case t.opt != nil:
			save := *p
			if j, ok := t.opt.parseAt(s, i, p); ok {
				i = j
			} else {
				*p = save
			}
		case t.letter == 0:
			if len(s)-i < len(t.text) || !strings.EqualFold(s[i:i+len(t.text)], t.text) {
				return i, false
			}
			i += len(t.text)
		default:
			j, ok := t.parseField(s, i, p)
			if !ok {
				return i, false
			}
			i = j
		}
	}
	return i, true
}

func (t ptoken) parseField(s string, i int, p *parsed) (int, bool) {
	sc := scanner{s: s, i: i}
	n := t.count
	num := func(maxW int) (int, bool) {
		if n == 1 {
			return sc.digits(1, maxW)
		}
		return sc.digits(n, n)
	}
	var v int
	var ok bool
	switch t.letter {
	case 'y':
		switch n {
		case 2:
			if v, ok = sc.digits(2, 2); ok {
				p.year = 2000 + int64(v)
			}
		case 1:
			if v, ok = sc.digits(1, 9); ok {
				p.year = int64(v)
			}
		default:
			if v, ok = sc.digits(n, 9); ok {
				p.year = int64(v)
			}
		}
	case 'M', 'L':
		if n >= 3 {
			for k, name := range monthNames {
				if n == 3 {
					name = name[:3]
				}
				if len(s)-i >= len(name) && strings.EqualFold(s[i:i+len(name)], name) {
					p.month = k + 1
					return i + len(name), true
				}
			}
			return i, false
		}
		v, ok = num(2)
		p.month = v
	case 'd':
		v, ok = num(2)
		p.day = v
	case 'D':
		v, ok = num(3)
		p.dayOfYear = v
	case 'H', 'k':
		v, ok = num(2)
		if t.letter == 'k' && v == 24 {
			v = 0
		}
		p.hour = v
	case 'h':
		v, ok = num(2)
		p.hour, p.hour12 = v, true
	case 'K':
		v, ok = num(2)
		p.hour = v
	case 'm':
		v, ok = num(2)
		p.min = v
	case 's':
		v, ok = num(2)
		p.sec = v
	case 'S':
		v, ok = sc.fraction(n)
		p.micros = v
	case 'a':
		if len(s)-i >= 2 {
			switch strings.ToUpper(s[i : i+2]) {
			case "AM":
				p.hasAmPm = true
				return i + 2, true
			case "PM":
				p.hasAmPm, p.pm = true, true
				return i + 2, true
			}
		}
		return i, false
	case 'E':
		for _, name := range dayNames {
			if n < 4 {
				name = name[:3]
			}
			if len(s)-i >= len(name) && strings.EqualFold(s[i:i+len(name)], name) {
				return i + len(name), true
			}
		}
		return i, false
	case 'X', 'x', 'Z':
		if i < len(s) && (s[i] == 'Z' || s[i] == 'z') && t.letter != 'x' {
			p.off = 0
			return i + 1, true
		}
		j := i
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
			for j < len(s) && (isDigit(s[j]) || s[j] == ':') {
				j++
			}
			off, ok := parseOffset(s[i:j])
			if !ok {
				return i, false
			}
			p.off = off
			return j, true
		}
		if t.letter == 'Z' && len(s)-i >= 3 && strings.EqualFold(s[i:i+3], "GMT") {
			p.off = 0
			return i + 3, true
		}
		return i, false
	}
	return sc.i, ok
}
