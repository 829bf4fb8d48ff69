package decode

import (
	"strings"
	"testing"
)

// FuzzDecodeMatchesReference is the differential test: for any value and any
// reference time, Decode and contract.DecodeEvent agree on accept/reject,
// Reason, Field and decoded values. Its corpus under
// testdata/fuzz/FuzzDecodeMatchesReference holds one entry per kind of input.
//
//	go test -run '^$' -fuzz FuzzDecodeMatchesReference ./internal/decode/
func FuzzDecodeMatchesReference(f *testing.F) {
	good := `{"sensor_id":"S001","ts":1732200000000,"temp":20.5,"hum":50.25,"ok":true}`
	for _, s := range []string{
		seedRecord,
		good,
		`{"ok":false,"hum":0,"temp":-100,"ts":946684800000,"sensor_id":"S020"}`,
		`{"m":{"a":[1,-2.5e3,"x",true,null]},"sensor_id":"S001","ts":1732200000000,"temp":-0,"hum":1e1,"ok":true}`,
		`{"sensor_id":"S\u0030","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,
		`{"sensor_id":"S001","ts":1732200000000,"temp":1e400,"hum":50,"ok":true}`,
		`{"sensor_id":"S001","ts":9223372036854775808,"temp":20,"hum":50,"ok":true}`,
		`{"sensor_id":"S001","ts":1732200000000,"temp":20,"hum":50,"ok":true,"ok":1}`,
		"{\"sensor_id\":\"S\xff\",\"ts\":1732200000000,\"temp\":20,\"hum\":50,\"ok\":true}",
		`{"sensor_id":"S001"}`,
		`[]`,
		``,
		good[:40],
		`{"sensor_id":"` + strings.Repeat("x", 1<<20) + `"}`,
	} {
		f.Add([]byte(s), now)
	}
	f.Fuzz(func(t *testing.T, value []byte, nowMs int64) {
		assertAgrees(t, value, nowMs)
	})
}

// FuzzDecodeFieldLiterals aims the differential test at the fast path: it
// splices arbitrary text in place of each field's literal in a well-formed
// record, with arbitrary text after each ':' and each separator, so that
// nearly every execution exercises the number, string and literal parsers
// and the two spacings of the schema-order path rather than the outer syntax.
//
//	go test -run '^$' -fuzz FuzzDecodeFieldLiterals ./internal/decode/
func FuzzDecodeFieldLiterals(f *testing.F) {
	f.Add(`"S007"`, `1732200000123`, `27.41`, `63.05`, `true`, `,`, ``)
	f.Add(`"S007"`, `1732200000123`, `27.41`, `63.05`, `false`, `, `, ` `) // the seed's Python spacing
	f.Add(`"S\u0030"`, `-0`, `-0.0`, `1e-400`, `false`, ` , `, `  `)
	f.Add(`""`, `9223372036854775807`, `2.741E+1`, `6305e-2`, `null`, `,"x":[{"y":{}}],`, ``)
	f.Add(`"Sé"`, `1732200000123.0`, `150.00000000000003`, `99999999999999999999`, `1`, `,"n":-1e9,`, "\t")
	f.Add("\"S00\x7f\"", `1732200000123`, `-9.5`, `100`, `true`, `, `, ` `)
	f.Fuzz(func(t *testing.T, id, ts, temp, hum, ok, sep, colon string) {
		rec := `{"sensor_id":` + colon + id + sep + `"ts":` + colon + ts + sep + `"temp":` + colon + temp + sep +
			`"hum":` + colon + hum + sep + `"ok":` + colon + ok + `}`
		assertAgrees(t, []byte(rec), now)
	})
}
