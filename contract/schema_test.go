package contract

import (
	"bytes"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// The structs are the schema: writing them must give exactly the columns the
// seed's readers expect, in order.
func TestRowStructsMatchDeclaredColumns(t *testing.T) {
	cases := []struct {
		name string
		rows any
		want []Column
	}{
		{"window", []WindowRow{{WinStart: time.UnixMilli(0), WinEnd: time.UnixMilli(10_000), SensorID: "S001"}}, WindowColumns},
		{"batch", []BatchRow{{SensorID: "S001"}}, BatchColumns},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			switch rows := tc.rows.(type) {
			case []WindowRow:
				if err := parquet.Write(&buf, rows); err != nil {
					t.Fatal(err)
				}
			case []BatchRow:
				if err := parquet.Write(&buf, rows); err != nil {
					t.Fatal(err)
				}
			}
			f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckColumns(Columns(f.Schema()), tc.want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckColumnsReportsEveryDifference(t *testing.T) {
	got := []Column{{"sensor", "BYTE_ARRAY", "STRING"}, {"total_eventos", "INT32", ""}}
	err := CheckColumns(got, BatchColumns)
	if err == nil {
		t.Fatal("a renamed column and a wrong type passed the schema check")
	}
	msg := err.Error()
	for _, want := range []string{"column 0", "column 1", "column 5: missing"} {
		if !bytes.Contains([]byte(msg), []byte(want)) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestWindowRowTimestampsRoundTripInUTCMicros(t *testing.T) {
	start := time.Date(2024, 11, 21, 23, 59, 50, 0, time.UTC)
	in := []WindowRow{{WinStart: start, WinEnd: start.Add(10 * time.Second), SensorID: "S007", Eventos: 3}}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := parquet.Read[WindowRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !out[0].WinStart.Equal(start) || !out[0].WinEnd.Equal(start.Add(10*time.Second)) {
		t.Fatalf("round trip changed the window: %+v", out)
	}
}
