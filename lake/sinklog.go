package lake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/contract"
)

// The sink log (stream/_sink_log/) holds one entry per committed batch,
// <query>/<batch>.json, the checkpoints `batcher compact` writes,
// _checkpoint/<seq>.json (see contract.SinkLogCheckpoint), and, once the
// compactor has deleted entries a checkpoint covers, the retention marker
// _trimmed.json (contract.SinkLogTrimmed). Two readers:
//
//   - LoadSinkLog, what readers of the table use: the latest checkpoint and
//     only the entries it does not cover. Exact, and cheap however long the
//     log grows. CommittedStreamFiles folds it.
//   - ReadSinkLog: every entry, ignoring checkpoints. The reference the
//     checkpointed read must agree with (tests, audits), as long as no entry
//     has been deleted: on a trimmed log it fails.
//
// Neither ever skips what it cannot read: an object under the prefix that is
// neither an entry, a checkpoint key nor the marker, or an entry whose JSON
// is malformed, whose version is not contract.SinkLogVersion, or whose query
// or batch id disagrees with its key, is an error naming the key. A committed
// file missed silently would be a window lost for the batcher. A checkpoint
// that cannot be used is not an error: the whole log is read instead, and
// SinkLog says so; on a trimmed log, where the whole log is no longer there,
// an earlier checkpoint that covers every deleted entry is used instead, and
// without one LoadSinkLog fails.

// ErrSinkLogTrimmed is returned (wrapped) when the whole sink log is needed
// and entries have been deleted (the retention marker
// contract.SinkLogTrimmedKey exists): by ReadSinkLog always, by LoadSinkLog
// when no checkpoint it can use covers the deleted entries.
var ErrSinkLogTrimmed = errors.New("lake: the sink log is trimmed")

// ReadSinkLog reads every sink-log entry of the lake
// (stream/_sink_log/<query>/<batch>.json), sorted by query id then batch id.
// Checkpoints are listed but not read: the result is the whole log. If
// `batcher compact` has deleted entries (the marker
// contract.SinkLogTrimmedKey exists), what is left is not the whole log and
// ReadSinkLog fails with ErrSinkLogTrimmed rather than return part of it:
// only LoadSinkLog, with the checkpoint, is exact then.
func ReadSinkLog(ctx context.Context, s Store) ([]contract.SinkLogEntry, error) {
	l, err := listSinkLog(ctx, s)
	if err != nil {
		return nil, err
	}
	if l.trimmed {
		return nil, fmt.Errorf("%w (%s exists): entries a checkpoint covers were deleted, the entries left are not the whole log; read it with its checkpoint (LoadSinkLog)",
			ErrSinkLogTrimmed, contract.SinkLogTrimmedKey)
	}
	return readEntries(ctx, s, l.entries)
}

// SinkLog is the sink log as LoadSinkLog read it: a checkpoint and the
// entries after it.
type SinkLog struct {
	// Checkpoint is the checkpoint read: the latest one, or, on a trimmed
	// log whose latest one cannot be used, the latest earlier one that can
	// (CheckpointErr says so). Nil if the log has none or none could be used
	// (CheckpointErr).
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
	// the entries listed): the whole log was read instead, or on a trimmed
	// log an earlier checkpoint. The result is as exact as ever, only
	// slower; readers should log it.
	CheckpointErr error
	// Trimmed is the retention marker, nil if no entry has been deleted.
	Trimmed *contract.SinkLogTrimmed

	last   map[string]int64 // the highest batch id listed per query
	listed []entryKey       // every entry listed, sorted by (query, batch)
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
// key, disagrees with the entries listed (CheckListed: an entry up to its
// ThroughBatch it did not fold, or for version 1 a count that differs), or
// pruned a path that an entry it does not cover adds again (CheckUncovered),
// LoadSinkLog reads every entry instead and sets CheckpointErr.
//
// On a trimmed log (the retention marker exists) every entry is no longer
// there: a checkpoint is used only if it also covers every entry the marker
// says may be deleted (SinkLogTrimmed.CoveredBy), and when the latest one
// cannot be used the earlier ones are tried, latest first. Without any,
// LoadSinkLog fails with ErrSinkLogTrimmed, naming the checkpoints and why
// each was refused: never a fold of part of the log.
//
// A reader that listed the log just before a checkpoint was written simply
// does not see it, and reads the entries after the previous one; entries are
// deleted only once a checkpoint covering them has existed for longer than a
// reader's run (the compactor's grace period).
func LoadSinkLog(ctx context.Context, s Store) (*SinkLog, error) {
	l, err := listSinkLog(ctx, s)
	if err != nil {
		return nil, err
	}
	out := &SinkLog{Listed: len(l.entries), Checkpoints: l.checkpoints, last: map[string]int64{}, listed: l.entries}
	batches := map[string][]int64{}
	for _, e := range l.entries {
		if b, ok := out.last[e.query]; !ok || e.batch > b {
			out.last[e.query] = e.batch
		}
		batches[e.query] = append(batches[e.query], e.batch)
	}
	if l.trimmed {
		if out.Trimmed, err = readTrimmed(ctx, s); err != nil {
			return nil, err
		}
	}
	r := &entryReader{s: s, read: map[string]contract.SinkLogEntry{}}
	var refused []string
	for i := len(l.checkpoints) - 1; i >= 0; i-- {
		key := l.checkpoints[i]
		cp, entries, cpErr, err := useCheckpoint(ctx, r, key, l.entries, batches, out.Trimmed)
		if err != nil {
			return nil, err
		}
		if cpErr == nil {
			out.Checkpoint, out.CheckpointKey, out.Entries = cp, key, entries
			if len(refused) > 0 {
				out.CheckpointErr = fmt.Errorf("lake: sink-log checkpoint %s not used, the log is trimmed: used %s, the latest that covers the deleted entries: %s",
					l.checkpoints[len(l.checkpoints)-1], key, strings.Join(refused, "; "))
			}
			return out, nil
		}
		refused = append(refused, fmt.Sprintf("%s: %v", key, cpErr))
		if out.Trimmed == nil {
			out.CheckpointErr = fmt.Errorf("lake: sink-log checkpoint %s not used, read the whole log (%d entries): %w", key, len(l.entries), cpErr)
			break
		}
	}
	if out.Trimmed != nil {
		why := "no checkpoint is listed"
		if len(refused) > 0 {
			why = "no checkpoint can be used: " + strings.Join(refused, "; ")
		}
		return nil, fmt.Errorf("%w (%s: entries up to %s may be deleted) and %s; the checkpoint that covers them is needed (restore it, or the deleted entries)",
			ErrSinkLogTrimmed, contract.SinkLogTrimmedKey, describeTrimmed(out.Trimmed), why)
	}
	if out.Entries, err = r.entries(ctx, l.entries); err != nil {
		return nil, err
	}
	return out, nil
}

func describeTrimmed(m *contract.SinkLogTrimmed) string {
	var parts []string
	for _, q := range slices.Sorted(maps.Keys(m.Queries)) {
		parts = append(parts, fmt.Sprintf("%s#%d", q, m.Queries[q]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// useCheckpoint reads the checkpoint at key, checks it against the entries
// listed (CheckListed) and the retention marker (nil without one), reads the
// entries it does not cover and checks that none of them adds a path it
// pruned (CheckUncovered). cpErr says why the checkpoint cannot be used; err
// is an entry that cannot be read.
func useCheckpoint(ctx context.Context, r *entryReader, key string, listed []entryKey, batches map[string][]int64, trimmed *contract.SinkLogTrimmed) (cp *contract.SinkLogCheckpoint, entries []contract.SinkLogEntry, cpErr, err error) {
	if cp, cpErr = ReadSinkLogCheckpoint(ctx, r.s, key); cpErr != nil {
		return nil, nil, cpErr, nil
	}
	if cpErr = cp.CheckListed(batches); cpErr != nil {
		return nil, nil, cpErr, nil
	}
	if trimmed != nil {
		if cpErr = trimmed.CoveredBy(cp); cpErr != nil {
			return nil, nil, cpErr, nil
		}
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

// TrimSinkLog is the sink log's retention: it deletes the entries that both
// l.Checkpoint and old cover, except the newest entry listed of each query
// (the streamer's recovery looks up its latest batch's entry to skip a
// re-run), and returns how many it deleted. old is a checkpoint that has
// existed for longer than a reader's run (the caller's grace period), so no
// reader that listed the log before it still needs those entries; l is a
// fresh LoadSinkLog whose latest checkpoint is usable (CheckpointErr nil)
// and of version 2, so that readers check their listing against its batch
// ranges rather than count the entries. Before the first deletion it writes
// the retention marker (contract.SinkLogTrimmedKey), raised to the highest
// batch deleted per query: from then on a reader that cannot use a
// checkpoint covering them fails rather than read a partial log. Only the
// log's maintainer calls it (`batcher compact`, one per lake).
func TrimSinkLog(ctx context.Context, s Store, l *SinkLog, old *contract.SinkLogCheckpoint) (int, error) {
	switch {
	case l.Checkpoint == nil || l.CheckpointErr != nil:
		return 0, fmt.Errorf("lake: trim the sink log: its latest checkpoint is not usable (%v)", l.CheckpointErr)
	case l.Checkpoint.Version == contract.SinkLogCheckpointVersion1:
		return 0, fmt.Errorf("lake: trim the sink log: checkpoint %s is of version 1: readers count its entries", l.CheckpointKey)
	case old == nil:
		return 0, nil
	}
	var del []entryKey
	marker := contract.SinkLogTrimmed{Version: contract.SinkLogTrimmedVersion, Queries: map[string]int64{}}
	if l.Trimmed != nil {
		maps.Copy(marker.Queries, l.Trimmed.Queries)
	}
	raised := l.Trimmed == nil
	for _, e := range l.listed {
		if e.batch == l.last[e.query] || !l.Checkpoint.Covers(e.query, e.batch) || !old.Covers(e.query, e.batch) {
			continue
		}
		del = append(del, e)
		if b, ok := marker.Queries[e.query]; !ok || e.batch > b {
			marker.Queries[e.query] = e.batch
			raised = true
		}
	}
	if len(del) == 0 {
		return 0, nil
	}
	if err := marker.CoveredBy(l.Checkpoint); err != nil {
		return 0, fmt.Errorf("lake: trim the sink log: checkpoint %s: %w", l.CheckpointKey, err)
	}
	if raised {
		data, err := json.Marshal(marker)
		if err != nil {
			return 0, fmt.Errorf("lake: sink-log retention marker: %w", err)
		}
		if err := s.Put(ctx, contract.SinkLogTrimmedKey, data); err != nil {
			return 0, fmt.Errorf("lake: write sink-log retention marker %s: %w", contract.SinkLogTrimmedKey, err)
		}
	}
	var deleted atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sinkLogReaders)
	for _, e := range del {
		g.Go(func() error {
			if err := s.Delete(gctx, e.key); err != nil {
				return fmt.Errorf("lake: delete sink-log entry %s: %w", e.key, err)
			}
			deleted.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return int(deleted.Load()), err
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
	trimmed     bool       // the retention marker exists
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
		if o.Key == contract.SinkLogTrimmedKey {
			l.trimmed = true
			continue
		}
		return listing{}, fmt.Errorf("lake: sink log: %s is not a sink-log key (want %s, %s or %s)",
			o.Key, contract.SinkLogKey("<query>", 0), contract.SinkLogCheckpointKey(0), contract.SinkLogTrimmedKey)
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

// ReadSinkLogCheckpoint reads the checkpoint at key and checks it on its own:
// its JSON, contract.SinkLogCheckpoint.Validate, and that its seq matches its
// key. Whether a reader may use it also depends on the entries listed
// (LoadSinkLog).
func ReadSinkLogCheckpoint(ctx context.Context, s Store, key string) (*contract.SinkLogCheckpoint, error) {
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
	return &cp, nil
}

// readTrimmed reads the retention marker. A marker that cannot be read is an
// error: without it, nothing says which deleted entries a checkpoint must
// cover.
func readTrimmed(ctx context.Context, s Store) (*contract.SinkLogTrimmed, error) {
	data, err := s.Get(ctx, contract.SinkLogTrimmedKey)
	if err != nil {
		return nil, fmt.Errorf("lake: sink log: %w", err)
	}
	var m contract.SinkLogTrimmed
	if err := decodeOne(data, &m); err != nil {
		return nil, fmt.Errorf("lake: sink-log retention marker %s: %w", contract.SinkLogTrimmedKey, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("lake: sink-log retention marker %s: %w", contract.SinkLogTrimmedKey, err)
	}
	return &m, nil
}
