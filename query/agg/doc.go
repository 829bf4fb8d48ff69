// Package agg is the general engine's stateful operator: GROUP BY over an
// event-time window (tumbling, sliding, session, or none) with Spark
// Structured Streaming's micro-batch semantics, for any key columns and any
// list of aggregates, specialised from the configuration (key types,
// aggregate list), never by hand for one schema.
//
// A driver runs it one micro-batch at a time:
//
//	op, err := agg.New(inSchema, cfg)     // or agg.Restore(inSchema, cfg, snapshot, changelogs...)
//	op.SetWatermark(wm)                   // the batch's watermark from the offsets log (optional)
//	err = op.Add(batch)                   // any number of times
//	out, st := op.Finish()                // rows of the output mode; st.NextWatermark; check op.Err()
//	op.WriteChangelog(w)                  // what the batch changed; op.WriteSnapshot(w) now and then
//
// The input batch holds columns the planner computed: the event time
// (TIMESTAMP), the keys and the aggregates' arguments. Output columns are
// window_start and window_end (with a window), the keys, then agg0, agg1, …
// Result types are Spark's, except that DECIMAL results are capped at
// precision 18 (types.MaxDecimalPrecision) where Spark allows 38: sum of
// DECIMAL(p,s) is DECIMAL(min(18,p+10),s), avg DECIMAL(min(18,p+4),
// min(18,s+4)) rounded half up; a sum or average that leaves it is an error
// (ErrOverflow), never a wrapped value. Sums of INT and BIGINT wrap, as
// Spark's non-ANSI sum does.
//
// Invariants:
//   - A row whose event time is <= the watermark is late (with a
//     watermark): dropped and counted. The watermark starts at 0, never
//     moves backwards, and Finish raises it to max event time seen - Delay
//     for the next batch.
//   - Append emits a window's rows once, in the first batch whose watermark
//     is >= the window's end (a session's end is its last event + gap), and
//     evicts them; Update emits the groups the batch changed and evicts
//     closed windows unemitted; Complete emits every group and evicts
//     nothing. Without a watermark or a window nothing is ever evicted.
//   - State is kept per (window, key, input partition): each partition's
//     partial folds its rows in arrival order, and emitted rows merge the
//     partials in ascending partition order (sums added after the first
//     partial; a min or max replaced only by a strictly lesser or greater
//     value, so ties keep the lower partition's). This is the existing
//     engine's arithmetic (services/streamer/internal/engine): equal input
//     gives bit-identical rows whatever the batch boundaries.
//   - Output is sorted by (window_start, keys), keys in SQL order ASC NULLS
//     FIRST (strings bytewise, doubles with -0 = 0 and NaN last): a total,
//     deterministic order.
//   - Session windows are per (partition, key) lists of sessions that merge
//     when a row bridges them; a key's sessions of several partitions merge
//     at emit where their gaps overlap, as in the existing engine.
//   - A checkpoint (WriteSnapshot, WriteChangelog) is versioned and
//     checksummed, records the configuration's fingerprint, and writes the
//     same bytes for the same state. A changelog holds only the groups
//     changed since the previous one and the windows removed: its cost
//     follows the batch, not the state (Spark's RocksDB changelog
//     checkpointing). Restoring and continuing gives the same output, byte
//     for byte, as never stopping.
//
// Layout (see store.go): one store per window, with an open-addressing hash
// table from the key's order-preserving encoding (keyCodec) to the group's
// main row; an entry keeps the hash's high word, whose top bits are the
// entry's home, so that a growing table places its entries again without
// reading a key. Rows are fixed-size records of 64-bit words (meta,
// counters, then one slot per aggregate) appended in one slice, so that
// folding a row touches one cache line; partials of other partitions are
// chained records, created only when a second partition touches a group.
// A new window's store starts with the room of the largest window in
// state. Keys of at most 16 bytes are hashed from two words with one
// multiplication, longer ones with maphash (hot.go); a single NOT NULL
// STRING key is its own encoding and is read in place, not copied. A group
// cache (hot.go) maps such keys to their record in the current (window,
// partition) once the batch has changed it, so that at low cardinality
// most rows skip the table probe, the key comparison in the arena and the
// partial chain. When a row falls in one window at most (tumbling, or no
// window), the rows are cut into runs of one window and partition and each
// run's keys are looked up in one tight loop; in a table larger than the
// L2 cache, the run's home entries and the records they point at are
// loaded first, all at once, then probed. A batch is folded, 1,024 rows at
// a time, over a list of (input row, record) pairs: the row count and
// every sum, min and max of a DOUBLE or integer column together
// (fusedFold), the other aggregates one loop each. Output is built column
// by column into vectors sized for the batch, the keys of a single STRING
// key in one allocation. In Complete mode each window keeps its last
// output in key order (complete.go): a batch sorts and inserts only its
// new groups and recomputes only the groups it changed. Closing a window
// drops its store whole, and the store is recycled.
//
// An Op is not safe for concurrent use.
package agg
