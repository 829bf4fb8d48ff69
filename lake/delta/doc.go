// Package delta reads and writes Delta Lake tables in a lake.Store,
// following the Delta transaction log protocol (PROTOCOL.md of
// delta-io/delta), so that Spark, DuckDB, delta-rs and every other Delta
// reader see the same tables this package sees.
//
// The protocol lives here once: log replay (state.apply, for commits and
// checkpoints alike), checkpoint reading and writing, the conflict rules,
// and one commit function (Table.Commit) through which every write goes.
// NewAdd is the one way a writer turns a Parquet data file into its add
// action. Table.Optimize compacts small files (OPTIMIZE, bin-packing) in
// one dataChange=false commit; Table.Vacuum deletes the files no snapshot
// within the retention needs (VACUUM), recording VACUUM START/END.
//
// Invariants:
//   - A version is written once: Table.Commit creates _delta_log/<v>.json
//     with lake.Store.PutIfAbsent, never with Put. A writer that loses the
//     race reads the versions it missed, applies the protocol's conflict
//     rules and, if nothing conflicts, tries the next version.
//   - A snapshot is the replay of the newest complete checkpoint at or
//     before its version (classic or multi-part) and every commit after it;
//     versions must be contiguous, else ErrVersionNotFound.
//   - A table needing a reader feature this package does not implement
//     (deletion vectors, column mapping by id or name, V2 checkpoints, ...)
//     is refused with an *UnsupportedFeatureError naming the feature, never
//     read half-right; writing also needs every writer feature implemented.
//   - Checkpoints are written only after their version's commit, and
//     metadata cleanup never deletes the newest checkpoint at or before the
//     retention cut-off, nor anything after it.
//   - Unknown actions and fields are ignored when reading, as the protocol
//     requires.
//   - VACUUM deletes only objects under the table root, never hidden ones
//     or the log, never a file the latest snapshot or an unexpired
//     tombstone references, and never one modified within the retention.
package delta
