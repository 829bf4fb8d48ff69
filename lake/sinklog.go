package lake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/contract"
)

// The sink log (stream/_sink_log/) holds one entry per committed batch,
// <query>/<batch>.json, and the checkpoints `batcher compact` writes,
// _checkpoint/<seq>.json (see contract.SinkLogCheckpoint). Two readers:
//
//   - LoadSinkLog, what readers of the table use: the latest checkpoint and
//     only the entries it does not cover. Exact, and cheap however long the
//     log grows. CommittedStreamFiles folds it.
//   - ReadSinkLog: every entry, ignoring checkpoints. The reference the
//     checkpointed read must agree with (tests, audits).
//
// Neither ever skips what it cannot read: an object under the prefix that is
// neither an entry nor a checkpoint key, or an entry whose JSON is malformed,
// whose version is not contract.SinkLogVersion, or whose query or batch id
// disagrees with its key, is an error naming the key. A committed file missed
// silently would be a window lost for the batcher. A checkpoint that cannot
// be used is not an error: the whole log is read instead, and SinkLog says so.

// ReadSinkLog reads every sink-log entry of the lake
// (stream/_sink_log/<query>/<batch>.json), sorted by query id then batch id.
// Checkpoints are listed but not read: the result is the whole log.
func ReadSinkLog(ctx context.Context, s Store) ([]contract.SinkLogEntry, error) {
	l, err := listSinkLog(ctx, s)
	if err != nil {
		return nil, err
	}
	return readEntries(ctx, s, l.entries)
}

// SinkLog is the sink log as LoadSinkLog read it: a checkpoint and the
// entries after it.
type SinkLog struct {
	// Checkpoint is the latest checkpoint, nil if the log has none or it could
	// not be used (CheckpointErr).
	Checkpoint *contract.SinkLogCheckpoint
	// CheckpointKey is Checkpoint's key ("" without one).
	CheckpointKey string
	// Entries are the entries Checkpoint does not cover (every entry without
	// a checkpoint), sorted by query id then batch id.
	Entries []contract.SinkLogEntry
	// Listed is how many entries the log holds, covered or not.
	Listed int
	// Checkpoints are the checkpoint keys listed, sorted by seq (the latest
	// last), usable or not.
	Checkpoints []string
	// CheckpointErr, when not nil, says why the latest checkpoint was not
	// used (unreadable, damaged, of an unknown version, or disagreeing with
	// the entries listed): the whole log was read instead. The result is as
	// exact as ever, only slower; readers should log it.
	CheckpointErr error

	last map[string]int64 // the highest batch id listed per query
}

// Committed returns the committed files: contract.FoldSinkLog of the
// checkpoint and the entries after it, which is exactly
// contract.CommittedFiles of every entry.
func (l *SinkLog) Committed() []contract.SinkFile {
	return contract.FoldSinkLog(l.Checkpoint, l.Entries)
}

// LastBatch returns the highest batch id of queryID in the log, covered by a
// checkpoint or not; ok is false if the query has no entry.
func (l *SinkLog) LastBatch(queryID string) (batchID int64, ok bool) {
	batchID, ok = l.last[queryID]
	if c := l.Checkpoint; c != nil {
		if cov, in := c.Queries[queryID]; in && (!ok || cov.ThroughBatch > batchID) {
			batchID, ok = cov.ThroughBatch, true
		}
	}
	return batchID, ok
}

// NextCheckpointSeq is the seq of the next checkpoint: one past the highest
// listed (usable or not), 0 for the first.
func (l *SinkLog) NextCheckpointSeq() int64 {
	if len(l.Checkpoints) == 0 {
		return 0
	}
	seq, _ := contract.ParseSinkLogCheckpointKey(l.Checkpoints[len(l.Checkpoints)-1])
	return seq + 1
}

// LoadSinkLog lists the sink log once, reads its latest checkpoint, and reads
// only the entries above what the checkpoint covers of their query (all the
// entries of a query it does not know). If the latest checkpoint is
// unreadable, fails contract.SinkLogCheckpoint.Validate, does not match its
// key, does not cover exactly as many listed entries as it says it folded,
// or pruned a path that an entry it does not cover adds again
// (contract.SinkLogCheckpoint.CheckUncovered), LoadSinkLog reads every entry
// instead and sets CheckpointErr.
//
// A reader that listed the log just before a checkpoint was written simply
// does not see it, and reads the entries after the previous one: checkpoints
// only ever summarise entries that stay in place.
func LoadSinkLog(ctx context.Context, s Store) (*SinkLog, error) {
	l, err := listSinkLog(ctx, s)
	if err != nil {
		return nil, err
	}
	out := &SinkLog{Listed: len(l.entries), Checkpoints: l.checkpoints, last: map[string]int64{}}
	for _, e := range l.entries {
		if b, ok := out.last[e.query]; !ok || e.batch > b {
			out.last[e.query] = e.batch
		}
	}
	r := &entryReader{s: s, read: map[string]contract.SinkLogEntry{}}
	if len(l.checkpoints) > 0 {
		key := l.checkpoints[len(l.checkpoints)-1]
		cp, entries, cpErr, err := useCheckpoint(ctx, r, key, l.entries)
		if err != nil {
			return nil, err
		}
		if cpErr == nil {
			out.Checkpoint, out.CheckpointKey, out.Entries = cp, key, entries
			return out, nil
		}
		out.CheckpointErr = fmt.Errorf("lake: sink-log checkpoint %s not used, read the whole log (%d entries): %w", key, len(l.entries), cpErr)
	}
	if out.Entries, err = r.entries(ctx, l.entries); err != nil {
		return nil, err
	}
	return out, nil
}

// useCheckpoint reads the checkpoint at key, checks it against the entries
// listed (readCheckpoint), reads the entries it does not cover and checks
// that none of them adds a path it pruned (CheckUncovered). cpErr says why
// the checkpoint cannot be used; err is an entry that cannot be read.
func useCheckpoint(ctx context.Context, r *entryReader, key string, listed []entryKey) (cp *contract.SinkLogCheckpoint, entries []contract.SinkLogEntry, cpErr, err error) {
	if cp, cpErr = readCheckpoint(ctx, r.s, key, listed); cpErr != nil {
		return nil, nil, cpErr, nil
	}
	uncovered := slices.DeleteFunc(slices.Clone(listed), func(e entryKey) bool { return cp.Covers(e.query, e.batch) })
	if entries, err = r.entries(ctx, uncovered); err != nil {
		return nil, nil, nil, err
	}
	if cpErr = cp.CheckUncovered(entries); cpErr != nil {
		return nil, nil, cpErr, nil
	}
	return cp, entries, nil, nil
}

// entryReader reads entries, each once however many checkpoints are tried.
type entryReader struct {
	s    Store
	read map[string]contract.SinkLogEntry
}

// entries returns the entries of keys, in their order.
func (r *entryReader) entries(ctx context.Context, keys []entryKey) ([]contract.SinkLogEntry, error) {
	var missing []entryKey
	for _, k := range keys {
		if _, ok := r.read[k.key]; !ok {
			missing = append(missing, k)
		}
	}
	got, err := readEntries(ctx, r.s, missing)
	if err != nil {
		return nil, err
	}
	for i, k := range missing {
		r.read[k.key] = got[i]
	}
	out := make([]contract.SinkLogEntry, len(keys))
	for i, k := range keys {
		out[i] = r.read[k.key]
	}
	return out, nil
}

// CommittedStreamFiles returns the lake's committed window files: every file
// a sink-log entry added and no entry removed, sorted by path
// (LoadSinkLog(...).Committed()). A checkpoint it could not use is logged
// with slog's default logger; callers with a logger of their own use
// LoadSinkLog.
func CommittedStreamFiles(ctx context.Context, s Store) ([]contract.SinkFile, error) {
	l, err := LoadSinkLog(ctx, s)
	if err != nil {
		return nil, err
	}
	if l.CheckpointErr != nil {
		slog.Default().Warn("sink-log checkpoint unusable", "err", l.CheckpointErr)
	}
	return l.Committed(), nil
}

// WriteSinkLogCheckpoint folds l, as LoadSinkLog read it, into the next
// checkpoint (l.NextCheckpointSeq()) and writes it with one Put. The new
// checkpoint covers exactly l.Checkpoint and l.Entries: entries written after
// l was listed are left to the next one. Only the log's maintainer calls it
// (`batcher compact`, one per lake): two writers could pick the same seq.
func WriteSinkLogCheckpoint(ctx context.Context, s Store, l *SinkLog) (contract.SinkLogCheckpoint, string, error) {
	cp, err := contract.NewSinkLogCheckpoint(l.NextCheckpointSeq(), l.Checkpoint, l.Entries)
	if err != nil {
		return cp, "", fmt.Errorf("lake: %w", err)
	}
	data, err := json.Marshal(cp)
	if err != nil {
		return cp, "", fmt.Errorf("lake: sink-log checkpoint: %w", err)
	}
	key := contract.SinkLogCheckpointKey(cp.Seq)
	if err := s.Put(ctx, key, data); err != nil {
		return cp, "", fmt.Errorf("lake: write sink-log checkpoint %s: %w", key, err)
	}
	return cp, key, nil
}

// sinkLogReaders bounds the sink-log entries fetched at once.
const sinkLogReaders = 16

type entryKey struct {
	key   string
	query string
	batch int64
}

type listing struct {
	entries     []entryKey // sorted by (query, batch)
	checkpoints []string   // sorted by seq
}

// keyLister is a store that lists keys alone more cheaply than List (the
// file store: no stat per file).
type keyLister interface {
	listKeys(ctx context.Context, prefix string) ([]ObjectInfo, error)
}

func listSinkLog(ctx context.Context, s Store) (listing, error) {
	var objs []ObjectInfo
	var err error
	if kl, ok := s.(keyLister); ok {
		objs, err = kl.listKeys(ctx, contract.SinkLogPrefix)
	} else {
		objs, err = s.List(ctx, contract.SinkLogPrefix)
	}
	if err != nil {
		return listing{}, fmt.Errorf("lake: read sink log: %w", err)
	}
	var l listing
	l.entries = make([]entryKey, 0, len(objs))
	for _, o := range objs {
		if q, b, ok := contract.ParseSinkLogKey(o.Key); ok {
			l.entries = append(l.entries, entryKey{o.Key, q, b})
			continue
		}
		if _, ok := contract.ParseSinkLogCheckpointKey(o.Key); ok {
			l.checkpoints = append(l.checkpoints, o.Key)
			continue
		}
		return listing{}, fmt.Errorf("lake: sink log: %s is not a sink-log key (want %s or %s)",
			o.Key, contract.SinkLogKey("<query>", 0), contract.SinkLogCheckpointKey(0))
	}
	// Keys are zero-padded, so List's order is already (query, batch); sort
	// on the parsed values anyway so that the order never depends on padding.
	slices.SortFunc(l.entries, func(a, b entryKey) int {
		return cmp.Or(cmp.Compare(a.query, b.query), cmp.Compare(a.batch, b.batch))
	})
	// Checkpoint keys have exactly 20 digits: key order is seq order.
	slices.Sort(l.checkpoints)
	return l, nil
}

// readEntries fetches entries, keeping their order. Entries are small
// objects: fetching them a few at a time is what makes many of them cheap to
// read from S3.
func readEntries(ctx context.Context, s Store, keys []entryKey) ([]contract.SinkLogEntry, error) {
	out := make([]contract.SinkLogEntry, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sinkLogReaders)
	for i, k := range keys {
		g.Go(func() error {
			data, err := s.Get(gctx, k.key)
			if err != nil {
				return fmt.Errorf("lake: sink log: %w", err)
			}
			e, err := decodeSinkLogEntry(data)
			if err != nil {
				return fmt.Errorf("lake: sink log entry %s: %w", k.key, err)
			}
			if e.QueryID != k.query || e.BatchID != k.batch {
				return fmt.Errorf("lake: sink log entry %s: it says query %q batch %d, its key says query %q batch %d", k.key, e.QueryID, e.BatchID, k.query, k.batch)
			}
			out[i] = e
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeSinkLogEntry(data []byte) (contract.SinkLogEntry, error) {
	var e contract.SinkLogEntry
	// Unknown fields are tolerated (a later, additive writer); the version
	// field is what marks an incompatible format.
	if err := decodeOne(data, &e); err != nil {
		return e, err
	}
	if e.Version != contract.SinkLogVersion {
		return e, fmt.Errorf("version %d, this build reads version %d", e.Version, contract.SinkLogVersion)
	}
	for i, f := range e.Files {
		if f.Path == "" {
			return e, fmt.Errorf("file %d has an empty path", i)
		}
	}
	return e, nil
}

func decodeOne(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON: trailing data after the object")
	}
	return nil
}

// readCheckpoint reads and checks the checkpoint at key against the entries
// listed: for each query it covers, the entries listed up to its ThroughBatch
// must be exactly as many as it folded (more would be an entry it never
// read; fewer, entries that have gone).
func readCheckpoint(ctx context.Context, s Store, key string, entries []entryKey) (*contract.SinkLogCheckpoint, error) {
	data, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	var cp contract.SinkLogCheckpoint
	if err := decodeOne(data, &cp); err != nil {
		return nil, err
	}
	if err := cp.Validate(); err != nil {
		return nil, err
	}
	if seq, _ := contract.ParseSinkLogCheckpointKey(key); cp.Seq != seq {
		return nil, fmt.Errorf("it says seq %d, its key says %d", cp.Seq, seq)
	}
	listed := map[string]int64{}
	for _, e := range entries {
		if cp.Covers(e.query, e.batch) {
			listed[e.query]++
		}
	}
	for q, cov := range cp.Queries {
		if listed[q] != cov.Entries {
			return nil, fmt.Errorf("it folded %d entries of query %s through batch %d, the log lists %d", cov.Entries, q, cov.ThroughBatch, listed[q])
		}
	}
	return &cp, nil
}
