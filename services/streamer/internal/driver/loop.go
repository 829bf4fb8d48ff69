package driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sensorlab/sensorlab/query/agg"
)

// loop runs batches until ctx ends (nil), the available-now work is done
// (nil) or something fails: plan a batch, run it to its commit, report it.
func (d *Driver) loop(ctx, work context.Context, s *session) (committed bool, err error) {
	for {
		if ctx.Err() != nil {
			d.log.Info("stop requested: query stopped cleanly", "next_batch", s.position.nextBatch)
			return committed, nil
		}
		pl, outcome, err := d.planBatch(ctx, work, s)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				continue
			}
			return committed, err
		}
		switch outcome {
		case planDone:
			d.log.Info("available-now: everything available at start is processed", "next_batch", s.position.nextBatch)
			return committed, nil
		case planNothing:
			continue
		}
		res, err := d.runBatch(work, s, pl)
		if err != nil {
			return committed, fmt.Errorf("batch %d: %w", pl.entry.BatchID, err)
		}
		committed = true
		d.advance(work, s, pl, res)
	}
}

// advance moves the loop past a committed batch and reports it.
func (d *Driver) advance(ctx context.Context, s *session, pl planned, res *batchResult) {
	e := pl.entry
	p := &s.position
	reports := d.reports(s, pl, res, p.lastStart)
	p.lastStart = res.timing.start
	p.watermarkMs = res.nextWatermarkMs
	p.needsNoData = res.needsNoData
	p.stateRows = 0
	for i, rq := range s.queries {
		if rq.exec.Agg() != nil && rq.q.Sink.Mode != "complete" {
			p.stateRows += res.queries[i].out.Stats.NumRowsTotal
		}
	}
	if res.numInput > 0 {
		p.lastInput = time.Now()
	}
	if d.Committed != nil {
		d.Committed(res.commit)
	}
	p.nextStart = e.End
	p.nextBatch = e.BatchID + 1
	if e.BatchID%retainBatches == 0 && e.BatchID > 0 {
		d.purgeInBackground(ctx, s)
	}
	for _, r := range reports {
		d.progress.Add(r)
	}
	for i, rq := range s.queries {
		var conn, mode string
		if rq.q.Sink != nil {
			conn, mode = rq.q.Sink.Connector, rq.q.Sink.Mode
		}
		d.latest.record(rq.q.Name, conn, mode, e.BatchID, res.queries[i].out.Rows)
	}
	d.obs.record(reports, e.WatermarkMs, floorDiv(res.event.max, 1000), res.event.n > 0)
	byQuery := make(map[string]int64, len(res.queries))
	var outRows, stateRows int64
	counted := map[*agg.Op]bool{} // an aggregation queries share counts once
	for i, rq := range s.queries {
		r := res.queries[i]
		byQuery[rq.q.Name] = r.result.Rows
		outRows += r.result.Rows
		if a := rq.exec.Agg(); a != nil && !counted[a] {
			counted[a] = true
			stateRows += r.out.Stats.NumRowsTotal
		}
	}
	var durations map[string]int64
	if len(reports) > 0 {
		durations = reports[0].DurationMs // the batch's phases, shared by its queries
	}
	d.log.Info("batch committed", "batch_id", e.BatchID, "input_rows", res.numInput, "invalid_rows", res.numInvalid,
		"late_rows", res.numLate, "output_rows", outRows, "output_rows_by_query", byQuery, "state_rows", stateRows,
		"watermark", e.WatermarkMs, "next_watermark", res.nextWatermarkMs, "state", res.stateKind,
		"duration_ms", res.timing.committed.Sub(res.timing.start).Milliseconds(), "durations_ms", durations)
}
