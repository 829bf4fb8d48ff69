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
