package consolidate

import (
	"math"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
)

func win(sensor string, eventos int64, temp, hum float64, ok int64) contract.WindowRow {
	return contract.WindowRow{SensorID: sensor, Eventos: eventos, AvgTemp: temp, AvgHum: hum, OKCount: ok}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }

func checkRows(t *testing.T, got, want []contract.BatchRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.SensorID != w.SensorID || g.TotalEventos != w.TotalEventos || g.OKTotal != w.OKTotal || g.Ventanas != w.Ventanas ||
			!near(g.AvgTempGlobal, w.AvgTempGlobal) || !near(g.AvgHumGlobal, w.AvgHumGlobal) {
			t.Errorf("row %d: got %+v, want %+v", i, g, w)
		}
	}
}

// The seed's formulas on inputs computed by hand.
func TestConsolidateSeedFormulas(t *testing.T) {
	rows := []contract.WindowRow{
		win("S002", 4, 20.0, 50.0, 4),
		win("S001", 5, 30.0, 60.0, 5),
		win("S002", 6, 22.5, 40.0, 5),
		win("S001", 3, 24.0, 70.0, 2),
		win("S001", 2, 27.0, 44.0, 2),
		win("S010", 1, 18.25, 35.5, 0),
	}
	checkRows(t, Consolidate(rows), []contract.BatchRow{
		// (30+24+27)/3 = 27, (60+70+44)/3 = 58
		{SensorID: "S001", TotalEventos: 10, AvgTempGlobal: 27, AvgHumGlobal: 58, OKTotal: 9, Ventanas: 3},
		// (20+22.5)/2 = 21.25, (50+40)/2 = 45
		{SensorID: "S002", TotalEventos: 10, AvgTempGlobal: 21.25, AvgHumGlobal: 45, OKTotal: 9, Ventanas: 2},
		{SensorID: "S010", TotalEventos: 1, AvgTempGlobal: 18.25, AvgHumGlobal: 35.5, OKTotal: 0, Ventanas: 1},
	})
}

// A sensor whose windows hold different numbers of readings: the seed
// averages the window means (each window weighs the same), which is not the
// mean of the readings.
func TestAverageIsUnweightedMeanOfWindowMeans(t *testing.T) {
	rows := []contract.WindowRow{
		win("S007", 1, 40.0, 90.0, 1), // one hot reading
		win("S007", 9, 20.0, 50.0, 9), // nine mild readings
	}
	got := Consolidate(rows)
	checkRows(t, got, []contract.BatchRow{
		{SensorID: "S007", TotalEventos: 10, AvgTempGlobal: 30, AvgHumGlobal: 70, OKTotal: 10, Ventanas: 2},
	})
	weightedTemp := (40.0*1 + 20.0*9) / 10 // 22: what a reading-weighted mean would give
	if near(got[0].AvgTempGlobal, weightedTemp) {
		t.Fatalf("avg_temp_global %v is the weighted mean; the seed's is unweighted (30)", got[0].AvgTempGlobal)
	}
}

func TestConsolidateSortsBySensorBytes(t *testing.T) {
	rows := []contract.WindowRow{win("b", 1, 1, 1, 1), win("S10", 1, 1, 1, 1), win("S02", 1, 1, 1, 1), win("a", 1, 1, 1, 1), win("B", 1, 1, 1, 1)}
	var ids []string
	for _, r := range Consolidate(rows) {
		ids = append(ids, r.SensorID)
	}
	want := []string{"B", "S02", "S10", "a", "b"} // Spark's orderBy on strings: byte order
	if len(ids) != len(want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("ids %v, want %v", ids, want)
		}
	}
}

func TestConsolidateNoRowsIsEmptyNotNil(t *testing.T) {
	got := Consolidate(nil)
	if got == nil || len(got) != 0 {
		t.Fatalf("Consolidate(nil) = %#v, want an empty non-nil slice", got)
	}
}

// Merging per-file partial aggregates gives what one pass over all rows gives.
func TestMergeEqualsSinglePass(t *testing.T) {
	all := []contract.WindowRow{
		win("S001", 5, 30, 60, 5), win("S002", 4, 20, 50, 4), win("S001", 3, 24, 70, 2),
		win("S003", 7, 35.5, 80.25, 6), win("S002", 6, 22.5, 40, 5), win("S001", 2, 27, 44, 2),
	}
	var a, b, merged Aggregator
	for i, r := range all {
		if i%2 == 0 {
			a.Add(WindowOf(r))
		} else {
			b.Add(WindowOf(r))
		}
	}
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(nil)
	if merged.WindowRows() != int64(len(all)) {
		t.Fatalf("WindowRows = %d, want %d", merged.WindowRows(), len(all))
	}
	checkRows(t, merged.Rows(), Consolidate(all))
}
