package plan

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sensorlab/sensorlab/query/decode"
)

// seedSource compiles the seed's query file and returns its stream source.
func seedSource(tb testing.TB) *Source {
	tb.Helper()
	return seedProgram(tb).Queries[0].Source
}

// seedRecords returns n readings of keys sensors in the shape the
// enginebench generator writes (Python's spacing, keys in declared order,
// times increasing), spread over three partitions 500 at a time.
func seedRecords(n, keys int) []decode.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]decode.Record, n)
	const t0 = 1764756900000
	for i := range recs {
		v := fmt.Appendf(nil, `{"sensor_id": "S%03d", "ts": %d, "temp": %.2f, "hum": %.2f, "ok": %v}`,
			i%keys+1, t0+int64(i/20), 18+22*rng.Float64(), 35+60*rng.Float64(), rng.Float64() < 0.95)
		recs[i] = decode.Record{Value: v, Partition: int32(i / 500 % 3), Offset: int64(i)}
	}
	return recs
}

// BenchmarkSourceReaderSeed reads micro-batches of 10,000 of the seed's
// readings through its source (decode, the computed event_time, the three
// CHECK constraints), as the streamer's query mode does; ns/op is per
// batch, and the record rate is reported.
func BenchmarkSourceReaderSeed(b *testing.B) {
	for _, keys := range []int{20, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			r, err := NewSourceReader(seedSource(b))
			if err != nil {
				b.Fatal(err)
			}
			recs := seedRecords(10_000, keys)
			const now = 1_764_760_000_000_000
			b.ReportAllocs()
			for b.Loop() {
				out, rej := r.Read(recs, now)
				if len(rej) != 0 || out.N != len(recs) {
					b.Fatalf("read %d rows, rejected %v", out.N, rej[:min(len(rej), 3)])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		})
	}
}
