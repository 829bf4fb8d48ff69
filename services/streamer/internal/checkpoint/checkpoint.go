// Package checkpoint is the storage side of the streamer's checkpoint protocol
// (docs/checkpoint-protocol.md): the query's metadata, the write-ahead offsets
// log, the per-batch state snapshots and the commit log, kept in a lake.Store
// rooted at the checkpoint location.
//
// Layout (batch ids zero-padded to 20 digits so that keys sort in batch order):
//
//	metadata.json              query id and shape, written once
//	offsets/<batch>.json       written before the batch runs
//	state/<batch>.bin          written after the batch's output is durable: a
//	                           snapshot of the whole state, or
//	state/<batch>.changelog    what the batch changed since the previous
//	                           batch's state (Spark's changelog checkpointing)
//	commits/<batch>.json       written last
//
// A batch's state is its newest snapshot at or before it followed by the
// changelogs of every later batch up to it, in order: a chain that must be
// complete for the batch to be resumed from.
//
// Invariants:
//   - Every JSON file carries a format version; a file this code cannot read
//     (truncated, corrupt, newer version, wrong batch id) is reported as
//     damaged with its key, never ignored silently.
//   - State bytes are opaque here but framed with their length, batch id and a
//     CRC-32C, so a truncated or altered state file is detected on read.
//   - Recover only resumes from a batch whose commit, state and offsets are all
//     valid, and only replays batches whose offsets entries are complete and
//     continuous; anything else is an error that names the damaged key.
//   - One writer per checkpoint: metadata.json, offsets/<batch>.json and
//     commits/<batch>.json are created with lake.Store.PutIfAbsent, never
//     replaced. Each offsets and commit file names the run that wrote it, so
//     a file found under the key is either this run's own write (a response
//     that was lost: same bytes) or another process's, which stops this one
//     with ErrInUse. The only exception is a commit that Recover fell back
//     past (damaged, or its state is): its batch's re-run replaces it.
package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sensorlab/sensorlab/lake"
)

// FormatVersion is the version of every JSON file of the checkpoint.
const FormatVersion = 1

// Keys and directories of the checkpoint, relative to its root.
const (
	MetadataKey = "metadata.json"
	OffsetsDir  = "offsets/"
	StateDir    = "state/"
	CommitsDir  = "commits/"
)

// Sentinel errors, for callers that must tell a damaged checkpoint from an
// unreachable store.
var (
	// ErrDamaged marks a checkpoint file that cannot be trusted.
	ErrDamaged = errors.New("checkpoint damaged")
	// ErrIncompatible marks a checkpoint that belongs to a query of another shape.
	ErrIncompatible = errors.New("checkpoint belongs to a different query")
	// ErrInUse marks a checkpoint another process writes to at the same
	// time: this one must stop (Spark: "Concurrent update to the log.
	// Multiple streaming jobs detected").
	ErrInUse = errors.New("checkpoint in use by another streamer")
)

// recoverHint is how an operator recovers from damage that recovery cannot work around.
const recoverHint = "restore the object from a backup of the checkpoint; otherwise move the checkpoint " +
	"aside and start a new query with an empty --checkpoint location (it starts from --starting-offsets, " +
	"so windows may be missed or written twice)"

// OffsetsKey names the offsets entry of a batch.
func OffsetsKey(batchID int64) string { return fmt.Sprintf("%s%020d.json", OffsetsDir, batchID) }

// StateKey names the state snapshot of a batch.
func StateKey(batchID int64) string {
	return fmt.Sprintf("%s%020d%s", StateDir, batchID, snapshotSuffix)
}

// ChangelogKey names the state changelog of a batch.
func ChangelogKey(batchID int64) string {
	return fmt.Sprintf("%s%020d%s", StateDir, batchID, changelogSuffix)
}

// The suffixes of the two kinds of state file.
const (
	snapshotSuffix  = ".bin"
	changelogSuffix = ".changelog"
)

// CommitKey names the commit entry of a batch.
func CommitKey(batchID int64) string { return fmt.Sprintf("%s%020d.json", CommitsDir, batchID) }

// parseBatchKey returns the batch id of key in dir with the given suffix.
func parseBatchKey(key, dir, suffix string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, dir)
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, suffix)
	if !ok || len(num) != 20 {
		return 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id < 0 {
		return 0, false
	}
	return id, true
}

// Metadata is the query's identity and shape, fixed when the checkpoint is created.
type Metadata struct {
	Version        int
	ID             string // query id, a UUID
	CreatedAt      time.Time
	Topic          string
	Window         time.Duration
	Slide          time.Duration
	SessionGap     time.Duration
	WatermarkDelay time.Duration
	// OutputMode is the specialised path's Delta output mode, or
	// QueryFileMode for the checkpoint of a query file, whose queries
	// (Queries) each say their own.
	OutputMode string
	// Queries lists the queries of a query file's checkpoint, one per
	// CREATE SINK, with what their state depends on; nil on the
	// specialised path. InitMetadata does not compare them: the driver
	// does, query by query, and records a changed list with
	// UpdateMetadata.
	Queries []QueryMeta
}

// QueryFileMode is Metadata.OutputMode of a query file's checkpoint.
const QueryFileMode = "query-file"

// QueryMeta is one query of a query file's checkpoint.
type QueryMeta struct {
	Name string `json:"name"` // the sink's name
	// ID is the query's own id, a UUID: its Delta sink's txn appId.
	ID string `json:"id"`
	// Fingerprint is the plan's Fingerprint(): a restart whose query
	// fingerprint differs is refused.
	Fingerprint string `json:"fingerprint"`
}

// OffsetsEntry is the write-ahead record of one planned batch.
type OffsetsEntry struct {
	BatchID          int64           `json:"batchId"`
	BatchTimestampMs int64           `json:"batchTimestampMs"`
	WatermarkMs      int64           `json:"watermarkMs"`
	Topic            string          `json:"topic"`
	Start            map[int32]int64 `json:"start"` // per partition, first offset of the batch
	End              map[int32]int64 `json:"end"`   // per partition, exclusive
	NoData           bool            `json:"noData"`
	// DataLossReset marks the first batch after offsets Kafka no longer held
	// were skipped (--fail-on-data-loss=false): its start offsets do not
	// continue the previous batch's end, by decision.
	DataLossReset bool `json:"dataLossReset,omitempty"`
}

// CommitEntry records that a batch's output and state are durable.
type CommitEntry struct {
	BatchID         int64     `json:"batchId"`
	NextWatermarkMs int64     `json:"nextWatermarkMs"`
	NumInputRows    int64     `json:"numInputRows"`
	NumOutputRows   int64     `json:"numOutputRows"`
	CommittedAt     time.Time `json:"committedAt"`
}

// offsetsFile and commitFile are the stored forms of the entries. RunID is
// the run that wrote the file: what tells this run's own write (a lost
// response) from another process's.
type offsetsFile struct {
	Version int    `json:"version"`
	RunID   string `json:"runId,omitempty"`
	OffsetsEntry
}

type commitFile struct {
	Version int    `json:"version"`
	RunID   string `json:"runId,omitempty"`
	CommitEntry
}

// Checkpoint reads and writes one query's checkpoint. It is safe for
// concurrent use as far as its Store is. The protocol expects a single
// writer per checkpoint, and enforces it: see ErrInUse.
type Checkpoint struct {
	st    lake.Store
	runID string

	mu sync.Mutex
	// redo holds the batches whose commit file Recover fell back past: the
	// re-run of such a batch replaces its commit instead of creating it.
	redo map[int64]bool
}

// Option configures a Checkpoint.
type Option func(*Checkpoint)

// WithRunID sets the id of the run writing the checkpoint (the streamer's
// run id, which its logs show), stored in every offsets and commit file.
// By default a random one.
func WithRunID(id string) Option { return func(c *Checkpoint) { c.runID = id } }

// Open returns the checkpoint kept in st, after checking that st is reachable.
func Open(ctx context.Context, st lake.Store, opts ...Option) (*Checkpoint, error) {
	if st == nil {
		return nil, errors.New("checkpoint: nil store")
	}
	if err := st.Ping(ctx); err != nil {
		return nil, fmt.Errorf("checkpoint: store %s: %w", st, err)
	}
	c := &Checkpoint{st: st, runID: uuid.NewString(), redo: map[int64]bool{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// RunID is the run id this Checkpoint writes into its files.
func (c *Checkpoint) RunID() string { return c.runID }

// String describes where the checkpoint lives, for logs.
func (c *Checkpoint) String() string { return c.st.String() }

// WriteOffsets records the batch's plan. It must be called before the batch
// runs; a re-run batch keeps the entry it was planned with. The entry is
// created, never replaced: if the batch already has one that this run did
// not write, another process runs the query and WriteOffsets fails with
// ErrInUse.
func (c *Checkpoint) WriteOffsets(ctx context.Context, e OffsetsEntry) error {
	if err := validOffsets(e); err != nil {
		return fmt.Errorf("checkpoint: write offsets of batch %d: %w", e.BatchID, err)
	}
	return c.create(ctx, OffsetsKey(e.BatchID), "offsets", e.BatchID,
		offsetsFile{Version: FormatVersion, RunID: c.runID, OffsetsEntry: e})
}

// WriteState stores the state snapshot taken after the batch.
func (c *Checkpoint) WriteState(ctx context.Context, batchID int64, snapshot []byte) error {
	_, err := c.WriteStateFile(ctx, batchID, true, withHeaderRoom(snapshot))
	return err
}

// WriteStateChangelog stores what the batch changed in the state since the
// previous batch's state (a snapshot or a changelog). Recovery rebuilds the
// state from the newest snapshot and the changelogs after it, so a batch
// whose predecessors' state files are gone cannot be resumed from: write a
// snapshot every so often (Spark's snapshot interval).
func (c *Checkpoint) WriteStateChangelog(ctx context.Context, batchID int64, changelog []byte) error {
	_, err := c.WriteStateFile(ctx, batchID, false, withHeaderRoom(changelog))
	return err
}

// WriteStateFile stores a state file built in place, a snapshot
// (WriteState) or a changelog (WriteStateChangelog): file holds
// StateFileHeader bytes of room, then the payload. It fills the header,
// appends the checksum and returns the buffer, so that a caller can build
// the next one in it: at a million keys a state file is tens of MB, which
// framing would otherwise copy.
func (c *Checkpoint) WriteStateFile(ctx context.Context, batchID int64, snapshot bool, file []byte) ([]byte, error) {
	what, key := "state changelog", ChangelogKey(batchID)
	if snapshot {
		what, key = "state", StateKey(batchID)
	}
	if batchID < 0 {
		return file, fmt.Errorf("checkpoint: write %s: negative batch id %d", what, batchID)
	}
	if len(file) < stateHeader {
		return file, fmt.Errorf("checkpoint: write %s: %d bytes, shorter than the header's room", what, len(file))
	}
	file = finishFrame(file, 0, batchID)
	if err := c.st.Put(ctx, key, file); err != nil {
		return file, fmt.Errorf("checkpoint: put %s: %w", key, err)
	}
	return file, nil
}

// WriteCommit records that the batch's output and state are durable. It must
// be the batch's last write. Like WriteOffsets it creates the file and fails
// with ErrInUse when another process wrote it first, except for a batch
// whose commit Recover fell back past, whose file it replaces.
func (c *Checkpoint) WriteCommit(ctx context.Context, e CommitEntry) error {
	if e.BatchID < 0 {
		return fmt.Errorf("checkpoint: write commit: negative batch id %d", e.BatchID)
	}
	if e.CommittedAt.IsZero() {
		e.CommittedAt = time.Now()
	}
	e.CommittedAt = e.CommittedAt.UTC()
	f := commitFile{Version: FormatVersion, RunID: c.runID, CommitEntry: e}
	c.mu.Lock()
	redo := c.redo[e.BatchID]
	c.mu.Unlock()
	if redo {
		if err := c.putJSON(ctx, CommitKey(e.BatchID), f); err != nil {
			return err
		}
		c.mu.Lock()
		delete(c.redo, e.BatchID)
		c.mu.Unlock()
		return nil
	}
	return c.create(ctx, CommitKey(e.BatchID), "the commit", e.BatchID, f)
}

// create writes v under key only if the key holds nothing (PutIfAbsent).
// A key that holds exactly these bytes is this run's own earlier write,
// whose response was lost (a retry found it): success. Anything else there
// was written by another process: ErrInUse, naming the checkpoint, what
// (the offsets or the commit) and the batch.
func (c *Checkpoint) create(ctx context.Context, key, what string, batchID int64, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint: encode %s: %w", key, err)
	}
	err = c.st.PutIfAbsent(ctx, key, b)
	if err == nil {
		return nil
	}
	if !errors.Is(err, lake.ErrExist) {
		return fmt.Errorf("checkpoint: put %s: %w", key, err)
	}
	got, gerr := c.st.Get(ctx, key)
	if gerr != nil {
		return fmt.Errorf("checkpoint: %s exists; reading it back: %w", key, gerr)
	}
	if bytes.Equal(got, b) {
		return nil
	}
	e := &InUseError{Checkpoint: c.st.String(), What: what, BatchID: batchID}
	var other struct {
		RunID string `json:"runId"`
	}
	if json.Unmarshal(got, &other) == nil {
		e.OtherRunID = other.RunID
	}
	return e
}

// InUseError reports a checkpoint file another process wrote first: two
// streamers run one checkpoint. It matches ErrInUse.
type InUseError struct {
	Checkpoint string // where the checkpoint lives
	What       string // "offsets" or "the commit"
	BatchID    int64
	OtherRunID string // the run that wrote the file, when it says
}

func (e *InUseError) Error() string {
	verb, by := "was", "another process"
	if e.What == "offsets" {
		verb = "were"
	}
	if e.OtherRunID != "" {
		by += " (run " + e.OtherRunID + ")"
	}
	return fmt.Sprintf("checkpoint %s is in use by another streamer: %s for batch %d %s written by %s "+
		"(two queries cannot share a checkpoint; stop the other one, or give this one its own --checkpoint)",
		e.Checkpoint, e.What, e.BatchID, verb, by)
}

func (e *InUseError) Is(target error) bool { return target == ErrInUse }

func (c *Checkpoint) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint: encode %s: %w", key, err)
	}
	if err := c.st.Put(ctx, key, b); err != nil {
		return fmt.Errorf("checkpoint: put %s: %w", key, err)
	}
	return nil
}

func validOffsets(e OffsetsEntry) error {
	var errs []error
	if e.BatchID < 0 {
		errs = append(errs, fmt.Errorf("negative batch id %d", e.BatchID))
	}
	if e.Topic == "" {
		errs = append(errs, errors.New("empty topic"))
	}
	if len(e.Start) != len(e.End) {
		errs = append(errs, fmt.Errorf("start has %d partitions, end has %d", len(e.Start), len(e.End)))
	}
	for p, end := range e.End {
		start, ok := e.Start[p]
		switch {
		case p < 0:
			errs = append(errs, fmt.Errorf("negative partition %d", p))
		case !ok:
			errs = append(errs, fmt.Errorf("partition %d has an end offset but no start offset", p))
		case start < 0 || end < start:
			errs = append(errs, fmt.Errorf("partition %d: range [%d, %d) is invalid", p, start, end))
		}
	}
	return errors.Join(errs...)
}

// readOffsets loads and checks one offsets entry, and says which run wrote
// it. Damage is reported wrapping ErrDamaged.
func (c *Checkpoint) readOffsets(ctx context.Context, batchID int64) (OffsetsEntry, string, error) {
	key := OffsetsKey(batchID)
	var f offsetsFile
	if err := c.getJSON(ctx, key, &f); err != nil {
		return OffsetsEntry{}, "", err
	}
	if err := checkVersion(f.Version); err != nil {
		return OffsetsEntry{}, "", damaged(key, err)
	}
	if f.BatchID != batchID {
		return OffsetsEntry{}, "", damaged(key, fmt.Errorf("holds batch %d", f.BatchID))
	}
	if err := validOffsets(f.OffsetsEntry); err != nil {
		return OffsetsEntry{}, "", damaged(key, err)
	}
	return f.OffsetsEntry, f.RunID, nil
}

func (c *Checkpoint) readCommit(ctx context.Context, batchID int64) (CommitEntry, string, error) {
	key := CommitKey(batchID)
	var f commitFile
	if err := c.getJSON(ctx, key, &f); err != nil {
		return CommitEntry{}, "", err
	}
	if err := checkVersion(f.Version); err != nil {
		return CommitEntry{}, "", damaged(key, err)
	}
	if f.BatchID != batchID {
		return CommitEntry{}, "", damaged(key, fmt.Errorf("holds batch %d", f.BatchID))
	}
	return f.CommitEntry, f.RunID, nil
}

func (c *Checkpoint) readState(ctx context.Context, batchID int64) ([]byte, error) {
	return c.readStateKey(ctx, batchID, StateKey(batchID))
}

func (c *Checkpoint) readStateKey(ctx context.Context, batchID int64, key string) ([]byte, error) {
	b, err := c.st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: get %s: %w", key, err)
	}
	snap, err := unframeState(batchID, b)
	if err != nil {
		return nil, damaged(key, err)
	}
	return snap, nil
}

// getJSON reads key into v. A missing key wraps lake.ErrNotExist; bytes that
// are not one JSON object wrap ErrDamaged.
func (c *Checkpoint) getJSON(ctx context.Context, key string, v any) error {
	b, err := c.st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("checkpoint: get %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return damaged(key, fmt.Errorf("not valid JSON (%d bytes): %w", len(b), err))
	}
	return nil
}

func checkVersion(v int) error {
	switch {
	case v == FormatVersion:
		return nil
	case v > FormatVersion:
		return fmt.Errorf("format version %d is newer than this streamer's %d: run a newer streamer", v, FormatVersion)
	default:
		return fmt.Errorf("missing or invalid format version %d", v)
	}
}

func damaged(key string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrDamaged, key, err)
}
