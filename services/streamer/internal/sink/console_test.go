package sink

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

func consoleOutput(t *testing.T, batchID int64, rows []contract.WindowRow) string {
	t.Helper()
	var b strings.Builder
	if err := NewConsoleSink(&b).WriteBatch(batchID, rows); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestConsoleSinkPrintsLikeSparkShow(t *testing.T) {
	start := time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC)
	rows := []contract.WindowRow{
		{WinStart: start, WinEnd: start.Add(10 * time.Second), SensorID: "S007", Eventos: 3,
			AvgTemp: 82.24 / 3, AvgHum: 63.05, OKCount: 3, MaxTemp: 99},
		// A non-UTC location still prints in UTC. Cells over 20 characters (the long id, the
		// timestamp with a fraction) are cut to 17 plus "...", as Spark's truncate=true does.
		{WinStart: start.In(time.FixedZone("COT", -5*3600)), WinEnd: start.Add(10500 * time.Millisecond),
			SensorID: "S-very-long-sensor-identifier", Eventos: 10, AvgTemp: 20, AvgHum: 35.5, OKCount: 9},
	}
	want := `-------------------------------------------
Batch: 4
-------------------------------------------
+-------------------+--------------------+--------------------+-------+------------------+-------+--------+
|          win_start|             win_end|           sensor_id|eventos|          avg_temp|avg_hum|ok_count|
+-------------------+--------------------+--------------------+-------+------------------+-------+--------+
|2024-11-21 14:40:00| 2024-11-21 14:40:10|                S007|      3|27.413333333333334|  63.05|       3|
|2024-11-21 14:40:00|2024-11-21 14:40:...|S-very-long-senso...|     10|              20.0|   35.5|       9|
+-------------------+--------------------+--------------------+-------+------------------+-------+--------+

`
	if got := consoleOutput(t, 4, rows); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestConsoleSinkShowsAtMost20Rows(t *testing.T) {
	rows := windows(time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC), 5, 5) // 25 rows
	lines := strings.Split(consoleOutput(t, 9, rows), "\n")
	var data []string
	for _, l := range lines {
		if strings.HasPrefix(l, "|2024-") {
			data = append(data, l)
		}
	}
	if len(data) != 20 {
		t.Errorf("printed %d rows of 25, want the first 20", len(data))
	}
	if !strings.Contains(data[19], "S005") || !strings.Contains(data[19], "14:40:30") {
		t.Errorf("20th printed row %q is not the 20th row given (window 14:40:30, S005)", data[19])
	}
	if got := lines[len(lines)-3]; got != "only showing top 20 rows" {
		t.Errorf("line after the table = %q, want Spark's note", got)
	}
	if out := consoleOutput(t, 9, rows[:20]); strings.Contains(out, "only showing") {
		t.Error("exactly 20 rows printed the truncation note")
	}
}

func TestConsoleSinkEmptyBatchPrintsAnEmptyTable(t *testing.T) {
	want := `-------------------------------------------
Batch: 0
-------------------------------------------
+---------+-------+---------+-------+--------+-------+--------+
|win_start|win_end|sensor_id|eventos|avg_temp|avg_hum|ok_count|
+---------+-------+---------+-------+--------+-------+--------+
+---------+-------+---------+-------+--------+-------+--------+

`
	if got := consoleOutput(t, 0, nil); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestConsoleSinkReportsWriteErrors(t *testing.T) {
	err := NewConsoleSink(brokenWriter{}).WriteBatch(3, nil)
	if err == nil || !strings.Contains(err.Error(), "batch 3") || !strings.Contains(err.Error(), "stdout closed") {
		t.Fatalf("err = %v, want the write error with the batch id", err)
	}
}

// Spark prints doubles with Java's Double.toString.
func TestJavaDouble(t *testing.T) {
	for in, want := range map[float64]string{
		27.41: "27.41", 20: "20.0", 0: "0.0", math.Copysign(0, -1): "-0.0", -3.5: "-3.5",
		0.001: "0.001", 0.0001: "1.0E-4", 1.25e-5: "1.25E-5", 9999999: "9999999.0", 1e7: "1.0E7",
		12345678.9: "1.23456789E7", 1e21: "1.0E21", math.Inf(1): "Infinity", math.Inf(-1): "-Infinity",
	} {
		if got := javaDouble(in); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", in, got, want)
		}
	}
	if got := javaDouble(math.NaN()); got != "NaN" {
		t.Errorf("javaDouble(NaN) = %q", got)
	}
}
