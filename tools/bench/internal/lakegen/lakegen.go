// Package lakegen writes a lake as the streamer's Parquet sink would after
// many micro-batches: one zstd Parquet file of window rows per batch (under
// stream/date=…/, named by contract.StreamFileKey) and one sink-log entry per
// batch, so that the batcher and DuckDB can be timed on many small files.
package lakegen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// QueryID is the streamer query the generated files belong to.
const QueryID = "6b1f0c8e-0000-4000-8000-00000000beef"

// Spec shapes the lake.
type Spec struct {
	Files          int       // batches, one file each
	Sensors        int       // sensors per window
	WindowsPerFile int       // 10 s windows closed per batch
	Start          time.Time // first window's start
}

// Write fills store with the spec's files and sink-log entries and returns
// the number of window rows written.
func Write(ctx context.Context, store lake.Store, s Spec) (int64, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	var total int64
	var buf bytes.Buffer
	rows := make([]contract.WindowRow, 0, s.Sensors*s.WindowsPerFile)
	for b := range s.Files {
		rows = rows[:0]
		for w := range s.WindowsPerFile {
			ws := s.Start.Add(time.Duration(b*s.WindowsPerFile+w) * 10 * time.Second)
			for i := range s.Sensors {
				n := int64(20 + rng.IntN(80))
				rows = append(rows, contract.WindowRow{
					WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: fmt.Sprintf("S%03d", i+1),
					Eventos: n, AvgTemp: contract.Round2(18 + 22*rng.Float64()), AvgHum: contract.Round2(35 + 60*rng.Float64()),
					OKCount: n - int64(rng.IntN(3)), MinTemp: 18, MaxTemp: 40,
				})
			}
		}
		// The sink writes one file per window date; keep every batch in one
		// date by construction of Start (callers pick a day start).
		key := contract.StreamFileKey(contract.PartitionDate(rows[0].WinStart), QueryID, int64(b), 0)
		buf.Reset()
		w := parquet.NewGenericWriter[contract.WindowRow](&buf, parquet.Compression(&parquet.Zstd))
		if _, err := w.Write(rows); err != nil {
			return total, fmt.Errorf("lakegen: encode: %w", err)
		}
		if err := w.Close(); err != nil {
			return total, fmt.Errorf("lakegen: encode: %w", err)
		}
		if err := store.Put(ctx, key, buf.Bytes()); err != nil {
			return total, fmt.Errorf("lakegen: %w", err)
		}
		entry, err := json.Marshal(contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: QueryID, BatchID: int64(b),
			Files: []contract.SinkFile{{Path: key, Rows: int64(len(rows)), Size: int64(buf.Len())}}})
		if err != nil {
			return total, fmt.Errorf("lakegen: %w", err)
		}
		if err := store.Put(ctx, contract.SinkLogKey(QueryID, int64(b)), entry); err != nil {
			return total, fmt.Errorf("lakegen: %w", err)
		}
		total += int64(len(rows))
	}
	return total, nil
}
