package readings

import (
	"testing"

	"github.com/sensorlab/sensorlab/contract"
)

// The load must be what the streamer accepts: every reading decodes with the
// contract's reference decoder to the event generated, in the seed's spacing.
func TestReadingsAreValidSeedRecords(t *testing.T) {
	g := New(20, 1_732_200_000_000, 20, 1)
	seen := map[string]bool{}
	for i := range 1000 {
		ev := g.Next()
		line := AppendSeedJSON(nil, ev)
		got, err := contract.DecodeEvent(line, ev.TS)
		if err != nil {
			t.Fatalf("reading %d %s: %v", i, line, err)
		}
		if got != ev {
			t.Fatalf("reading %d decodes to %+v, want %+v", i, got, ev)
		}
		if want := ev.TS - 1_732_200_000_000; want != int64(i/20) {
			t.Fatalf("reading %d has event time +%d ms, want +%d", i, want, i/20)
		}
		seen[ev.SensorID] = true
	}
	if len(seen) != 20 || !seen["S001"] || !seen["S020"] {
		t.Fatalf("sensors %v: want S001..S020", seen)
	}
	if line := string(AppendSeedJSON(nil, contract.Event{SensorID: "S007", TS: 1, Temp: 27.41, Hum: 63.05, OK: true})); line !=
		`{"sensor_id": "S007", "ts": 1, "temp": 27.41, "hum": 63.05, "ok": true}` {
		t.Fatalf("seed spacing: %s", line)
	}
}

func TestSameSeedSameReadings(t *testing.T) {
	a, b := New(5, 0, 1, 9), New(5, 0, 1, 9)
	for range 100 {
		if x, y := a.Next(), b.Next(); x != y {
			t.Fatalf("%+v != %+v", x, y)
		}
	}
}
