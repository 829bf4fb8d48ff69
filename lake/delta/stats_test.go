package delta_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/sensorlab/sensorlab/lake/delta"
)

type statRow struct {
	Name  string    `parquet:"name"`
	Score *float64  `parquet:"score,optional"`
	Ratio float64   `parquet:"ratio"`
	At    time.Time `parquet:"at,timestamp(microsecond)"`
	Day   int32     `parquet:"day,date"` // days since 1970 (parquet-go v0.32.0 mis-writes a time.Time as a date)
	N     int32     `parquet:"n"`
	Tags  []string  `parquet:"tags,list"`
	OK    bool      `parquet:"ok"`
}

func TestStatsFromParquet(t *testing.T) {
	base := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	long := strings.Repeat("z", 40)
	rows := []statRow{
		{Name: "m", Score: p(2.5), Ratio: 1, At: base.Add(1500 * time.Microsecond), Day: days(base), N: 7, Tags: []string{"a"}, OK: true},
		{Name: "b", Score: nil, Ratio: math.NaN(), At: base.Add(-time.Hour), Day: days(base.AddDate(0, 0, -3)), N: -2},
		// A second row group.
		{Name: long, Score: p(-1.0), Ratio: 2, At: base.Add(time.Hour + 999*time.Microsecond), Day: days(base.AddDate(0, 0, 1)), N: 3},
		{Name: "c", Score: nil, Ratio: 0, At: base, Day: days(base), N: 0},
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[statRow](&buf, parquet.MaxRowsPerRowGroup(2))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.RowGroups()) != 2 {
		t.Fatalf("%d row groups, want 2", len(f.RowGroups()))
	}
	schema, err := delta.SchemaFromParquet(f.Schema())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := schema.JSON()
	for _, want := range []string{`"name":"score","type":"double","nullable":true`, `"name":"at","type":"timestamp"`, `"name":"day","type":"date"`,
		`"name":"n","type":"integer"`, `"name":"tags","type":{"type":"array","elementType":"string","containsNull":false}`} {
		if !strings.Contains(js, want) {
			t.Errorf("schema %s lacks %s", js, want)
		}
	}
	schema.Fields = append(schema.Fields, delta.StructField{Name: "p", Type: delta.String, Nullable: true}) // partition column
	md := delta.Metadata{ID: "t", Format: delta.Format{Provider: "parquet"}, SchemaString: js, PartitionColumns: []string{"p"}}
	if md.SchemaString, err = schema.JSON(); err != nil {
		t.Fatal(err)
	}
	st, err := delta.StatsFromParquet(f, md)
	if err != nil {
		t.Fatal(err)
	}
	js, err = st.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"numRecords": 4.0,
		"minValues": map[string]any{
			"name": "b", "ratio": 0.0, "score": -1.0, "at": "2024-11-21T09:00:00.000Z", "day": "2024-11-18", "n": -2.0,
		},
		"maxValues": map[string]any{
			// name: the 40-character string is the max, and cut it would not bound the column
			"ratio": 2.0, "score": 2.5, "at": "2024-11-21T11:00:00.000Z", "day": "2024-11-22", "n": 7.0,
		},
		"nullCount": map[string]any{
			"name": 0.0, "score": 2.0, "ratio": 0.0, "at": 0.0, "day": 0.0, "n": 0.0, "ok": 0.0,
		},
	}
	// ratio holds a NaN, which Parquet statistics leave out of the bounds;
	// tags is a list and p a partition column: nothing; ok is a boolean:
	// null count only.
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n got %s\nwant %v", js, want)
	}
	// Only the first N leaf columns are indexed.
	md.Configuration = map[string]string{delta.PropDataSkippingNumIndexedCols: "2"}
	st, err = delta.StatsFromParquet(f, md)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.NullCount) != 2 || st.NullCount["name"] == nil || st.NullCount["score"] == nil {
		t.Fatalf("with 2 indexed columns: nullCount %v, want name and score only", st.NullCount)
	}
}

func days(t time.Time) int32 { return int32(t.Unix() / 86400) }

func TestPathsAndPartitionValues(t *testing.T) {
	for _, rel := range []string{"date=2024-11-21/part-0.parquet", "p=a%3Db %25x/f.parquet", "naïve/ü#?.parquet", "a:b/c.parquet", "+plus+/x"} {
		enc := delta.EncodePath(rel)
		dec, err := delta.DecodePath(enc)
		if err != nil || dec != rel {
			t.Errorf("DecodePath(EncodePath(%q)) = %q (via %q), %v", rel, dec, enc, err)
		}
		if strings.ContainsAny(enc, " #?") || strings.HasPrefix(enc, "a:") {
			t.Errorf("EncodePath(%q) = %q leaves characters a URI cannot hold", rel, enc)
		}
	}
	if got := delta.EncodePath("p=a%3Db %25x/f.parquet"); got != "p=a%253Db%20%2525x/f.parquet" {
		t.Errorf("EncodePath = %q, want Spark's p=a%%253Db%%20%%2525x/f.parquet", got)
	}
	if got := delta.PartitionPath([]string{"date", "region", "n"}, delta.PartitionValues{"date": "2024-11-21", "region": "a=b/c %x:y", "n": ""}); got != "date=2024-11-21/region=a%3Db%2Fc %25x%3Ay/n=__HIVE_DEFAULT_PARTITION__" {
		t.Errorf("PartitionPath = %q", got)
	}
	ts := time.Date(2024, 11, 21, 10, 30, 0, 123456000, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		t    delta.DataType
		v    any
		want string
	}{
		{delta.Date, ts, "2024-11-21"},
		{delta.Timestamp, ts, "2024-11-21T09:30:00.123456Z"},
		{delta.TimestampNTZ, time.Date(2024, 11, 21, 10, 30, 0, 0, time.UTC), "2024-11-21 10:30:00.000000"},
		{delta.Long, int64(-5), "-5"},
		{delta.Integer, 7, "7"},
		{delta.Double, 1.5, "1.5"},
		{delta.Boolean, true, "true"},
		{delta.String, "a b", "a b"},
		{delta.String, nil, ""},
	} {
		got, err := delta.PartitionValue(tc.t, tc.v)
		if err != nil || got != tc.want {
			t.Errorf("PartitionValue(%s, %v) = %q, %v; want %q", tc.t.TypeName(), tc.v, got, err, tc.want)
			continue
		}
		back, err := delta.ParsePartitionValue(tc.t, got)
		if err != nil {
			t.Errorf("ParsePartitionValue(%s, %q): %v", tc.t.TypeName(), got, err)
		}
		if tm, ok := tc.v.(time.Time); ok && tc.t != delta.Date && !back.(time.Time).Equal(tm) {
			t.Errorf("ParsePartitionValue(%s, %q) = %v, want %v", tc.t.TypeName(), got, back, tm)
		}
	}
	if _, err := delta.PartitionValue(delta.Date, "2024-11-21"); err == nil {
		t.Error("PartitionValue(date, a string): want an error")
	}
	// The protocol's other timestamp form, and a null.
	if v, err := delta.ParsePartitionValue(delta.Timestamp, "1970-01-01 00:00:01"); err != nil || !v.(time.Time).Equal(time.Unix(1, 0)) {
		t.Errorf("ParsePartitionValue of Spark's timestamp form = %v, %v", v, err)
	}
	if v, err := delta.ParsePartitionValue(delta.Long, ""); err != nil || v != nil {
		t.Errorf("ParsePartitionValue(\"\") = %v, %v; want nil (null)", v, err)
	}
}

func TestParseInterval(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"interval 30 days":            30 * 24 * time.Hour,
		"interval 1 week":             7 * 24 * time.Hour,
		"INTERVAL 2 hours 30 minutes": 150 * time.Minute,
		"1 day":                       24 * time.Hour,
	} {
		if got, err := delta.ParseInterval(s); err != nil || got != want {
			t.Errorf("ParseInterval(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "interval", "30 days 2", "interval 1 month", "interval x days"} {
		if _, err := delta.ParseInterval(bad); err == nil {
			t.Errorf("ParseInterval(%q): want an error", bad)
		}
	}
}
