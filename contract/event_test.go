package contract

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

const now = int64(1732200000000) // 2024-11-21T14:40:00Z

func TestDecodeEventAcceptsSeedRecords(t *testing.T) {
	cases := map[string]struct {
		in   string
		want Event
	}{
		"seed":        {`{"sensor_id": "S007", "ts": 1732200000123, "temp": 27.41, "hum": 63.05, "ok": true}`, Event{"S007", 1732200000123, 27.41, 63.05, true}},
		"extra field": {`{"sensor_id":"S001","ts":1732200000000,"temp":18,"hum":35,"ok":false,"fw":"1.2"}`, Event{"S001", 1732200000000, 18, 35, false}},
		"reordered":   {` {"ok":true,"hum":95,"temp":40.0,"ts":1732200000000,"sensor_id":"S020"} `, Event{"S020", 1732200000000, 40, 95, true}},
		"dup key":     {`{"sensor_id":"S001","sensor_id":"S002","ts":1732200000000,"temp":20,"hum":50,"ok":true}`, Event{"S002", 1732200000000, 20, 50, true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(tc.in), now)
			if err != nil {
				t.Fatalf("rejected a valid record: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeEventRejectsBadInputWithReason(t *testing.T) {
	valid := func(repl ...string) string {
		return strings.NewReplacer(repl...).Replace(`{"sensor_id":"S001","ts":1732200000000,"temp":20.5,"hum":50.25,"ok":true}`)
	}
	cases := map[string]struct {
		in   string
		want Reason
	}{
		"empty":           {"", ReasonEmpty},
		"too large":       {`{"sensor_id":"` + strings.Repeat("x", MaxValueBytes) + `"}`, ReasonTooLarge},
		"not utf8":        {"{\"sensor_id\":\"S\xff1\"}", ReasonInvalidUTF8},
		"truncated":       {`{"sensor_id":"S001","ts":17`, ReasonMalformedJSON},
		"trailing":        {valid() + `{}`, ReasonMalformedJSON},
		"bare NaN":        {valid(`20.5`, `NaN`), ReasonMalformedJSON},
		"array":           {`[1,2]`, ReasonNotObject},
		"missing ts":      {valid(`"ts":1732200000000,`, ``), ReasonMissingField},
		"null ok":         {valid(`true`, `null`), ReasonMissingField},
		"ts string":       {valid(`1732200000000`, `"1732200000000"`), ReasonWrongType},
		"ts fraction":     {valid(`1732200000000`, `1732200000000.5`), ReasonWrongType},
		"temp string":     {valid(`20.5`, `"20.5"`), ReasonWrongType},
		"ok int":          {valid(`true`, `1`), ReasonWrongType},
		"sensor number":   {valid(`"S001"`, `1`), ReasonWrongType},
		"ts overflow":     {valid(`1732200000000`, `99999999999999999999`), ReasonOutOfRange},
		"temp overflow":   {valid(`20.5`, `1e400`), ReasonOutOfRange},
		"temp hot":        {valid(`20.5`, `151`), ReasonOutOfRange},
		"hum negative":    {valid(`50.25`, `-0.5`), ReasonOutOfRange},
		"empty sensor":    {valid(`"S001"`, `""`), ReasonBadSensorID},
		"control char":    {valid(`"S001"`, `"S\u0001"`), ReasonBadSensorID},
		"before 2000":     {valid(`1732200000000`, `946684799999`), ReasonTSOutOfRange},
		"far future":      {valid(`1732200000000`, `1732300000000`), ReasonTSOutOfRange},
		"negative ts":     {valid(`1732200000000`, `-1`), ReasonTSOutOfRange},
		"long sensor":     {valid(`"S001"`, `"`+strings.Repeat("s", MaxSensorIDBytes+1)+`"`), ReasonBadSensorID},
		"string literal":  {`"hello"`, ReasonNotObject},
		"plain text":      {`hello`, ReasonMalformedJSON},
		"nested object":   {valid(`"S001"`, `{"id":"S001"}`), ReasonWrongType},
		"one MiB garbage": {strings.Repeat("a", 1<<20), ReasonTooLarge},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tc.in), now)
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q (err %v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestAppendJSONRoundTrips(t *testing.T) {
	for _, ev := range []Event{
		{"S001", 1732200000123, 27.41, 63.05, true},
		{"S020", MinTS, 18.0, 95.0, false},
		{`we"ird\id`, 1732200000000, -3.5, 0, true},
	} {
		b := AppendJSON(nil, ev)
		got, err := DecodeEvent(b, now)
		if err != nil || got != ev {
			t.Fatalf("%s decoded to %+v, %v; want %+v", b, got, err, ev)
		}
	}
	if got := string(AppendJSON(nil, Event{"S007", 1732200000123, 27.4, 63, true})); got != `{"sensor_id":"S007","ts":1732200000123,"temp":27.4,"hum":63.0,"ok":true}` {
		t.Fatalf("unexpected encoding %s", got)
	}
}

func TestAppendFloatMatchesStrconv(t *testing.T) {
	check := func(f float64) {
		t.Helper()
		want := strconv.AppendFloat(nil, f, 'g', -1, 64)
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			want = strconv.AppendFloat(nil, f, 'f', 1, 64)
		}
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Fatalf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int64{1, 5, 10, 11, 99, 101, 150, 2741, 6305, 9999, 99999999, 99999901, 12345678} {
		for _, sign := range []float64{1, -1} {
			f := sign * float64(m) / 100
			check(f)
			check(math.Nextafter(f, math.Inf(1)))
			check(math.Nextafter(f, math.Inf(-1)))
		}
	}
	for range 500000 {
		m := rng.Int64N(2e8) - 1e8
		check(float64(m) / 100)
		check(Round2(rng.Float64()*2e6 - 1e6))
		check(math.Float64frombits(rng.Uint64()))
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1e6 - 0.01, 1e6 + 0.01, 0.01, 1e-5, 123456.7, 1e21, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		check(f)
		check(-f)
	}
}
