package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sensorlab/sensorlab/lake"
)

// Operation is what commitInfo records a commit as: Spark's operation name
// and parameters (DESCRIBE HISTORY shows them).
type Operation struct {
	Name       string
	Parameters map[string]string
}

// StreamingUpdate is a Structured Streaming micro-batch's operation, as
// Spark's DeltaSink records it.
func StreamingUpdate(outputMode, queryID string, epochID int64) Operation {
	return Operation{Name: "STREAMING UPDATE", Parameters: map[string]string{
		"outputMode": outputMode, "queryId": queryID, "epochId": strconv.FormatInt(epochID, 10)}}
}

// Write is a batch write's operation ("WRITE"), with Spark's save mode
// ("Append", "Overwrite", "ErrorIfExists") and partition columns.
func Write(mode string, partitionBy []string) Operation {
	pb, _ := json.Marshal(nonNil(partitionBy))
	return Operation{Name: "WRITE", Parameters: map[string]string{"mode": mode, "partitionBy": string(pb)}}
}

// Commit is one transaction: the actions to commit and what the
// transaction read, which decides whether a concurrent commit conflicts
// with it.
type Commit struct {
	Operation Operation
	// Actions are the add, remove, txn, metaData and protocol actions to
	// commit (commitInfo is written by Table.Commit). A new table's first
	// commit must hold a metaData; its protocol, when absent, is
	// MinProtocol of that metadata.
	Actions []Action
	// ReadWholeTable: the transaction's result depends on every file of the
	// snapshot it read (an overwrite, a full scan). A concurrent commit that
	// removes a file then conflicts, and so does one that adds data unless
	// the isolation level lets blind appends through.
	ReadWholeTable bool
	// ReadPartitions, when set, says which partitions the transaction read
	// (by partition values); it narrows the same checks to those files.
	ReadPartitions func(PartitionValues) bool
	// OperationMetrics overrides the metrics commitInfo records (by default
	// numAddedFiles, numRemovedFiles, numOutputBytes and, when every add
	// has stats, numOutputRows).
	OperationMetrics map[string]string
	// UserMetadata is commitInfo.userMetadata.
	UserMetadata string
}

// CommitResult is what a successful commit did.
type CommitResult struct {
	// Version is the version the commit created.
	Version int64
	// Attempts is how many versions it tried (1 if no one else committed
	// meanwhile).
	Attempts int
	// Checkpointed is true when a checkpoint of Version was written.
	Checkpointed bool
	// LogFilesDeleted counts the expired log files metadata cleanup removed.
	LogFilesDeleted int
	// PostCommitErr is a failure after the commit landed (writing the
	// checkpoint, cleaning the log): the commit stands; log it.
	PostCommitErr error
}

// ErrConflict is matched (errors.Is) by every *ConflictError.
var ErrConflict = errors.New("delta: concurrent modification")

// ConflictError reports a commit refused because a concurrent commit (at
// Version) changed what it depends on, by the protocol's conflict rules.
// Kind is Delta's name for the case: ProtocolChanged, MetadataChanged,
// ConcurrentAppend, ConcurrentDeleteRead, ConcurrentDeleteDelete,
// ConcurrentTransaction.
type ConflictError struct {
	Version int64
	Kind    string
	Detail  string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("delta: commit conflicts with version %d (%s): %s", e.Version, e.Kind, e.Detail)
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ErrTxnCommitted is matched by every *TxnCommittedError.
var ErrTxnCommitted = errors.New("delta: transaction already committed")

// TxnCommittedError refuses a commit whose txn action is not ahead of the
// table: the table already holds version Committed (>= Version) for AppID,
// so this batch was committed before (Spark's DeltaSink skips it).
type TxnCommittedError struct {
	AppID     string
	Version   int64
	Committed int64
}

func (e *TxnCommittedError) Error() string {
	return fmt.Sprintf("delta: application %s already committed version %d; this commit's version %d is not ahead of it",
		e.AppID, e.Committed, e.Version)
}

func (e *TxnCommittedError) Is(target error) bool { return target == ErrTxnCommitted }

// ErrTooManyAttempts is returned when a commit lost the race for every
// version it tried (see WithMaxCommitAttempts).
var ErrTooManyAttempts = errors.New("delta: too many concurrent commits")

// The isolation levels of the conflict rules.
const (
	Serializable      = "Serializable"
	WriteSerializable = "WriteSerializable"
	SnapshotIsolation = "SnapshotIsolation"
)

// PropIsolationLevel is the table's isolation level for data-changing
// commits: Serializable (Delta's default) or WriteSerializable.
const PropIsolationLevel = "delta.isolationLevel"

// NewMetadata builds a new table's metaData: a fresh id, format parquet,
// the schema as Spark's StructType JSON, the partition columns (which must
// be top-level primitive columns of the schema) and the configuration
// (table properties, e.g. delta.checkpointInterval), created now.
func (t *Table) NewMetadata(schema StructType, partitionColumns []string, configuration map[string]string) (Metadata, error) {
	for _, c := range partitionColumns {
		f, ok := schema.Field(c)
		if !ok {
			return Metadata{}, fmt.Errorf("delta: partition column %q is not in the schema", c)
		}
		if _, ok := f.Type.(PrimitiveType); !ok {
			return Metadata{}, fmt.Errorf("delta: partition column %q is a %s, want a primitive type", c, f.Type.TypeName())
		}
	}
	s, err := schema.JSON()
	if err != nil {
		return Metadata{}, fmt.Errorf("delta: schema: %w", err)
	}
	conf := map[string]string{}
	for k, v := range configuration {
		conf[k] = v
	}
	return Metadata{
		ID:               t.newID(),
		Format:           Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString:     s,
		PartitionColumns: nonNil(append([]string(nil), partitionColumns...)),
		CreatedTime:      ptr(t.now().UnixMilli()),
		Configuration:    conf,
	}, nil
}

// RemoveOf returns the remove action that takes a live file out of the
// table, with the file's partition values and size (extendedFileMetadata),
// as Spark writes it. dataChange is false for a rearrangement (OPTIMIZE).
func RemoveOf(a Add, deletedAt time.Time, dataChange bool) Remove {
	return Remove{
		Path: a.Path, DeletionTimestamp: ptr(deletedAt.UnixMilli()), DataChange: dataChange,
		ExtendedFileMetadata: ptr(true), PartitionValues: a.PartitionValues, Size: ptr(a.Size),
		Stats: a.Stats, Tags: a.Tags, DeletionVector: a.DeletionVector,
		BaseRowID: a.BaseRowID, DefaultRowCommitVersion: a.DefaultRowCommitVersion,
	}
}

// Commit writes the next version of the table: read is the snapshot the
// transaction read (nil to create the table). It is the one way this
// package writes a commit.
//
// The commit file for version read+1 is created with PutIfAbsent, so a
// version is written once. If another writer created it first, Commit reads
// the versions it missed and applies the protocol's conflict rules against
// each: a winner that changed the protocol or metadata conflicts; one whose
// files the transaction read (removed, or added data it should have seen)
// conflicts; one that removed a file this commit also removes conflicts;
// one that recorded a txn for this commit's appId conflicts, with a
// *TxnCommittedError when its version is not behind this one. Blind appends
// and rearrangements of other files (OPTIMIZE) do not conflict with an
// append. Without a conflict it tries the next version, up to the table's
// attempt bound. A commit whose txn the read snapshot already holds is
// refused at once (*TxnCommittedError).
//
// After writing version v > 0 it writes a checkpoint when v is a multiple
// of delta.checkpointInterval, then cleans up expired log files.
func (t *Table) Commit(ctx context.Context, read *Snapshot, c Commit) (CommitResult, error) {
	tx, err := t.prepare(read, c)
	if err != nil {
		return CommitResult{}, err
	}
	version := tx.readVersion + 1
	var winners [][]Action
	for attempt := 1; attempt <= t.maxAttempts; attempt++ {
		data, err := tx.encode(t, winners)
		if err != nil {
			return CommitResult{}, err
		}
		key := t.key(logDir, commitName(version))
		err = t.store.PutIfAbsent(ctx, key, data)
		if err != nil && !errors.Is(err, lake.ErrExist) {
			// The outcome is unknown (a lost response): look.
			if got, gerr := t.store.Get(ctx, key); gerr == nil && bytes.Equal(got, data) {
				err = nil
			} else {
				return CommitResult{}, fmt.Errorf("delta: %s: commit version %d: %w", t, version, err)
			}
		}
		if err == nil {
			res := CommitResult{Version: version, Attempts: attempt}
			t.postCommit(ctx, tx, winners, version, data, &res)
			return res, nil
		}
		// Lost the race: check every version we missed, then try the next.
		for {
			got, gerr := t.store.Get(ctx, t.key(logDir, commitName(version)))
			if errors.Is(gerr, lake.ErrNotExist) {
				break // a hole: ours to take (cleanup never removes the newest)
			}
			if gerr != nil {
				return CommitResult{}, fmt.Errorf("delta: %s: read version %d: %w", t, version, gerr)
			}
			if bytes.Equal(got, data) { // our own write, whose response was lost
				res := CommitResult{Version: version, Attempts: attempt}
				t.postCommit(ctx, tx, winners, version, data, &res)
				return res, nil
			}
			actions, perr := ParseActions(got)
			if perr != nil {
				return CommitResult{}, fmt.Errorf("%w: %s: version %d: %w", errMalformed, t, version, perr)
			}
			if err := tx.checkConflicts(version, actions); err != nil {
				// A batch already committed is the more useful answer than
				// the conflict its earlier batches cause: look ahead.
				if _, isTxn := err.(*TxnCommittedError); !isTxn && len(tx.txns) > 0 {
					if terr := t.txnCommittedLater(ctx, tx, version+1); terr != nil {
						err = terr
					}
				}
				return CommitResult{}, fmt.Errorf("%s: %w", t, err)
			}
			winners = append(winners, actions)
			version++
		}
	}
	return CommitResult{}, fmt.Errorf("%w: %s: gave up after %d attempts, at version %d", ErrTooManyAttempts, t, t.maxAttempts, version)
}

// txnCommittedLater looks through the commits from version from on for a
// txn that already reached one of this transaction's, and returns the
// *TxnCommittedError it makes (nil if none does).
func (t *Table) txnCommittedLater(ctx context.Context, tx *transaction, from int64) error {
	for v := from; ; v++ {
		actions, err := t.readCommit(ctx, v)
		if err != nil {
			return nil // the end of the log (or unreadable): nothing more to say
		}
		for _, a := range actions {
			if a.Txn == nil {
				continue
			}
			if mine, ok := tx.txns[a.Txn.AppID]; ok && a.Txn.Version >= mine.Version {
				return &TxnCommittedError{AppID: mine.AppID, Version: mine.Version, Committed: a.Txn.Version}
			}
		}
	}
}

// transaction is a Commit checked and ready to encode.
type transaction struct {
	c               Commit
	read            *Snapshot
	readVersion     int64
	protocol        Protocol // in force after the commit
	metadata        Metadata
	newProtocol     *Protocol // in the commit
	newMetadata     *Metadata
	adds            []Add
	removes         []Remove
	txns            map[string]Txn
	readFiles       map[fileKey]bool // files whose removal by another commit conflicts
	isolation       string
	blindAppend     bool
	prevICT         int64 // the read version's in-commit timestamp (ms), 0 if none
	txnID           string
	schema          StructType
	partitionColumn map[string]bool
}

func (t *Table) prepare(read *Snapshot, c Commit) (*transaction, error) {
	tx := &transaction{c: c, read: read, readVersion: -1, txns: map[string]Txn{}, readFiles: map[fileKey]bool{}, txnID: t.newID()}
	if read != nil {
		if read.table.Location() != t.Location() {
			return nil, fmt.Errorf("delta: commit to %s with a snapshot of %s", t, read.table)
		}
		tx.readVersion = read.Version()
		tx.protocol, tx.metadata = read.Protocol(), read.Metadata()
		if ictEnabled(tx.protocol, tx.metadata) {
			tx.prevICT = read.timestamp.UnixMilli()
		}
	}
	if c.Operation.Name == "" {
		return nil, errors.New("delta: commit without an operation name")
	}
	now := t.now().UnixMilli()
	addPaths := map[string]bool{}
	removeKeys := map[fileKey]bool{}
	for i, a := range c.Actions {
		switch {
		case a.Protocol != nil:
			if tx.newProtocol != nil {
				return nil, errors.New("delta: commit holds two protocol actions")
			}
			p := *a.Protocol
			tx.newProtocol = &p
		case a.Metadata != nil:
			if tx.newMetadata != nil {
				return nil, errors.New("delta: commit holds two metaData actions")
			}
			m := *a.Metadata
			tx.newMetadata = &m
		case a.Add != nil:
			add := *a.Add
			p, err := DecodePath(add.Path)
			if err != nil {
				return nil, err
			}
			if add.Path == "" || isAbsolutePath(add.Path) {
				return nil, fmt.Errorf("delta: add %q: want a path relative to the table root", add.Path)
			}
			if addPaths[p] {
				return nil, fmt.Errorf("delta: commit adds %q twice", add.Path)
			}
			addPaths[p] = true
			if add.ModificationTime == 0 {
				add.ModificationTime = now
			}
			tx.adds = append(tx.adds, add)
		case a.Remove != nil:
			rm := *a.Remove
			p, err := DecodePath(rm.Path)
			if err != nil {
				return nil, err
			}
			k := fileKey{p, rm.DeletionVector.UniqueID()}
			if removeKeys[k] {
				return nil, fmt.Errorf("delta: commit removes %q twice", rm.Path)
			}
			removeKeys[k] = true
			if rm.DeletionTimestamp == nil {
				rm.DeletionTimestamp = ptr(now)
			}
			tx.removes = append(tx.removes, rm)
			tx.readFiles[k] = true // a removed file was read
		case a.Txn != nil:
			txn := *a.Txn
			if _, dup := tx.txns[txn.AppID]; dup {
				return nil, fmt.Errorf("delta: commit holds two txn actions for appId %s", txn.AppID)
			}
			if txn.LastUpdated == nil {
				txn.LastUpdated = ptr(now)
			}
			tx.txns[txn.AppID] = txn
		default:
			return nil, fmt.Errorf("delta: action %d: only add, remove, txn, metaData and protocol can be committed", i)
		}
	}
	for _, a := range tx.adds {
		p, _ := DecodePath(a.Path)
		if removeKeys[fileKey{p, a.DeletionVector.UniqueID()}] {
			return nil, fmt.Errorf("delta: commit adds and removes %q", a.Path)
		}
	}
	// What the table is after this commit.
	if tx.newMetadata != nil {
		tx.metadata = *tx.newMetadata
	}
	if read == nil {
		if tx.newMetadata == nil {
			return nil, errors.New("delta: the first commit of a table must hold its metaData (see Table.NewMetadata)")
		}
		if tx.newProtocol == nil {
			p, err := MinProtocol(tx.metadata)
			if err != nil {
				return nil, err
			}
			tx.newProtocol = &p
		}
	}
	if tx.newProtocol != nil {
		tx.protocol = *tx.newProtocol
	}
	schema, err := tx.metadata.Schema()
	if err != nil {
		return nil, err
	}
	tx.schema = schema
	if err := checkWrite(tx.protocol, tx.metadata, schema); err != nil {
		return nil, err
	}
	if read != nil {
		// The table as read must be writable too.
		if err := checkWrite(read.Protocol(), read.Metadata(), read.Schema()); err != nil {
			return nil, err
		}
	}
	tx.partitionColumn = map[string]bool{}
	for _, c := range tx.metadata.PartitionColumns {
		tx.partitionColumn[c] = true
	}
	for _, a := range tx.adds {
		if len(a.PartitionValues) != len(tx.partitionColumn) {
			return nil, fmt.Errorf("delta: add %q has partition values %v, want one for each of %v", a.Path, a.PartitionValues, tx.metadata.PartitionColumns)
		}
		for k := range a.PartitionValues {
			if !tx.partitionColumn[k] {
				return nil, fmt.Errorf("delta: add %q: %q is not a partition column (%v)", a.Path, k, tx.metadata.PartitionColumns)
			}
		}
	}
	// Append-only tables refuse data-changing removes.
	if appendOnly, err := confBool(tx.metadata.Configuration, PropAppendOnly, false); err != nil {
		return nil, err
	} else if appendOnly && slicesContains(writerFeatures(tx.protocol), "appendOnly") {
		for _, r := range tx.removes {
			if r.DataChange {
				return nil, fmt.Errorf("delta: %s is append-only (%s): cannot remove %q", t, PropAppendOnly, r.Path)
			}
		}
	}
	// Idempotence: the read snapshot may already hold this batch.
	if read != nil {
		for _, txn := range tx.txns {
			if v, ok := read.TxnVersion(txn.AppID); ok && v >= txn.Version {
				return nil, &TxnCommittedError{AppID: txn.AppID, Version: txn.Version, Committed: v}
			}
		}
	}
	// What the transaction read, beyond the files it removes.
	if read != nil && (c.ReadWholeTable || c.ReadPartitions != nil) {
		for k, a := range read.st.files {
			if c.ReadWholeTable || c.ReadPartitions(a.PartitionValues) {
				tx.readFiles[k] = true
			}
		}
	}
	dependsOnFiles := c.ReadWholeTable || c.ReadPartitions != nil || len(tx.removes) > 0
	tx.blindAppend = !dependsOnFiles && len(tx.removes) == 0
	dataChange := false
	for _, a := range tx.adds {
		dataChange = dataChange || a.DataChange
	}
	for _, r := range tx.removes {
		dataChange = dataChange || r.DataChange
	}
	switch iso := tx.metadata.Configuration[PropIsolationLevel]; {
	case !dataChange && tx.newMetadata == nil && tx.newProtocol == nil:
		// Changes no data: only rearranges it (OPTIMIZE), or records
		// something (VACUUM START/END, a txn alone), as Spark downgrades.
		tx.isolation = SnapshotIsolation
	case iso == "" || iso == Serializable:
		tx.isolation = Serializable
	case iso == WriteSerializable:
		tx.isolation = WriteSerializable
	default:
		return nil, fmt.Errorf("delta: table property %s = %q: want %s or %s", PropIsolationLevel, iso, Serializable, WriteSerializable)
	}
	return tx, nil
}

// encode lays out the commit file: commitInfo first (the protocol requires
// it first when in-commit timestamps are on; Spark always writes it
// first), then protocol, metaData, txns, removes and adds.
func (tx *transaction) encode(t *Table, winners [][]Action) ([]byte, error) {
	now := t.now().UnixMilli()
	info := &CommitInfo{
		Timestamp:           now,
		Operation:           tx.c.Operation.Name,
		OperationParameters: tx.c.Operation.Parameters,
		IsolationLevel:      tx.isolation,
		IsBlindAppend:       ptr(tx.blindAppend),
		OperationMetrics:    tx.metrics(),
		UserMetadata:        tx.c.UserMetadata,
		EngineInfo:          t.engineInfo,
		TxnID:               tx.txnID,
	}
	if info.OperationParameters == nil {
		info.OperationParameters = map[string]string{}
	}
	if tx.readVersion >= 0 {
		info.ReadVersion = ptr(tx.readVersion)
	}
	if ictEnabled(tx.protocol, tx.metadata) {
		// The larger of now and one past the previous commit's.
		prev := tx.prevICT
		for _, w := range winners {
			for _, a := range w {
				if a.CommitInfo != nil && a.CommitInfo.InCommitTimestamp != nil {
					prev = *a.CommitInfo.InCommitTimestamp
				}
			}
		}
		info.InCommitTimestamp = ptr(max(now, prev+1))
	}
	actions := []Action{{CommitInfo: info}}
	if tx.newProtocol != nil {
		actions = append(actions, Action{Protocol: tx.newProtocol})
	}
	if tx.newMetadata != nil {
		actions = append(actions, Action{Metadata: tx.newMetadata})
	}
	for _, a := range tx.c.Actions { // txns in the caller's order
		if a.Txn != nil {
			txn := tx.txns[a.Txn.AppID]
			actions = append(actions, Action{Txn: &txn})
		}
	}
	for i := range tx.removes {
		actions = append(actions, Action{Remove: &tx.removes[i]})
	}
	for i := range tx.adds {
		actions = append(actions, Action{Add: &tx.adds[i]})
	}
	return EncodeActions(actions)
}

// metrics are the operation metrics commitInfo records.
func (tx *transaction) metrics() map[string]string {
	if tx.c.OperationMetrics != nil {
		return tx.c.OperationMetrics
	}
	var bytes, rows int64
	rowsKnown := true
	for _, a := range tx.adds {
		bytes += a.Size
		if st, err := ParseStats(a.Stats); err == nil && a.Stats != "" {
			rows += st.NumRecords
		} else {
			rowsKnown = false
		}
	}
	m := map[string]string{
		"numAddedFiles":   strconv.Itoa(len(tx.adds)),
		"numRemovedFiles": strconv.Itoa(len(tx.removes)),
		"numOutputBytes":  strconv.FormatInt(bytes, 10),
	}
	if rowsKnown {
		m["numOutputRows"] = strconv.FormatInt(rows, 10)
	}
	return m
}

// checkConflicts applies the protocol's (Delta's) conflict rules between
// this transaction and a commit that won version v first.
func (tx *transaction) checkConflicts(v int64, winner []Action) error {
	blind := false
	for _, a := range winner {
		if a.CommitInfo != nil && a.CommitInfo.IsBlindAppend != nil {
			blind = *a.CommitInfo.IsBlindAppend
		}
	}
	myRemoves := map[fileKey]bool{}
	for _, r := range tx.removes {
		p, _ := DecodePath(r.Path)
		myRemoves[fileKey{p, r.DeletionVector.UniqueID()}] = true
	}
	for _, a := range winner {
		switch {
		case a.Protocol != nil:
			return &ConflictError{Version: v, Kind: "ProtocolChanged",
				Detail: "the protocol changed (for a new table: another writer created it first)"}
		case a.Metadata != nil:
			return &ConflictError{Version: v, Kind: "MetadataChanged", Detail: "the table's metadata changed"}
		case a.Txn != nil:
			if mine, ok := tx.txns[a.Txn.AppID]; ok {
				if a.Txn.Version >= mine.Version {
					return &TxnCommittedError{AppID: mine.AppID, Version: mine.Version, Committed: a.Txn.Version}
				}
				return &ConflictError{Version: v, Kind: "ConcurrentTransaction",
					Detail: fmt.Sprintf("another writer committed version %d for application %s", a.Txn.Version, a.Txn.AppID)}
			}
		case a.Remove != nil:
			p, err := DecodePath(a.Remove.Path)
			if err != nil {
				return err
			}
			k := fileKey{p, a.Remove.DeletionVector.UniqueID()}
			if myRemoves[k] {
				return &ConflictError{Version: v, Kind: "ConcurrentDeleteDelete",
					Detail: fmt.Sprintf("file %s was removed by both", a.Remove.Path)}
			}
			if tx.readFiles[k] || (tx.c.ReadWholeTable && tx.read == nil) {
				return &ConflictError{Version: v, Kind: "ConcurrentDeleteRead",
					Detail: fmt.Sprintf("file %s, which this transaction read, was removed", a.Remove.Path)}
			}
		case a.Add != nil:
			if !tx.addConflicts(*a.Add, blind) {
				continue
			}
			return &ConflictError{Version: v, Kind: "ConcurrentAppend",
				Detail: fmt.Sprintf("file %s was added where this transaction read", a.Add.Path)}
		}
	}
	return nil
}

// addConflicts reports whether a file a winner added is one this
// transaction should have read: it read that partition (or everything) and
// the isolation level counts the add (Serializable: any data-changing add;
// WriteSerializable: not those of blind appends, unless this commit changes
// the metadata; SnapshotIsolation: none).
func (tx *transaction) addConflicts(a Add, winnerBlind bool) bool {
	if !tx.c.ReadWholeTable && tx.c.ReadPartitions == nil {
		return false
	}
	switch tx.isolation {
	case SnapshotIsolation:
		return false
	case WriteSerializable:
		if winnerBlind && tx.newMetadata == nil {
			return false
		}
	}
	if !a.DataChange {
		return false // a rearrangement (OPTIMIZE) adds no data
	}
	return tx.c.ReadWholeTable || tx.c.ReadPartitions(a.PartitionValues)
}

// postCommit writes the checkpoint a version is due (its state is the read
// snapshot, the winners' commits and this one), then cleans up the log.
// Failures are reported in res, not returned: the commit stands.
func (t *Table) postCommit(ctx context.Context, tx *transaction, winners [][]Action, version int64, committed []byte, res *CommitResult) {
	interval, err := checkpointInterval(tx.metadata.Configuration)
	if err != nil {
		res.PostCommitErr = err
		return
	}
	if version == 0 || version%interval != 0 {
		return // as Spark: never a checkpoint of the first version
	}
	st := newState()
	if tx.read != nil {
		st = tx.read.st.clone()
	}
	for _, w := range winners {
		for _, a := range w {
			if err := st.apply(a); err != nil {
				res.PostCommitErr = err
				return
			}
		}
	}
	mine, err := ParseActions(committed)
	if err != nil {
		res.PostCommitErr = err
		return
	}
	for _, a := range mine {
		if err := st.apply(a); err != nil {
			res.PostCommitErr = err
			return
		}
	}
	st.version = version
	if _, err := t.writeCheckpoint(ctx, st); err != nil {
		res.PostCommitErr = err
		return
	}
	res.Checkpointed = true
	n, err := t.CleanupLog(ctx)
	res.LogFilesDeleted = n
	if err != nil {
		res.PostCommitErr = err
	}
}
