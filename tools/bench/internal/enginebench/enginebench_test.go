package enginebench

import "testing"

// The harness reads the streamer's benchmark output: a change of its units
// must fail here, not silently report zeros.
func TestMetricReadsBenchmarkUnits(t *testing.T) {
	line := "BenchmarkPipelineNDJSON-2   	       1	 341637804 ns/op	         0.0002080 allocs/reading	       102.1 est-bytes/state-row	   6351223 readings/cpu-s	   2927077 readings/s	       100.0 windows"
	if !benchLine.MatchString(line) {
		t.Fatal("result line not recognised")
	}
	for unit, want := range map[string]float64{"readings/s": 2927077, "readings/cpu-s": 6351223, "allocs/reading": 0.000208, "windows": 100} {
		if got, ok := Metric(line, unit); !ok || got != want {
			t.Errorf("%s = %v, %v; want %v", unit, got, ok, want)
		}
	}
	if _, ok := Metric(line, "bytes/s"); ok {
		t.Error("found a unit that is not there")
	}
}
