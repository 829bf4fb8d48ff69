package decode

import (
	"runtime"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
)

// benchReadings runs decode over a realistic mix of seed records and reports
// readings/s (wall clock) and readings/cpu-s (per core, on Linux: the figure
// to read when other processes load the machine).
func benchReadings(b *testing.B, decode func([]byte) error) {
	recs := seedMix(1024)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	cpu0, cpuOK := threadCPU()
	i := 0
	for b.Loop() {
		if err := decode(recs[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "readings/s")
	if cpu1, ok := threadCPU(); ok && cpuOK && cpu1 > cpu0 {
		b.ReportMetric(float64(i)/(cpu1-cpu0).Seconds(), "readings/cpu-s")
	}
}

// BenchmarkDecode measures the fast decoder on seed records.
func BenchmarkDecode(b *testing.B) {
	var f Fields
	benchReadings(b, func(v []byte) error { return Decode(v, now, &f) })
}

// BenchmarkDecodeReference is contract.DecodeEvent on the same input.
func BenchmarkDecodeReference(b *testing.B) {
	benchReadings(b, func(v []byte) error {
		_, err := contract.DecodeEvent(v, now)
		return err
	})
}

// BenchmarkTouchBytes is the yardstick for the figures above: it reads every
// byte of the same records once and nothing more. A machine's load moves all
// three benchmarks together; Decode's cost relative to this one does not.
func BenchmarkTouchBytes(b *testing.B) {
	sum := 0
	benchReadings(b, func(v []byte) error {
		s := 0 // a local, so the loop is not a chain of stores
		for _, c := range v {
			s += int(c)
		}
		sum += s
		return nil
	})
	if sum == 0 {
		b.Fatal("read no bytes")
	}
}
