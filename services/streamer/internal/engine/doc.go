// Package engine is the streamer's pure windowing core: event-time windows
// (tumbling, sliding, or session windows per sensor) with a watermark,
// aggregated per (window, sensor) with Apache Spark Structured Streaming's
// micro-batch semantics, plus deduplication within the watermark and
// per-sensor silence timeouts. It imports neither Kafka nor S3 nor the wall
// clock: the runner injects every reading, the Kafka partition it came from
// and each micro-batch's watermark. docs/streaming-semantics.md explains the
// semantics with worked examples taken from this package's tests.
//
// A runner drives it one micro-batch at a time:
//
//	eng.StartBatch(wm)            // wm: the previous FinishBatch's NextWatermark (0 at first)
//	for each decoded record { eng.AddRaw(partition, id, ts, temp, hum, ok) }  // or OfferRaw
//	res := eng.FinishBatch()      // res.Append: closed windows, emitted once
//	eng.Snapshot(w)               // state for the checkpoint
//
// Config selects the shape: Window (tumbling), Window and Slide (sliding,
// Window a multiple of Slide), or SessionGap alone (sessions); Dedup,
// RetainAll (complete output mode) and SilenceTimeout are independent options.
//
// Invariants:
//   - A reading with event time <= the batch watermark is late: dropped and
//     counted. The watermark starts at 0 and never moves backwards.
//   - A window is emitted in Append exactly once, in the first batch whose
//     watermark is >= its end (a tumbling or sliding window's start+L, a
//     session's last reading + gap), and then evicted, unless RetainAll keeps
//     it for BatchResult.Complete. Update holds the windows a batch changed.
//   - State is kept per Kafka partition, keyed (partition, window, sensor);
//     each partition folds its readings in the order they were added. Emitted
//     rows merge a (window, sensor) over partitions in ascending partition
//     order (a sensor's sessions of all partitions are merged where they
//     overlap) and are sorted by (win_start, sensor_id). Hence equal inputs
//     and equal batch watermarks give bit-identical rows whatever the batch
//     boundaries were, as long as no reading is late. (Sessions close in order
//     of end: across batches their rows come in another order, the same set.)
//   - Dedup keys (sensor, ts) are evicted once ts <= watermark, when such a
//     reading is late anyway: eviction never lets a duplicate through.
//   - Silence timeouts fire at StartBatch; when depends on the watermark's
//     progress, hence on batch boundaries, as in Spark.
//   - Without RetainAll the state is bounded by what the watermark delay, one
//     batch and one window (or gap) of event time hold; timeout entries, one
//     per sensor, and interned ids last as long as the engine.
//   - Snapshot writes the same bytes for the same state, with the whole
//     configuration in its header; Restore accepts only an intact snapshot
//     taken with the same configuration (and version 1 tumbling snapshots).
//
// The hot path (AddRaw) does not allocate once a sensor id and its window are
// known: sensor ids are interned to small integers, and each partition keeps
// its open windows in a short sorted slice, each window indexing its rows by
// sensor number (a sliding reading walks its L/S adjacent windows; a
// tumbling reading for the window and partition of the previous one, whose
// row the batch has already changed, goes straight to that row); sessions
// are short sorted lists per (partition, sensor); dedup keys are sorted event
// times per sensor, mostly appended. Evicted windows are recycled. Interned
// ids are never forgotten while the engine lives (a Restore keeps only the ids
// in state).
//
// An Engine is not safe for concurrent use.
package engine
