package output

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

func sample() *types.Batch {
	s := types.Schema{
		{Name: "win_start", Type: types.TTimestamp},
		{Name: "sensor_id", Type: types.TString},
		{Name: "eventos", Type: types.TBigint},
		{Name: "avg_temp", Type: types.TDouble},
		{Name: "amount", Type: types.DecimalOf(10, 2)},
		{Name: "ok", Type: types.TBoolean},
	}
	b := types.NewBatch(s, 3)
	const t0 = 1_764_756_900_000_000 // 2025-12-03 10:15:00 UTC
	b.Cols[0].AppendInt(t0)
	b.Cols[0].AppendInt(t0 + 123_000)
	b.Cols[0].AppendInt(t0)
	b.Cols[1].AppendString("S001")
	b.Cols[1].AppendString(`a "quoted", very long sensor name`)
	b.Cols[1].AppendString("ñ")
	b.Cols[2].AppendInt(3)
	b.Cols[2].AppendInt(12)
	b.Cols[2].AppendNull()
	b.Cols[3].AppendFloat(27.5)
	b.Cols[3].AppendFloat(1e7)
	tenth := 0.1
	b.Cols[3].AppendFloat(tenth + 0.2) // not constant-folded: 0.30000000000000004
	b.Cols[4].AppendInt(1999)
	b.Cols[4].AppendInt(-5)
	b.Cols[4].AppendInt(0)
	b.Cols[5].AppendBool(true)
	b.Cols[5].AppendBool(false)
	b.Cols[5].AppendNull()
	b.N = 3
	return b
}

// Show prints what Spark's console sink prints for the same rows: values
// as Spark casts them to strings, right-aligned, long cells cut to 17
// characters and "...", NULL for nulls, the note when rows are left out.
func TestShowIsSparksShowString(t *testing.T) {
	f, err := NewFormatter(sample().Schema)
	if err != nil {
		t.Fatal(err)
	}
	got := f.ConsoleBatch(7, sample(), 2, DefaultTruncate)
	want := `-------------------------------------------
Batch: 7
-------------------------------------------
+--------------------+--------------------+-------+--------+------+-----+
|           win_start|           sensor_id|eventos|avg_temp|amount|   ok|
+--------------------+--------------------+-------+--------+------+-----+
| 2025-12-03 10:15:00|                S001|      3|    27.5| 19.99| true|
|2025-12-03 10:15:...|a "quoted", very ...|     12|   1.0E7| -0.05|false|
+--------------------+--------------------+-------+--------+------+-----+
only showing top 2 rows

`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	all := f.Show(sample(), 20, 0)
	if !strings.Contains(all, "|NULL   |0.30000000000000004|0.00  |NULL |") {
		t.Errorf("untruncated, left-aligned third row with NULLs missing:\n%s", all)
	}
	if one := f.Show(sample(), 1, DefaultTruncate); !strings.HasSuffix(one, "only showing top 1 row\n\n") {
		t.Errorf("one row shown: the note must say \"row\":\n%s", one)
	}
	if strings.Contains(all, "only showing") {
		t.Errorf("all rows shown, yet the note is printed:\n%s", all)
	}
}

// JSON rows are to_json's: they parse, keep column order, leave nulls out,
// quote strings (escaped) and timestamps in to_json's format, and write
// numbers bare.
func TestJSONIsToJSON(t *testing.T) {
	f, err := NewFormatter(sample().Schema)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	f.JSON(sample(), func(_ int, v []byte) { rows = append(rows, string(v)) })
	want := []string{
		`{"win_start":"2025-12-03T10:15:00.000Z","sensor_id":"S001","eventos":3,"avg_temp":27.5,"amount":19.99,"ok":true}`,
		`{"win_start":"2025-12-03T10:15:00.123Z","sensor_id":"a \"quoted\", very long sensor name","eventos":12,"avg_temp":1.0E7,"amount":-0.05,"ok":false}`,
		`{"win_start":"2025-12-03T10:15:00.000Z","sensor_id":"ñ","avg_temp":0.30000000000000004,"amount":0.00}`,
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d\n got %s\nwant %s", i, rows[i], want[i])
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(rows[i]), &m); err != nil {
			t.Errorf("row %d is not JSON: %v", i, err)
		}
	}
}
