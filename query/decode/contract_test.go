package decode

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/query/types"
)

const now = int64(1732200000000) // 2024-11-21T14:40:00Z

// seedColumns is the seed lab's source as its query file declares it.
var seedColumns = []Column{
	{Name: "sensor_id", Type: types.TString, NotNull: true},
	{Name: "ts", Type: types.TBigint, NotNull: true},
	{Name: "temp", Type: types.TDouble, NotNull: true},
	{Name: "hum", Type: types.TDouble, NotNull: true},
	{Name: "ok", Type: types.TBoolean, NotNull: true},
}

func newSeedDecoder(t testing.TB) *Decoder {
	d, err := New(JSON, seedColumns)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// assertAgreesWithContract decodes value with the seed schema and with
// contract.DecodeEvent. Where the contract rejects for a reason the decoder
// owns, the decoder must give the same Reason and Field. Where it rejects
// only in its value checks (ranges, sensor id shape: the query's CHECK
// constraints), the decoder must accept with the values the contract read.
// A ts beyond int64 is out_of_range to both. One difference is by design: a
// temp or hum beyond float64 is ±Inf to the decoder (as to Spark: the CHECK
// constraint then refuses it as out_of_range), which can let a later
// field's problem be the one reported.
func assertAgreesWithContract(t testing.TB, d *Decoder, value []byte, nowMs int64) {
	t.Helper()
	out := d.NewBatch(1)
	rej := d.Decode(&Record{Value: value, Partition: 3}, out)
	ev, err := contract.DecodeEvent(value, nowMs)
	accepted := func() {
		t.Helper()
		if rej != nil {
			t.Fatalf("Decode(%.200q) rejects (%v) a record the contract reads as %+v (%v)", value, rej, ev, err)
		}
		checkLen(t, out, 1)
		got := rowOf(out, 0)
		want := []any{ev.SensorID, ev.TS, ev.Temp, ev.Hum, ev.OK}
		if !sameRow(got, want) || out.Partition[0] != 3 {
			t.Fatalf("Decode(%.200q) = %#v (partition %d), the contract = %#v", value, got, out.Partition[0], want)
		}
	}
	if err == nil {
		accepted()
		return
	}
	var de *contract.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("contract returned a %T: %v", err, err)
	}
	switch {
	case de.Reason == contract.ReasonOutOfRange && strings.Contains(de.Detail, "does not fit") && de.Field == "ts":
		if rej == nil || rej.Reason != ReasonOutOfRange || rej.Field != "ts" {
			t.Fatalf("Decode(%.200q) = %v, want out_of_range for ts (contract: %v)", value, rej, err)
		}
	case de.Reason == contract.ReasonOutOfRange && strings.Contains(de.Detail, "does not fit"):
		col := slices.IndexFunc(seedColumns, func(c Column) bool { return c.Name == de.Field })
		if rej == nil {
			checkLen(t, out, 1)
			if f := out.Cols[col].F64[0]; !math.IsInf(f, 0) {
				t.Fatalf("Decode(%.200q): %s = %v, want ±Inf (contract: %v)", value, de.Field, f, err)
			}
			return
		}
		later := slices.IndexFunc(seedColumns, func(c Column) bool { return c.Name == rej.Field })
		if later <= col {
			t.Fatalf("Decode(%.200q) = %v; the contract stopped at %s (%v), only a later field may fail", value, rej, de.Field, err)
		}
	case de.Reason == contract.ReasonOutOfRange || de.Reason == contract.ReasonBadSensorID || de.Reason == contract.ReasonTSOutOfRange:
		accepted() // DecodeEvent returns the values it validated with the error
	default:
		if rej == nil || rej.Reason != string(de.Reason) || rej.Field != de.Field {
			t.Fatalf("Decode(%.200q) = %v, the contract rejects with %s/%q (%v)", value, rej, de.Reason, de.Field, err)
		}
		checkLen(t, out, 0)
	}
}

// TestContractConstants: the reasons and the size limit are the contract's.
func TestContractConstants(t *testing.T) {
	if DefaultMaxValueBytes != contract.MaxValueBytes {
		t.Fatalf("DefaultMaxValueBytes = %d, the contract's MaxValueBytes = %d", DefaultMaxValueBytes, contract.MaxValueBytes)
	}
	for _, pair := range [][2]string{
		{ReasonEmpty, string(contract.ReasonEmpty)}, {ReasonTooLarge, string(contract.ReasonTooLarge)},
		{ReasonInvalidUTF8, string(contract.ReasonInvalidUTF8)}, {ReasonMalformedJSON, string(contract.ReasonMalformedJSON)},
		{ReasonNotObject, string(contract.ReasonNotObject)}, {ReasonMissingField, string(contract.ReasonMissingField)},
		{ReasonWrongType, string(contract.ReasonWrongType)},
	} {
		if pair[0] != pair[1] {
			t.Errorf("reason %q, the contract's %q", pair[0], pair[1])
		}
	}
}

// FuzzSeedAgreesWithContract is the differential test against the
// contract's decoder on the seed schema. Its corpus under
// testdata/fuzz/FuzzSeedAgreesWithContract is the streamer decoder's: one
// entry per kind of input the lab knows (every dead-letter reason, odd but
// valid records, 1 MiB values, deep nesting).
//
//	go test -run '^$' -fuzz FuzzSeedAgreesWithContract ./decode/
func FuzzSeedAgreesWithContract(f *testing.F) {
	d := newSeedDecoder(f)
	for _, rec := range seedMix(64) {
		f.Add(rec, now)
	}
	f.Fuzz(func(t *testing.T, value []byte, nowMs int64) {
		// The third decode of a record of keys out of declared order is
		// the learned program's (see learn).
		assertAgreesWithContract(t, d, value, nowMs)
		assertMatchesReference(t, d, JSON, seedColumns, &Record{Value: value})
		assertAgreesWithContract(t, d, value, nowMs)
	})
}

// FuzzSeedFieldLiterals splices arbitrary text in place of each field's
// literal and each separator of a well-formed seed record, so that nearly
// every input exercises the value parsers and the fast path's literals.
//
//	go test -run '^$' -fuzz FuzzSeedFieldLiterals ./decode/
func FuzzSeedFieldLiterals(f *testing.F) {
	f.Add(`"S007"`, `1732200000123`, `27.41`, `63.05`, `true`, `,`, ``)
	f.Add(`"S007"`, `1732200000123`, `27.41`, `63.05`, `false`, `, `, ` `)
	f.Add(`"S\u0030"`, `-0`, `-0.0`, `1e-400`, `false`, ` , `, `  `)
	f.Add(`""`, `9223372036854775807`, `2.741E+1`, `6305e-2`, `null`, `,"x":[{"y":{}}],`, ``)
	f.Add(`"Sé"`, `1732200000123.0`, `150.00000000000003`, `99999999999999999999`, `1`, `,"n":-1e9,`, "\t")
	f.Add("\"S00\x7f\"", `1732200000123`, `-9.5`, `1e309`, `true`, `, `, ` `)
	d := newSeedDecoder(f)
	f.Fuzz(func(t *testing.T, id, ts, temp, hum, ok, sep, colon string) {
		rec := `{"sensor_id":` + colon + id + sep + `"ts":` + colon + ts + sep + `"temp":` + colon + temp + sep +
			`"hum":` + colon + hum + sep + `"ok":` + colon + ok + `}`
		assertAgreesWithContract(t, d, []byte(rec), now)
		assertMatchesReference(t, d, JSON, seedColumns, &Record{Value: []byte(rec)})
	})
}

// TestSeedNumbersAgreeWithContract puts number literals of every shape
// into the ts, temp and hum of seed records in both spacings, and ids of
// every length and byte class into sensor_id.
func TestSeedNumbersAgreeWithContract(t *testing.T) {
	d := newSeedDecoder(t)
	rng := rand.New(rand.NewPCG(5, 6))
	lits := []string{"0.5", "-0.5", "0.0", "-0.0", "00.5", "05.5", "1.", ".5", "-", "-.5", "1.2.3", "27.41",
		"27.4", "27", "12345.6", "123456.7", "1.23456", "1.234567", "99999.99", "1e5", "1.5e1", "27.41E0",
		"-12345.6", "-1.23456", "0.12345", "1732200000123", "173220000012", "17322000001", "123456789",
		"12345678", "123456789012345", "1234567890123456", "01732200000123", "-1732200000123", "1e309", "-1e309",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "null", `"1"`, "true"}
	for range 4000 {
		digits := strconv.FormatUint(rng.Uint64N(1<<(1+rng.IntN(63))), 10)
		if dot := rng.IntN(len(digits) + 1); dot < len(digits) && rng.IntN(3) > 0 {
			digits = digits[:dot] + "." + digits[dot:]
		}
		if rng.IntN(4) == 0 {
			digits = "-" + digits
		}
		if rng.IntN(8) == 0 {
			digits += "e" + strconv.Itoa(rng.IntN(40)-20)
		}
		lits = append(lits, digits)
	}
	fields := []string{`1732200000123`, `27.41`, `63.05`}
	for _, lit := range lits {
		for field := range fields {
			vals := slices.Clone(fields)
			vals[field] = lit
			rec := fmt.Sprintf(`{"sensor_id":"S001","ts":%s,"temp":%s,"hum":%s,"ok":true}`, vals[0], vals[1], vals[2])
			assertAgreesWithContract(t, d, []byte(rec), now)
			spaced := strings.NewReplacer(`":`, `": `, `,"`, `, "`).Replace(rec)
			assertAgreesWithContract(t, d, []byte(spaced), now)
		}
	}
	for range 5000 {
		id := make([]byte, rng.IntN(70))
		for j := range id {
			id[j] = byte(0x20 + rng.IntN(0x5f))
			if id[j] == '"' || rng.IntN(100) == 0 {
				id[j] = []byte{0, 0x1f, '"', '\\', 0x7f, 0x80, 0xc3, 0xff}[rng.IntN(8)]
			}
		}
		rec := `{"sensor_id": "` + string(id) + `", "ts": 1732200000123, "temp": 27.41, "hum": 63.05, "ok": false}`
		assertAgreesWithContract(t, d, []byte(rec), now)
	}
}

// TestSeedShapesAgreeWithContract covers valid records of unusual shape and
// each kind of bad input, named.
func TestSeedShapesAgreeWithContract(t *testing.T) {
	good := `{"sensor_id":"S001","ts":1732200000000,"temp":20.5,"hum":50.25,"ok":true}`
	r := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	cases := map[string]string{
		"every whitespace":        " \t\r\n{ \n\"sensor_id\"\t:\r\"S001\" ,\n\"ts\" : 1732200000000 ,\"temp\":20,\"hum\":50,\"ok\":false\n}\r\n\t ",
		"reordered":               `{"ok":true,"hum":95,"temp":40.0,"ts":1732200000000,"sensor_id":"S020"}`,
		"extra nested fields":     `{"meta":{"a":[1,{"b":[null,[],{}]},"é"],"c":{}},"sensor_id":"S001","ts":1732200000000,"temp":20,"hum":50,"ok":true,"tags":["x","y"]}`,
		"names like schema's":     `{"t":1,"tsx":2,"temperature":"x","hum_":[],"okay":true,"Sensor_id":"z","sensor_idx":1,"":0,"sensor_id":"S001","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		"escaped key":             `{"sensor\u005fid":"S007","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		"escaped id":              `{"sensor_id":"S\u0030\u00307\ud83d\ude00\ud800x","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		"dup key last wins":       `{"sensor_id":"S001","sensor_id":"S002","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		"dup first bad":           `{"sensor_id":"S001","ts":"x","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		"dup last null":           r(`"ok":true`, `"ok":true,"ts":null`),
		"dup last bad":            r(`"ok":true`, `"ok":true,"temp":"hot"`),
		"wrong type then missing": `{"sensor_id":1,"ok":true}`,
		"empty":                   ``,
		"whitespace":              " \n",
		"too large":               `{"sensor_id":"` + strings.Repeat("x", contract.MaxValueBytes) + `"}`,
		"not utf8 in key":         "{\"\xff\":1," + good[1:],
		"not utf8 outside":        good + "\xff",
		"truncated":               good[:20],
		"trailing":                good + "{}",
		"trailing comma":          r("true}", "true,}"),
		"bare NaN":                r("20.5", "NaN"),
		"array":                   "[" + good + "]",
		"null":                    "null",
		"deep extra 10000":        `{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `,` + good[1:],
		"deep extra 10001":        `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,` + good[1:],
		"deep top 10001":          strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		"bad escape":              r("S001", `S\x01`),
		"short unicode":           r("S001", `S\u01`),
		"ok number":               r("true", "1"),
		"temp string":             r("20.5", `"20.5"`),
		"ts fraction":             r("1732200000000", "1732200000000.0"),
	}
	d := newSeedDecoder(t)
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			assertAgreesWithContract(t, d, []byte(in), now)
			assertMatchesReference(t, d, JSON, seedColumns, &Record{Value: []byte(in)})
		})
	}
}

// seedMix returns n records as the lab's producers write them, with the
// streamer decoder's benchmark generator (same seed, so the same records):
// 20 sensors, temp 18–40 and hum 35–95 with 2 decimals, ok 95% of the time,
// half compact (contract.AppendJSON, the Go producer) and half with
// Python's default spacing (the seed's generator).
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

// TestSeedMixTakesFastPath keeps the benchmark honest: the lab's records
// are decoded by the schema-order path, with the contract's values.
func TestSeedMixTakesFastPath(t *testing.T) {
	d := newSeedDecoder(t)
	out := d.NewBatch(256)
	for _, rec := range seedMix(256) {
		if !d.decodeOrdered(rec, out) {
			t.Fatalf("seed record not decoded by the schema-order path: %s", rec)
		}
		out.Reset()
		assertAgreesWithContract(t, d, rec, now)
	}
}
