package app

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/engine"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
)

// BenchmarkObserve is what the metrics and the latest-window table cost per
// committed batch: a seed-sized batch (20 sensors, 20 updated and 20 closed
// windows, 3 partitions).
func BenchmarkObserve(b *testing.B) {
	a := New(config.Default(), slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	offs := map[string]map[string]int64{contract.EventsTopic: {"0": 100, "1": 200, "2": 300}}
	p := progress.Query{
		BatchID: 1, NumInputRows: 50, InvalidByReason: map[string]int64{"malformed_json": 1},
		DurationMs: map[string]int64{"latestOffset": 0, "walCommit": 2, "getBatch": 0, "queryPlanning": 0,
			"addBatch": 3, "commitOffsets": 2, "triggerExecution": 7},
		EventTime: map[string]string{"min": "2024-11-21T14:40:00.000Z", "max": "2024-11-21T14:40:09.900Z",
			"avg": "2024-11-21T14:40:05.000Z", "watermark": "2024-11-21T14:39:00.000Z"},
		StateOperators: []progress.StateOperator{{NumRowsTotal: 140, MemoryUsedBytes: 40000}},
		Sources:        []progress.Source{{StartOffset: offs, EndOffset: offs, LatestOffset: offs}},
	}
	var res engine.BatchResult
	t0 := time.UnixMilli(1732200000000).UTC()
	for s := 1; s <= 20; s++ {
		id := fmt.Sprintf("S%03d", s)
		res.Update = append(res.Update, contract.WindowRow{WinStart: t0.Add(10 * time.Second), SensorID: id, Eventos: 3})
		res.Append = append(res.Append, contract.WindowRow{WinStart: t0, SensorID: id, Eventos: 50})
	}
	a.observe(p, res)
	b.ReportAllocs()
	for b.Loop() {
		a.observe(p, res)
	}
}
