package consolidate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

const (
	benchFiles       = 500
	benchRowsPerFile = 200 // 20 sensors x 10 windows
)

// fillLake commits benchFiles window files of benchRowsPerFile rows each, one
// commit per file, as 500 streamer batches would (a checkpoint every 10).
func fillLake(b *testing.B, s lake.Store) {
	b.Helper()
	w := streamtest.New(s, query)
	for batch := range int64(benchFiles) {
		start := day.Add(time.Duration(batch) * 100 * time.Second)
		rows := make([]contract.WindowRow, 0, benchRowsPerFile)
		for sensor := 1; sensor <= 20; sensor++ {
			rows = append(rows, windows(fmt.Sprintf("S%03d", sensor), start, benchRowsPerFile/20, 50, 29, 65, 47)...)
		}
		w.MustAppend(b, batch, rows)
	}
}

func benchRun(b *testing.B, s lake.Store) {
	fillLake(b, s)
	ctx := context.Background()
	c := New(s, Options{})
	for b.Loop() {
		res, err := c.Run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.WindowRows != benchFiles*benchRowsPerFile || len(res.Rows) != 20 {
			b.Fatalf("read %d rows into %d sensors", res.WindowRows, len(res.Rows))
		}
	}
	b.ReportMetric(float64(benchFiles*benchRowsPerFile)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(benchFiles)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkRunFileLake: one full consolidation (the stream snapshot, 500
// files x 200 rows, the batch table's overwrite commit) on the local file
// store.
func BenchmarkRunFileLake(b *testing.B) {
	s, err := lake.Open(context.Background(), "file://"+b.TempDir(), lake.S3Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, s)
}

// BenchmarkRunMinIO: the same on a real MinIO (skipped without one).
func BenchmarkRunMinIO(b *testing.B) {
	benchRun(b, laketest.StartMinIO(b).Bucket(b, "lake"))
}

// BenchmarkAggregate: the pure fold, without I/O or decoding.
func BenchmarkAggregate(b *testing.B) {
	ws := make([]Window, benchRowsPerFile)
	for i := range ws {
		ws[i] = Window{SensorID: fmt.Sprintf("S%03d", i%20+1), Eventos: 50, AvgTemp: 29, AvgHum: 65, OKCount: 47}
	}
	for b.Loop() {
		var a Aggregator
		for _, w := range ws {
			a.Add(w)
		}
		if len(a.Rows()) != 20 {
			b.Fatal("lost sensors")
		}
	}
	b.ReportMetric(float64(len(ws))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// compactedRows is the size of an optimized lake's one file: what `batcher
// optimize` leaves of batchbench's 3000 files of 20 rows.
const compactedRows = 60_000

// compactedWindows returns compactedRows window rows as the streamer's
// batches would give them (20 sensors per 10 s window, in window order) and
// as OPTIMIZE concatenates them.
func compactedWindows() []contract.WindowRow {
	rows := make([]contract.WindowRow, 0, compactedRows)
	for w := range compactedRows / 20 {
		ws := day.Add(time.Duration(w) * 10 * time.Second)
		for sensor := 1; sensor <= 20; sensor++ {
			n := int64(20 + (w*7+sensor*13)%80)
			rows = append(rows, contract.WindowRow{
				WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: fmt.Sprintf("S%03d", sensor),
				Eventos: n, AvgTemp: contract.Round2(18 + float64((w*31+sensor)%2200)/100), AvgHum: contract.Round2(35 + float64((w*17+sensor)%6000)/100),
				OKCount: n - int64(w%3), MinTemp: 18, MaxTemp: 40,
			})
		}
	}
	return rows
}

// fillCompactedLake commits one file of compactedRows rows, written with the
// sink's writer settings, and returns it.
func fillCompactedLake(b *testing.B, s lake.Store) File {
	w := streamtest.New(s, query)
	w.MustAppend(b, 0, compactedWindows())
	f := mustSnapshot(b, w.Table).Files()[0]
	key, err := w.Table.DataKey(f.Path)
	if err != nil {
		b.Fatal(err)
	}
	return File{Path: f.Path, Key: key, Size: f.Size, Rows: compactedRows}
}

// BenchmarkReadCompactedFile: decoding and folding one 60,000-row file
// (the optimized lake's), on the local file store: no Delta log, no write.
func BenchmarkReadCompactedFile(b *testing.B) {
	s := fileLake(b)
	f := fillCompactedLake(b, s)
	ctx := context.Background()
	for b.Loop() {
		agg, err := Read(ctx, s, []File{f}, 0)
		if err != nil {
			b.Fatal(err)
		}
		if agg.WindowRows() != compactedRows {
			b.Fatalf("read %d rows", agg.WindowRows())
		}
	}
	b.ReportMetric(float64(compactedRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRunCompactedLake: one full consolidation (the stream snapshot,
// the one 60,000-row file, the batch table's commit) on the local file store.
func BenchmarkRunCompactedLake(b *testing.B) {
	s := fileLake(b)
	fillCompactedLake(b, s)
	ctx := context.Background()
	c := New(s, Options{})
	for b.Loop() {
		res, err := c.Run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.WindowRows != compactedRows || len(res.Rows) != 20 {
			b.Fatalf("read %d rows into %d sensors", res.WindowRows, len(res.Rows))
		}
	}
}
