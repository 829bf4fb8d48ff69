package plan

import "testing"

// BenchmarkSeedProcess runs the seed's main sink query (10-second windows
// per sensor) over micro-batches of 10,000 readings of 20 sensors, as the
// streamer's query mode does: read, the operators before the aggregation,
// the aggregation and the batch's output. Each batch repeats the same
// half-second of event time, so the state stays that of one window.
func BenchmarkSeedProcess(b *testing.B) {
	x, err := seedProgram(b).Queries[0].NewExecutor()
	if err != nil {
		b.Fatal(err)
	}
	recs := seedRecords(10_000, 20)
	const now = 1_764_760_000_000_000
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Process(recs, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
