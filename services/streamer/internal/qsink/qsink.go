// Package qsink holds the outputs of a query's micro-batches: the sink a
// compiled query (query/plan) names in its CREATE SINK, opened once and
// handed every batch's rows in the query's Output schema.
//
//   - delta: appends each batch to a Delta table of the lake, exactly once
//     per (query, batch) by Spark DeltaSink's txn rule (see deltaOutput).
//   - kafka: each row becomes one record, its value the row as to_json
//     writes it, sent into the driver's transactional writer (kafkaout),
//     which commits the batch's records exactly once for read_committed
//     readers.
//   - console: each batch printed as Spark's console sink prints it.
//
// Rules this package fixes:
//   - A Delta sink's txn appId is the query id (Env.QueryID), Spark's rule:
//     one compiled query has one sink, and each query has its own checkpoint
//     and so its own id. The seed's stream table keeps its appId.
//   - Kafka records carry the batch id in the header sensorlab.batch_id, as
//     the streamer's windows topic always has (in update and complete modes
//     a reader tells the latest row of a key by it).
//   - Kafka output topics are created by the driver before it starts the
//     writer (it knows the source's partition count, which the topics
//     take); Topics lists them.
//
// Invariants: Write never retains rows after it returns; after a Write
// that returns an error the batch may be run again: a Delta sink rewrites
// the same files and commits the batch once (or skips it, when its txn
// landed after all); Describe is fixed for the Output's life.
package qsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
)

// Output is one query's sink.
type Output interface {
	// Write delivers batch batchID's rows (in the query's Output schema).
	// noData says the batch read no new record (a no-data batch emitting
	// what the watermark closed).
	Write(ctx context.Context, batchID int64, rows *types.Batch, noData bool) (Result, error)
	// Describe is the progress report's sink description, e.g.
	// "DeltaSink[s3://lake/stream]".
	Describe() string
}

// Result is what one Write did.
type Result struct {
	// Rows is the batch's row count: written or sent now, or already in the
	// table when Skipped.
	Rows int64
	// Files is the number of data files a Delta sink wrote.
	Files int
	// Version is the Delta table version committed; -1 when none was
	// (another sink, no rows, or skipped).
	Version int64
	// Skipped is true when a Delta table already held the batch (its txn for
	// the query had reached the batch id), or a console sink printed
	// nothing for a no-data batch without rows.
	Skipped bool
	// CommittedElsewhere is set when another writer committed this batch to
	// the Delta table while this Write was writing it (two streamers on one
	// query). The batch is Skipped: the other writer's files hold the same
	// rows under the same names.
	CommittedElsewhere error
	// PostCommitErr is a failure after a Delta commit landed (the table's
	// checkpoint or log cleanup): the commit stands; log it.
	PostCommitErr error
}

// Env is what a query's outputs need from the streamer.
type Env struct {
	// Lake is the lake root: a Delta sink's table lives at its
	// Options["path"], relative to it.
	Lake lake.Store
	// LakeURL names the lake in descriptions and errors when Lake is nil.
	LakeURL string
	// Kafka is the driver's transactional writer of the query: a Kafka
	// output only Sends into it, between the driver's Begin(batchID) and
	// Commit.
	Kafka *kafkaout.Writer
	// Stdout is where the console sink prints.
	Stdout io.Writer
	// QueryID is the query's id (its checkpoint's metadata.json): a Delta
	// sink's txn appId and commitInfo queryId.
	QueryID string
	// Epoch, when above 0, is the owner epoch of a replica's task (the
	// consumer group's generation that gave it the partition, plus one): a
	// Delta sink fences the table against the partition's earlier owners
	// at Open and writes txn versions Epoch<<32 + batch + 1, so that a
	// zombie's commit is never admitted. 0: txn versions are batch ids.
	Epoch int64
	// Log receives warnings; nil discards them.
	Log *slog.Logger
}

// Open returns the output of q's sink. A Delta sink reads its table, when
// it exists, and refuses one it cannot append to (errors.Is
// ErrIncompatibleTable, or lake/delta's ErrUnsupportedFeature); a missing
// table is created by the first batch with rows.
func Open(ctx context.Context, q *plan.Query, env Env) (Output, error) {
	if q == nil || q.Sink == nil {
		return nil, errors.New("qsink: a query without a sink")
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	switch q.Sink.Connector {
	case "delta":
		return openDelta(ctx, q, env)
	case "kafka":
		return openKafka(q, env)
	case "console":
		return openConsole(q, env)
	}
	return nil, fmt.Errorf("qsink: sink %s: connector %q is not supported (delta, kafka, console)", q.Sink.Name, q.Sink.Connector)
}

// Topics returns the topics the Kafka sinks of qs write to, sorted and
// without repeats: the driver creates them (kafkaout.Writer.EnsureTopics)
// before the writer's Init.
func Topics(qs []*plan.Query) []string {
	var out []string
	for _, q := range qs {
		if q.Sink != nil && q.Sink.Connector == "kafka" && q.Sink.Options["topic"] != "" {
			out = append(out, q.Sink.Options["topic"])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// columnList splits a comma-separated option into column names.
func columnList(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// checkRows reports a batch that is not in the query's Output schema.
func checkRows(q *plan.Query, rows *types.Batch) error {
	if rows == nil {
		return nil
	}
	if len(rows.Cols) != len(q.Output) {
		return fmt.Errorf("qsink: sink %s: a batch of %d columns, the query outputs %d (%s)", q.Sink.Name, len(rows.Cols), len(q.Output), q.Output)
	}
	for i, f := range q.Output {
		if c := rows.Cols[i]; c.Type != f.Type || c.Len() != rows.N {
			return fmt.Errorf("qsink: sink %s: column %s holds %d values of %s, want %d of %s", q.Sink.Name, f.Name, c.Len(), c.Type, rows.N, f.Type)
		}
	}
	return nil
}

func numRows(b *types.Batch) int {
	if b == nil {
		return 0
	}
	return b.N
}
