// Package driver runs a query file in the streamer: every query of the
// script (query/plan) over its one Kafka source, micro-batch by
// micro-batch, with the checkpoint protocol of docs/checkpoint-protocol.md.
//
// Where things live:
//
//	driver.go    the Driver: start, restart from the checkpoint, readiness
//	recover.go   a session's start: metadata, recovery, outputs, state, start offsets
//	loop.go      the batch loop: plan a batch, run it, commit it
//	plan.go      planning: the offsets entry (write-ahead log) of the next batch
//	batch.go     one batch: read, run the queries, write their outputs, commit
//	state.go     the queries' state in the checkpoint: snapshots and changelogs
//	progress.go  the progress report of each query
//	metrics.go   Prometheus series from the progress reports
//
// Invariants:
//   - The queries run in lockstep: one offsets log, one read of each record
//     (decoded and dead-lettered once), each query's executor gets every
//     row, then each query's output is written, then one Kafka transaction
//     (the Kafka sinks' rows and the dead letters), while one state file is
//     written alongside (recovery reads it only once its commit exists),
//     then the commit. A batch re-run after a crash reads the same offsets
//     with the same watermark and batch timestamp, so it produces the same
//     rows; Delta sinks skip a batch they hold and the Kafka writer one its
//     markers hold.
//   - The watermark is the source's: max event time of its WATERMARK
//     column over the rows read (late ones included) minus the delay,
//     never decreasing, recorded in the offsets entry in milliseconds and
//     given to every stateful query before the batch.
//   - metadata.json records each query's plan fingerprint; a query whose
//     fingerprint changed is refused at start, an added one starts from
//     empty state, a removed one's state is dropped.
//   - Queries that group alike share one aggregation (plan.ShareGroups),
//     kept as one state part named by its queries; which queries share
//     follows the checkpoint's parts (state.go, stateGroups).
package driver
