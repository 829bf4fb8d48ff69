package decode

import (
	"bufio"
	"bytes"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/streamer/internal/engine"
)

// The streamer's hot path, end to end in memory: each record is decoded and
// folded into the window state exactly as the app's batch loop does it
// (decode.Decode, then engine.AddRaw), with a micro-batch boundary
// (FinishBatch, StartBatch with the next watermark) every pipelineBatch
// records. One op is one pass over the data set with a fresh engine, so the
// figure includes interning the sensors and emitting every window.
//
// With -ndjson FILE (go test ... -args -ndjson FILE) the records are read from
// FILE, one per line, instead of generated: tools/bench's enginebench command
// uses it to time the engine and DuckDB on the very same bytes.
var ndjsonFile = flag.String("ndjson", "", "read the pipeline benchmark's records from this NDJSON file")

const (
	pipelineBatch = 100_000 // records per micro-batch, as --max-offsets-per-trigger 100000
	pipelineT0    = int64(1_732_200_000_000)
	// pipelineRate is the event-time rate of generated records: the event
	// time advances 1 ms every 20 records (20,000 readings per second).
	pipelineRate = 20
)

// pipelineRecords generates n seed-format readings of nSensors sensors,
// round-robin, at pipelineRate readings per event-time millisecond. Values
// vary as the seed's do (2-decimal temperature and humidity, 95% ok), and the
// JSON has the seed's Python spacing.
func pipelineRecords(n, nSensors int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, nSensors)
	for i := range ids {
		ids[i] = "S" + strconv.Itoa(i+1)
		if nSensors <= 999 {
			ids[i] = "S" + strconv.Itoa(1001 + i)[1:] // S001..S020, as the seed
		}
	}
	out := make([][]byte, n)
	buf := make([]byte, 0, n*100)
	for i := range out {
		ev := contract.Event{
			SensorID: ids[i%nSensors],
			TS:       pipelineT0 + int64(i/pipelineRate),
			Temp:     contract.Round2(18 + 22*rng.Float64()),
			Hum:      contract.Round2(35 + 60*rng.Float64()),
			OK:       rng.Float64() < 0.95,
		}
		start := len(buf)
		buf = appendSeedJSON(buf, ev)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// appendSeedJSON is contract.AppendJSON with Python's json.dumps spacing.
func appendSeedJSON(dst []byte, ev contract.Event) []byte {
	compact := contract.AppendJSON(nil, ev)
	for _, c := range compact {
		dst = append(dst, c)
		if c == ':' || c == ',' {
			dst = append(dst, ' ')
		}
	}
	return dst
}

func readNDJSON(tb testing.TB, path string) [][]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), contract.MaxValueBytes+1)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return out
}

// pipelinePass runs recs through decode and a fresh engine, micro-batch by
// micro-batch, then closes every window with a final watermark. It returns
// the windows emitted and the readings they hold.
func pipelinePass(tb testing.TB, recs [][]byte, nowMs int64) (windows, readings int64, stateRows, stateBytes int64) {
	eng, err := engine.New(engine.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	var f Fields
	wm := int64(0)
	finish := func() {
		res := eng.FinishBatch()
		windows += int64(len(res.Append))
		for i := range res.Append {
			readings += res.Append[i].Eventos
		}
		if st := res.Stats; st.NumRowsTotal > stateRows {
			stateRows, stateBytes = st.NumRowsTotal, st.MemoryUsedBytes
		}
		wm = res.NextWatermark
	}
	for lo := 0; lo < len(recs); lo += pipelineBatch {
		eng.StartBatch(wm)
		for i, r := range recs[lo:min(lo+pipelineBatch, len(recs))] {
			if err := Decode(r, nowMs, &f); err != nil {
				tb.Fatalf("record %d: %v", lo+i, err)
			}
			eng.AddRaw(int32((lo+i)/500%3), f.SensorID, f.TS, f.Temp, f.Hum, f.OK)
		}
		finish()
	}
	eng.StartBatch(math.MaxInt64 - 1) // close everything
	finish()
	return windows, readings, stateRows, stateBytes
}

func benchPipeline(b *testing.B, recs [][]byte) {
	nowMs := pipelineT0
	if len(recs) > 0 {
		var f Fields
		if err := Decode(recs[len(recs)-1], math.MaxInt64/2, &f); err == nil {
			nowMs = f.TS // the batch time of the last record: nothing is "in the future"
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0, cpuOK := threadCPU()
	var windows, stateRows, stateBytes int64
	for b.Loop() {
		w, readings, rows, bytes := pipelinePass(b, recs, nowMs)
		// Every reading must land in exactly one emitted window: none is late
		// (event time never goes back) and none is lost.
		if readings != int64(len(recs)) {
			b.Fatalf("emitted windows hold %d readings, want %d", readings, len(recs))
		}
		windows, stateRows, stateBytes = w, rows, bytes
	}
	cpu1, _ := threadCPU()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * float64(len(recs))
	b.ReportMetric(n/b.Elapsed().Seconds(), "readings/s")
	if cpuOK && cpu1 > cpu0 {
		b.ReportMetric(n/(cpu1-cpu0).Seconds(), "readings/cpu-s")
	}
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/reading")
	b.ReportMetric(float64(windows), "windows")
	if stateRows > 0 {
		b.ReportMetric(float64(stateBytes)/float64(stateRows), "est-bytes/state-row")
	}
}

// BenchmarkPipeline20Sensors: 1M readings of the seed's 20 sensors.
func BenchmarkPipeline20Sensors(b *testing.B) {
	benchPipeline(b, pipelineRecords(1_000_000, 20))
}

// BenchmarkPipeline100kSensors: 2M readings of 100,000 sensors (each reports
// every 5 s of event time; about 700,000 state rows at the 1m watermark).
func BenchmarkPipeline100kSensors(b *testing.B) {
	benchPipeline(b, pipelineRecords(2_000_000, 100_000))
}

// BenchmarkPipelineNDJSON: the records of -ndjson FILE (skipped without it).
func BenchmarkPipelineNDJSON(b *testing.B) {
	if *ndjsonFile == "" {
		b.Skip("no -ndjson file")
	}
	benchPipeline(b, readNDJSON(b, *ndjsonFile))
}
