package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// benchStream is a steady stream of readings: nSensors sensors reporting
// round-robin over 3 partitions, the event time advancing 1 ms every step
// readings, so that each 10s window gets 10_000*step readings.
type benchStream struct {
	ids  [][]byte
	step int
}

func newBenchStream(nSensors, step int) benchStream {
	ids := make([][]byte, nSensors)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "sensor-%06d", i)
	}
	return benchStream{ids: ids, step: step}
}

const benchBatch = 100_000 // readings per micro-batch

// benchAdd measures AddRaw in steady state. Every benchBatch readings the
// batch finishes (emitting and evicting closed windows, recycling them) and
// the next starts with its NextWatermark; FinishBatch is timed apart, in
// BenchmarkFinishBatch, so the figure here is the per-reading cost.
func benchAdd(b *testing.B, nSensors, step int) { benchAddCfg(b, DefaultConfig(), nSensors, step) }

// benchAddCfg is benchAdd with another engine configuration.
func benchAddCfg(b *testing.B, cfg Config, nSensors, step int) {
	benchAddStream(b, mustNew(b, cfg), newBenchStream(nSensors, step))
}

// benchAddStream is benchAdd for engine e and stream s.
func benchAddStream(b *testing.B, e *Engine, s benchStream) {
	cfg := e.Config()
	const t0 = int64(1_732_200_000_000)
	i, wm := 0, int64(0)
	run := func(n int) {
		for range n {
			if i%benchBatch == 0 {
				b.StopTimer()
				if i > 0 {
					wm = e.FinishBatch().NextWatermark
				}
				e.StartBatch(wm)
				b.StartTimer()
			}
			id := s.ids[i%len(s.ids)]
			e.AddRaw(int32(i/500%3), id, t0+int64(i/s.step), 21.5, 55.25, i%7 != 0)
			i++
		}
	}
	// Warm up past the watermark delay so windows are evicted and recycled.
	run(int(cfg.Watermark.Milliseconds()+2*max(cfg.Window, cfg.SessionGap).Milliseconds()) * s.step)
	b.ReportAllocs()
	b.ResetTimer()
	run(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	b.StopTimer()
	if st := e.FinishBatch().Stats; st.NumRowsTotal > 0 {
		b.ReportMetric(float64(st.MemoryUsedBytes)/float64(st.NumRowsTotal), "est-bytes/row")
	}
}

// BenchmarkFinishBatch100kSensors measures a batch's end with 100,000
// sensors: the update rows of 100,000 readings (one per sensor) and the
// append rows of the window they close.
func BenchmarkFinishBatch100kSensors(b *testing.B) {
	s := newBenchStream(100_000, 1)
	e := mustNew(b, DefaultConfig())
	t, wm := int64(1_732_200_000_000), int64(0)
	rows := 0
	for b.Loop() {
		b.StopTimer()
		e.StartBatch(wm)
		for _, id := range s.ids {
			e.AddRaw(0, id, t, 21.5, 55.25, true)
		}
		t += 10_000 // each batch fills the next window
		b.StartTimer()
		res := e.FinishBatch()
		rows += len(res.Update) + len(res.Append)
		wm = res.NextWatermark
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/emitted-row")
}

func BenchmarkAddRaw20Sensors(b *testing.B) { benchAdd(b, 20, 20) }

// Window kinds and options on the same stream (20 sensors, each reporting
// once per ms of event time).
func BenchmarkAddRawSliding30s10s20Sensors(b *testing.B) {
	benchAddCfg(b, Config{Window: 30 * time.Second, Slide: 10 * time.Second, Watermark: time.Minute}, 20, 20)
}
func BenchmarkAddRawSession30s20Sensors(b *testing.B) {
	benchAddCfg(b, Config{SessionGap: 30 * time.Second, Watermark: time.Minute}, 20, 20)
}
func BenchmarkAddRawDedup20Sensors(b *testing.B) {
	benchAddCfg(b, Config{Window: 10 * time.Second, Watermark: time.Minute, Dedup: true}, 20, 20)
}
func BenchmarkAddRawSlidingDedupTimeout20Sensors(b *testing.B) {
	benchAddCfg(b, Config{Window: 30 * time.Second, Slide: 10 * time.Second, Watermark: time.Minute,
		Dedup: true, SilenceTimeout: time.Minute}, 20, 20)
}
func BenchmarkAddRawSession30s100kSensors(b *testing.B) {
	benchAddCfg(b, Config{SessionGap: 30 * time.Second, Watermark: time.Minute}, 100_000, 20)
}
func BenchmarkAddRaw100kSensors(b *testing.B)      { benchAdd(b, 100_000, 20) }
func BenchmarkAdd20SensorsString(b *testing.B)     { benchAddString(b, 20) }
func BenchmarkAddRaw100kSensorsDense(b *testing.B) { benchAdd(b, 100_000, 200) }

// BenchmarkAddRaw100kSensorsShuffled is BenchmarkAddRaw100kSensors with the
// readings in another order than the sensors were first seen in, as when
// partitions interleave differently from one round to the next: the sensors
// are interned in id order, then the stream visits them in a fixed shuffled
// order. In the other benchmarks the engine meets the sensors in the order it
// interned (and allocated) them, which hides what reaching an interned id
// costs.
func BenchmarkAddRaw100kSensorsShuffled(b *testing.B) {
	s := newBenchStream(100_000, 20)
	e := mustNew(b, DefaultConfig())
	e.StartBatch(0)
	for _, id := range s.ids {
		e.AddRaw(0, id, 1, 0, 0, true)
	}
	e.FinishBatch()
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(s.ids), func(i, j int) { s.ids[i], s.ids[j] = s.ids[j], s.ids[i] })
	for i, id := range s.ids { // reallocated in stream order, as a record buffer holds them
		s.ids[i] = bytes.Clone(id)
	}
	benchAddStream(b, e, s)
}

// benchAddString is the same stream through Add (a string sensor id).
func benchAddString(b *testing.B, nSensors int) {
	s := newBenchStream(nSensors, 20)
	ids := make([]string, len(s.ids))
	for i, id := range s.ids {
		ids[i] = string(id)
	}
	e := mustNew(b, DefaultConfig())
	const t0 = int64(1_732_200_000_000)
	i, wm := 0, int64(0)
	e.StartBatch(wm)
	b.ReportAllocs()
	for b.Loop() {
		if i%benchBatch == 0 && i > 0 {
			wm = e.FinishBatch().NextWatermark
			e.StartBatch(wm)
		}
		e.Add(int32(i/500%3), Reading{ids[i%len(ids)], t0 + int64(i/20), 21.5, 55.25, i%7 != 0})
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkStateBytesPerRow measures the heap the state takes per state row:
// 100,000 sensors in 7 windows of one partition (700,000 rows), as with a 1m
// delay and 10s windows.
func BenchmarkStateBytesPerRow(b *testing.B) {
	s := newBenchStream(100_000, 1)
	const windows = 7
	var heap, est, rows float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := mustNew(b, DefaultConfig())
		e.StartBatch(0)
		for w := range windows {
			for _, id := range s.ids {
				e.AddRaw(0, id, 1_732_200_000_000+int64(w)*10_000, 21.5, 55.25, true)
			}
		}
		st := e.FinishBatch().Stats
		runtime.GC()
		runtime.ReadMemStats(&after)
		// The interned ids are shared by all windows: count them apart.
		heap = float64(after.HeapAlloc - before.HeapAlloc)
		est, rows = float64(st.MemoryUsedBytes), float64(st.NumRowsTotal)
		runtime.KeepAlive(e)
	}
	b.ReportMetric(heap/rows, "heap-bytes/row")
	b.ReportMetric(est/rows, "est-bytes/row")
}

// BenchmarkFinishBatchSession100kSensors measures a batch's end with 100,000
// sensors in session windows over 3 partitions: each batch extends every
// sensor's session (update rows) and closes the sessions of a third of the
// sensors, which pause for a batch in turn.
func BenchmarkFinishBatchSession100kSensors(b *testing.B) {
	s := newBenchStream(100_000, 1)
	e := mustNew(b, Config{SessionGap: 10 * time.Second, Watermark: 5 * time.Second})
	t, wm := int64(1_732_200_000_000), int64(0)
	rows, batch := 0, 0
	for b.Loop() {
		b.StopTimer()
		e.StartBatch(wm)
		for i, id := range s.ids {
			if (i+batch)%3 != 0 {
				e.AddRaw(int32(i%3), id, t, 21.5, 55.25, true)
			}
		}
		t += 10_000 // a third of the sensors skip a batch: their sessions close
		batch++
		b.StartTimer()
		res := e.FinishBatch()
		rows += len(res.Update) + len(res.Append)
		wm = res.NextWatermark
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/emitted-row")
}
