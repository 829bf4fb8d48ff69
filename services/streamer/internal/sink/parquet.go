// Package sink holds the streamer's outputs: the Parquet sink that writes
// append-mode window rows into the lake exactly once per (query, batch), and
// the console sink that prints a batch as Spark's console sink does.
//
// Exactly once: a batch's files have deterministic names (query, batch, seq)
// and deterministic bytes (rows are sorted, the writer's settings are fixed),
// and they are listed by a sink-log entry written after all of them. A batch
// whose entry exists is skipped; a batch that crashed before its entry is
// re-run and rewrites the same names with the same bytes.
package sink

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// Result is what WriteBatch made durable.
type Result struct {
	Files   []contract.SinkFile
	Rows    int64
	Skipped bool // the sink log already listed the batch: nothing was written
}

// ParquetSink writes window rows to the lake for one query.
type ParquetSink struct {
	st      lake.Store
	queryID string
}

// NewParquetSink returns the sink of query queryID writing into st (the lake root).
func NewParquetSink(st lake.Store, queryID string) *ParquetSink {
	return &ParquetSink{st: st, queryID: queryID}
}

// WriteBatch makes the batch's rows durable, once. If the batch's sink-log
// entry exists it returns that entry's files with Skipped set and writes
// nothing. Otherwise it writes one zstd Parquet file per window date (dates
// ascending, seq 0, 1, ...) and then the sink-log entry. A batch without rows
// writes nothing.
func (s *ParquetSink) WriteBatch(ctx context.Context, batchID int64, rows []contract.WindowRow) (Result, error) {
	if s.queryID == "" {
		return Result{}, errors.New("sink: empty query id")
	}
	if batchID < 0 {
		return Result{}, fmt.Errorf("sink: negative batch id %d", batchID)
	}
	logKey := contract.SinkLogKey(s.queryID, batchID)
	done, err := s.logged(ctx, logKey)
	if err != nil || done != nil {
		return derefResult(done), err
	}
	if len(rows) == 0 {
		return Result{}, nil
	}

	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, compareRows)
	entry := contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: s.queryID, BatchID: batchID}
	var buf bytes.Buffer
	for seq, group := range groupByDate(sorted) {
		key := contract.StreamFileKey(group.date, s.queryID, batchID, seq)
		buf.Reset()
		if err := encode(&buf, group.rows); err != nil {
			return Result{}, fmt.Errorf("sink: encode %s: %w", key, err)
		}
		if err := s.st.Put(ctx, key, buf.Bytes()); err != nil {
			return Result{}, fmt.Errorf("sink: put %s: %w", key, err)
		}
		entry.Files = append(entry.Files, contract.SinkFile{Path: key, Rows: int64(len(group.rows)), Size: int64(buf.Len())})
	}
	b, err := json.Marshal(entry)
	if err != nil {
		return Result{}, fmt.Errorf("sink: encode %s: %w", logKey, err)
	}
	if err := s.st.Put(ctx, logKey, b); err != nil {
		return Result{}, fmt.Errorf("sink: put %s: %w", logKey, err)
	}
	return Result{Files: entry.Files, Rows: int64(len(rows))}, nil
}

// logged returns the result recorded by the batch's sink-log entry, or nil
// when there is none.
func (s *ParquetSink) logged(ctx context.Context, key string) (*Result, error) {
	b, err := s.st.Get(ctx, key)
	if errors.Is(err, lake.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sink: get %s: %w", key, err)
	}
	var e contract.SinkLogEntry
	if err := json.Unmarshal(b, &e); err != nil {
		// Rewriting the batch could not make this entry trustworthy: a person must look.
		return nil, fmt.Errorf("sink: %s is damaged (%w): restore it, or delete it to let the batch be written again", key, err)
	}
	if e.Version != contract.SinkLogVersion || e.QueryID != s.queryID {
		return nil, fmt.Errorf("sink: %s holds version %d of query %q, want version %d of query %q",
			key, e.Version, e.QueryID, contract.SinkLogVersion, s.queryID)
	}
	r := Result{Files: e.Files, Skipped: true}
	for _, f := range e.Files {
		r.Rows += f.Rows
	}
	return &r, nil
}

func derefResult(r *Result) Result {
	if r == nil {
		return Result{}
	}
	return *r
}

// compareRows orders rows by window, then sensor: the order readers expect
// and the one that makes a file's bytes independent of the engine's order.
func compareRows(a, b contract.WindowRow) int {
	return cmp.Or(
		a.WinStart.Compare(b.WinStart),
		a.WinEnd.Compare(b.WinEnd),
		strings.Compare(a.SensorID, b.SensorID),
	)
}

type dateGroup struct {
	date string
	rows []contract.WindowRow
}

// groupByDate splits rows sorted by WinStart into runs of one partition date
// (sub-slices of sorted). Sorting by instant sorts by UTC date too, so the
// groups come out ascending.
func groupByDate(sorted []contract.WindowRow) []dateGroup {
	var out []dateGroup
	for i := 0; i < len(sorted); {
		day := sorted[i].WinStart.UTC()
		next := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, time.UTC)
		j := i + 1
		for j < len(sorted) && sorted[j].WinStart.Before(next) {
			j++
		}
		out = append(out, dateGroup{date: contract.PartitionDate(day), rows: sorted[i:j]})
		i = j
	}
	return out
}

// encode writes rows as one zstd-compressed Parquet file. The writer's
// options are fixed, so the same rows always give the same bytes.
func encode(buf *bytes.Buffer, rows []contract.WindowRow) error {
	w := parquet.NewGenericWriter[contract.WindowRow](buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		return err
	}
	return w.Close()
}
