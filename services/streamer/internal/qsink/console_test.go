package qsink

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/query/types"
)

// The seed's console sink, compiled from queries/seed/streaming.sql,
// prints what Spark's console sink prints for the same rows, as the
// earlier streamer's specialised console sink printed them (testdata/
// seed-console.golden): a batch with rows, one with more than 20 (cut with
// the note), one that read data but emitted no row; a no-data batch
// without rows prints nothing.
func TestTheSeedConsoleIsTodaysConsole(t *testing.T) {
	ctx := context.Background()
	q := seedQuery(t, "console")
	var got bytes.Buffer
	o := open(t, q, Env{Stdout: &got})
	want, err := os.ReadFile("testdata/seed-console.golden")
	if err != nil {
		t.Fatal(err)
	}
	// Odd doubles (Java's toString: 1.0E7, 1.0E-4) and instants with a
	// fraction exercise the value formatting.
	odd := windows(time.Date(2024, 11, 21, 23, 59, 59, 123456000, time.UTC), 2, 2)
	odd[0].AvgTemp, odd[1].AvgHum, odd[2].AvgTemp = 1e7, 1e-4, -0.5
	for i, rows := range [][]contract.WindowRow{
		shuffled(batchRows(4)),
		windows(time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC), 5, 7),
		odd,
		nil,
	} {
		id := int64(10 + i)
		if _, err := o.Write(ctx, id, windowBatch(t, q.Output, rows), false); err != nil {
			t.Fatal(err)
		}
	}
	res, err := o.Write(ctx, 20, types.NewBatch(q.Output, 0), true)
	if err != nil || !res.Skipped {
		t.Fatalf("a no-data batch without rows: %+v, %v; want skipped", res, err)
	}
	if got.String() != string(want) {
		t.Fatalf("console output\n%s\nwant\n%s", got.String(), want)
	}
	if !strings.Contains(got.String(), "only showing top 20 rows") || !strings.Contains(got.String(), "1.0E7") {
		t.Fatal("the compared output lacks the cases it should cover")
	}
}

func TestConsoleOptions(t *testing.T) {
	ctx := context.Background()
	schema := types.Schema{{Name: "word", Type: types.TString, Nullable: true}, {Name: "count", Type: types.TBigint, Nullable: true}}
	b := types.NewBatch(schema, 3)
	for i, w := range []string{"a", "supercalifragilisticexpialidocious", ""} {
		b.Cols[0].AppendString(w)
		b.Cols[1].AppendInt(int64(i))
	}
	b.Cols[0].Null = []bool{false, false, true}
	b.N = 3
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{nil, "-------------------------------------------\nBatch: 3\n-------------------------------------------\n" +
			"+--------------------+-----+\n|                word|count|\n+--------------------+-----+\n" +
			"|                   a|    0|\n|supercalifragilis...|    1|\n|                NULL|    2|\n+--------------------+-----+\n\n"},
		{map[string]string{"numrows": "2", "truncate": "false"}, "-------------------------------------------\nBatch: 3\n-------------------------------------------\n" +
			"+----------------------------------+-----+\n|word                              |count|\n+----------------------------------+-----+\n" +
			"|a                                 |0    |\n|supercalifragilisticexpialidocious|1    |\n+----------------------------------+-----+\nonly showing top 2 rows\n\n"},
	} {
		var out bytes.Buffer
		o := open(t, query("words", "console", "complete", schema, tc.opts), Env{Stdout: &out})
		if _, err := o.Write(ctx, 3, b, false); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.want {
			t.Errorf("options %v: printed\n%s\nwant\n%s", tc.opts, out.String(), tc.want)
		}
	}
	for _, bad := range []map[string]string{{"numrows": "-1"}, {"numrows": "x"}, {"truncate": "maybe"}} {
		if _, err := Open(ctx, query("words", "console", "complete", schema, bad), Env{Stdout: &bytes.Buffer{}}); err == nil {
			t.Errorf("options %v accepted", bad)
		}
	}
}
