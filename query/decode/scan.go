package decode

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// maxDepth is the deepest nesting of objects and arrays a record may hold,
// the top-level object counting as 1: encoding/json's limit, so that the
// two refuse the same records.
const maxDepth = 10000

// skipWS returns the index of the first byte at or after i that is not JSON
// whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// hasLiteral reports whether b holds lit at i.
func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// strStops flags, in the high bit of its byte, the lowest byte of the eight
// of x (little-endian) that a string scan must look at: '"', '\\', below 0x20
// or above 0x7f. It is 0 when there is none. Flags above the lowest may be
// wrong (a borrow from below), so only the lowest is used.
func strStops(x uint64) uint64 {
	const (
		ones        = 0x0101010101010101
		hi          = 0x80 * ones
		quotes      = '"' * ones
		backslashes = '\\' * ones
	)
	quote, backslash := (x^quotes)-ones, (x^backslashes)-ones
	return (quote | backslash | (x - 0x20*ones) | x) & hi
}

// scanString scans a string body starting after its opening quote and
// returns the index of the closing quote, and whether the body holds an
// escape (it then differs from its decoded text: see appendUnescaped). end is
// -1 when the body is not a valid JSON string: a control character, a bad
// escape, invalid UTF-8, or no closing quote. It reads eight bytes at a time
// while eight remain.
func scanString(b []byte, i int) (end int, esc bool) {
	start, ascii := i, true
	for {
		for i+8 <= len(b) {
			if s := strStops(binary.LittleEndian.Uint64(b[i:])); s != 0 {
				i += bits.TrailingZeros64(s) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1, false
		}
		switch c := b[i]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:i]) {
				return -1, false
			}
			return i, esc
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return -1, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b, i+2) < 0 {
					return -1, false
				}
				i += 6
			default:
				return -1, false
			}
		case c < 0x20:
			return -1, false
		case c >= 0x80:
			ascii = false
			i++
		default:
			i++
		}
	}
}

// hex4 returns the value of the four hex digits at i, or -1.
func hex4(b []byte, i int) rune {
	if len(b)-i < 4 {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUnescaped appends the decoded text of a string body that scanString
// accepted to dst, as encoding/json decodes it: a \u escape of a lone UTF-16
// surrogate, or of a surrogate pair that does not combine, becomes U+FFFD.
func appendUnescaped(dst, body []byte) []byte {
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch body[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(body, i+2)
			i += 6
			if 0xd800 <= r && r < 0xe000 {
				if r < 0xdc00 && len(body)-i >= 6 && body[i] == '\\' && body[i+1] == 'u' {
					if r2 := hex4(body, i+2); 0xdc00 <= r2 && r2 < 0xe000 {
						dst = utf8.AppendRune(dst, (r-0xd800)<<10|(r2-0xdc00)+0x10000)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, body[i+1])
		}
		i += 2
	}
	return dst
}

// skipValue skips the JSON value at i, checking its grammar exactly, and
// returns its end, or -1 on a syntax error (including invalid UTF-8 in a
// string and nesting deeper than maxDepth). depth is the number of
// containers open around i. It loops rather than recurses: a 64 KiB record
// can nest tens of thousands of levels.
func skipValue(b []byte, i, depth int) int {
	var buf [64]bool
	open := buf[:0] // one per container entered here: true for an object
	n := len(b)
	for {
		// i is at a value.
		if i >= n {
			return -1
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth++; depth > maxDepth {
				return -1
			}
			obj := c == '{'
			if i = skipWS(b, i+1); i < n && b[i] == closer(obj) {
				i++
				depth--
				break
			}
			open = append(open, obj)
			if obj {
				if i = skipKey(b, i); i < 0 {
					return -1
				}
			}
			continue
		case '"':
			end, _ := scanString(b, i+1)
			if end < 0 {
				return -1
			}
			i = end + 1
		case 't':
			if !hasLiteral(b, i, "true") {
				return -1
			}
			i += 4
		case 'f':
			if !hasLiteral(b, i, "false") {
				return -1
			}
			i += 5
		case 'n':
			if !hasLiteral(b, i, "null") {
				return -1
			}
			i += 4
		default:
			if _, i = scanNumber(b, i); i < 0 {
				return -1
			}
		}
		// i is after a value: close containers, or go on to the next element.
		for {
			if len(open) == 0 {
				return i
			}
			if i = skipWS(b, i); i >= n {
				return -1
			}
			obj := open[len(open)-1]
			if b[i] == closer(obj) {
				i++
				open = open[:len(open)-1]
				depth--
				continue
			}
			if b[i] != ',' {
				return -1
			}
			i = skipWS(b, i+1)
			if obj {
				if i = skipKey(b, i); i < 0 {
					return -1
				}
			}
			break
		}
	}
}

func closer(obj bool) byte {
	if obj {
		return '}'
	}
	return ']'
}

// skipKey skips `"key" :` and the whitespace after it, starting at the
// opening quote, and returns the index of the value, or -1.
func skipKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	end, _ := scanString(b, i+1)
	if end < 0 {
		return -1
	}
	if i = skipWS(b, end+1); i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipWS(b, i+1)
}

// number is what one pass over a JSON number literal learns about it.
type number struct {
	mant uint64 // its digits read as one integer; exact only when ndig <= 19
	ndig int    // digits in the integer and fraction parts
	frac int    // digits in the fraction part
	neg  bool   // a minus sign
	exp  bool   // an exponent part
}

// scanNumber scans a JSON number at i and returns what it holds and its end,
// or end -1 when the bytes do not follow the JSON number grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// A leading zero followed by a digit (01) is refused here although the
// grammar would end the number after the 0: what follows is then a syntax
// error the caller refuses anyway.
func scanNumber(b []byte, i int) (number, int) {
	n := len(b)
	neg := i < n && b[i] == '-'
	if neg {
		i++
	}
	start := i
	mant, ndig, i := scanDigits(b, i, 0)
	if ndig == 0 || (ndig > 1 && b[start] == '0') {
		return number{}, -1
	}
	frac := 0
	if i < n && b[i] == '.' {
		mant, frac, i = scanDigits(b, i+1, mant)
		if frac == 0 {
			return number{}, -1
		}
		ndig += frac
	}
	exp := i < n && (b[i] == 'e' || b[i] == 'E')
	if exp {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		_, k, end := scanDigits(b, i, 0)
		if k == 0 {
			return number{}, -1
		}
		i = end
	}
	return number{mant: mant, ndig: ndig, frac: frac, neg: neg, exp: exp}, i
}

// isNumberStart reports whether c can begin a JSON number.
func isNumberStart(c byte) bool { return c == '-' || isDigit(c) }

// asciiZeros is '0' in every byte of a word: XOR with it maps the ASCII
// digits to their values 0..9.
const asciiZeros = 0x3030303030303030

// pow10u holds 10^k for the k digits one word can hold.
var pow10u = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// scanDigits scans the run of ASCII digits at i, appending their value to
// mant (mant*10^k + run; it wraps past 19 digits in all, which the caller's
// digit count tells), and returns the new mant, the run's length k and its
// end. A run shorter than eight bytes, with eight bytes to read, is scanned
// in one word.
func scanDigits(b []byte, i int, mant uint64) (uint64, int, int) {
	if i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:]) ^ asciiZeros
		if k := digitRun(x); k < 8 {
			return mant*pow10u[k] + digitsValue(x, k), k, i + k
		}
	}
	return scanLongDigits(b, i, mant)
}

// scanLongDigits is scanDigits for runs of eight digits or more and near the
// end of the input: a word at a time while eight bytes remain, then bytes.
func scanLongDigits(b []byte, i int, mant uint64) (uint64, int, int) {
	start := i
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:]) ^ asciiZeros
		k := digitRun(x)
		mant = mant*pow10u[k] + digitsValue(x, k)
		i += k
		if k < 8 {
			return mant, i - start, i
		}
	}
	for ; i < len(b) && isDigit(b[i]); i++ {
		mant = mant*10 + uint64(b[i]-'0')
	}
	return mant, i - start, i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digitRun returns how many of the low-order bytes of x (eight input bytes
// XOR '0', little-endian) are in 0..9: the leading ASCII digits.
func digitRun(x uint64) int {
	return bits.TrailingZeros64(nonDigits(x)) >> 3 // 8 when all are digits
}

// nonDigits has the high bit set in each byte of x that is not in 0..9, and
// no other bit: a byte is outside 0..9 when its high bit is set or when
// adding 0x76 to its low seven bits, which cannot carry out of the byte,
// sets it.
func nonDigits(x uint64) uint64 {
	const hi = 0x8080808080808080
	return (x | ((x &^ hi) + 0x7676767676767676)) & hi
}

// digitsValue returns the number written by the k lowest bytes of x, each a
// digit value 0..9, the lowest byte the most significant digit.
func digitsValue(x uint64, k int) uint64 {
	return eightDigits(x << (8 * (8 - k))) // 0 when k == 0
}

// eightDigits returns the number written by the eight bytes of x, each a
// digit value 0..9, the lowest byte the most significant: neighbours combine
// pairwise, 8 digits -> 4 two-digit values -> 2 -> 1.
func eightDigits(x uint64) uint64 {
	x = (x*10 + x>>8) & 0x00FF00FF00FF00FF
	x = (x*100 + x>>16) & 0x0000FFFF0000FFFF
	return (x*10000 + x>>32) & 0xFFFFFFFF
}

// shortInt reads the common shape of a JSON integer, a positive one of 8
// to 15 digits (epoch milliseconds have 13), in two words, as parseInt
// reads it; end is -1 when the bytes at i are of another shape.
func shortInt(b []byte, i int) (x int64, end int) {
	if len(b)-i < 16 {
		return 0, -1
	}
	w := (*[16]byte)(b[i : i+16])
	x1 := binary.LittleEndian.Uint64(w[:8]) ^ asciiZeros
	x2 := binary.LittleEndian.Uint64(w[8:]) ^ asciiZeros
	k := digitRun(x2)
	if nonDigits(x1) != 0 || w[0] == '0' || k == 8 || (w[8+k&7]|0x20 == 'e' || w[8+k&7] == '.') {
		return 0, -1
	}
	return int64(eightDigits(x1)*pow10u[k] + digitsValue(x2, k)), i + 8 + k
}

// parseInt parses the JSON number at i as an integer, as
// strconv.ParseInt(lit, 10, 64) does, and returns its end. end is -1 when
// the bytes are not a JSON number; ok is false when the number is one but
// not an int64: a fraction or an exponent part (Spark's JSON reader sees a
// float token), or a value beyond the int64 range.
func parseInt(b []byte, i int) (x int64, end int, ok bool) {
	if x, end := shortInt(b, i); end >= 0 {
		return x, end, true
	}
	num, end := scanNumber(b, i)
	// With no leading zeros, 20 digits overflow an int64; 19 fit a uint64.
	if end < 0 || num.frac != 0 || num.exp || num.ndig > 19 {
		return 0, end, false
	}
	const maxInt64 = 1<<63 - 1
	switch {
	case !num.neg && num.mant <= maxInt64:
		return int64(num.mant), end, true
	case num.neg && num.mant <= maxInt64+1:
		return -int64(num.mant), end, true // -(1<<63) wraps onto itself, as it should
	}
	return 0, end, false
}

// pow10 holds the powers of ten that a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// floatWord returns the eight bytes of the number that begins w, after its
// '-' if it has one, XOR '0' (digits become 0..9), and whether it has one.
func floatWord(w *[9]byte) (x uint64, neg bool) {
	neg = w[0] == '-'
	x = binary.LittleEndian.Uint64(w[:8])
	if neg {
		x = binary.LittleEndian.Uint64(w[1:])
	}
	return x ^ asciiZeros, neg
}

// withoutDot returns x from floatWord with the dot at byte dot (below 8)
// taken out: the digits after it move down one byte.
func withoutDot(x uint64, dot int) uint64 {
	low := uint64(1)<<(8*dot&63) - 1
	return x&low | (x>>8)&^low
}

// shortFloat reads the common shape of a JSON float, -?d{1,6}\.d{1,6}
// ending inside one word after the sign (a sensor's 27.41), as parseFloat
// reads it; end is -1 when the bytes at i are of another shape. The digits
// read as one integer below 10^6 < 2^53, so one division converts exactly
// (see exactFloat). It needs nine bytes to read.
func shortFloat(b []byte, i int) (float64, int) {
	if len(b)-i < 9 {
		return 0, -1
	}
	x, neg := floatWord((*[9]byte)(b[i : i+9]))
	// The dot at byte 1..6, with digits before it and no leading zero, and
	// 1..6 digits after it ending inside the word, before no exponent.
	// decodeOrdered has this test in line.
	stops := nonDigits(x)
	dot := bits.TrailingZeros64(stops) >> 3
	end := bits.TrailingZeros64(stops&(stops-1)) >> 3
	if uint(dot-1) >= 6 || uint(end-dot-2) >= uint(6-dot) || byte(x>>(8*dot)) != '.'^'0' || (dot != 1 && byte(x) == 0) ||
		byte(x>>(8*(end&7)))^'0'|0x20 == 'e' {
		return 0, -1
	}
	f := float64(digitsValue(withoutDot(x, dot), end-1)) / pow10[(end-dot-1)&7]
	if neg {
		return -f, i + 1 + end
	}
	return f, i + end
}

// parseFloat parses the JSON number at i and returns the float64 that
// strconv.ParseFloat(lit, 64) returns, and its end; end is -1 when the bytes
// are not a JSON number. A literal beyond the float64 range gives ±Inf, as
// ParseFloat's value with its range error (and as Spark's JSON reader).
func parseFloat(b []byte, i int) (float64, int) {
	if f, end := shortFloat(b, i); end >= 0 {
		return f, end
	}
	num, end := scanNumber(b, i)
	if end < 0 {
		return 0, -1
	}
	if f, ok := exactFloat(num); ok {
		return f, end
	}
	// ParseFloat over the input bytes without a copy: it does not retain its
	// argument (its errors clone it) and nothing modifies the bytes meanwhile.
	// The literal is a JSON number, so the only possible error is ErrRange,
	// whose value is the one wanted (±Inf).
	f, _ := strconv.ParseFloat(unsafe.String(&b[i], end-i), 64)
	return f, end
}

// exactFloat converts a scanned literal when the conversion is exact by
// construction, and reports false for any other.
//
// Proof: for a literal without exponent whose digits, read as an integer m,
// satisfy m <= 2^53, and with k <= 22 fraction digits, both m and 10^k are
// float64 values exactly, and IEEE 754 division rounds m/10^k, the literal's
// exact value, correctly to nearest even. ParseFloat also returns the
// correctly rounded value of the literal, so the two agree (this is strconv's
// own atof64exact shortcut). The sign is applied last, so "-0.0" gives -0 as
// ParseFloat does.
func exactFloat(num number) (float64, bool) {
	if num.exp || num.ndig > 19 || num.mant > 1<<53 || num.frac >= len(pow10) {
		return 0, false
	}
	f := float64(num.mant) / pow10[num.frac]
	if num.neg {
		f = -f
	}
	return f, true
}
