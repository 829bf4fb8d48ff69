package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
)

const now = int64(1732200000000) // 2024-11-21T14:40:00Z

// seedRecord is a reading exactly as the seed's Python generator publishes it.
const seedRecord = `{"sensor_id": "S007", "ts": 1732200000123, "temp": 27.41, "hum": 63.05, "ok": true}`

// assertAgrees fails the test unless Decode and contract.DecodeEvent give the
// same answer for in: accept/reject, Reason, Field, and decoded values (floats
// bit for bit, so that -0 and 0 differ).
//
// It also checks parseSchemaOrder's promise: whenever it accepts, parseFast
// accepts too, with the same fields, and they are valid.
func assertAgrees(t testing.TB, in []byte, nowMs int64) {
	t.Helper()
	var ordered, general Fields
	if parseSchemaOrder(in, nowMs, &ordered) {
		if parseFast(in, &general) != fastParsed || !valid(&general, nowMs) ||
			string(ordered.SensorID) != string(general.SensorID) ||
			ordered.TS != general.TS || ordered.OK != general.OK ||
			math.Float64bits(ordered.Temp) != math.Float64bits(general.Temp) ||
			math.Float64bits(ordered.Hum) != math.Float64bits(general.Hum) {
			t.Fatalf("parseSchemaOrder(%.200q) = %+v, parseFast disagrees: %+v", in, ordered, general)
		}
	}
	var got Fields
	err := Decode(in, nowMs, &got)
	want, wantErr := contract.DecodeEvent(in, nowMs)
	if wantErr != nil {
		var de, wantDe *contract.DecodeError
		if !errors.As(wantErr, &wantDe) {
			t.Fatalf("reference returned a %T, not a *contract.DecodeError: %v", wantErr, wantErr)
		}
		if !errors.As(err, &de) {
			t.Fatalf("Decode(%.200q) = %v (%T), reference rejects it: %v", in, err, err, wantErr)
		}
		if de.Reason != wantDe.Reason || de.Field != wantDe.Field {
			t.Fatalf("Decode(%.200q) rejects with %s/%q, reference with %s/%q (%v)",
				in, de.Reason, de.Field, wantDe.Reason, wantDe.Field, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("Decode(%.200q) rejects a record the reference accepts as %+v: %v", in, want, err)
	}
	if string(got.SensorID) != want.SensorID || got.TS != want.TS || got.OK != want.OK ||
		math.Float64bits(got.Temp) != math.Float64bits(want.Temp) ||
		math.Float64bits(got.Hum) != math.Float64bits(want.Hum) {
		t.Fatalf("Decode(%.200q) = {%q %d %v %v %v}, reference = %+v",
			in, got.SensorID, got.TS, got.Temp, got.Hum, got.OK, want)
	}
}

// valid mirrors contract.Validate: the checks Decode makes after parseFast.
func valid(f *Fields, nowMs int64) bool {
	return validID(f.SensorID) && validValues(f, nowMs)
}

// TestFastPathDecodesTrickyValidShapes checks that valid records of unusual
// but legal shape are decoded by the fast path itself (not the fallback) and
// exactly as the reference decodes them.
func TestFastPathDecodesTrickyValidShapes(t *testing.T) {
	cases := map[string]string{
		"seed python spacing": seedRecord,
		"compact":             `{"sensor_id":"S007","ts":1732200000123,"temp":27.41,"hum":63.05,"ok":true}`,
		"every whitespace":    " \t\r\n{ \n\"sensor_id\"\t:\r\"S001\" ,\n\"ts\" : 1732200000000 ,\"temp\":20,\"hum\":50,\"ok\":false\n}\r\n\t ",
		"reordered":           `{"ok":true,"hum":95,"temp":40.0,"ts":1732200000000,"sensor_id":"S020"}`,
		"extra scalar fields": `{"v":1,"sensor_id":"S001","fw":"1.2","ts":1732200000000,"n":null,"temp":20,"t":true,"hum":50,"f":false,"ok":true,"x":-1.5e-300}`,
		"extra nested fields": `{"meta":{"a":[1,{"b":[null,[],{}]},"é"],"c":{}},"sensor_id":"S001","ts":1732200000000,"temp":20,"hum":50,"ok":true,"tags":["x","y"]}`,
		"names like schema's": `{"t":1,"tsx":2,"temperature":"x","hum_":[],"okay":true,"sensor":"z","sensor_idx":1,"":0,"sensor_id":"S001","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		"negative temp":       `{"sensor_id":"S001","ts":1732200000000,"temp":-12.75,"hum":50,"ok":true}`,
		"minus zero":          `{"sensor_id":"S001","ts":1732200000000,"temp":-0,"hum":-0.0,"ok":true}`,
		"exponents":           `{"sensor_id":"S001","ts":1732200000000,"temp":2.741E+1,"hum":6305e-2,"ok":true}`,
		"zero exponent":       `{"sensor_id":"S001","ts":1732200000000,"temp":0e0,"hum":1E0,"ok":true}`,
		"long mantissa":       `{"sensor_id":"S001","ts":1732200000000,"temp":27.410000000000000000000000000001,"hum":63.049999999999997157829056959599256515502929688,"ok":true}`,
		"tiny hum underflows": `{"sensor_id":"S001","ts":1732200000000,"temp":1,"hum":1e-400,"ok":true}`,
		"range bounds":        `{"sensor_id":"S001","ts":946684800000,"temp":-100,"hum":100,"ok":true}`,
		"future bound":        `{"sensor_id":"S001","ts":1732286400000,"temp":150,"hum":0,"ok":true}`,
		"non-ASCII id":        `{"sensor_id":"Sé日本","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		"id of 64 bytes":      `{"sensor_id":"` + strings.Repeat("s", 64) + `","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			var f Fields
			if r := parseFast([]byte(in), &f); r != fastParsed {
				t.Fatalf("fast path gave up on a record it is meant to decode: %s", in)
			}
			if !valid(&f, now) {
				t.Fatalf("fast path found a valid record invalid: %s", in)
			}
			assertAgrees(t, []byte(in), now)
		})
	}
}

// TestDecodeRejectsLikeReference covers each kind of bad input, whichever
// path handles it.
func TestDecodeRejectsLikeReference(t *testing.T) {
	good := `{"sensor_id":"S001","ts":1732200000000,"temp":20.5,"hum":50.25,"ok":true}`
	r := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	cases := map[string]struct {
		in   string
		want contract.Reason
	}{
		"empty":              {"", contract.ReasonEmpty},
		"too large":          {`{"sensor_id":"` + strings.Repeat("x", contract.MaxValueBytes) + `"}`, contract.ReasonTooLarge},
		"not utf8":           {r("S001", "S\xff01"), contract.ReasonInvalidUTF8},
		"truncated":          {good[:20], contract.ReasonMalformedJSON},
		"trailing":           {good + "{}", contract.ReasonMalformedJSON},
		"trailing comma":     {r("true}", "true,}"), contract.ReasonMalformedJSON},
		"leading zero":       {r("1732200000000", "01732200000000"), contract.ReasonMalformedJSON},
		"bare NaN":           {r("20.5", "NaN"), contract.ReasonMalformedJSON},
		"raw control":        {r("S001", "S\x01"), contract.ReasonMalformedJSON},
		"array":              {"[" + good + "]", contract.ReasonNotObject},
		"missing hum":        {r(`"hum":50.25,`, ""), contract.ReasonMissingField},
		"null ok":            {r("true", "null"), contract.ReasonMissingField},
		"dup key last null":  {r(`"ok":true`, `"ok":true,"ts":null`), contract.ReasonMissingField},
		"ts fraction":        {r("1732200000000", "1732200000000.0"), contract.ReasonWrongType},
		"ts exponent":        {r("1732200000000", "17322e8"), contract.ReasonWrongType},
		"temp string":        {r("20.5", `"20.5"`), contract.ReasonWrongType},
		"ok number":          {r("true", "1"), contract.ReasonWrongType},
		"ts overflow":        {r("1732200000000", "9223372036854775808"), contract.ReasonOutOfRange},
		"temp overflow":      {r("20.5", "1e309"), contract.ReasonOutOfRange},
		"temp hot":           {r("20.5", "150.00000000000003"), contract.ReasonOutOfRange},
		"hum negative":       {r("50.25", "-0.5"), contract.ReasonOutOfRange},
		"empty sensor":       {r("S001", ""), contract.ReasonBadSensorID},
		"sensor DEL":         {r("S001", "S\x7f"), contract.ReasonBadSensorID},
		"escaped control":    {r("S001", `S\u0001`), contract.ReasonBadSensorID},
		"sensor of 65 bytes": {r("S001", strings.Repeat("s", 65)), contract.ReasonBadSensorID},
		"ts before 2000":     {r("1732200000000", "946684799999"), contract.ReasonTSOutOfRange},
		"ts far future":      {r("1732200000000", "1732286400001"), contract.ReasonTSOutOfRange},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var f Fields
			err := Decode([]byte(tc.in), now, &f)
			if got := contract.ReasonOf(err); got != tc.want {
				t.Fatalf("Decode rejected with %q (%v), want %q", got, err, tc.want)
			}
			assertAgrees(t, []byte(tc.in), now)
		})
	}
}

// TestFallbackDecodesWhatFastPathCannot checks that records the fast path
// leaves alone are still decoded, by the reference, with a sensor id the
// caller owns.
func TestFallbackDecodesWhatFastPathCannot(t *testing.T) {
	cases := map[string]struct{ in, id string }{
		"escaped id":  {`{"sensor_id":"S\u0030\u00307","ts":1732200000000,"temp":20,"hum":50,"ok":true}`, "S007"},
		"escaped key": {`{"sensor\u005fid":"S007","ts":1732200000000,"temp":20,"hum":50,"ok":true}`, "S007"},
		"dup key":     {`{"sensor_id":"S001","sensor_id":"S002","ts":1732200000000,"temp":20,"hum":50,"ok":true}`, "S002"},
		"deep extra":  {`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"sensor_id":"S007","ts":1732200000000,"temp":20,"hum":50,"ok":true}`, "S007"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var f Fields
			if parseFast([]byte(tc.in), &f) != fastUnsure {
				t.Fatalf("fast path decided a record it cannot be certain about: %s", tc.in)
			}
			in := []byte(tc.in)
			if err := Decode(in, now, &f); err != nil {
				t.Fatalf("rejected a valid record: %v", err)
			}
			clear(in)
			if string(f.SensorID) != tc.id {
				t.Fatalf("sensor id %q after the input was reused, want %q", f.SensorID, tc.id)
			}
		})
	}
}

// TestSensorIDAliasesInputOnFastPath documents the ownership contract callers
// rely on: the fast path does not copy the id.
func TestSensorIDAliasesInputOnFastPath(t *testing.T) {
	in := []byte(seedRecord)
	var f Fields
	if err := Decode(in, now, &f); err != nil {
		t.Fatal(err)
	}
	copy(in[strings.Index(seedRecord, "S007"):], "X")
	if string(f.SensorID) != "X007" {
		t.Fatalf("SensorID = %q, want it to alias the input (X007)", f.SensorID)
	}
}

// TestFastPathDoesNotAllocate: the streamer decodes every record; garbage
// per record is what this package exists to avoid.
func TestFastPathDoesNotAllocate(t *testing.T) {
	recs := seedMix(64)
	var f Fields
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if err := Decode(recs[i%len(recs)], now, &f); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %v times per seed record, want 0", allocs)
	}
}

// TestNumbersMatchStrconv compares parseFloat and parseInt, every path of
// them, with strconv bit for bit on many literals near their limits, each
// followed by each kind of byte that can end a number, and at the very end of
// the input.
func TestNumbersMatchStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lits := []string{"0", "-0", "0.0", "-0.000", "9007199254740992", "9007199254740993",
		"900719925474099.3", "0.9007199254740992", "1.0000000000000000000001", "0.1", "0.3",
		"123456789012345678", "1234567890123456789", "0.0000000000000000000001", "0.00000000000000000000001",
		"27.41", "-27.41", "999999.999999", "1234567.1", "1.1234567", "1e5", "1.5E-3", "-0e0",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "12345678", "123456789012345"}
	for range 200000 {
		digits := strconv.FormatUint(rng.Uint64N(1<<(1+rng.IntN(63))), 10)
		if dot := rng.IntN(len(digits) + 1); dot < len(digits) {
			whole, frac := digits[:dot], digits[dot:]
			if whole == "" || (whole[0] == '0' && len(whole) > 1) {
				whole = "0"
			}
			digits = whole + "." + frac
		}
		if rng.IntN(2) == 0 {
			digits = "-" + digits
		}
		if rng.IntN(8) == 0 {
			digits += "e" + strconv.Itoa(rng.IntN(40)-20)
		}
		lits = append(lits, digits)
	}
	for _, lit := range lits {
		for _, tail := range []string{"", ",", "}", " ", "x", "-", "\x00", `,"hum":50,"ok":true}`} {
			in := []byte(lit + tail)
			f, end := parseFloat(in, 0)
			want, err := strconv.ParseFloat(lit, 64)
			switch {
			case err != nil && end != -1:
				t.Fatalf("parseFloat(%q) = %v, ends at %d; ParseFloat refuses it: %v", in, f, end, err)
			case err == nil && (end != len(lit) || math.Float64bits(f) != math.Float64bits(want)):
				t.Fatalf("parseFloat(%q) = %v (%#x), ends at %d; ParseFloat = %v (%#x)",
					in, f, math.Float64bits(f), end, want, math.Float64bits(want))
			}
			n, end := parseInt(in, 0)
			wantN, err := strconv.ParseInt(lit, 10, 64)
			switch {
			case err != nil && end != -1:
				t.Fatalf("parseInt(%q) = %d, ends at %d; ParseInt refuses it", in, n, end)
			case err == nil && (end != len(lit) || n != wantN):
				t.Fatalf("parseInt(%q) = %d, ends at %d; ParseInt = %d", in, n, end, wantN)
			}
		}
	}
}

// seedMix returns n records shaped as the seed's generator makes them: 20
// sensors, temp 18–40 and hum 35–95 with 2 decimals, ok 95% of the time,
// half with Python's default spacing and half compact (contract.AppendJSON).
func seedMix(n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([][]byte, n)
	for i := range out {
		ev := contract.Event{
			SensorID: "S" + strconv.Itoa(1001 + rng.IntN(20))[1:],
			TS:       now + int64(i)*200,
			Temp:     contract.Round2(18 + 22*rng.Float64()),
			Hum:      contract.Round2(35 + 60*rng.Float64()),
			OK:       rng.Float64() < 0.95,
		}
		b := contract.AppendJSON(nil, ev)
		if i%2 == 0 {
			b = []byte(strings.NewReplacer(`":`, `": `, `,"`, `, "`).Replace(string(b)))
		}
		out[i] = b
	}
	return out
}

// TestSeedMixTakesFastPath keeps the benchmark honest: its input must be
// what the fast path decodes.
func TestSeedMixTakesFastPath(t *testing.T) {
	for _, rec := range seedMix(256) {
		var f Fields
		if parseFast(rec, &f) != fastParsed || !valid(&f, now) {
			t.Fatalf("seed record not decoded by the fast path: %s", rec)
		}
		if !parseSchemaOrder(rec, now, &f) {
			t.Fatalf("seed record not decoded by the schema-order path: %s", rec)
		}
		assertAgrees(t, rec, now)
	}
}

// TestDigitRun checks the eight-at-a-time digit scan against the byte by
// byte definition, for runs of every length and any byte after them.
func TestDigitRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var buf [8]byte
		for k := range buf {
			buf[k] = '0' + byte(rng.IntN(10))
			if rng.IntN(6) == 0 {
				buf[k] = byte(rng.IntN(256))
			}
		}
		want := 0
		for want < 8 && isDigit(buf[want]) {
			want++
		}
		x := binary.LittleEndian.Uint64(buf[:]) ^ 0x3030303030303030
		k := digitRun(x)
		if k != want {
			t.Fatalf("digitRun(%q) = %d, want %d", buf[:], k, want)
		}
		var wantValue uint64
		if want > 0 {
			wantValue, _ = strconv.ParseUint(string(buf[:want]), 10, 64)
		}
		if got := digitsValue(x, k); got != wantValue {
			t.Fatalf("digitsValue(%q, %d) = %d, want %d", buf[:], k, got, wantValue)
		}
	}
}

// TestScanID checks the word-at-a-time sensor id scan against its byte by
// byte definition: the first byte that is not printable ASCII other than '\\'
// ends the scan, at its index when it is '"', with -1 otherwise.
func TestScanID(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	special := []byte{'"', '\\', 0x7f, 0x1f, 0x20, 0x7e, 0x80, 0xff, 0, 0x21, 0x23, 0x5b, 0x5d}
	for range 300000 {
		buf := make([]byte, rng.IntN(24))
		for k := range buf {
			buf[k] = 0x20 + byte(rng.IntN(0x5f))
			if rng.IntN(8) == 0 {
				buf[k] = special[rng.IntN(len(special))]
			}
		}
		want := -1
		for k, c := range buf {
			if c == '"' {
				want = k
			}
			if c == '"' || c < 0x20 || c >= 0x7f || c == '\\' {
				break
			}
		}
		if got := scanID(buf, 0); got != want {
			t.Fatalf("scanID(%q) = %d, want %d", buf, got, want)
		}
	}
}

// TestLiteral checks the word compares against string compares: a head
// literal at every index of buffers that hold it, a near miss, and too short
// a rest; a tail literal as the rest of such buffers.
func TestLiteral(t *testing.T) {
	for _, lit := range []string{`,`, `,"ok":`, `,"temp":`, `, "hum": `, `, "temp": `, `{"sensor_id": "`, `0123456789abcdef`} {
		head, tail := newHead(lit), newTail(lit)
		for _, buf := range []string{lit + "0123456789abcdef", "x" + lit + "0123456789abcdef",
			lit[:len(lit)-1] + "?0123456789abcdef", lit + "0123456789", "0123456789abcdef" + lit,
			"0123456789abcdef" + lit[:len(lit)-1] + "?", "0123456789abcdef" + lit + "x", lit} {
			for i := 0; i <= len(buf); i++ {
				want := strings.HasPrefix(buf[i:], lit) && len(buf)-i >= 16
				if got := head.at([]byte(buf), i); got != want {
					t.Fatalf("newHead(%q).at(%q, %d) = %v, want %v", lit, buf, i, got, want)
				}
				want = buf[i:] == lit && len(buf) >= 16
				if got := tail.isRest([]byte(buf), i); got != want {
					t.Fatalf("newTail(%q).isRest(%q, %d) = %v, want %v", lit, buf, i, got, want)
				}
			}
		}
	}
}

// TestSchemaOrderNumbers puts number literals of every shape into the ts,
// temp and hum of records in both spacings. Decode must agree with the
// reference on each (assertAgrees), and parseSchemaOrder must take exactly
// the shapes it documents (a ts of 9 to 15 digits, floats of at most seven
// bytes after the sign with digits on both sides of the point, no leading
// zero) when their values are valid; the rest are parseFast's.
func TestSchemaOrderNumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	lits := []string{"0.5", "-0.5", "0.0", "-0.0", "00.5", "05.5", "1.", ".5", "-", "-.5", "1.2.3", "27.41",
		"27.4", "27", "12345.6", "123456.7", "1.23456", "1.234567", "99999.99", "1e5", "1.5e1", "27.41E0",
		"-12345.6", "-1.23456", "0.12345", "1732200000123", "173220000012", "17322000001", "123456789",
		"12345678", "123456789012345", "1234567890123456", "01732200000123", "-1732200000123"}
	for range 8000 {
		digits := strconv.FormatUint(rng.Uint64N(1<<(1+rng.IntN(50))), 10)
		if dot := rng.IntN(len(digits) + 1); dot < len(digits) && rng.IntN(3) > 0 {
			digits = digits[:dot] + "." + digits[dot:]
		}
		if rng.IntN(4) == 0 {
			digits = "-" + digits
		}
		lits = append(lits, digits)
	}
	isFloat := regexp.MustCompile(`^-?(0|[1-9][0-9]*)\.[0-9]+$`)
	isTS := regexp.MustCompile(`^[1-9][0-9]{8,14}$`)
	fields := []string{`1732200000123`, `27.41`, `63.05`}
	for _, lit := range lits {
		for field := range fields {
			vals := slices.Clone(fields)
			vals[field] = lit
			for _, spaced := range []bool{false, true} {
				rec := fmt.Sprintf(`{"sensor_id":"S001","ts":%s,"temp":%s,"hum":%s,"ok":true}`, vals[0], vals[1], vals[2])
				if spaced {
					rec = strings.NewReplacer(`":`, `": `, `,"`, `, "`).Replace(rec)
				}
				assertAgrees(t, []byte(rec), now)
				want := isTS.MatchString(lit)
				if field > 0 {
					want = isFloat.MatchString(lit) && len(strings.TrimPrefix(lit, "-")) <= 7
				}
				if _, err := contract.DecodeEvent([]byte(rec), now); err != nil {
					want = false // out of range: parseFast and Validate decide
				}
				var f Fields
				if got := parseSchemaOrder([]byte(rec), now, &f); got != want {
					t.Fatalf("parseSchemaOrder(%s) = %v, want %v", rec, got, want)
				}
			}
		}
	}
}

// TestSchemaOrderIDs puts sensor ids of every length up to 40, of printable
// ASCII with now and then another byte, into records of both spacings:
// Decode must agree with the reference, and parseSchemaOrder must take the
// record exactly when the id is printable ASCII without '\\' and not empty
// (its first word is scanned in line, the rest by scanID).
func TestSchemaOrderIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for range 20000 {
		id := make([]byte, rng.IntN(41))
		for j := range id {
			id[j] = byte(0x20 + rng.IntN(0x5f))
			if id[j] == '"' || rng.IntN(200) == 0 {
				id[j] = []byte{0, 0x1f, '"', '\\', 0x7f, 0x80, 0xc3, 0xff}[rng.IntN(8)]
			}
		}
		want := len(id) > 0
		for _, c := range id {
			want = want && c >= 0x20 && c < 0x7f && c != '\\' && c != '"'
		}
		for _, spaced := range []bool{false, true} {
			rec := `{"sensor_id":"` + string(id) + `","ts":1732200000123,"temp":27.41,"hum":63.05,"ok":false}`
			if spaced {
				rec = `{"sensor_id": "` + string(id) + `", "ts": 1732200000123, "temp": 27.41, "hum": 63.05, "ok": false}`
			}
			assertAgrees(t, []byte(rec), now)
			var f Fields
			if got := parseSchemaOrder([]byte(rec), now, &f); got != want || (got && string(f.SensorID) != string(id)) {
				t.Fatalf("parseSchemaOrder(%q) = %v with id %q, want %v", rec, got, f.SensorID, want)
			}
		}
	}
}
