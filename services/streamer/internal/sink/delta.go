// Package sink holds the streamer's outputs: the Delta sink that appends
// window rows to the lake's stream table exactly once per (query, batch),
// and the console sink that prints a batch as Spark's console sink does.
//
// The stream table is a Delta Lake table (lake/delta) rooted at "stream" in
// the lake, partitioned by date (the window start's UTC day). Each batch
// with rows is one commit holding the add actions of its data files, a txn
// action {appId: query id, version: batch id} and commitInfo
// STREAMING UPDATE, as Spark's DeltaSink writes them.
//
// Exactly once, by Spark's DeltaSink rule: a batch whose id the table's txn
// for the query has already reached is skipped and writes nothing. A batch
// that crashed before its commit is re-run and writes the same data files
// again (deterministic names from query, batch and seq; deterministic bytes:
// rows sorted, fixed writer settings), then commits. A data file that no
// commit lists is invisible to every Delta reader; VACUUM deletes it once
// it is older than the retention.
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
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// TableRoot is where the stream table lives in the lake.
var TableRoot = strings.TrimSuffix(contract.StreamPrefix, "/")

// PartitionColumn is the stream table's partition column: the UTC date of
// a window's start.
const PartitionColumn = "date"

// CheckpointInterval is the table's delta.checkpointInterval, written into
// its metadata when the streamer creates it. It is Spark's default, written
// out so that every engine that commits to the table (delta-rs defaults to
// 100) keeps the same pace and DESCRIBE DETAIL shows it.
const CheckpointInterval = "10"

// ErrIncompatibleTable marks a stream table that does not hold the window
// rows: another engine changed its schema or partitioning.
var ErrIncompatibleTable = errors.New("stream table incompatible with the streamer")

// maxConflictRetries bounds how often a batch re-reads the table after a
// concurrent commit that conflicts with it (a metadata change, a table
// created meanwhile) before it gives up.
const maxConflictRetries = 3

// File is one data file a batch wrote.
type File struct {
	// Key is the object's key in the lake ("stream/date=…/part-….parquet").
	Key string
	// Date is the partition value, YYYY-MM-DD.
	Date string
	Rows int64
	Size int64
}

// Result is what WriteBatch did.
type Result struct {
	// Files are the data files this call wrote (none when skipped early).
	Files []File
	// Rows is the batch's row count: written now, or already in the table
	// when Skipped.
	Rows int64
	// Skipped is true when the table already held the batch (its txn for
	// the query had reached the batch id): nothing of it was committed now.
	Skipped bool
	// Version is the table version this call committed; -1 when it
	// committed none (skipped, or no rows).
	Version int64
	// CommittedElsewhere is set when another writer committed this batch
	// while this call was writing it (two streamers on one query: the
	// checkpoint stops one of them). The batch is Skipped: the other
	// writer's files hold the same rows under the same names.
	CommittedElsewhere error
	// PostCommitErr is a failure after the commit landed (the table's
	// checkpoint or log cleanup): the commit stands; log it.
	PostCommitErr error
}

// DeltaSink appends one query's window rows to the stream table.
type DeltaSink struct {
	st         lake.Store
	table      *delta.Table
	queryID    string
	outputMode string

	mu   sync.Mutex
	snap *delta.Snapshot // the latest snapshot read; nil until read, or while the table does not exist
}

// NewDeltaSink returns the sink of query queryID (its id is the txn appId)
// appending to the stream table of st (the lake root) in outputMode
// ("append"). opts configure the table (tests set its clock and ids).
func NewDeltaSink(st lake.Store, queryID, outputMode string, opts ...delta.Option) *DeltaSink {
	return &DeltaSink{st: st, table: delta.NewTable(st, TableRoot, opts...), queryID: queryID, outputMode: outputMode}
}

// Table is the stream table the sink appends to.
func (s *DeltaSink) Table() *delta.Table { return s.table }

// Open reads the table, when it exists, and checks that the streamer can
// append to it: a reader feature lake/delta does not implement, or a
// schema that is not the window rows', is refused with an error naming the
// table and what differs (errors.Is ErrIncompatibleTable or
// delta.ErrUnsupportedFeature). A writer-only feature is found by the first
// commit. A missing table is fine: the first batch with rows creates it.
func (s *DeltaSink) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.latest(ctx)
	return err
}

// latest returns the table's latest snapshot (nil when there is no table),
// updating the cached one rather than replaying the log, and checks it.
func (s *DeltaSink) latest(ctx context.Context) (*delta.Snapshot, error) {
	var snap *delta.Snapshot
	var err error
	if s.snap != nil {
		snap, err = s.snap.Update(ctx)
	} else {
		snap, err = s.table.Snapshot(ctx)
	}
	if errors.Is(err, delta.ErrNotATable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sink: read %s: %w", s.table, err)
	}
	if snap != s.snap {
		if err := checkTable(snap); err != nil {
			return nil, err
		}
		s.snap = snap
	}
	return snap, nil
}

// WriteBatch appends the batch's rows to the table, once: one zstd Parquet
// file per window date (dates ascending, seq 0, 1, ...), then one commit. A
// batch the table already holds is skipped, and a batch without rows
// writes nothing.
func (s *DeltaSink) WriteBatch(ctx context.Context, batchID int64, rows []contract.WindowRow) (Result, error) {
	if s.queryID == "" {
		return Result{}, errors.New("sink: empty query id")
	}
	if batchID < 0 {
		return Result{}, fmt.Errorf("sink: negative batch id %d", batchID)
	}
	if len(rows) == 0 {
		return Result{Version: -1}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	skipped := Result{Rows: int64(len(rows)), Skipped: true, Version: -1}
	snap, err := s.latest(ctx)
	if err != nil {
		return Result{}, err
	}
	if s.committed(snap, batchID) {
		return skipped, nil
	}

	files, data, err := s.writeFiles(ctx, batchID, rows)
	if err != nil {
		return Result{}, err
	}
	for attempt := 0; ; attempt++ {
		actions, err := s.actions(snap, batchID, files, data)
		if err != nil {
			return Result{}, err
		}
		cr, err := s.table.Commit(ctx, snap, delta.Commit{
			Operation: delta.StreamingUpdate(sparkOutputMode(s.outputMode), s.queryID, batchID),
			Actions:   actions,
		})
		var txnErr *delta.TxnCommittedError
		switch {
		case err == nil:
			return Result{Files: files, Rows: int64(len(rows)), Version: cr.Version, PostCommitErr: cr.PostCommitErr}, nil
		case errors.As(err, &txnErr):
			skipped.Files, skipped.CommittedElsewhere = files, err
			return skipped, nil
		case errors.Is(err, delta.ErrConflict) && attempt < maxConflictRetries:
			// Another writer created the table or changed its metadata
			// meanwhile: read it again, check it, and commit on top of it.
			if snap, err = s.latest(ctx); err != nil {
				return Result{}, err
			}
			if s.committed(snap, batchID) {
				skipped.Files = files
				skipped.CommittedElsewhere = fmt.Errorf("sink: %s: version %d already holds batch %d of query %s",
					s.table, snap.Version(), batchID, s.queryID)
				return skipped, nil
			}
		default:
			return Result{}, fmt.Errorf("sink: commit batch %d to %s: %w", batchID, s.table, err)
		}
	}
}

// sparkOutputMode names an output mode as Spark's OutputMode does in
// commitInfo ("append" is "Append").
func sparkOutputMode(mode string) string {
	if mode == "" {
		return mode
	}
	return strings.ToUpper(mode[:1]) + mode[1:]
}

// committed reports whether the table's txn for the query has reached
// batchID (Spark's DeltaSink: txnVersion(queryId) >= batchId).
func (s *DeltaSink) committed(snap *delta.Snapshot, batchID int64) bool {
	if snap == nil {
		return false
	}
	v, ok := snap.TxnVersion(s.queryID)
	return ok && v >= batchID
}

// writeFiles writes the batch's data files: rows sorted, one file per date.
// It returns the files and their bytes (the adds' stats are read from them).
func (s *DeltaSink) writeFiles(ctx context.Context, batchID int64, rows []contract.WindowRow) ([]File, [][]byte, error) {
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, compareRows)
	var files []File
	var data [][]byte
	for seq, group := range groupByDate(sorted) {
		key := contract.StreamFileKey(group.date, s.queryID, batchID, seq)
		var buf bytes.Buffer
		if err := encode(&buf, group.rows); err != nil {
			return nil, nil, fmt.Errorf("sink: encode %s: %w", key, err)
		}
		if err := s.st.Put(ctx, key, buf.Bytes()); err != nil {
			return nil, nil, fmt.Errorf("sink: put %s: %w", key, err)
		}
		files = append(files, File{Key: key, Date: group.date, Rows: int64(len(group.rows)), Size: int64(buf.Len())})
		data = append(data, buf.Bytes())
	}
	return files, data, nil
}

// actions builds the batch's commit: the new table's metaData when there
// is no table yet, then the txn and one add per file.
func (s *DeltaSink) actions(snap *delta.Snapshot, batchID int64, files []File, data [][]byte) ([]delta.Action, error) {
	var actions []delta.Action
	var md delta.Metadata
	if snap != nil {
		md = snap.Metadata()
	} else {
		schema, err := TableSchema()
		if err != nil {
			return nil, err
		}
		md, err = s.table.NewMetadata(schema, []string{PartitionColumn},
			map[string]string{delta.PropCheckpointInterval: CheckpointInterval})
		if err != nil {
			return nil, fmt.Errorf("sink: %s: %w", s.table, err)
		}
		actions = append(actions, delta.Action{Metadata: &md})
	}
	actions = append(actions, delta.Action{Txn: &delta.Txn{AppID: s.queryID, Version: batchID}})
	now := time.Now()
	for i, f := range files {
		add, err := delta.NewAdd(md, strings.TrimPrefix(f.Key, TableRoot+"/"),
			delta.PartitionValues{PartitionColumn: f.Date}, data[i], now, true)
		if err != nil {
			return nil, fmt.Errorf("sink: %s: %w", s.table, err)
		}
		actions = append(actions, delta.Action{Add: &add})
	}
	return actions, nil
}

// TableSchema is the stream table's schema: the nine columns of
// contract.WindowRow as its Parquet schema gives them (timestamps in
// microseconds, UTC: Spark's timestamp), then the partition column date.
var TableSchema = sync.OnceValues(func() (delta.StructType, error) {
	s, err := delta.SchemaFromParquet(parquet.SchemaOf(contract.WindowRow{}))
	if err != nil {
		return delta.StructType{}, fmt.Errorf("sink: window row schema: %w", err)
	}
	s.Fields = append(s.Fields, delta.StructField{Name: PartitionColumn, Type: delta.Date, Nullable: true})
	return s, nil
})

// checkTable refuses a table the streamer cannot append window rows to:
// partitioned otherwise than by date, or whose schema lacks a window
// column, types one differently, or has a column the data files do not
// hold that may not be null. Other columns (nullable ones another engine
// added) and nullability of the window columns (never null) are fine.
func checkTable(snap *delta.Snapshot) error {
	want, err := TableSchema()
	if err != nil {
		return err
	}
	var diffs []string
	if pc := snap.PartitionColumns(); !slices.Equal(pc, []string{PartitionColumn}) {
		diffs = append(diffs, fmt.Sprintf("it is partitioned by %v, want [%s]", pc, PartitionColumn))
	}
	have := snap.Schema()
	for _, w := range want.Fields {
		h, ok := have.Field(w.Name)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("column %s is missing", w.Name))
		case typeString(h.Type) != typeString(w.Type):
			diffs = append(diffs, fmt.Sprintf("column %s is %s, want %s", w.Name, typeString(h.Type), typeString(w.Type)))
		}
	}
	for _, h := range have.Fields {
		if _, ours := want.Field(h.Name); !ours && !h.Nullable {
			diffs = append(diffs, fmt.Sprintf("column %s (%s) is NOT NULL, and the streamer does not write it", h.Name, typeString(h.Type)))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s at version %d does not hold the streamer's window rows: %s. Another engine changed it: "+
		"restore its schema (time travel to an earlier version), or give the streamer another lake",
		ErrIncompatibleTable, snap.Table(), snap.Version(), strings.Join(diffs, "; "))
}

// typeString names a column type as the schema JSON does.
func typeString(t delta.DataType) string {
	if p, ok := t.(delta.PrimitiveType); ok {
		return string(p)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return t.TypeName()
	}
	return string(b)
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
