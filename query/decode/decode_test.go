package decode

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// allColumns has one column of each type, NOT NULL and nullable, and every
// metadata column: the schema of the conversion tests and of FuzzDecode.
var allColumns = []Column{
	{Name: "s", Type: types.TString, NotNull: true},
	{Name: "n", Type: types.TBigint},
	{Name: "i", Type: types.TInt},
	{Name: "d", Type: types.TDouble},
	{Name: "b", Type: types.TBoolean},
	{Name: "amount", Type: types.DecimalOf(10, 2)},
	{Name: "ts", Type: types.TTimestamp},
	{Name: "k", Type: types.TString, Metadata: "key"},
	{Name: "topic", Type: types.TString, Metadata: "topic"},
	{Name: "part", Type: types.TInt, NotNull: true, Metadata: "partition"},
	{Name: "off", Type: types.TBigint, Metadata: "offset"},
	{Name: "kts", Type: types.TTimestamp, Metadata: "timestamp"},
	{Name: "ktype", Type: types.TInt, Metadata: "timestampType"},
}

func newAll(t testing.TB) *Decoder {
	d, err := New(JSON, allColumns)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func record(value string) *Record {
	return &Record{Key: []byte("k1"), Value: []byte(value), Topic: "t", Partition: 2, Offset: 77,
		TimestampMs: 1714557600123, TimestampType: 1}
}

// TestConversions decodes one value per column and checks what a query
// would see: the stored value, or null, or the reject reason.
func TestConversions(t *testing.T) {
	const usMay1 = int64(1714557600) * 1e6 // 2024-05-01T10:00:00Z
	cases := []struct {
		col, lit string
		want     any // nil: null; a string starting "reject:" : that reason
	}{
		{"s", `"plain"`, "plain"},
		{"s", `"tab\there \"q\" \\ \/ \u00e9 \ud83d\ude00 \ud800 end"`, "tab\there \"q\" \\ / é 😀 \uFFFD end"},
		{"s", `"日本"`, "日本"},
		{"s", `""`, ""},
		{"s", `12`, "reject:wrong_type"},
		{"s", `{"a":1}`, "reject:wrong_type"},
		{"s", `null`, "reject:missing_field"},
		{"n", `-9223372036854775808`, int64(math.MinInt64)},
		{"n", `9223372036854775807`, int64(math.MaxInt64)},
		{"n", `9223372036854775808`, "reject:out_of_range"},
		{"n", `1.0`, "reject:wrong_type"},
		{"n", `1e3`, "reject:wrong_type"},
		{"n", `"1"`, "reject:wrong_type"},
		{"n", `null`, nil},
		{"i", `2147483647`, int64(math.MaxInt32)},
		{"i", `-2147483648`, int64(math.MinInt32)},
		{"i", `2147483648`, "reject:out_of_range"},
		{"d", `27.41`, 27.41},
		{"d", `-0.0`, math.Copysign(0, -1)},
		{"d", `1`, 1.0},
		{"d", `2.741E+1`, 27.41},
		{"d", `0.1000000000000000055511151231257827`, 0.1},
		{"d", `1e309`, math.Inf(1)},
		{"d", `-1e309`, math.Inf(-1)},
		{"d", `1e-400`, 0.0},
		{"d", `"1.5"`, "reject:wrong_type"},
		{"d", `true`, "reject:wrong_type"},
		{"b", `true`, true},
		{"b", `false`, false},
		{"b", `1`, "reject:wrong_type"},
		{"b", `"true"`, "reject:wrong_type"},
		{"amount", `12.34`, int64(1234)},
		{"amount", `12.345`, int64(1235)}, // HALF_UP
		{"amount", `-12.345`, int64(-1235)},
		{"amount", `12.3449999`, int64(1234)},
		{"amount", `0.005`, int64(1)},
		{"amount", `0.0049`, int64(0)},
		{"amount", `1`, int64(100)},
		{"amount", `1.5e2`, int64(15000)},
		{"amount", `15E-1`, int64(150)},
		{"amount", `99999999.99`, int64(9999999999)},
		{"amount", `99999999.995`, "reject:wrong_type"}, // rounds to 10 digits + 1
		{"amount", `100000000`, "reject:wrong_type"},
		{"amount", `1e400`, "reject:wrong_type"},
		{"amount", `1e-400`, int64(0)},
		{"amount", `"12.34"`, int64(1234)},
		{"amount", `"+1,234.5"`, int64(123450)},
		{"amount", `".5"`, int64(50)},
		{"amount", `"5."`, int64(500)},
		{"amount", `"1.2.3"`, "reject:wrong_type"},
		{"amount", `" 1"`, "reject:wrong_type"},
		{"amount", `""`, "reject:wrong_type"},
		{"amount", `true`, "reject:wrong_type"},
		{"ts", `"2024-05-01T10:00:00Z"`, usMay1},
		{"ts", `"2024-05-01 10:00:00"`, usMay1},
		{"ts", `"2024-05-01T10:00"`, usMay1},
		{"ts", `"2024-05-01T12:00:00.123+02:00"`, usMay1 + 123000},
		{"ts", `"2024-05-01T08:30:00.1234567-0130"`, usMay1 + 123456},
		{"ts", `"2024-05-01T12:00:00+02"`, usMay1},
		{"ts", `"2024-5-1 10:0:0"`, usMay1},
		{"ts", `"2024-05-01"`, usMay1 - 10*3600e6},
		{"ts", `"1969-12-31T23:59:59.999999Z"`, int64(-1)},
		{"ts", `"2024-02-29T00:00:00Z"`, int64(1709164800) * 1e6},
		{"ts", `"2023-02-29T00:00:00Z"`, "reject:wrong_type"},
		{"ts", `"2024-05-01T24:00:00Z"`, "reject:wrong_type"},
		{"ts", `"2024-05-01T10:00:00+19:00"`, "reject:wrong_type"},
		{"ts", `"2024-05-01T10:00:00.Z"`, "reject:wrong_type"},
		{"ts", `"01/05/2024"`, "reject:wrong_type"},
		{"ts", `1714557600`, usMay1},
		{"ts", `-1`, int64(-1e6)},
		{"ts", `1714557600.5`, "reject:wrong_type"},
		{"ts", `9223372036855`, "reject:wrong_type"}, // micros overflow
		{"ts", `true`, "reject:wrong_type"},
	}
	d := newAll(t)
	for _, tc := range cases {
		t.Run(tc.col+"="+tc.lit, func(t *testing.T) {
			value := `{"s":"x","` + tc.col + `":` + tc.lit + `}`
			if tc.col == "s" {
				value = `{"s":` + tc.lit + `}`
			}
			r := record(value)
			assertMatchesReference(t, d, JSON, allColumns, r)
			out := d.NewBatch(1)
			rej := d.Decode(r, out)
			if want, ok := tc.want.(string); ok && strings.HasPrefix(want, "reject:") {
				if rej == nil || rej.Reason != strings.TrimPrefix(want, "reject:") || rej.Field != tc.col {
					t.Fatalf("Decode(%s) = %v, want %s for %s", value, rej, want, tc.col)
				}
				return
			}
			if rej != nil {
				t.Fatalf("Decode(%s): %v", value, rej)
			}
			col := d.Schema().Index(tc.col)
			if got := rowOf(out, 0)[col]; !sameRow([]any{got}, []any{tc.want}) {
				t.Fatalf("Decode(%s): %s = %#v, want %#v", value, tc.col, got, tc.want)
			}
		})
	}
}

// TestMetadataColumns: each Kafka column as Spark's source gives it, and the
// key's null.
func TestMetadataColumns(t *testing.T) {
	d := newAll(t)
	out := d.NewBatch(2)
	if rej := d.Decode(record(`{"s":"x"}`), out); rej != nil {
		t.Fatal(rej)
	}
	r := record(`{"s":"y","b":true}`)
	r.Key = nil
	if rej := d.Decode(r, out); rej != nil {
		t.Fatal(rej)
	}
	got := rowOf(out, 0)
	want := []any{"x", nil, nil, nil, nil, nil, nil, "k1", "t", int64(2), int64(77), int64(1714557600123000), int64(1)}
	if !sameRow(got, want) {
		t.Fatalf("row = %#v, want %#v", got, want)
	}
	if row := rowOf(out, 1); row[7] != nil || row[4] != true {
		t.Fatalf("second row = %#v: want a null key and b true", row)
	}
	checkLen(t, out, 2)

	kd, err := New(JSON, []Column{{Name: "v", Type: types.TString}, {Name: "key", Type: types.TString, NotNull: true, Metadata: "KEY"}})
	if err != nil {
		t.Fatal(err)
	}
	r = record(`{"v":"a"}`)
	r.Key = nil
	if rej := kd.Decode(r, kd.NewBatch(1)); rej == nil || rej.Reason != ReasonMissingField || rej.Field != "key" {
		t.Fatalf("a NOT NULL key without a key: %v, want missing_field for key", rej)
	}
}

// TestRejectReasons: every reason, with its field, and nothing appended.
func TestRejectReasons(t *testing.T) {
	d, err := New(JSON, allColumns, WithMaxValueBytes(64))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ value, reason, field string }{
		{``, ReasonEmpty, ""},
		{`{"s":"` + strings.Repeat("x", 60) + `"}`, ReasonTooLarge, ""},
		{"{\"s\":\"\xc3\"}", ReasonInvalidUTF8, ""},
		{"{\"s\":\"x\"} \xff", ReasonInvalidUTF8, ""},
		{`{"s":"x"`, ReasonMalformedJSON, ""},
		{`{"s":"x",}`, ReasonMalformedJSON, ""},
		{`{"s":"x"} {}`, ReasonMalformedJSON, ""},
		{`{'s':"x"}`, ReasonMalformedJSON, ""},
		{`{"s":"x","n":01}`, ReasonMalformedJSON, ""},
		{`{"s":"x","z":[1,]}`, ReasonMalformedJSON, ""},
		{"{\"s\":\"a\tb\"}", ReasonMalformedJSON, ""},
		{`"x"`, ReasonNotObject, ""},
		{`[1]`, ReasonNotObject, ""},
		{`{}`, ReasonMissingField, "s"},
		{`{"n":1}`, ReasonMissingField, "s"},
		{`{"s":null}`, ReasonMissingField, "s"},
		{`{"s":"x","n":"1"}`, ReasonWrongType, "n"},
		{`{"s":"x","i":"1","n":"1"}`, ReasonWrongType, "n"}, // declared order, not record order
		{`{"S":"x"}`, ReasonMissingField, "s"},              // keys are case-sensitive
	}
	for _, tc := range cases {
		out := d.NewBatch(1)
		rej := d.Decode(record(tc.value), out)
		if rej == nil || rej.Reason != tc.reason || rej.Field != tc.field {
			t.Errorf("Decode(%q) = %v, want %s/%q", tc.value, rej, tc.reason, tc.field)
			continue
		}
		if !strings.HasPrefix(rej.Error(), tc.reason) {
			t.Errorf("Error() = %q does not start with the reason", rej.Error())
		}
		checkLen(t, out, 0)
	}
}

// TestDuplicateKeys: the last value of a key wins, as in encoding/json
// and Spark; an earlier bad value is then no error, a later one is.
func TestDuplicateKeys(t *testing.T) {
	d := newAll(t)
	for value, want := range map[string]any{
		`{"s":"a","s":"b"}`:         "b",
		`{"s":1,"s":"b"}`:           "b",
		`{"s":"a","s":null}`:        "reject:missing_field",
		`{"s":"a","n":1,"s":false}`: "reject:wrong_type",
	} {
		out := d.NewBatch(1)
		rej := d.Decode(record(value), out)
		if w, ok := want.(string); ok && strings.HasPrefix(w, "reject:") {
			if rej == nil || rej.Reason != strings.TrimPrefix(w, "reject:") || rej.Field != "s" {
				t.Errorf("Decode(%s) = %v, want %s for s", value, rej, w)
			}
			continue
		}
		if rej != nil || out.Cols[0].Str[0] != want {
			t.Errorf("Decode(%s) = %v, s %q; want s %q", value, rej, out.Cols[0].Str, want)
		}
	}
}

// TestTextFormat: the value is the one STRING column, empty included;
// invalid UTF-8 is refused; metadata columns come along.
func TestTextFormat(t *testing.T) {
	cols := []Column{{Name: "value", Type: types.TString}, {Name: "p", Type: types.TInt, Metadata: "partition"}}
	d, err := New(Text, cols)
	if err != nil {
		t.Fatal(err)
	}
	out := d.NewBatch(3)
	for _, v := range []string{"the quick fox", "", `{"not":"parsed"}`} {
		if rej := d.Decode(record(v), out); rej != nil {
			t.Fatalf("Decode(%q): %v", v, rej)
		}
	}
	if got := out.Cols[0].Str; len(got) != 3 || got[0] != "the quick fox" || got[1] != "" || got[2] != `{"not":"parsed"}` || out.Cols[0].Null != nil {
		t.Fatalf("values = %q (nulls %v)", got, out.Cols[0].Null)
	}
	if rej := d.Decode(record("caf\xe9"), out); rej == nil || rej.Reason != ReasonInvalidUTF8 {
		t.Fatalf("invalid UTF-8: %v", rej)
	}
	checkLen(t, out, 3)
}

// TestNewRefuses: declarations the decoder cannot honour are refused with
// the column named.
func TestNewRefuses(t *testing.T) {
	s := Column{Name: "v", Type: types.TString}
	cases := []struct {
		f    Format
		cols []Column
		want string
	}{
		{JSON, nil, "at least one column"},
		{JSON, []Column{s, {Name: "V", Type: types.TBigint}}, `"V" is declared twice`},
		{JSON, []Column{{Name: "", Type: types.TString}}, "no name"},
		{JSON, []Column{{Name: "x", Type: types.TNull}}, `"x"`},
		{JSON, []Column{{Name: "x", Type: types.Type{Kind: types.Decimal, Precision: 30}}}, "precision"},
		{JSON, []Column{s, {Name: "p", Type: types.TBigint, Metadata: "partition"}}, "is INT, not BIGINT"},
		{JSON, []Column{s, {Name: "h", Type: types.TString, Metadata: "headers"}}, "unknown METADATA FROM 'headers'"},
		{Text, []Column{{Name: "v", Type: types.TBigint}}, "exactly one column"},
		{Text, []Column{s, {Name: "w", Type: types.TString}}, "exactly one column"},
		{Format(9), []Column{s}, "unknown format"},
	}
	for _, tc := range cases {
		_, err := New(tc.f, tc.cols)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v, %v) = %v, want an error with %q", tc.f, tc.cols, err, tc.want)
		}
	}
	if _, err := New(JSON, []Column{s}, WithMaxValueBytes(0)); err == nil {
		t.Error("WithMaxValueBytes(0) accepted")
	}
	d, err := New(JSON, allColumns)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Schema().String(); got != "s STRING NOT NULL, n BIGINT, i INT, d DOUBLE, b BOOLEAN, amount DECIMAL(10,2), ts TIMESTAMP, k STRING, topic STRING, part INT NOT NULL, off BIGINT, kts TIMESTAMP, ktype INT" {
		t.Fatalf("Schema() = %s", got)
	}
}

// TestStringsOutliveTheRecordBuffer: the source reuses its buffers; strings
// in the batch must not change when it does, on either path.
func TestStringsOutliveTheRecordBuffer(t *testing.T) {
	d := newSeedDecoder(t)
	out := d.NewBatch(2)
	for _, v := range []string{
		`{"sensor_id":"S007","ts":1732200000000,"temp":20.5,"hum":50,"ok":true}`, // fast path
		`{"ok":true,"sensor_id":"S008","ts":1732200000000,"temp":20.5,"hum":50}`, // general path
	} {
		buf := []byte(v)
		key := []byte("key")
		if rej := d.Decode(&Record{Value: buf, Key: key}, out); rej != nil {
			t.Fatal(rej)
		}
		for i := range buf {
			buf[i] = 'X'
		}
	}
	if got := out.Cols[0].Str; got[0] != "S007" || got[1] != "S008" {
		t.Fatalf("sensor ids %q after the buffers were overwritten, want S007 S008", got)
	}
}

// TestFastPathAgreesWithGeneral: whatever the schema-order path accepts,
// the general path accepts with the same row; on records of the declared
// order with values of every type.
func TestFastPathAgreesWithGeneral(t *testing.T) {
	d, err := New(JSON, allColumns[:7]) // the payload columns
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{
		`{"s":"a","n":1,"i":-2,"d":2.5,"b":true,"amount":12.345,"ts":"2024-05-01T10:00:00Z"}`,
		`{"s": "a", "n": null, "i": null, "d": null, "b": null, "amount": null, "ts": null}`,
		`{"s": "é", "n": -9223372036854775808, "i": 2147483647, "d": 1e309, "b": false, "amount": -0.005, "ts": "2024-05-01"} `,
		// Decimals as strings, as Spark reads them.
		`{"s":"a","n":1,"i":-2,"d":2.5,"b":true,"amount":"12.34","ts":"2024-05-01T10:00:00Z"}`,
		`{"s":"a","n":1,"i":-2,"d":2.5,"b":true,"amount":"-1,234.5","ts":"2024-05-01T10:00:00Z"}`,
	} {
		fast := d.NewBatch(1)
		if !d.decodeOrdered([]byte(v), fast) {
			t.Fatalf("fast path declined %s", v)
		}
		if rej := d.decodeGeneral([]byte(v)); rej != nil {
			t.Fatalf("general path rejects %s: %v", v, rej)
		}
		general := d.NewBatch(1)
		d.appendSlots(general)
		if a, b := rowOf(fast, 0), rowOf(general, 0); !sameRow(a, b) {
			t.Fatalf("%s: fast %#v, general %#v", v, a, b)
		}
	}
}

// FuzzDecode: for any value on a schema of every type, no panic, and the
// same answer as the slow reference decoder.
//
//	go test -run '^$' -fuzz FuzzDecode$ ./decode/
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"s":"a","n":1,"i":-2,"d":2.5,"b":true,"amount":12.345,"ts":"2024-05-01T10:00:00Z"}`,
		`{"s": "a", "n": null, "i": 2147483648, "d": "x", "b": 1, "amount": "1,234.5", "ts": 1714557600}`,
		`{"ts":"2024-02-30 10:00:00.1234567+0200","amount":99999999.995,"s":"\ud83d\ude00","s":"b"}`,
		`{"x":[{"y":[1,2,{"z":null}]}],"s":"q","d":-0.0,"amount":"-.5e1"}`,
		`[{"s":"a"}]`, ``, `{`, "{\"s\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	d := newAll(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		// Three times on the same decoder: a record whose keys are the
		// payload columns in another order is then also read by the fast
		// path's program learned from the first two.
		for range 3 {
			assertMatchesReference(t, d, JSON, allColumns, record(string(value)))
		}
	})
}

// TestSeedShuffledAgreesWithContract keeps the shuffled benchmark honest:
// its records hold the seed's keys out of declared order, and decode as the
// contract reads them.
func TestSeedShuffledAgreesWithContract(t *testing.T) {
	d := newSeedDecoder(t)
	for _, rec := range seedShuffled(256) {
		if strings.HasPrefix(string(rec), `{"sensor_id"`) {
			t.Fatalf("record in declared order: %s", rec)
		}
		assertAgreesWithContract(t, d, rec, now)
	}
}

// TestSeedSortedTakesFastPath keeps the sorted benchmark honest: records
// whose keys always come in one order other than the declared one are read
// by the fast path from the third on (two show the order), with the
// contract's values throughout.
func TestSeedSortedTakesFastPath(t *testing.T) {
	d := newSeedDecoder(t)
	for i, rec := range seedSorted(256) {
		if strings.HasPrefix(string(rec), `{"sensor_id"`) {
			t.Fatalf("record in declared order: %s", rec)
		}
		if fast := d.decodeOrdered(rec, d.NewBatch(1)); fast != (i >= 2) {
			t.Fatalf("record %d: fast path %v: %s", i, fast, rec)
		}
		assertAgreesWithContract(t, d, rec, now)
	}
}

// TestLearnedOrderAgreesWithReference: once the fast path expects a key
// order learned from the records, records of that order and of others,
// valid or not, decode as the reference decodes them (a record the
// learned program declines halfway leaves no partial row).
func TestLearnedOrderAgreesWithReference(t *testing.T) {
	d := newAll(t)
	const learned = `{"ts":"2024-05-01T10:00:00Z","b":true,"amount":1.5,"d":2.5,"i":-2,"n":1,"s":"a"}`
	for _, v := range []string{learned, learned} {
		assertMatchesReference(t, d, JSON, allColumns, record(v))
	}
	if !d.decodeOrdered([]byte(learned), d.NewBatch(1)) {
		t.Fatalf("the fast path did not learn the order of %s", learned)
	}
	for _, v := range []string{
		learned,
		`{"ts": null, "b": null, "amount": null, "d": null, "i": null, "n": null, "s": "b"}`,
		`{"ts":"2024-05-01","b":false,"amount":"1,234.5","d":1e3,"i":7,"n":-9,"s":"x"}`,       // amount as a string: the general path
		`{"ts":"2024-05-01","b":false,"amount":2,"d":1,"i":7,"n":-9,"s":"esc\u00e9"}`,         // declined at the last value
		`{"ts":"2024-05-01","b":false,"amount":2,"d":1,"i":2147483648,"n":-9,"s":"x"}`,        // i out of INT's range
		`{"ts":"2024-05-01","b":false,"amount":2,"d":1,"i":7,"n":-9,"s":null}`,                // s is NOT NULL
		`{"ts":"2024-05-01","b":false,"amount":2,"d":1,"i":7,"n":-9}`,                         // s missing
		`{"ts":"2024-05-01","b":false,"amount":2,"d":1,"i":7,"n":-9,"s":"x","extra":[1]}`,     // a key of no column
		`{"ts":"2024-05-01","b":false,"amount":2,"d":1,"i":7,"n":-9,"s":"x","s":"y"}`,         // s twice
		`{"s":"a","n":1,"i":-2,"d":2.5,"b":true,"amount":12.345,"ts":"2024-05-01T10:00:00Z"}`, // declared order
		`{"ts":"2024-05-01","b":false,"amount":2,"d":1,"i":7,"n":-9,"s":"x"`,                  // malformed
		learned,
	} {
		assertMatchesReference(t, d, JSON, allColumns, record(v))
	}
}

// TestKeyLookup: out-of-order keys find their columns whether or not the
// declared names share a keyHash (the lookup then scans the names), and
// keys that share a column's hash but not its name are skipped.
func TestKeyLookup(t *testing.T) {
	// Two names of the same length, first and last bytes: the same hash.
	collide := []Column{{Name: "axb", Type: types.TBigint}, {Name: "ayb", Type: types.TBigint}, {Name: "q", Type: types.TString}}
	// Names unlike each other, and a stranger sharing a's hash.
	distinct := []Column{{Name: "a", Type: types.TBigint}, {Name: "bb", Type: types.TBigint}, {Name: "q", Type: types.TString}}
	for _, tc := range []struct {
		cols     []Column
		collides bool
		value    string
		want     []any
	}{
		{collide, true, `{"q":"x","ayb":2,"azb":9,"axb":1}`, []any{int64(1), int64(2), "x"}},
		{collide, true, `{"ayb":2,"q":"y"}`, []any{nil, int64(2), "y"}},
		{distinct, false, `{"q":"x","bb":2,"a":1,"c":7}`, []any{int64(1), int64(2), "x"}},
		{distinct, false, `{"q":"z","a":3}`, []any{int64(3), nil, "z"}},
	} {
		d, err := New(JSON, tc.cols)
		if err != nil {
			t.Fatal(err)
		}
		if d.collide != tc.collides {
			t.Fatalf("%v: collide = %v, want %v", tc.cols, d.collide, tc.collides)
		}
		assertMatchesReference(t, d, JSON, tc.cols, record(tc.value))
		out := d.NewBatch(1)
		if rej := d.Decode(record(tc.value), out); rej != nil || !sameRow(rowOf(out, 0), tc.want) {
			t.Fatalf("Decode(%s) = %v, %#v; want %#v", tc.value, rej, rowOf(out, 0), tc.want)
		}
	}
	// A key with a declared name's hash but another name is no column.
	d, err := New(JSON, distinct)
	if err != nil {
		t.Fatal(err)
	}
	for h := range 4096 {
		key := []byte{byte('a' + h%26), byte('a' + h/26%26), byte('a' + h/676%6)}
		if keyHash(key) == keyHash("a") && d.lookup(key, 3) >= 0 {
			t.Fatalf("lookup(%q) found a column", key)
		}
	}
}

// TestStringsOutliveTheBatch: strings decoded into a batch keep their
// bytes after the batch is reset and refilled, over many arena chunks, on
// both paths and for both lengths of string (one word, longer).
func TestStringsOutliveTheBatch(t *testing.T) {
	d := newSeedDecoder(t)
	out := d.NewBatch(64)
	var kept, want, ids []string
	for i := range 20000 {
		if out.N == 64 {
			kept = append(kept, out.Cols[0].Str[0], out.Cols[0].Str[62], out.Cols[0].Str[63])
			want = append(want, ids[0], ids[62], ids[63])
			out.Reset()
			ids = ids[:0]
		}
		id := fmt.Sprintf("S%d", i)
		if i%3 == 0 {
			id = fmt.Sprintf("sensor-%012d", i)
		}
		ids = append(ids, id)
		var v string
		if i%2 == 0 {
			v = fmt.Sprintf(`{"sensor_id":"%s","ts":1732200000000,"temp":20.5,"hum":50,"ok":true}`, id)
		} else {
			v = fmt.Sprintf(`{"ok":true,"sensor_id":"%s","ts":1732200000000,"temp":20.5,"hum":50}`, id)
		}
		if rej := d.Decode(&Record{Value: []byte(v)}, out); rej != nil {
			t.Fatal(rej)
		}
	}
	for i := range kept {
		if kept[i] != want[i] {
			t.Fatalf("string %d = %q after later batches, want %q", i, kept[i], want[i])
		}
	}
}

// Strings of a column with few distinct values come back from the intern
// table: each record still reads as its own value, for every length the
// one-word and two-word paths take and beyond, with more distinct values
// than the table holds, and spaced or compact.
func TestInternedStringsKeepTheirValues(t *testing.T) {
	d := newSeedDecoder(t)
	out := d.NewBatch(1024)
	rng := rand.New(rand.NewPCG(9, 9))
	var ids []string
	for n := range 300 {
		ids = append(ids, strings.Repeat("x", n%17)+strconv.Itoa(n)) // 1 to 19 bytes
	}
	ids = append(ids, "", "a", "ab")
	var want []string
	for i := range 20000 {
		if out.N == 1024 {
			for k, s := range out.Cols[0].Str {
				if s != want[k] {
					t.Fatalf("row %d: sensor_id %q, want %q", k, s, want[k])
				}
			}
			out.Reset()
			want = want[:0]
		}
		id := ids[rng.IntN(len(ids))]
		if i%5 == 0 {
			id = ids[len(ids)-1-rng.IntN(3)] // the short ones, often
		}
		want = append(want, id)
		v := fmt.Sprintf(`{"sensor_id":"%s","ts":1732200000000,"temp":20.5,"hum":50,"ok":true}`, id)
		if i%2 == 0 {
			v = strings.NewReplacer(`":`, `": `, `,"`, `, "`).Replace(v)
		}
		if rej := d.Decode(&Record{Value: []byte(v)}, out); rej != nil {
			t.Fatal(rej)
		}
	}
}
