// Package querycheck tests the query files that ship in the repository
// (queries/seed/streaming.sql and queries/examples/*.sql) end to end: each
// query runs on the general SQL engine (query/plan) over generated input,
// micro-batch by micro-batch as the streamer runs it, and its rows are
// compared with DuckDB computing the same query, written by hand in
// DuckDB's dialect, over the same input file.
//
// The package holds tests only. Their invariants:
//   - the input is seeded and realistic: several keys, event times that
//     increase with disorder smaller than the source's watermark delay (so
//     no row is late and the comparison is exact), records spread over three
//     Kafka partitions with per-partition offsets, cut into micro-batches of
//     about a thousand records taken partition by partition;
//   - the engine's rows are what its sink would hold in the end: the union of
//     every batch's rows in append mode, the last batch's in complete mode,
//     the last version of each key in update mode; append-mode DuckDB rows
//     are restricted to the windows (sessions) the final watermark closed;
//   - rows are compared as multisets (as lists under ORDER BY), every value
//     exactly except DOUBLE (relative 1e-9: DuckDB adds in another order);
//     approx_count_distinct is compared exactly with Spark's HyperLogLog++
//     estimate, computed here from the distinct values DuckDB lists, and
//     that estimate with DuckDB's exact count(DISTINCT …);
//   - every comparison needs a minimum number of DuckDB rows, so that two
//     empty results never pass.
package querycheck
