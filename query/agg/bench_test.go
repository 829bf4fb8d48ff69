package agg

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// benchStream is the existing engine's benchmark stream
// (services/streamer/internal/engine/bench_test.go) in columns: reading i
// is from sensor i mod nKeys, in partition i/500 mod 3, at event time
// t0 + i/20 ms, so that each 10 s window gets 200,000 readings and time
// advances as in a real stream: the 1 min watermark closes a window every
// 200,000 readings.
type benchStream struct {
	ids []string
	i   int
	// jitterMs, when set, moves each reading back in event time by up to
	// that many ms (a stream disordered within its watermark delay: the
	// harnesses generate half the delay), so that consecutive readings
	// fall in different windows.
	jitterMs int64
	rng      *rand.Rand
}

const benchT0 = int64(1_732_200_000_000)

func (s *benchStream) fill(b *types.Batch, n int) {
	b.Reset()
	for range n {
		i := s.i
		t := benchT0 + int64(i/20)
		if s.jitterMs > 0 {
			t -= s.rng.Int64N(s.jitterMs)
		}
		b.Cols[0].AppendInt(t * 1000)
		b.Cols[1].AppendString(s.ids[i%len(s.ids)])
		b.Cols[2].AppendFloat(21.5)
		b.Cols[3].AppendFloat(55.25)
		ok := int64(1)
		if i%7 == 0 {
			ok = 0
		}
		b.Cols[4].AppendInt(ok)
		b.Partition = append(b.Partition, int32(i/500%3))
		s.i++
	}
	b.N = n
}

func newBenchStream(nKeys int) *benchStream {
	ids := make([]string, nKeys)
	for i := range ids {
		ids[i] = fmt.Sprintf("sensor-%06d", i)
	}
	return &benchStream{ids: ids}
}

const benchBatch = 10_000 // rows per micro-batch

// BenchmarkSeedQuery measures Add and Finish of the seed query, in batches
// of 10,000 rows, per input row, after a warm-up past the watermark delay
// (windows are emitted, evicted and recycled in steady state). It reports
// the state's estimated bytes per state row.
func BenchmarkSeedQuery(b *testing.B) {
	for _, mode := range []Mode{Append, Update} {
		for _, n := range []int{20, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("mode=%s/keys=%d", mode, n), func(b *testing.B) {
				benchSeed(b, mode, newBenchStream(n))
			})
		}
	}
	// Disordered within half the watermark delay, as the harnesses'
	// input is: readings hop between the open windows.
	for _, n := range []int{20, 1_000_000} {
		b.Run(fmt.Sprintf("mode=append/keys=%d/disorder=30s", n), func(b *testing.B) {
			s := newBenchStream(n)
			s.jitterMs, s.rng = 30_000, rand.New(rand.NewPCG(1, 2))
			benchSeed(b, Append, s)
		})
	}
}

// measure runs op over warm rows of fill's stream, then times it over
// b.N more, per input row (Add, then Finish, every benchBatch rows; fill
// runs outside the timer), and returns the last batch's statistics.
func measure(b *testing.B, op *Op, fill func(*types.Batch, int), warm int) Stats {
	batch := types.NewBatch(op.in, benchBatch)
	var st Stats
	feed := func(rows int) {
		for ; rows > 0; rows -= benchBatch {
			b.StopTimer()
			fill(batch, min(rows, benchBatch))
			b.StartTimer()
			op.Add(batch)
			_, st = op.Finish()
		}
	}
	feed(warm)
	b.ReportAllocs()
	b.ResetTimer()
	feed(b.N)
	b.StopTimer()
	if err := op.Err(); err != nil {
		b.Fatal(err)
	}
	return st
}

func benchSeed(b *testing.B, mode Mode, s *benchStream) {
	op, err := New(seedSchema, seedConfig(mode))
	if err != nil {
		b.Fatal(err)
	}
	st := measure(b, op, s.fill, 2*80*10_000*20/10) // 160 s of event time
	b.ReportMetric(float64(st.MemoryUsedBytes)/float64(st.NumRowsTotal), "est-bytes/state-row")
	b.ReportMetric(float64(st.NumRowsTotal), "state-rows")
}

// BenchmarkSlidingQuery measures Add and Finish, per input row, of the
// fraud example's shape over the benchmark stream: count(*) and a DOUBLE
// sum per key in 10 s windows sliding every second (each row folds into
// 10 windows), append mode, watermark delay 5 s.
func BenchmarkSlidingQuery(b *testing.B) {
	for _, n := range []int{20, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			cfg := Config{Keys: []int{1}, Window: Window{Kind: Sliding, Size: 10_000_000, Slide: 1_000_000},
				Aggs: []Agg{{Count, -1}, {Sum, 2}}, Mode: Append, HasWatermark: true, Delay: 5_000_000}
			op, err := New(seedSchema, cfg)
			if err != nil {
				b.Fatal(err)
			}
			measure(b, op, newBenchStream(n).fill, 20*20_000) // 20 s of event time
		})
	}
}

// BenchmarkStateBytes measures the heap the state takes per (window, key)
// row: 1,000,000 keys in 2 windows of one partition.
func BenchmarkStateBytes(b *testing.B) {
	const keys, windows = 1_000_000, 2
	s := newBenchStream(keys)
	batch := types.NewBatch(seedSchema, benchBatch)
	var heap, est, rows float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		op, _ := New(seedSchema, seedConfig(Append))
		for w := range windows {
			for k := 0; k < keys; k += benchBatch {
				s.i = k
				s.fill(batch, benchBatch)
				for j := range batch.Cols[0].I64 {
					batch.Cols[0].I64[j] = (benchT0 + int64(w)*10_000) * 1000
					batch.Partition[j] = 0
				}
				op.Add(batch)
			}
		}
		_, st := op.Finish()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		est, rows = float64(st.MemoryUsedBytes), float64(st.NumRowsTotal)
		runtime.KeepAlive(op)
	}
	b.ReportMetric(heap/rows, "heap-bytes/state-row")
	b.ReportMetric(est/rows, "est-bytes/state-row")
}

// BenchmarkChangelog measures AppendChangelog (into a kept buffer) after a batch of 10,000 rows
// that changes 10,000 groups of a state of 1,000,000 keys in 2 windows,
// and reports the bytes written per changed group: its cost follows the
// batch, not the state.
func BenchmarkChangelog(b *testing.B) {
	const keys = 1_000_000
	s := newBenchStream(keys)
	op, _ := New(seedSchema, seedConfig(Update))
	batch := types.NewBatch(seedSchema, benchBatch)
	fill := func(from int) {
		s.i = from
		s.fill(batch, benchBatch)
		for j := range batch.Cols[0].I64 {
			batch.Cols[0].I64[j] = benchT0 * 1000
			batch.Partition[j] = 0
		}
	}
	for k := 0; k < keys; k += benchBatch {
		fill(k)
		op.Add(batch)
	}
	op.Finish()
	op.WriteChangelog(&bytes.Buffer{})
	var buf []byte // kept, as the streamer keeps its state file's
	k := 0
	for b.Loop() {
		b.StopTimer()
		fill(k % keys)
		k += benchBatch
		op.Add(batch)
		op.Finish()
		b.StartTimer()
		var err error
		if buf, err = op.AppendChangelog(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf))/benchBatch, "bytes/changed-group")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchBatch, "ns/changed-group")
}

// BenchmarkSessionsManyOpen measures Add and Finish, per input row, of
// 30-minute sessions (append, watermark delay 5 min) when 1,000,000 users'
// sessions stay open (each user comes back every 1,000 s of event time)
// while 1% of the rows are one-off visits whose sessions close 35 minutes
// later: every batch closes some sessions, and the cost should follow
// those, not the million open ones.
func BenchmarkSessionsManyOpen(b *testing.B) {
	const users = 1_000_000
	cfg := Config{Keys: []int{1}, Window: Window{Kind: Session, Gap: 30 * 60e6}, Aggs: []Agg{{Count, -1}},
		Mode: Append, HasWatermark: true, Delay: 5 * 60e6}
	op, err := New(seedSchema, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%07d", i)
	}
	i, once := 0, 0
	fill := func(batch *types.Batch, n int) {
		batch.Reset()
		for range n {
			t := benchT0*1000 + int64(i)*1000 // 1 ms per row: a batch is 10 s
			key := ids[i%users]
			if i%100 == 0 {
				key = fmt.Sprintf("once-%09d", once)
				once++
			}
			batch.Cols[0].AppendInt(t)
			batch.Cols[1].AppendString(key)
			batch.Cols[2].AppendFloat(1)
			batch.Cols[3].AppendFloat(1)
			batch.Cols[4].AppendInt(1)
			batch.Partition = append(batch.Partition, int32(i/500%3))
			i++
		}
		batch.N = n
	}
	measure(b, op, fill, 250*benchBatch) // 2,500 s: every user open, the first one-offs closed
}
