package delta_test

import (
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/lake/delta"
)

// TestParsePartitionFilter: conditions select partitions by typed values
// (dates and numbers compare as such, not as text), nulls match only IS
// NULL, and a filter on anything but a partition column is refused with
// the partition columns named.
func TestParsePartitionFilter(t *testing.T) {
	s, _ := fileStore(t)
	schema := delta.StructType{Fields: []delta.StructField{
		{Name: "value", Type: delta.Double, Nullable: true},
		{Name: "date", Type: delta.Date, Nullable: true},
		{Name: "region", Type: delta.String, Nullable: true},
		{Name: "hour", Type: delta.Integer, Nullable: true},
	}}
	md, err := delta.NewTable(s, "t").NewMetadata(schema, []string{"date", "region", "hour"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pv := func(date, region, hour string) delta.PartitionValues {
		return delta.PartitionValues{"date": date, "region": region, "hour": hour}
	}
	parts := []delta.PartitionValues{
		pv("2024-11-20", "eu", "9"),
		pv("2024-11-21", "eu", "10"),
		pv("2024-11-21", "us", "2"),
		pv("2024-11-22", "", "23"), // null region
	}
	cases := []struct {
		filter string
		want   string // which of parts match, as 0/1 per part
	}{
		{"date = '2024-11-21'", "0110"},
		{"date=2024-11-21", "0110"},
		{`DATE == "2024-11-21"`, "0110"},
		{"date >= 2024-11-21 AND date <= '2024-11-21'", "0110"},
		{"date > '2024-11-20' and region = 'eu'", "0100"},
		{"hour > 9", "0101"}, // as numbers: 10 and 23, not "9" > "10" as text
		{"hour < 10", "1010"},
		{"hour <> 10", "1011"},
		{"hour != 10", "1011"},
		{"region IN ('us', 'eu')", "1110"},
		{"region NOT IN ('us')", "1100"}, // null is neither in nor not in
		{"region IS NULL", "0001"},
		{"region is not null AND hour IN (2, 23)", "0010"},
		{"`region` = 'eu'", "1100"},
		{"region = 'it''s'", "0000"},
		{"  ", "1111"},
	}
	for _, tc := range cases {
		f, err := delta.ParsePartitionFilter(md, tc.filter)
		if err != nil {
			t.Errorf("%q: %v", tc.filter, err)
			continue
		}
		var got strings.Builder
		for _, p := range parts {
			if f == nil || f(p) {
				got.WriteByte('1')
			} else {
				got.WriteByte('0')
			}
		}
		if got.String() != tc.want {
			t.Errorf("%q matches %s, want %s", tc.filter, got.String(), tc.want)
		}
	}

	bad := []struct{ filter, want string }{
		{"value > 3", `"value" is not a partition column (partition columns: date, region, hour)`},
		{"nope = 1", `no column "nope"`},
		{"date = 'tomorrow'", `"tomorrow" for date (date)`},
		{"hour = ten", `"ten" for hour (integer)`},
		{"date = '2024-11-21' OR date = '2024-11-22'", "OR is not supported"},
		{"date = '2024-11-21", "unterminated"},
		{"region = NULL", "use IS NULL"},
		{"region = ''", "use IS NULL"},
		{"date '2024-11-21'", "want an operator"},
		{"date = 2024-11-21 date", "want AND"},
		{"region IN ('eu'", "want , or )"},
		{"date =", "want a value at the end"},
	}
	for _, tc := range bad {
		if _, err := delta.ParsePartitionFilter(md, tc.filter); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one saying %q", tc.filter, err, tc.want)
		}
	}
	// An unpartitioned table has no partition to filter on.
	flat, err := delta.NewTable(s, "u").NewMetadata(schema, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := delta.ParsePartitionFilter(flat, "date = '2024-11-21'"); err == nil || !strings.Contains(err.Error(), "not partitioned") {
		t.Errorf("filter on an unpartitioned table: %v, want an error saying it is not partitioned", err)
	}
}
