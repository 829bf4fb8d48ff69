package decode

import (
	"testing"

	"github.com/sensorlab/sensorlab/contract"
)

// BenchmarkDecode measures the fast decoder on a realistic mix of seed
// records; compare readings/s with BenchmarkDecodeReference.
func BenchmarkDecode(b *testing.B) {
	recs := seedMix(1024)
	var f Fields
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := Decode(recs[i&1023], now, &f); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkDecodeReference is contract.DecodeEvent on the same input.
func BenchmarkDecodeReference(b *testing.B) {
	recs := seedMix(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := contract.DecodeEvent(recs[i&1023], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "readings/s")
}
