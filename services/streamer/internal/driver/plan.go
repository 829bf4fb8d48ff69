package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/source"
)

// planned is a batch ready to run: its offsets entry, written to the
// offsets log (or recovered from it), and how long planning took.
type planned struct {
	entry    checkpoint.OffsetsEntry
	replayed bool          // re-run of a batch planned before a restart
	planDur  time.Duration // deciding the end offsets (latestOffset)
	walDur   time.Duration // writing the offsets entry (walCommit)
}

// planOutcome says what planBatch decided.
type planOutcome uint8

const (
	planRun     planOutcome = iota // run the planned batch
	planNothing                    // nothing to run yet: plan again
	planDone                       // available-now: everything available at start is processed
)

// planBatch decides the next batch and writes its offsets entry before it
// runs: a batch to re-run first, else one of the trigger's.
func (d *Driver) planBatch(ctx, work context.Context, s *session) (planned, planOutcome, error) {
	p := &s.position
	if len(p.replay) > 0 {
		e := p.replay[0]
		p.replay = p.replay[1:]
		d.log.Info("re-running a batch planned before the restart", "batch_id", e.BatchID, "watermark", e.WatermarkMs)
		return planned{entry: e, replayed: true}, planRun, nil
	}
	var end source.Offsets
	var tPlan time.Time
	var err error
	switch d.cfg.Trigger {
	case config.TriggerAvailableNow:
		tPlan = time.Now()
		end = source.Plan(p.nextStart, p.targets, d.cfg.MaxOffsetsPerTrigger)
		if p.nextStart.Lag(end) == 0 && !p.needsNoData {
			return planned{}, planDone, nil
		}
	case config.TriggerInterval:
		if err := d.pollUntil(ctx, s, p.lastTrigger.Add(d.cfg.TriggerInterval)); err != nil {
			return planned{}, planNothing, err
		}
		p.lastTrigger = time.Now()
		tPlan = p.lastTrigger
		if end, err = d.latestEnd(ctx, s); err != nil {
			return planned{}, planNothing, err
		}
		if p.nextStart.Lag(end) == 0 && !p.needsNoData && !d.idleRaise(p) {
			return planned{}, planNothing, nil
		}
	default: // continuous
		tPlan = time.Now()
		if end, err = d.latestEnd(ctx, s); err != nil {
			return planned{}, planNothing, err
		}
		if p.nextStart.Lag(end) == 0 && !p.needsNoData && !d.idleRaise(p) {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := s.src.Poll(pctx)
			cancel()
			return planned{}, planNothing, err
		}
	}
	e := checkpoint.OffsetsEntry{
		BatchID:          p.nextBatch,
		BatchTimestampMs: time.Now().UnixMilli(),
		WatermarkMs:      p.watermarkMs,
		Topic:            s.topic,
		Start:            p.nextStart.Clone(),
		End:              end,
		NoData:           p.nextStart.Lag(end) == 0,
		DataLossReset:    p.lossReset,
	}
	tWAL := time.Now()
	if err := s.ck.WriteOffsets(work, e); err != nil {
		return planned{}, planNothing, fmt.Errorf("write offsets of batch %d: %w", e.BatchID, err)
	}
	d.seen.offsets = e.BatchID
	p.lossReset = false
	return planned{entry: e, planDur: tWAL.Sub(tPlan), walDur: time.Since(tWAL)}, planRun, nil
}

// latestEnd plans a batch's end offsets as Spark does: the broker's latest
// offsets, capped by --max-offsets-per-trigger.
func (d *Driver) latestEnd(ctx context.Context, s *session) (source.Offsets, error) {
	latest, err := s.src.ListOffsets(ctx, false)
	if err != nil {
		return nil, err
	}
	return source.Plan(s.position.nextStart, latest, d.cfg.MaxOffsetsPerTrigger), nil
}

// pollUntil buffers records until the deadline (or ctx) passes.
func (d *Driver) pollUntil(ctx context.Context, s *session, deadline time.Time) error {
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		err := s.src.Poll(pctx)
		cancel()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// idleRaise raises the watermark of partitions idle for IdleTimeout to the
// query's (SharedWatermark), or past origin partitions idle for it
// (Origins), and says whether that closes windows in state: then a batch
// without data runs.
func (d *Driver) idleRaise(p *position) bool {
	if d.Origins > 0 && d.src.Watermark != nil {
		// Origin partitions that went idle no longer hold the watermark.
		t := d.origins.watermarkTime(d.Origins, nil, d.IdleTimeout, time.Now())
		if w := floorDiv(t, 1000) - d.src.Watermark.Delay/1000; w > p.watermarkMs {
			d.log.Info("origin partitions idle: the watermark follows the others'", "watermark", p.watermarkMs, "next_watermark", w)
			p.watermarkMs = w
			return p.stateRows > 0
		}
	}
	if d.SharedWatermark == nil || time.Since(p.lastInput) < d.IdleTimeout {
		return false
	}
	w := d.SharedWatermark()
	if w <= p.watermarkMs {
		return false
	}
	d.log.Info("partition idle: its watermark follows the query's", "watermark", p.watermarkMs, "query_watermark", w,
		"idle_for", time.Since(p.lastInput).Round(time.Second).String())
	p.watermarkMs = w
	return p.stateRows > 0
}
