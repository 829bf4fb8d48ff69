// Package decode is the streamer's fast decoder for sensor readings.
//
// Decode agrees with the contract's reference decoder, contract.DecodeEvent,
// on every input: same accept/reject decision, same Reason and Field, same
// decoded values. It gets there in two steps:
//
//   - a fast path, specialised to the event schema, that parses the common
//     shape (one object holding the five known keys in any order, JSON
//     whitespace, strings without escapes, plain numbers, unknown fields
//     whose values it can skip with the exact JSON grammar) without
//     allocating, and answers only when it is certain;
//   - a fallback to contract.DecodeEvent for everything else: escapes,
//     duplicate keys, null or mistyped fields, numbers that overflow, deep
//     nesting, any syntax doubt.
//
// Invariants: the fast path never rejects a record on its own judgement of
// syntax or types; it only accepts, or, once all five fields are parsed
// exactly, hands the value checks to contract.Validate (the reference's own
// last step) when its allocation-free mirror of them fails. Floats are
// converted as strconv.ParseFloat converts them (see parseFloat).
package decode

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/sensorlab/sensorlab/contract"
)

// Fields is one decoded reading.
type Fields struct {
	// SensorID aliases the input value when Decode took the fast path, and is a
	// fresh copy otherwise. Copy it before the input buffer is reused.
	SensorID []byte
	TS       int64 // event time, epoch milliseconds
	Temp     float64
	Hum      float64
	OK       bool
}

// Decode parses value with the contract's rules; nowMs is the reference time
// of the "too far in the future" rule. On success it fills out; on rejection
// it returns a *contract.DecodeError whose Reason and Field equal those
// contract.DecodeEvent returns for the same input, and out's contents are
// unspecified.
func Decode(value []byte, nowMs int64, out *Fields) error {
	switch {
	case parseSchemaOrder(value, nowMs, out):
		return nil
	case parseFast(value, out) == fastParsed:
		if validID(out.SensorID) && validValues(out, nowMs) {
			return nil
		}
	default:
		return decodeReference(value, nowMs, out)
	}
	// Everything parsed exactly, so the reference would reach its final
	// Validate with these very values: let it produce the error. (It returns
	// nil only if validID and validValues stopped mirroring it; the record
	// is then accepted as parsed.)
	return contract.Validate(contract.Event{
		SensorID: string(out.SensorID), TS: out.TS, Temp: out.Temp, Hum: out.Hum, OK: out.OK,
	}, nowMs)
}

// decodeReference is the general path: the contract's own decoder.
func decodeReference(value []byte, nowMs int64, out *Fields) error {
	ev, err := contract.DecodeEvent(value, nowMs)
	if err != nil {
		return err
	}
	*out = Fields{SensorID: []byte(ev.SensorID), TS: ev.TS, Temp: ev.Temp, Hum: ev.Hum, OK: ev.OK}
	return nil
}

// validID is the part of contract.Validate that reads the sensor id's bytes,
// without allocating.
func validID(id []byte) bool {
	for _, c := range id {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// validValues is the rest of contract.Validate, without allocating.
func validValues(f *Fields, nowMs int64) bool {
	if len(f.SensorID) == 0 || len(f.SensorID) > contract.MaxSensorIDBytes {
		return false
	}
	if f.TS < contract.MinTS || f.TS > nowMs+contract.MaxFutureMs {
		return false
	}
	return f.Temp >= contract.MinTemp && f.Temp <= contract.MaxTemp &&
		f.Hum >= contract.MinHum && f.Hum <= contract.MaxHum
}

// fastResult says what the fast path concluded.
type fastResult uint8

const (
	// fastUnsure: the input is not of the shape the fast path decides on;
	// only the reference decoder may answer.
	fastUnsure fastResult = iota
	// fastParsed: syntax and the five fields' presence and types are exactly
	// as the reference would see them; only the value checks remain.
	fastParsed
)

// Bits of the known keys, to detect missing and duplicated ones.
const (
	seenSensorID = 1 << iota
	seenTS
	seenTemp
	seenHum
	seenOK
	seenAll = seenSensorID | seenTS | seenTemp | seenHum | seenOK
)

// maxSkipDepth bounds the nesting of unknown values the fast path skips; the
// reference accepts far deeper ones, which then go to it.
const maxSkipDepth = 32

// parseFast parses value into f when value is of the shape it is certain
// about. It never allocates.
func parseFast(b []byte, f *Fields) fastResult {
	n := len(b)
	if n == 0 || n > contract.MaxValueBytes {
		return fastUnsure
	}
	i := skipWS(b, 0)
	if i >= n || b[i] != '{' {
		return fastUnsure
	}
	i = skipWS(b, i+1)
	var seen uint8
	for {
		// Key.
		if i >= n || b[i] != '"' {
			return fastUnsure // also an empty object: fields are missing
		}
		end, bit := scanKey(b, i+1)
		if end < 0 {
			return fastUnsure
		}
		i = skipWS(b, end+1)
		if i >= n || b[i] != ':' {
			return fastUnsure
		}
		i = skipWS(b, i+1)
		if i >= n {
			return fastUnsure
		}
		// Value.
		switch bit {
		case seenSensorID:
			if b[i] != '"' {
				return fastUnsure
			}
			end := scanString(b, i+1)
			if end < 0 {
				return fastUnsure
			}
			f.SensorID = b[i+1 : end : end] // capped: an append must not write into the input
			i = end + 1
		case seenTS:
			f.TS, i = parseInt(b, i)
		case seenTemp:
			f.Temp, i = parseFloat(b, i)
		case seenHum:
			f.Hum, i = parseFloat(b, i)
		case seenOK:
			switch {
			case hasLiteral(b, i, "true"):
				f.OK, i = true, i+4
			case hasLiteral(b, i, "false"):
				f.OK, i = false, i+5
			default:
				return fastUnsure
			}
		default:
			i = skipValue(b, i, 0)
		}
		if i < 0 || seen&bit != 0 {
			return fastUnsure // bad value, or a duplicated key (the last one wins in the reference)
		}
		seen |= bit
		// Separator.
		i = skipWS(b, i)
		if i >= n {
			return fastUnsure
		}
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return fastUnsure
		}
		i = skipWS(b, i+1)
	}
	if skipWS(b, i) != n || seen != seenAll {
		return fastUnsure
	}
	return fastParsed
}

// parseSchemaOrder is parseFast for the shape every producer of the lab
// writes: the five keys in schema order, nothing before '{' or after '}', and
// one spacing throughout: either none (contract.AppendJSON's compact form) or
// one space after each ',' and ':' (Python's json.dumps default). Each stretch
// between two values is then a constant, compared a word at a time, which
// replaces parseFast's key dispatch, duplicate bookkeeping and whitespace
// loops.
//
// Its values are narrower than parseFast's too, so that each is read from
// one or two words, in line, without a call: a ts of 9 to 15 digits, and
// floats of at most seven bytes after an optional '-', with digits on both
// sides of the point (-?d{1,5}\.d{1,5}; the sensors write dd.dd). The byte
// after each value is not examined here: the literal that follows it, which
// begins with ',', is.
//
// It reports false at the first byte off that shape, with f partly written,
// and also when the values fail contract.Validate's checks (validValues,
// while they are still in registers; the sensor id needs no byte check: see
// scanID); parseFast then decides, from the start. When it reports true,
// parseFast would have returned fastParsed with the same fields, and they
// are valid: its literals convert exactly as parseInt and parseFloat convert
// them, and a key-value list with exactly the five keys, once each, is what
// parseFast requires.
func parseSchemaOrder(b []byte, nowMs int64, f *Fields) bool {
	if len(b) > contract.MaxValueBytes || len(b) < 16 {
		return false
	}
	// The byte after `{"sensor_id":` tells the spacing.
	l := &compact
	if b[13] == ' ' {
		l = &spaced
	}
	if !l.open.at(b, 0) {
		return false
	}
	i := l.open.n
	// The sensor id: scanID's first word, in line (the lab's ids are
	// shorter than eight bytes); a longer id is scanned on from there. The
	// first byte idStops flags is the closing quote, or a byte that refuses
	// the id, where the ts literal, which begins with '"', will not match.
	if len(b)-i < 8 {
		return false
	}
	stop := idStops(binary.LittleEndian.Uint64(b[i:]))
	end := i + bits.TrailingZeros64(stop)>>3
	if stop == 0 {
		if end = scanID(b, i+8); end < 0 {
			return false
		}
	}
	f.SensorID = b[i:end:end] // capped, as in parseFast
	if !l.ts.at(b, end) {
		return false
	}
	i = end + l.ts.n
	// ts: a positive integer of 9 to 15 digits without a leading zero, in
	// two words (epoch milliseconds have 13; fewer than 12 is before
	// contract.MinTS). Such integers fit an int64 and read as parseInt
	// reads them. The bit forced into stops makes byte 15 end the digits,
	// so that k < 8; a 16th digit is then where the next literal must
	// begin, and that comparison fails.
	if len(b)-i < 16 {
		return false
	}
	w := (*[16]byte)(b[i : i+16]) // one bounds check for the loads below
	x1 := binary.LittleEndian.Uint64(w[:8]) ^ asciiZeros
	x2 := binary.LittleEndian.Uint64(w[8:]) ^ asciiZeros
	k := bits.TrailingZeros64(nonDigits(x2)|1<<63) >> 3
	if nonDigits(x1) != 0 || w[0] == '0' || k == 0 {
		return false
	}
	f.TS = int64(digitsValue(x1, 8)*pow10u[k] + lowDigitsValue(x2, k))
	i += 8 + k
	// temp, then hum, the same steps (see floatWord).
	if !l.temp.at(b, i) || len(b)-i-l.temp.n < 9 {
		return false
	}
	i += l.temp.n
	x, neg := floatWord((*[9]byte)(b[i : i+9]))
	dot, end, ok := floatSpan(x)
	if !ok {
		return false
	}
	v := float64(lowDigitsValue(withoutDot(x, dot), end-1)) / pow10[(end-dot-1)&7]
	if neg {
		v, i = -v, i+1
	}
	f.Temp, i = v, i+end
	if !l.hum.at(b, i) || len(b)-i-l.hum.n < 9 {
		return false
	}
	i += l.hum.n
	x, neg = floatWord((*[9]byte)(b[i : i+9]))
	if dot, end, ok = floatSpan(x); !ok {
		return false
	}
	v = float64(lowDigitsValue(withoutDot(x, dot), end-1)) / pow10[(end-dot-1)&7]
	if neg {
		v, i = -v, i+1
	}
	f.Hum, i = v, i+end
	// The last literal holds the value after "ok".
	f.OK = l.okTrue.isRest(b, i)
	return (f.OK || l.okFalse.isRest(b, i)) && validValues(f, nowMs)
}

// floatWord returns the eight bytes of the number that begins w, after its
// '-' if it has one, XOR '0' (digits become 0..9), and whether it has one:
// the first step of parseFloat's fast path and of parseSchemaOrder's floats.
// The latter are -?d{1,5}\.d{1,5}: seven bytes at most after the sign and no
// leading zero, converted exactly by one division (see withoutDot). As for
// ts, byte 7 always ends the number (see floatSpan), and a digit there fails
// the next literal.
func floatWord(w *[9]byte) (x uint64, neg bool) {
	neg = w[0] == '-'
	x = binary.LittleEndian.Uint64(w[:8])
	if neg {
		x = binary.LittleEndian.Uint64(w[1:])
	}
	return x ^ asciiZeros, neg
}

// floatSpan finds, in x from floatWord, the dot and the byte after the
// fraction (byte 7 at most: the bit forced into stops), and reports whether
// x begins with d{1,5}\.d{1,5} without a leading zero.
func floatSpan(x uint64) (dot, end int, ok bool) {
	stops := nonDigits(x) | 1<<63
	dot = bits.TrailingZeros64(stops) >> 3
	end = bits.TrailingZeros64(stops&(stops-1)) >> 3
	// end < 8, so dot < 6: 1 to 5 digits on each side.
	ok = end-dot >= 2 && dot != 0 && byte(x>>(8*dot&63)) == '.'^'0' && (dot == 1 || byte(x) != 0)
	return dot, end, ok
}

// withoutDot returns x from floatWord with the dot at byte dot (below 8)
// taken out: the digits after it move down one byte. lowDigitsValue then reads
// them as one integer, below 10^6 < 2^53, and dividing it by a power of ten
// converts the float exactly (see exactFloat), as parseFloat's own fast path
// does.
func withoutDot(x uint64, dot int) uint64 {
	low := uint64(1)<<(8*dot&63) - 1
	return x&low | (x>>8)&^low
}

// A layout is the constant text around the values of the schema-order shape
// in one spacing. Each literal ends where the next value begins; the sensor
// id's quotes are part of the literals around it.
type layout struct {
	open, ts, temp, hum literal // head literals, each followed by a value
	okTrue, okFalse     literal // tail literals: the rest of the record
}

var (
	compact = layout{
		open:    newHead(`{"sensor_id":"`),
		ts:      newHead(`","ts":`),
		temp:    newHead(`,"temp":`),
		hum:     newHead(`,"hum":`),
		okTrue:  newTail(`,"ok":true}`),
		okFalse: newTail(`,"ok":false}`),
	}
	spaced = layout{
		open:    newHead(`{"sensor_id": "`),
		ts:      newHead(`", "ts": `),
		temp:    newHead(`, "temp": `),
		hum:     newHead(`, "hum": `),
		okTrue:  newTail(`, "ok": true}`),
		okFalse: newTail(`, "ok": false}`),
	}
)

// A literal is a constant of 1 to 16 bytes that compares with two word
// loads of a 16-byte window, each under a mask. A head literal is compared at
// the start of its window (at), a tail literal at its end (isRest).
type literal struct {
	word [2]uint64 // the window's bytes where they belong to the constant, little-endian
	mask [2]uint64 // the window's bytes that belong to the constant
	n    int
}

func newHead(s string) literal { return newLiteral(s, 0) }

func newTail(s string) literal { return newLiteral(s, 16-len(s)) }

func newLiteral(s string, off int) literal {
	if len(s) == 0 || len(s) > 16 {
		panic("decode: literal of " + strconv.Itoa(len(s)) + " bytes")
	}
	var buf, ones [16]byte
	copy(buf[off:], s)
	copy(ones[off:], strings.Repeat("\xff", len(s)))
	l := literal{n: len(s)}
	for k := range 2 {
		l.word[k] = binary.LittleEndian.Uint64(buf[8*k:])
		l.mask[k] = binary.LittleEndian.Uint64(ones[8*k:])
	}
	return l
}

// in reports whether the 16-byte window w holds the literal.
func (l *literal) in(w *[16]byte) bool {
	return binary.LittleEndian.Uint64(w[:8])&l.mask[0] == l.word[0] &&
		binary.LittleEndian.Uint64(w[8:])&l.mask[1] == l.word[1]
}

// at reports whether the head literal l is in b at i, which must be in
// [0, len(b)]. It reads 16 bytes, which the schema-order shape always has
// after each of its head literals; with fewer left, at reports false.
func (l *literal) at(b []byte, i int) bool {
	return len(b)-i >= 16 && l.in((*[16]byte)(b[i:i+16]))
}

// isRest reports whether b[i:] is the tail literal l, when b has 16 bytes.
func (l *literal) isRest(b []byte, i int) bool {
	n := len(b)
	return n-i == l.n && n >= 16 && l.in((*[16]byte)(b[n-16:n]))
}

// scanID scans the sensor id's string body starting at i and returns the
// index of its closing quote, or -1 unless every byte before it is printable
// ASCII other than '\\' (0x20..0x7e): so a sensor id it accepts needs no
// escape decoding and no further byte check (contract.Validate refuses
// control characters and DEL). Anything else (an escape, UTF-8, a control
// character) is for parseFast and the reference to decide. It reads eight
// bytes at a time while eight remain.
func scanID(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if stop := idStops(binary.LittleEndian.Uint64(b[i:])); stop != 0 {
			k := i + bits.TrailingZeros64(stop)>>3
			if b[k] != '"' {
				return -1
			}
			return k
		}
	}
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i
		case c < 0x20 || c >= 0x7f || c == '\\':
			return -1
		}
	}
	return -1
}

// idStops flags, in the high bit of its byte, the lowest byte of the eight
// of x (little-endian) that ends or disqualifies a sensor id for scanID:
// '"', '\\', 0x7f, below 0x20 or above 0x7f. It is 0 when there is none.
// Flags above the lowest may be wrong.
func idStops(x uint64) uint64 {
	const (
		ones        = 0x0101010101010101
		hi          = 0x80 * ones
		quotes      = '"' * ones
		backslashes = '\\' * ones
		dels        = 0x7f * ones
	)
	// A byte y of x, with no borrow from below, gets its high bit set in
	// y-1 when y is 0 (or above 0x80), in y-0x20 when y is below 0x20, and
	// in y itself when y is 0x80 or above. Flags above the lowest can be
	// wrong (a borrow), which is why only the lowest is used: the bytes
	// below it borrow nothing.
	quote, backslash, del := (x^quotes)-ones, (x^backslashes)-ones, (x^dels)-ones
	return (quote | backslash | del | (x - 0x20*ones) | x) & hi
}

// scanKey scans a key starting after its opening quote and returns the index
// of its closing quote and the seen-bit of the schema field it names, 0 for
// an unknown field; end is -1 as for scanString. The schema's names are
// recognised by one compare each, closing quote included, so a key that
// falls through to scanString is never one of them (and a key with an escape
// is refused there, so "sensor\u005fid" goes to the reference).
func scanKey(b []byte, i int) (end int, bit uint8) {
	if i < len(b) {
		switch b[i] {
		case 's':
			if hasLiteral(b, i, `sensor_id"`) {
				return i + 9, seenSensorID
			}
		case 't':
			if hasLiteral(b, i, `ts"`) {
				return i + 2, seenTS
			}
			if hasLiteral(b, i, `temp"`) {
				return i + 4, seenTemp
			}
		case 'h':
			if hasLiteral(b, i, `hum"`) {
				return i + 3, seenHum
			}
		case 'o':
			if hasLiteral(b, i, `ok"`) {
				return i + 2, seenOK
			}
		}
	}
	return scanString(b, i), 0
}

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

// scanString scans a string body starting after its opening quote and
// returns the index of the closing quote, or -1 when the string is not
// certain: an escape, a control character, invalid UTF-8, or no end.
// A string without escapes decodes to its own bytes.
func scanString(b []byte, i int) int {
	start := i
	ascii := true
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:i]) {
				return -1
			}
			return i
		case c == '\\' || c < 0x20:
			return -1
		case c >= 0x80:
			ascii = false
		}
	}
	return -1
}

// hasLiteral reports whether b holds lit at i.
func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
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
// error the caller would refuse anyway.
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

// asciiZeros is '0' in every byte of a word: XOR with it maps the ASCII
// digits to their values 0..9.
const asciiZeros = 0x3030303030303030

// pow10u holds 10^k for the k digits one word can hold.
var pow10u = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// scanDigits scans the run of ASCII digits at i, appending their value to
// mant (mant*10^k + run; it wraps past 19 digits in all, which the caller's
// digit count tells), and returns the new mant, the run's length k and its
// end. A run shorter than eight bytes, with eight bytes to read, is scanned
// in one word, so that its length costs no branch; this part is small enough
// to be inlined.
func scanDigits(b []byte, i int, mant uint64) (uint64, int, int) {
	if i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:]) ^ asciiZeros // digits become 0..9
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

// digitRun returns how many of the low-order bytes of x, taken from the
// lowest, are in 0..9 (x holds eight input bytes XOR '0', little-endian, so
// these are the leading ASCII digits). A byte is outside 0..9 when its high
// bit is set or when adding 0x76 to its low seven bits, which cannot carry
// out of the byte, sets it.
func digitRun(x uint64) int {
	return bits.TrailingZeros64(nonDigits(x)) >> 3 // 8 when all are digits
}

// nonDigits has the high bit set in each byte of x that is not in 0..9, and
// no other bit (see digitRun).
func nonDigits(x uint64) uint64 {
	const hi = 0x8080808080808080
	return (x | ((x &^ hi) + 0x7676767676767676)) & hi
}

// digitsValue returns the number written by the k lowest bytes of x, each a
// digit value 0..9, the lowest byte the most significant digit. Shifting the
// other bytes out leaves zeros below, which read as leading zeros.
func digitsValue(x uint64, k int) uint64 {
	return eightDigits(x << (8 * (8 - k))) // 0 when k == 0
}

// lowDigitsValue is digitsValue for 1 <= k <= 8: its shift, below 64, needs
// no instructions for the case k == 0.
func lowDigitsValue(x uint64, k int) uint64 {
	return eightDigits(x << (8 * (8 - k) & 63))
}

// eightDigits returns the number written by the eight bytes of x, each a
// digit value 0..9, the lowest byte the most significant: neighbours combine
// pairwise, 8 digits -> 4 two-digit values -> 2 -> 1.
func eightDigits(x uint64) uint64 {
	x = (x*10 + x>>8) & 0x00FF00FF00FF00FF
	x = (x*100 + x>>16) & 0x0000FFFF0000FFFF
	return (x*10000 + x>>32) & 0xFFFFFFFF
}

// parseInt parses the integer literal at i, as strconv.ParseInt(lit, 10, 64)
// does, and returns its end; end is -1 when the literal is not a JSON number,
// has a fraction or an exponent (the reference's wrong_type), or does not fit
// an int64 (its out_of_range).
func parseInt(b []byte, i int) (int64, int) {
	// The common shape, without a call: a positive integer of 8 to 15 digits
	// (epoch milliseconds have 13), read in two words. 15 digits fit an
	// int64; a leading 0, a sign, a fraction or an exponent go the long way.
	if len(b)-i >= 16 { // i <= len(b): so i+16 cannot overflow
		w := (*[16]byte)(b[i : i+16]) // one bounds check for the loads below
		x1 := binary.LittleEndian.Uint64(w[:8]) ^ asciiZeros
		x2 := binary.LittleEndian.Uint64(w[8:]) ^ asciiZeros
		if k := digitRun(x2); nonDigits(x1) == 0 && w[0] != '0' && k < 8 {
			if c := w[8+k]; c != '.' && c|0x20 != 'e' {
				return int64(digitsValue(x1, 8)*pow10u[k] + digitsValue(x2, k)), i + 8 + k
			}
		}
	}
	num, end := scanNumber(b, i)
	// With no leading zeros, 20 digits overflow an int64; 19 fit a uint64.
	if end < 0 || num.frac != 0 || num.exp || num.ndig > 19 {
		return 0, -1
	}
	const maxInt64 = 1<<63 - 1
	switch {
	case !num.neg && num.mant <= maxInt64:
		return int64(num.mant), end
	case num.neg && num.mant <= maxInt64+1:
		return -int64(num.mant), end // -(1<<63) wraps onto itself, as it should
	}
	return 0, -1
}

// pow10 holds the powers of ten that a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses the number literal at i and returns the float64 that
// strconv.ParseFloat(lit, 64) returns, and its end; end is -1 when the literal
// is not a JSON number or ParseFloat fails (overflow: the reference's
// out_of_range).
func parseFloat(b []byte, i int) (float64, int) {
	// The common shape, without a call: -?d{1,6}\.d{1,6} ending inside one
	// word (after the sign), as the sensors' 27.41 (see exactFloat for why
	// the division is exact: the digits are below 10^6 < 2^53). It needs nine
	// bytes to read; a number closer to the end of b goes the long way.
	if len(b)-i >= 9 { // i <= len(b): so i+9 cannot overflow
		x, neg := floatWord((*[9]byte)(b[i : i+9]))
		stops := nonDigits(x)
		r1 := bits.TrailingZeros64(stops) >> 3            // integer digits: up to the dot
		end := bits.TrailingZeros64(stops&(stops-1)) >> 3 // the byte after the fraction; 8 if past the word
		term := byte(x>>(8*(end&7))) ^ '0'                // that byte, when end < 8
		if uint(r1-1) < 6 && end-r1 >= 2 && end < 8 &&    // 1..6 integer digits, 1 or more fraction digits, all in the word
			byte(x>>(8*r1)) == '.'^'0' && (r1 == 1 || byte(x) != 0) && term|0x20 != 'e' {
			f := float64(digitsValue(withoutDot(x, r1), end-1)) / pow10[end-r1-1]
			if neg {
				return -f, i + 1 + end
			}
			return f, i + end
		}
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
	f, err := strconv.ParseFloat(unsafe.String(&b[i], end-i), 64)
	if err != nil {
		return 0, -1
	}
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

// skipValue skips the JSON value at i, checking its grammar exactly, and
// returns its end, or -1 when it cannot be skipped with certainty (syntax
// error, escape, invalid UTF-8, nesting deeper than maxSkipDepth).
func skipValue(b []byte, i, depth int) int {
	n := len(b)
	if i >= n {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		end := scanString(b, i+1)
		if end < 0 {
			return -1
		}
		return end + 1
	case c == '-' || isDigit(c):
		_, end := scanNumber(b, i)
		return end
	case c == 't':
		if hasLiteral(b, i, "true") {
			return i + 4
		}
	case c == 'f':
		if hasLiteral(b, i, "false") {
			return i + 5
		}
	case c == 'n':
		if hasLiteral(b, i, "null") {
			return i + 4
		}
	case c == '{':
		if depth >= maxSkipDepth {
			return -1
		}
		i = skipWS(b, i+1)
		if i < n && b[i] == '}' {
			return i + 1
		}
		for {
			if i >= n || b[i] != '"' {
				return -1
			}
			end := scanString(b, i+1)
			if end < 0 {
				return -1
			}
			i = skipWS(b, end+1)
			if i >= n || b[i] != ':' {
				return -1
			}
			i = skipValue(b, skipWS(b, i+1), depth+1)
			if i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i >= n {
				return -1
			}
			if b[i] == '}' {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i = skipWS(b, i+1)
		}
	case c == '[':
		if depth >= maxSkipDepth {
			return -1
		}
		i = skipWS(b, i+1)
		if i < n && b[i] == ']' {
			return i + 1
		}
		for {
			i = skipValue(b, i, depth+1)
			if i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i >= n {
				return -1
			}
			if b[i] == ']' {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i = skipWS(b, i+1)
		}
	}
	return -1
}
