// Package engine is the streamer's pure windowing core: event-time tumbling
// windows with a watermark, aggregated per (window, sensor) with Apache Spark
// Structured Streaming's micro-batch semantics. It imports neither Kafka nor
// S3 nor the wall clock: the runner injects every reading, the Kafka partition
// it came from and each micro-batch's watermark.
//
// A runner drives it one micro-batch at a time:
//
//	eng.StartBatch(wm)            // wm: the previous FinishBatch's NextWatermark (0 at first)
//	for each decoded record { eng.AddRaw(partition, id, ts, temp, hum, ok) }
//	res := eng.FinishBatch()      // res.Append: closed windows, emitted once
//	eng.Snapshot(w)               // state for the checkpoint
//
// Invariants:
//   - A reading with event time <= the batch watermark is late: dropped and
//     counted. The watermark starts at 0 and never moves backwards, so the
//     state only ever holds windows of positive event times.
//   - A window [start, start+L) is emitted in Append exactly once, in the first
//     batch whose watermark is >= its end, and then evicted.
//   - State is kept per Kafka partition, keyed (partition, window, sensor);
//     each partition folds its readings in the order they were added. Emitted
//     rows merge a (window, sensor) over partitions in ascending partition
//     order and are sorted by (win_start, sensor_id). Hence equal inputs and
//     equal batch watermarks give bit-identical rows whatever the batch
//     boundaries were, as long as no reading is late.
//   - Snapshot writes the same bytes for the same state; Restore accepts only
//     an intact snapshot taken with the same configuration.
//
// The hot path (AddRaw) does not allocate once a sensor id and its window are
// known: sensor ids are interned to small integers, and each partition keeps
// its open windows in a short sorted slice, each window indexing its rows by
// sensor number. Evicted windows are recycled. Interned ids are never
// forgotten while the engine lives (a Restore keeps only the ids in state).
//
// An Engine is not safe for concurrent use.
//
// Only tumbling windows in append/update output are implemented. Sliding and
// session windows, deduplication and complete mode are future work: a sliding
// window would fold one reading into several windows in fold, and the snapshot
// header carries a window-kind byte for them.
package engine
