package consolidate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

const (
	benchFiles       = 500
	benchRowsPerFile = 200 // 20 sensors x 10 windows
)

// fillLake commits benchFiles window files of benchRowsPerFile rows each, one
// sink-log entry per file, as 500 streamer batches would.
func fillLake(b *testing.B, s lake.Store) {
	b.Helper()
	for batch := range int64(benchFiles) {
		start := day.Add(time.Duration(batch) * 100 * time.Second)
		rows := make([]contract.WindowRow, 0, benchRowsPerFile)
		for sensor := 1; sensor <= 20; sensor++ {
			rows = append(rows, windows(fmt.Sprintf("S%03d", sensor), start, benchRowsPerFile/20, 50, 29, 65, 47)...)
		}
		f := putWindows(b, s, key(start, batch, 0), rows)
		commit(b, s, batch, []contract.SinkFile{f})
	}
}

func benchRun(b *testing.B, s lake.Store) {
	fillLake(b, s)
	ctx := context.Background()
	for b.Loop() {
		res, err := Run(ctx, s, 0)
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

// BenchmarkRunFileLake: one full consolidation (sink log, 500 files x 200
// rows, write) on the local file store.
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
