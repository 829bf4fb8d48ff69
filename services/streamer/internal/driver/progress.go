package driver

import (
	"strconv"
	"time"

	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/source"
)

// reports builds one progress report per query of a committed batch, as
// Spark's StreamingQueryProgress: the batch's figures (source, durations,
// event time) are shared, the state operator and sink are the query's.
// prevStart is when the previous batch started (zero for the first).
func (d *Driver) reports(s *session, pl planned, res *batchResult, prevStart time.Time) []progress.Query {
	e := pl.entry
	t := res.timing
	dur := t.committed.Sub(t.start) + pl.planDur + pl.walDur
	perSec := func(n int64, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	var sinceLast time.Duration
	if !prevStart.IsZero() {
		sinceLast = t.start.Sub(prevStart)
	}
	offs := func(o source.Offsets) map[string]map[string]int64 {
		m := map[string]int64{}
		for p, v := range o {
			m[strconv.Itoa(int(p))] = v
		}
		return map[string]map[string]int64{s.topic: m}
	}
	src := progress.Source{
		Description:            "KafkaV2[Subscribe[" + s.topic + "]]",
		StartOffset:            offs(e.Start),
		EndOffset:              offs(e.End),
		LatestOffset:           offs(s.src.Latest()),
		NumInputRows:           res.numInput,
		InputRowsPerSecond:     perSec(res.numInput, sinceLast),
		ProcessedRowsPerSecond: perSec(res.numInput, dur),
	}
	eventTime := map[string]string{"watermark": progress.FormatTime(time.UnixMilli(e.WatermarkMs))}
	if ev := res.event; ev.n > 0 {
		eventTime["min"] = progress.FormatTime(time.UnixMicro(ev.min))
		eventTime["max"] = progress.FormatTime(time.UnixMicro(ev.max))
		eventTime["avg"] = progress.FormatTime(time.UnixMicro(ev.avg()))
	}
	out := make([]progress.Query, len(s.queries))
	for i, rq := range s.queries {
		qr := res.queries[i]
		q := progress.Query{
			ID: rq.id, RunID: d.runID, Name: rq.q.Name,
			Timestamp: progress.FormatTime(t.start), BatchID: e.BatchID,
			NumInputRows:           res.numInput,
			InputRowsPerSecond:     src.InputRowsPerSecond,
			ProcessedRowsPerSecond: src.ProcessedRowsPerSecond,
			DurationMs: map[string]int64{
				"latestOffset":     pl.planDur.Milliseconds(),
				"walCommit":        pl.walDur.Milliseconds(),
				"getBatch":         t.fetched.Sub(t.start).Milliseconds(),
				"queryPlanning":    0,
				"addBatch":         t.added.Sub(t.fetched).Milliseconds(), // decode, run the queries, write the outputs
				"commitOffsets":    t.committed.Sub(t.added).Milliseconds(),
				"triggerExecution": dur.Milliseconds(),
			},
			EventTime:       eventTime,
			StateOperators:  []progress.StateOperator{},
			Sources:         []progress.Source{src},
			Sink:            progress.Sink{Description: rq.out.Describe(), NumOutputRows: qr.result.Rows},
			NumInvalidRows:  res.numInvalid,
			InvalidByReason: res.invalidBy,
			Replayed:        pl.replayed,
		}
		if rq.exec.Agg() != nil {
			st := qr.out.Stats
			q.StateOperators = []progress.StateOperator{{
				OperatorName:              "stateStoreSave",
				NumRowsTotal:              st.NumRowsTotal,
				NumRowsUpdated:            st.NumRowsUpdated,
				NumRowsRemoved:            st.NumRowsRemoved,
				NumRowsDroppedByWatermark: st.NumRowsDroppedByWatermark,
				MemoryUsedBytes:           st.MemoryUsedBytes,
			}}
		}
		out[i] = q
	}
	return out
}
