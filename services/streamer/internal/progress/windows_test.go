package progress

import (
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

func row(sensor string, startSec int64, n int64) contract.WindowRow {
	s := time.Unix(startSec, 0).UTC()
	return contract.WindowRow{WinStart: s, WinEnd: s.Add(10 * time.Second), SensorID: sensor, Eventos: n}
}

func TestWindowsKeepTheLatestWindowPerSensor(t *testing.T) {
	w := NewWindows()
	w.Observe(0, []contract.WindowRow{row("S002", 10, 1), row("S001", 10, 3)}, nil)
	// Batch 1: S001's window 10 grows, then its window 20 opens; a late
	// update of S002's older window 0 must not hide its window 10.
	w.Observe(1, []contract.WindowRow{row("S002", 0, 9), row("S001", 10, 5), row("S001", 20, 1)}, nil)
	// Batch 2 closes window 10 of both; S001 still shows its open window 20.
	w.Observe(2, nil, []contract.WindowRow{row("S001", 10, 5), row("S002", 10, 2)})
	// Batch 3: an update arriving for a window already closed is ignored.
	w.Observe(3, []contract.WindowRow{row("S002", 10, 99)}, nil)

	got := w.Latest()
	want := []SensorWindow{
		{WindowRow: row("S001", 20, 1), Closed: false, BatchID: 1},
		{WindowRow: row("S002", 10, 2), Closed: true, BatchID: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d sensors, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, x := got[i], want[i]
		if g.SensorID != x.SensorID || !g.WinStart.Equal(x.WinStart) || g.Eventos != x.Eventos || g.Closed != x.Closed || g.BatchID != x.BatchID {
			t.Errorf("row %d: got %+v, want %+v", i, g, x)
		}
	}
}

func TestLogKeepsTheLastReports(t *testing.T) {
	l := NewLog(3)
	for i := range int64(5) {
		l.Add(Query{BatchID: i})
	}
	got := l.Recent(0)
	if len(got) != 3 || got[0].BatchID != 2 || got[2].BatchID != 4 {
		t.Fatalf("Recent(0) = %+v, want batches 2..4", got)
	}
	if got := l.Recent(1); len(got) != 1 || got[0].BatchID != 4 {
		t.Fatalf("Recent(1) = %+v, want batch 4", got)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	at := time.UnixMilli(1732200000123)
	s := FormatTime(at)
	if s != "2024-11-21T14:40:00.123Z" {
		t.Fatalf("FormatTime = %q", s)
	}
	back, err := ParseTime(s)
	if err != nil || !back.Equal(at) {
		t.Fatalf("ParseTime(%q) = %v, %v", s, back, err)
	}
}
