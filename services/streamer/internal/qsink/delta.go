package qsink

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

	"github.com/parquet-go/parquet-go/compress"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/lakeio"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
)

// CheckpointInterval is the delta.checkpointInterval a Delta sink writes
// into a table it creates: Spark's default, written out so that every
// engine that commits to the table (delta-rs defaults to 100) keeps the
// same pace and DESCRIBE DETAIL shows it.
const CheckpointInterval = "10"

// ErrIncompatibleTable marks a Delta table a sink cannot append its rows
// to: another engine changed its schema or partitioning.
var ErrIncompatibleTable = errors.New("table incompatible with the sink")

// maxConflictRetries bounds how often a batch re-reads the table after a
// concurrent commit that conflicts with it (a metadata change, a table
// created meanwhile) before it gives up.
const maxConflictRetries = 3

// deltaOutput appends a query's rows to a Delta table, as Spark's DeltaSink
// does:
//
//   - The first batch with rows creates the table in its commit: protocol,
//     metaData (the query's Output as Delta's schema, partitionColumns from
//     Options["partitioned_by"], delta.checkpointInterval 10), then the
//     batch. A data column is nullable as the Output declares it; a
//     partition column is always nullable (a null partition value is
//     Delta's __HIVE_DEFAULT_PARTITION__).
//   - Each batch with rows is one commit: the adds of its data files, txn
//     {appId: query id, version: batch id} and commitInfo STREAMING UPDATE.
//   - Exactly once: a batch whose id the table's txn for the query has
//     reached is skipped and writes nothing. A batch re-run after a crash
//     before its commit writes the same files again (deterministic names
//     and bytes) and commits them; files no commit lists are invisible to
//     Delta readers, and VACUUM deletes them.
//   - Files: rows sorted by the partition columns, then every data column
//     in Output order (nulls first), one file per partition value, seq 0,
//     1, … in that order, named
//     <path>/<col>=<value>…/part-<batch %010d>-<seq %03d>-<query id's first 8 hex>.parquet
//     (the seed's stream table names, contract.StreamFileKey). The
//     partition columns are not in the files: their values are in the
//     directory and the adds' partitionValues, CAST(value AS STRING) as
//     Spark writes them (DATE yyyy-MM-dd, TIMESTAMP yyyy-MM-dd HH:mm:ss[.f]
//     in UTC, numbers in decimal), NULL (and for a STRING, the empty string) as null.
//   - An existing table keeps its schema: the files' columns are NOT NULL
//     where the table's are (a null there fails the batch, naming the
//     column, as Delta's NOT NULL constraint does), nullable otherwise.
//     Nullable columns another engine added are fine (the files lack them;
//     readers read null). A table missing a column, typing one otherwise,
//     partitioned otherwise, or with a NOT NULL column the sink does not
//     write is refused, naming the differences.
type deltaOutput struct {
	q       *plan.Query
	st      lake.Store
	table   *delta.Table
	root    string
	queryID string
	epoch   int64 // Env.Epoch
	mode    string

	create    delta.StructType // the table schema a first batch creates
	partNames []string         // partition columns, as the Output names them
	part      []int            // their Output indexes
	data      []int            // the data columns' Output indexes
	partText  []castText       // CAST(partition column AS STRING)
	order     []int            // sort keys: part, then data
	codec     compress.Codec   // the data files' (option compression; zstd by default)

	mu   sync.Mutex
	snap *delta.Snapshot // latest snapshot read; nil until read, or while there is no table
}

func openDelta(ctx context.Context, q *plan.Query, env Env) (*deltaOutput, error) {
	s := q.Sink
	if s.Mode != "append" {
		return nil, fmt.Errorf("qsink: sink %s: a Delta sink appends each batch's rows: %s mode is not supported "+
			"(Delta's streaming sink appends, or in complete mode rewrites the table; sensorlab only appends): use mode = 'append', or a console or Kafka sink", s.Name, s.Mode)
	}
	root, err := tablePath(s.Options["path"])
	if err != nil {
		return nil, fmt.Errorf("qsink: sink %s: %w", s.Name, err)
	}
	if env.Lake == nil {
		return nil, fmt.Errorf("qsink: sink %s: no lake to write %s to", s.Name, root)
	}
	codec, err := lakeio.Codec(cmp.Or(s.Options["compression"], "zstd"))
	if err != nil {
		return nil, fmt.Errorf("qsink: sink %s: %w", s.Name, err)
	}
	o := &deltaOutput{q: q, st: env.Lake, table: delta.NewTable(env.Lake, root), root: root, queryID: env.QueryID, epoch: env.Epoch, mode: s.Mode, codec: codec}
	isPart := make([]bool, len(q.Output))
	for _, name := range columnList(s.Options["partitioned_by"]) {
		i := q.Output.Index(name)
		if i < 0 {
			return nil, fmt.Errorf("qsink: sink %s: partition column %s is not an output column (%s)", s.Name, name, q.Output)
		}
		if isPart[i] {
			return nil, fmt.Errorf("qsink: sink %s: partition column %s is named twice", s.Name, name)
		}
		isPart[i] = true
		o.part = append(o.part, i)
		o.partNames = append(o.partNames, q.Output[i].Name)
	}
	var dataSchema types.Schema
	for i, f := range q.Output {
		var dt delta.PrimitiveType
		if isPart[i] {
			dt, err = partitionType(f.Type)
		} else {
			dt, err = lakeio.DeltaType(f.Type)
			o.data = append(o.data, i)
			dataSchema = append(dataSchema, f)
		}
		if err != nil {
			return nil, fmt.Errorf("qsink: sink %s: column %s: %w", s.Name, f.Name, err)
		}
		o.create.Fields = append(o.create.Fields, delta.StructField{Name: f.Name, Type: dt, Nullable: f.Nullable || isPart[i]})
	}
	if len(o.data) == 0 {
		return nil, fmt.Errorf("qsink: sink %s: every column is a partition column: a Delta table needs a data column", s.Name)
	}
	if _, err := lakeio.ParquetSchema(dataSchema); err != nil {
		return nil, fmt.Errorf("qsink: sink %s: %w", s.Name, err)
	}
	for _, i := range o.part {
		ct, err := newCastText(q.Output, i)
		if err != nil {
			return nil, fmt.Errorf("qsink: sink %s: partition column %s: %w", s.Name, q.Output[i].Name, err)
		}
		o.partText = append(o.partText, ct)
	}
	o.order = append(slices.Clone(o.part), o.data...)
	o.mu.Lock()
	defer o.mu.Unlock()
	snap, err := o.latest(ctx)
	if err != nil {
		return nil, err
	}
	if o.epoch > 0 {
		if err := o.fence(ctx, snap); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// ErrFenced marks a Delta sink whose table a later owner of the
// partition has fenced: this task belongs to a replica that lost the
// partition (frozen or cut off past the group's session timeout).
var ErrFenced = errors.New("fenced by a later owner of the partition")

// epochShift places the owner epoch above the batch in a txn version.
const epochShift = 32

// txnVersion is the txn version of batchID: the batch id, or with an owner
// epoch Epoch<<32 + batch + 1 (the low half 0 meaning no batch).
func (o *deltaOutput) txnVersion(batchID int64) int64 {
	if o.epoch == 0 {
		return batchID
	}
	return o.epoch<<epochShift + batchID + 1
}

// checkFenced refuses a write of an owner whose table a later owner of
// the partition has fenced: its batch must fail, not count as committed
// (the later owner re-runs it), so that it never records the batch done in
// its checkpoint.
func (o *deltaOutput) checkFenced(snap *delta.Snapshot) error {
	if o.epoch == 0 || snap == nil {
		return nil
	}
	if v, ok := snap.TxnVersion(o.queryID); ok && v>>epochShift > o.epoch {
		return fmt.Errorf("%w: sink %s: %s holds txn version %d of query %s, from owner epoch %d; this task's epoch is %d",
			ErrFenced, o.q.Sink.Name, o.table, v, o.queryID, v>>epochShift, o.epoch)
	}
	return nil
}

// fence commits, at the start of an owner epoch, the table's txn for the
// query raised to this epoch with its batch unchanged: every commit of an
// earlier owner (a zombie) is then behind the table's txn, or conflicts
// with this commit, and is refused. A table fenced by a later epoch
// refuses this one (ErrFenced).
func (o *deltaOutput) fence(ctx context.Context, snap *delta.Snapshot) error {
	for attempt := 0; ; attempt++ {
		var last int64 // the low half of the table's txn: batch + 1, 0 for none
		if snap != nil {
			if v, ok := snap.TxnVersion(o.queryID); ok {
				if err := o.checkFenced(snap); err != nil {
					return err
				}
				if v>>epochShift == o.epoch {
					return nil // fenced already (an in-process restart)
				}
				if v>>epochShift == 0 {
					last = v + 1 // a batch id, written without an epoch
				} else {
					last = v & (1<<epochShift - 1)
				}
			}
		}
		actions, err := o.actions(snap, -1, nil)
		if err != nil {
			return err
		}
		actions[len(actions)-1].Txn.Version = o.epoch<<epochShift + last
		_, err = o.table.Commit(ctx, snap, delta.Commit{
			Operation: delta.StreamingUpdate(sparkOutputMode(o.mode), o.queryID, -1),
			Actions:   actions,
		})
		switch {
		case err == nil:
			return nil
		case (errors.Is(err, delta.ErrConflict) || errors.Is(err, delta.ErrTxnCommitted)) && attempt < maxConflictRetries:
			if snap, err = o.latest(ctx); err != nil {
				return err
			}
		default:
			return fmt.Errorf("qsink: sink %s: fence %s for owner epoch %d: %w", o.q.Sink.Name, o.table, o.epoch, err)
		}
	}
}

// ErrLegacyTable marks a Delta sink's path holding the commit log of the
// plain-Parquet table an earlier sensorlab wrote there.
var ErrLegacyTable = errors.New("lake written by an earlier sensorlab")

// CheckNotLegacy refuses, before anything is written, a Delta sink of qs
// whose table path holds <path>/_sink_log/: the plain-Parquet stream
// table's log of an earlier sensorlab, which this sink neither reads nor
// converts.
func CheckNotLegacy(ctx context.Context, st lake.Store, qs []*plan.Query) error {
	for _, q := range qs {
		if q.Sink == nil || q.Sink.Connector != "delta" {
			continue
		}
		root, err := tablePath(q.Sink.Options["path"])
		if err != nil {
			continue // Open says why
		}
		log := root + "/_sink_log/"
		objs, err := st.List(ctx, log)
		if err != nil {
			return fmt.Errorf("lake: list %s: %w", log, err)
		}
		if len(objs) == 0 {
			continue
		}
		return fmt.Errorf("%w: lake %s holds %s (%d objects), the commit log of the plain-Parquet stream table an earlier "+
			"sensorlab wrote; sink %s writes %s as a Delta table and does not read or convert that log. "+
			"Move the old lake aside (rename its directory or bucket prefix, or delete it) and start on an empty lake "+
			"path, with an empty --checkpoint too (the default one lives in the lake)",
			ErrLegacyTable, st, log, len(objs), q.Sink.Name, root)
	}
	return nil
}

// tablePath checks a sink's path option: a table root relative to the
// lake, without "." or ".." segments.
func tablePath(p string) (string, error) {
	if strings.Contains(p, "://") {
		return "", fmt.Errorf("path %q: give the table's path relative to the lake (e.g. 'stream'), not a URL", p)
	}
	root := strings.Trim(p, "/")
	if root == "" {
		return "", errors.New("WITH (path = '…') names no table")
	}
	for _, seg := range strings.Split(root, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("path %q: a table path inside the lake has no empty, '.' or '..' segment", p)
		}
	}
	return root, nil
}

// partitionType is the Delta type of a partition column: a DATE partitions
// as date (its values never reach a data file); the others as lakeio maps
// them.
func partitionType(t types.Type) (delta.PrimitiveType, error) {
	if t.Kind == types.Date {
		return delta.Date, nil
	}
	return lakeio.DeltaType(t)
}

func (o *deltaOutput) Describe() string { return "DeltaSink[" + o.table.Location() + "]" }

// latest returns the table's latest snapshot (nil when there is no table),
// updating the cached one rather than replaying the log, and checks it.
func (o *deltaOutput) latest(ctx context.Context) (*delta.Snapshot, error) {
	var snap *delta.Snapshot
	var err error
	if o.snap != nil {
		snap, err = o.snap.Update(ctx)
	} else {
		snap, err = o.table.Snapshot(ctx)
	}
	if errors.Is(err, delta.ErrNotATable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("qsink: sink %s: read %s: %w", o.q.Sink.Name, o.table, err)
	}
	if snap != o.snap {
		if err := o.checkTable(snap); err != nil {
			return nil, err
		}
		o.snap = snap
	}
	return snap, nil
}

// checkTable refuses a table the sink cannot append its rows to.
func (o *deltaOutput) checkTable(snap *delta.Snapshot) error {
	var diffs []string
	if pc := snap.PartitionColumns(); !equalFold(pc, o.partNames) {
		diffs = append(diffs, fmt.Sprintf("it is partitioned by %v, want %v", pc, o.partNames))
	}
	have := snap.Schema()
	for _, w := range o.create.Fields {
		h, ok := fieldFold(have, w.Name)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("column %s is missing", w.Name))
		case typeString(h.Type) != typeString(w.Type):
			diffs = append(diffs, fmt.Sprintf("column %s is %s, want %s", w.Name, typeString(h.Type), typeString(w.Type)))
		}
	}
	for _, h := range have.Fields {
		if _, ours := fieldFold(o.create, h.Name); !ours && !h.Nullable {
			diffs = append(diffs, fmt.Sprintf("column %s (%s) is NOT NULL, and sink %s does not write it", h.Name, typeString(h.Type), o.q.Sink.Name))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s at version %d does not hold the rows of sink %s (%s): %s. Another engine changed it: "+
		"restore its schema (time travel to an earlier version), or give the sink another path",
		ErrIncompatibleTable, snap.Table(), snap.Version(), o.q.Sink.Name, o.q.Output, strings.Join(diffs, "; "))
}

func equalFold(a, b []string) bool {
	return slices.EqualFunc(a, b, strings.EqualFold)
}

// fieldFold finds a column by name, without regard to case (Spark's and
// Delta's default).
func fieldFold(s delta.StructType, name string) (delta.StructField, bool) {
	for _, f := range s.Fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return delta.StructField{}, false
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

func (o *deltaOutput) Write(ctx context.Context, batchID int64, rows *types.Batch, _ bool) (Result, error) {
	if err := checkRows(o.q, rows); err != nil {
		return Result{}, err
	}
	if o.queryID == "" {
		return Result{}, fmt.Errorf("qsink: sink %s: empty query id", o.q.Sink.Name)
	}
	if batchID < 0 {
		return Result{}, fmt.Errorf("qsink: sink %s: negative batch id %d", o.q.Sink.Name, batchID)
	}
	n := numRows(rows)
	if n == 0 {
		return Result{Version: -1}, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	skipped := Result{Rows: int64(n), Skipped: true, Version: -1}
	snap, err := o.latest(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := o.checkFenced(snap); err != nil {
		return Result{}, err
	}
	if o.committed(snap, batchID) {
		return skipped, nil
	}
	files, err := o.writeFiles(ctx, snap, batchID, rows)
	if err != nil {
		return Result{}, err
	}
	for attempt := 0; ; attempt++ {
		actions, err := o.actions(snap, batchID, files)
		if err != nil {
			return Result{}, err
		}
		cr, err := o.table.Commit(ctx, snap, delta.Commit{
			Operation: delta.StreamingUpdate(sparkOutputMode(o.mode), o.queryID, batchID),
			Actions:   actions,
		})
		var txnErr *delta.TxnCommittedError
		switch {
		case err == nil:
			return Result{Rows: int64(n), Files: len(files), Version: cr.Version, PostCommitErr: cr.PostCommitErr}, nil
		case errors.As(err, &txnErr) && o.epoch > 0 && txnErr.Committed>>epochShift > o.epoch:
			return Result{}, fmt.Errorf("%w: sink %s: batch %d: %s was fenced meanwhile by owner epoch %d; this task's is %d",
				ErrFenced, o.q.Sink.Name, batchID, o.table, txnErr.Committed>>epochShift, o.epoch)
		case errors.As(err, &txnErr):
			skipped.Files, skipped.CommittedElsewhere = len(files), err
			return skipped, nil
		case errors.Is(err, delta.ErrConflict) && attempt < maxConflictRetries:
			// Another writer created the table or changed its metadata
			// meanwhile: read it again, check it, and commit on top of it.
			if snap, err = o.latest(ctx); err != nil {
				return Result{}, err
			}
			if err := o.checkFenced(snap); err != nil {
				return Result{}, err
			}
			if o.committed(snap, batchID) {
				skipped.Files = len(files)
				skipped.CommittedElsewhere = fmt.Errorf("qsink: %s: version %d already holds batch %d of query %s",
					o.table, snap.Version(), batchID, o.queryID)
				return skipped, nil
			}
		default:
			return Result{}, fmt.Errorf("qsink: sink %s: commit batch %d to %s: %w", o.q.Sink.Name, batchID, o.table, err)
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
func (o *deltaOutput) committed(snap *delta.Snapshot, batchID int64) bool {
	if snap == nil {
		return false
	}
	v, ok := snap.TxnVersion(o.queryID)
	return ok && v >= o.txnVersion(batchID)
}

// dataFile is one data file a batch wrote.
type dataFile struct {
	rel    string // relative to the table root, unencoded
	values []string
	data   []byte
}

// fileSchema is the schema of the data files: the data columns, NOT NULL
// where the table (or, before there is one, the Output) says so.
func (o *deltaOutput) fileSchema(snap *delta.Snapshot) types.Schema {
	s := make(types.Schema, len(o.data))
	for j, i := range o.data {
		f := o.q.Output[i]
		if snap != nil {
			if h, ok := fieldFold(snap.Schema(), f.Name); ok {
				f.Nullable = h.Nullable
			}
		}
		s[j] = f
	}
	return s
}

// writeFiles writes the batch's data files: rows sorted, one file per
// partition value.
func (o *deltaOutput) writeFiles(ctx context.Context, snap *delta.Snapshot, batchID int64, rows *types.Batch) ([]dataFile, error) {
	schema := o.fileSchema(snap)
	for j, f := range schema {
		if v := rows.Cols[o.data[j]]; !f.Nullable && slices.Contains(v.Null, true) {
			return nil, fmt.Errorf("qsink: sink %s: batch %d: NOT NULL constraint violated for column: %s (the table %s declares it NOT NULL)",
				o.q.Sink.Name, batchID, f.Name, o.table)
		}
	}
	idx := o.sorted(rows)
	texts := make([][]string, len(o.part))
	for k := range o.part {
		texts[k] = o.partText[k].eval(rows)
	}
	short := shortID(o.queryID)
	var files []dataFile
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && samePartition(texts, idx[lo], idx[hi]) {
			hi++
		}
		values := make([]string, len(o.part))
		for k := range o.part {
			values[k] = texts[k][idx[lo]]
		}
		name := fmt.Sprintf("part-%010d-%03d-%s.parquet", batchID, len(files), short)
		rel := name
		if len(o.part) > 0 {
			rel = delta.PartitionPath(o.partNames, o.partitionValues(o.partNames, values)) + "/" + name
		}
		b := &types.Batch{Schema: schema, Cols: make([]*types.Vector, len(o.data)), N: hi - lo}
		for j, i := range o.data {
			b.Cols[j] = gather(rows.Cols[i], idx[lo:hi])
		}
		var buf bytes.Buffer
		if err := lakeio.WriteParquet(&buf, b, o.codec); err != nil {
			return nil, fmt.Errorf("qsink: sink %s: encode %s: %w", o.q.Sink.Name, rel, err)
		}
		key := o.root + "/" + rel
		if err := o.st.Put(ctx, key, buf.Bytes()); err != nil {
			return nil, fmt.Errorf("qsink: sink %s: put %s: %w", o.q.Sink.Name, key, err)
		}
		files = append(files, dataFile{rel: rel, values: values, data: buf.Bytes()})
		lo = hi
	}
	return files, nil
}

// partitionValues maps the partition columns, named as the table names
// them, to a file's values.
func (o *deltaOutput) partitionValues(names, values []string) delta.PartitionValues {
	pv := make(delta.PartitionValues, len(names))
	for k, n := range names {
		pv[n] = values[k]
	}
	return pv
}

func samePartition(texts [][]string, a, b int) bool {
	for _, t := range texts {
		if t[a] != t[b] {
			return false
		}
	}
	return true
}

// actions builds the batch's commit: the new table's metaData when there
// is no table yet, then the txn and one add per file.
func (o *deltaOutput) actions(snap *delta.Snapshot, batchID int64, files []dataFile) ([]delta.Action, error) {
	var actions []delta.Action
	var md delta.Metadata
	names := o.partNames
	if snap != nil {
		md = snap.Metadata()
		names = snap.PartitionColumns()
	} else {
		var err error
		md, err = o.table.NewMetadata(o.create, o.partNames,
			map[string]string{delta.PropCheckpointInterval: CheckpointInterval})
		if err != nil {
			return nil, fmt.Errorf("qsink: sink %s: %s: %w", o.q.Sink.Name, o.table, err)
		}
		actions = append(actions, delta.Action{Metadata: &md})
	}
	actions = append(actions, delta.Action{Txn: &delta.Txn{AppID: o.queryID, Version: o.txnVersion(batchID)}})
	now := time.Now()
	for _, f := range files {
		add, err := delta.NewAdd(md, f.rel, o.partitionValues(names, f.values), f.data, now, true)
		if err != nil {
			return nil, fmt.Errorf("qsink: sink %s: %s: %w", o.q.Sink.Name, o.table, err)
		}
		actions = append(actions, delta.Action{Add: &add})
	}
	return actions, nil
}

// shortID is the query id's first 8 characters without dashes: the file
// name suffix that keeps two queries' files of one batch id apart.
func shortID(queryID string) string {
	id := strings.ReplaceAll(queryID, "-", "")
	if len(id) > 8 {
		id = id[:8]
	}
	return id
}
