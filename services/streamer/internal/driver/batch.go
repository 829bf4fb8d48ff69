package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
	"github.com/sensorlab/sensorlab/services/streamer/internal/qsink"
)

// The write steps of a batch, in order (crash tests stop after each).
const (
	stepOutputs = "outputs" // every query's output written (Delta commits, console)
	stepKafka   = "kafka"   // the batch's Kafka transaction committed
	stepState   = "state"   // the state file written
	stepCommit  = "commit"  // the commit written
)

// readChunk is how many records are decoded and pushed to the queries at a
// time: decoding overlaps the fetch of the next records.
const readChunk = 4096

// batchResult is what a committed batch did.
type batchResult struct {
	queries         []queryResult // in s.queries order
	numInput        int64         // records read, dead-lettered ones included
	numInvalid      int64
	numLate         int64 // records forwarded to the source's late topic
	invalidBy       map[string]int64
	event           eventStats
	originMax       map[int32]int64 // the largest event time per origin partition (Driver.Origins)
	nextWatermarkMs int64
	commit          checkpoint.CommitEntry // what the checkpoint recorded of the batch
	needsNoData     bool
	stateKind       string
	timing          batchTiming
}

// queryResult is one query's share of a batch.
type queryResult struct {
	out    *plan.Output
	result qsink.Result
}

// batchTiming marks the phases of a batch.
type batchTiming struct {
	start     time.Time
	fetched   time.Time // start + the time spent waiting for records (getBatch)
	added     time.Time // queries run, outputs and the Kafka transaction committed (addBatch)
	committed time.Time // state and commit written (commitOffsets)
}

// eventStats are the event times (the watermark column, micros) of the
// rows a batch read.
type eventStats struct {
	n             int64
	min, max      int64
	base, sumDiff int64 // avg = base + sumDiff/n, without overflowing
}

func (st *eventStats) add(v int64) {
	if st.n == 0 {
		st.min, st.max, st.base = v, v, v
	}
	st.n++
	st.min, st.max = min(st.min, v), max(st.max, v)
	st.sumDiff += v - st.base
}

func (st *eventStats) avg() int64 { return st.base + st.sumDiff/st.n }

// runBatch runs one planned batch to its commit.
func (d *Driver) runBatch(ctx context.Context, s *session, pl planned) (*batchResult, error) {
	e := pl.entry
	res := &batchResult{invalidBy: map[string]int64{}, queries: make([]queryResult, len(s.queries))}
	res.timing.start = time.Now()
	nowMicros := e.BatchTimestampMs * 1000
	for _, rq := range s.queries {
		if a := rq.exec.Agg(); a != nil {
			if d.Origins > 0 {
				a.HoldWatermark()
			}
			a.SetWatermark(e.WatermarkMs * 1000)
		}
	}
	s.out.Begin(e.BatchID)
	rd := &batchReader{d: d, s: s, res: res, now: nowMicros, wmCol: -1, wmMs: e.WatermarkMs}
	if wm := d.src.Watermark; wm != nil {
		rd.wmCol = d.src.Schema.Index(wm.Column)
	}
	waited, err := s.src.TakeAsFetched(ctx, e.Start, e.End, rd.add)
	if err == nil {
		err = rd.flush()
	}
	if err == nil {
		err = rd.err
	}
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	res.timing.fetched = res.timing.start.Add(waited)

	for i, rq := range s.queries {
		out, err := rq.exec.Finish(nowMicros)
		if err != nil {
			return nil, err
		}
		res.queries[i].out = out
	}
	res.nextWatermarkMs, res.needsNoData = d.nextWatermark(s, e.WatermarkMs, res)

	// The state file is encoded and written while the outputs are: it
	// depends only on the operators' state after Finish, which writing
	// the outputs does not touch, and recovery reads a batch's state only
	// once its commit exists, so the two may land in either order. Every
	// return below waits for it.
	type saved struct {
		kind string
		err  error
	}
	stateCh := make(chan saved, 1)
	go func() {
		kind, err := d.saveState(ctx, s, e.BatchID)
		stateCh <- saved{kind, err}
	}()
	stateTaken := false
	waitState := func() saved {
		stateTaken = true
		return <-stateCh
	}
	defer func() {
		if !stateTaken {
			<-stateCh
		}
	}()

	for i, rq := range s.queries {
		r, err := rq.out.Write(ctx, e.BatchID, res.queries[i].out.Rows, e.NoData)
		if err != nil {
			return nil, fmt.Errorf("query %s: %s: %w", rq.q.Name, rq.out.Describe(), err)
		}
		if r.CommittedElsewhere != nil {
			d.log.Warn("another writer committed this batch first; skipped (if this lasts, two streamers share the query)",
				"query", rq.q.Name, "batch_id", e.BatchID, "sink", rq.out.Describe(), "err", r.CommittedElsewhere)
		}
		if r.PostCommitErr != nil {
			d.log.Warn("the commit stands, but writing its checkpoint or cleaning its log failed",
				"query", rq.q.Name, "batch_id", e.BatchID, "table_version", r.Version, "err", r.PostCommitErr)
		}
		res.queries[i].result = r
	}
	if err := d.crash(stepOutputs, e.BatchID); err != nil {
		return nil, err
	}
	// The Kafka sinks' rows and the dead letters commit in one transaction
	// with the batch's marker, after the lake's commits; a re-run of a
	// batch already committed there sends nothing.
	if _, _, err := s.out.Commit(ctx); err != nil {
		return nil, err
	}
	if err := d.crash(stepKafka, e.BatchID); err != nil {
		return nil, err
	}
	res.timing.added = time.Now()

	st := waitState()
	if st.err != nil {
		return nil, st.err
	}
	res.stateKind = st.kind
	if err := d.crash(stepState, e.BatchID); err != nil {
		return nil, err
	}
	var outRows int64
	for _, q := range res.queries {
		outRows += q.result.Rows
	}
	res.commit = checkpoint.CommitEntry{
		BatchID: e.BatchID, NextWatermarkMs: res.nextWatermarkMs,
		NumInputRows: res.numInput, NumOutputRows: outRows, CommittedAt: time.Now().UTC(),
	}
	if err := s.ck.WriteCommit(ctx, res.commit); err != nil {
		return nil, fmt.Errorf("write commit: %w", err)
	}
	d.seen.commit = e.BatchID
	res.timing.committed = time.Now()
	if err := d.crash(stepCommit, e.BatchID); err != nil {
		return nil, err
	}
	return res, nil
}

func (d *Driver) crash(step string, batchID int64) error {
	if d.crashAfter != nil && d.crashAfter(step, batchID) {
		return fmt.Errorf("%w: %s of batch %d", errCrash, step, batchID)
	}
	return nil
}

// nextWatermark is the source's watermark for the next batch: the largest
// event time read minus the delay, never below the current one (ms, as the
// offsets log records it). A no-data batch is needed when a query says its
// state has windows that watermark closes, or when the source's watermark
// passes a stateful query's own (its rows a subset of the source's) while
// it holds state.
func (d *Driver) nextWatermark(s *session, curMs int64, res *batchResult) (int64, bool) {
	next := curMs
	if wm := d.src.Watermark; wm != nil && res.event.n > 0 {
		evMax := res.event.max
		if d.Origins > 0 {
			evMax = d.origins.watermarkTime(d.Origins, res.originMax, d.IdleTimeout, time.Now())
		}
		next = max(curMs, floorDiv(evMax, 1000)-wm.Delay/1000)
	}
	needs := false
	for i, rq := range s.queries {
		st := res.queries[i].out.Stats
		if rq.exec.Agg() == nil {
			continue
		}
		needs = needs || st.NeedsNoDataBatch ||
			(next > curMs && next*1000 > st.NextWatermark && st.NumRowsTotal > 0 && rq.q.Sink.Mode != "complete")
	}
	return next, needs
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// batchReader decodes a batch's records in chunks, dead-letters the
// rejected ones and pushes the rows to every query.
type batchReader struct {
	d     *Driver
	s     *session
	res   *batchResult
	now   int64 // the batch timestamp, micros
	wmCol int   // the watermark column in the source's schema; -1: none
	wmMs  int64 // the batch's watermark
	recs  []decode.Record
	raw   []*kgo.Record
	err   error
}

func (r *batchReader) add(rec *kgo.Record) {
	if r.err != nil {
		return
	}
	r.recs = append(r.recs, decode.Record{Key: rec.Key, Value: rec.Value, Topic: rec.Topic, Partition: rec.Partition,
		Offset: rec.Offset, TimestampMs: rec.Timestamp.UnixMilli(), TimestampType: int32(rec.Attrs.TimestampType())})
	r.raw = append(r.raw, rec)
	if len(r.recs) >= readChunk {
		r.err = r.flush()
	}
}

func (r *batchReader) flush() error {
	if len(r.recs) == 0 {
		return nil
	}
	rows, rejected := r.s.reader.Read(r.recs, r.now)
	r.res.numInput += int64(len(r.recs))
	for _, rej := range rejected {
		detail := rej.Detail
		if rej.Field != "" {
			detail = rej.Field + ": " + detail
		}
		r.s.out.Send(kafkaout.DeadLetter(r.d.cfg.DLQTopic, kafkaout.Origin(r.raw[rej.Index]), contract.Reason(rej.Reason), detail))
		r.res.numInvalid++
		r.res.invalidBy[rej.Reason]++
	}
	if r.wmCol >= 0 {
		r.res.event.addColumn(rows, r.wmCol)
		if r.d.Origins > 0 {
			r.addOrigins(rows, rejected)
		}
		if r.d.src.LateTopic != "" {
			r.forwardLate(rows, rejected)
		}
	}
	for _, rq := range r.s.queries {
		if err := rq.exec.Push(rows, r.now); err != nil {
			return err
		}
	}
	clear(r.raw)
	r.recs, r.raw = r.recs[:0], r.raw[:0]
	return nil
}

// forwardLate copies to the source's late topic the records of rows whose
// event time is at or before the batch's watermark: the rows every stateful
// query drops as late. rows are the records not rejected, in record order.
func (r *batchReader) forwardLate(rows *types.Batch, rejected []plan.Rejected) {
	var skip []bool
	if len(rejected) > 0 {
		skip = make([]bool, len(r.recs))
		for _, rej := range rejected {
			skip[rej.Index] = true
		}
	}
	v, limit := rows.Cols[r.wmCol], r.wmMs*1000
	row := 0
	for i := range r.recs {
		if skip != nil && skip[i] {
			continue
		}
		if !v.IsNull(row) && v.I64[row] <= limit {
			r.s.out.Send(kafkaout.Late(r.d.src.LateTopic, kafkaout.Origin(r.raw[i]), r.wmMs))
			r.res.numLate++
		}
		row++
	}
}

// addOrigins adds the event times of rows (the records not rejected, in
// record order) to the largest of the partitions the records came from
// (their origin headers).
func (r *batchReader) addOrigins(rows *types.Batch, rejected []plan.Rejected) {
	res := r.res
	if res.originMax == nil {
		res.originMax = map[int32]int64{}
	}
	var skip []bool
	if len(rejected) > 0 {
		skip = make([]bool, len(r.recs))
		for _, rej := range rejected {
			skip[rej.Index] = true
		}
	}
	v := rows.Cols[r.wmCol]
	row := 0
	for i := range r.recs {
		if skip != nil && skip[i] {
			continue
		}
		if !v.IsNull(row) {
			p := originPartition(r.raw[i])
			if have, ok := res.originMax[p]; !ok || v.I64[row] > have {
				res.originMax[p] = v.I64[row]
			}
		}
		row++
	}
}

func (st *eventStats) addColumn(b *types.Batch, col int) {
	v := b.Cols[col]
	for i := 0; i < b.N; i++ {
		if !v.IsNull(i) {
			st.add(v.I64[i])
		}
	}
}
