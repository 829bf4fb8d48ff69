package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/sensorlab/sensorlab/lake"
)

// Recovery is what a restarting streamer resumes from.
type Recovery struct {
	// LastCommit is the newest batch whose commit, state and offsets are all
	// valid; nil when no batch ever committed (or none is usable and the
	// offsets log still starts at batch 0).
	LastCommit *CommitEntry
	// State is the snapshot LastCommit's state starts from (LastCommit's
	// own, or an earlier batch's), nil when LastCommit is nil.
	State []byte
	// Changelogs are the state changelogs of the batches after State's up
	// to LastCommit, oldest first: applied to State in order they give
	// LastCommit's state. Empty when LastCommit wrote a snapshot.
	Changelogs [][]byte
	// Replay lists the batches after LastCommit, in order, that must be re-run
	// with exactly their recorded offsets, watermark and batch timestamp.
	Replay []OffsetsEntry
	// LastOffsets is the newest offsets entry (the last of Replay, or
	// LastCommit's own entry when Replay is empty): the next new batch starts
	// at its End offsets. nil for a new query.
	LastOffsets *OffsetsEntry
	// CommitRunID and OffsetsRunID are the runs that wrote LastCommit and
	// LastOffsets ("" for files that do not say): a process that finds a
	// batch it never ran written by another run knows that a second
	// streamer shares the checkpoint.
	CommitRunID, OffsetsRunID string
	// Notes says, one line each, what recovery found and decided: for logs.
	Notes []string
}

// Recover reads the checkpoint and decides where the query resumes.
//
// It picks the newest batch C whose commit, state and offsets entry are all
// present and valid. If the newest commit or state is missing or damaged it
// falls back to an older batch and replays the batches after it: re-running
// a batch with its recorded offsets and watermark is idempotent (same rows,
// same file names, and the stream table's txn skips a batch already committed). It refuses
// (with an error wrapping ErrDamaged that names the key and how to recover)
// whenever resuming would skip or reprocess input: an offsets entry after C
// that is missing, damaged or does not continue its predecessor's offsets, a
// commit without an offsets entry, or no usable batch once the early offsets
// have been purged.
func (c *Checkpoint) Recover(ctx context.Context) (Recovery, error) {
	var rec Recovery
	offs, err := c.listIDs(ctx, OffsetsDir, ".json", &rec.Notes)
	if err != nil {
		return Recovery{}, err
	}
	commits, err := c.listIDs(ctx, CommitsDir, ".json", &rec.Notes)
	if err != nil {
		return Recovery{}, err
	}
	snaps, changes, err := c.listStates(ctx, &rec.Notes)
	if err != nil {
		return Recovery{}, err
	}
	states := slices.Concat(snaps, changes)
	slices.Sort(states)
	if len(offs) == 0 && len(commits) == 0 && len(states) == 0 {
		rec.Notes = append(rec.Notes, "no batch in the checkpoint: new query")
		return rec, nil
	}
	if len(offs) == 0 {
		return Recovery{}, fmt.Errorf("%w: %s is empty but %d commits and %d state files exist, so where the "+
			"query stopped reading is unknown; %s", ErrDamaged, OffsetsDir, len(commits), len(states), recoverHint)
	}
	last := offs[len(offs)-1]
	if len(commits) > 0 && commits[len(commits)-1] > last {
		return Recovery{}, fmt.Errorf("%w: %s exists but the newest offsets entry is %s: the offsets log lost "+
			"its tail, so where the query stopped reading is unknown; %s",
			ErrDamaged, CommitKey(commits[len(commits)-1]), OffsetsKey(last), recoverHint)
	}
	for i := 1; i < len(offs); i++ {
		if offs[i] != offs[i-1]+1 {
			rec.Notes = append(rec.Notes, fmt.Sprintf("offsets log has a gap: batches %d to %d are missing",
				offs[i-1]+1, offs[i]-1))
		}
	}
	for i := 1; i < len(commits); i++ {
		if commits[i] != commits[i-1]+1 {
			rec.Notes = append(rec.Notes, fmt.Sprintf("commit log has a gap: batches %d to %d are missing "+
				"(harmless when a later batch's commit and state are usable)", commits[i-1]+1, commits[i]-1))
		}
	}
	kind := map[int64]string{} // batch id -> state file suffix
	for _, id := range snaps {
		kind[id] = snapshotSuffix
	}
	for _, id := range changes {
		// A batch with both kinds of file (its first run wrote one, its
		// re-run the other) is read from its snapshot, which stands alone.
		if _, ok := kind[id]; !ok {
			kind[id] = changelogSuffix
		}
	}

	// Newest usable commit first; fall back past a damaged commit or state.
	var base int64 = -1
	for i := len(commits) - 1; i >= 0; i-- {
		id := commits[i]
		ce, runID, err := c.readCommit(ctx, id)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				return Recovery{}, err
			}
			rec.Notes = append(rec.Notes, fmt.Sprintf("cannot resume from batch %d (%v): falling back to an older batch", id, err))
			continue
		}
		snap, chain, err := c.stateChain(ctx, id, kind)
		if err != nil {
			var missing missingState
			switch {
			case errors.As(err, &missing):
				rec.Notes = append(rec.Notes, fmt.Sprintf("cannot resume from batch %d: %v: falling back to an older batch", id, err))
			case errors.Is(err, ErrDamaged) || errors.Is(err, lake.ErrNotExist):
				rec.Notes = append(rec.Notes, fmt.Sprintf("cannot resume from batch %d (%v): falling back to an older batch", id, err))
			default:
				return Recovery{}, err
			}
			continue
		}
		rec.LastCommit, rec.State, rec.Changelogs, rec.CommitRunID, base = &ce, snap, chain, runID, id
		break
	}
	// The re-run of a batch whose commit file exists but could not be used
	// replaces that file (WriteCommit).
	c.mu.Lock()
	for _, id := range commits {
		if id > base {
			c.redo[id] = true
		}
	}
	c.mu.Unlock()
	if base < 0 && offs[0] != 0 {
		return Recovery{}, fmt.Errorf("%w: no batch has a usable commit and state, and the offsets log starts "+
			"at batch %d (older entries were purged), so the query cannot be rebuilt from its start; %s",
			ErrDamaged, offs[0], recoverHint)
	}

	// The chain from base (or from batch 0) to the newest offsets entry must be
	// complete and continuous: these entries are the only record of what to read.
	first := base
	if first < 0 {
		first = 0
	}
	var prev *OffsetsEntry
	for id := first; id <= last; id++ {
		e, runID, err := c.readOffsets(ctx, id)
		if err != nil {
			return Recovery{}, chainError(id, base, err)
		}
		rec.OffsetsRunID = runID
		if prev != nil {
			if err := continues(*prev, e); err != nil {
				return Recovery{}, fmt.Errorf("%w: %s does not continue %s: %v: resuming would skip or re-read "+
					"input; %s", ErrDamaged, OffsetsKey(id), OffsetsKey(prev.BatchID), err, recoverHint)
			}
		}
		if id > base {
			rec.Replay = append(rec.Replay, e)
		}
		prev = &e
	}
	rec.LastOffsets = prev

	if base >= 0 && len(rec.Replay) > 0 && rec.LastCommit.NextWatermarkMs != rec.Replay[0].WatermarkMs {
		rec.Notes = append(rec.Notes, fmt.Sprintf("%s records next watermark %d but %s was planned with %d; "+
			"the replay uses the planned one", CommitKey(base), rec.LastCommit.NextWatermarkMs,
			OffsetsKey(base+1), rec.Replay[0].WatermarkMs))
	}
	for _, id := range states {
		if id > base {
			rec.Notes = append(rec.Notes, fmt.Sprintf("%s is newer than the batch recovery resumes from: ignored, the replay rewrites it", StateDir+fmt.Sprintf("%020d", id)+kind[id]))
		}
	}
	rec.Notes = append(rec.Notes, decision(base, rec.Replay))
	return rec, nil
}

func decision(base int64, replay []OffsetsEntry) string {
	var s string
	if base < 0 {
		s = "no usable commit: starting from empty state"
	} else {
		s = fmt.Sprintf("resuming from committed batch %d", base)
	}
	switch len(replay) {
	case 0:
		return s + "; nothing to replay"
	case 1:
		return s + fmt.Sprintf("; re-running batch %d with its recorded offsets and watermark", replay[0].BatchID)
	default:
		return s + fmt.Sprintf("; re-running batches %d to %d with their recorded offsets and watermarks",
			replay[0].BatchID, replay[len(replay)-1].BatchID)
	}
}

// chainError explains why a needed offsets entry makes recovery impossible.
func chainError(id, base int64, err error) error {
	role := fmt.Sprintf("batch %d must be re-run from it", id)
	if id == base {
		role = fmt.Sprintf("it holds the end offsets of committed batch %d, where the next batch starts", id)
	}
	if errors.Is(err, lake.ErrNotExist) {
		return fmt.Errorf("%w: %s is missing and %s; %s", ErrDamaged, OffsetsKey(id), role, recoverHint)
	}
	if errors.Is(err, ErrDamaged) {
		return fmt.Errorf("%w; %s; %s", err, role, recoverHint)
	}
	return err
}

// continues checks that next was planned from prev's end offsets: every
// partition of prev resumes exactly where prev ended (new partitions may
// appear; a batch marked DataLossReset may start elsewhere).
func continues(prev, next OffsetsEntry) error {
	if prev.Topic != next.Topic {
		return fmt.Errorf("topic %q follows topic %q", next.Topic, prev.Topic)
	}
	parts := make([]int32, 0, len(prev.End))
	for p := range prev.End {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var errs []error
	for _, p := range parts {
		start, ok := next.Start[p]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("partition %d is missing", p))
		case start != prev.End[p] && !next.DataLossReset:
			errs = append(errs, fmt.Errorf("partition %d starts at %d, the previous batch ended at %d", p, start, prev.End[p]))
		}
	}
	return errors.Join(errs...)
}

// stateChain reads the state of batch id: the newest snapshot at or before
// it and the changelogs after that snapshot up to id, oldest first. A
// missing or damaged file anywhere in the chain is an error naming it.
func (c *Checkpoint) stateChain(ctx context.Context, id int64, kind map[int64]string) (snap []byte, chain [][]byte, err error) {
	for j := id; j >= 0; j-- {
		switch kind[j] {
		case snapshotSuffix:
			snap, err := c.readState(ctx, j)
			if err != nil {
				return nil, nil, err
			}
			slices.Reverse(chain)
			return snap, chain, nil
		case changelogSuffix:
			b, err := c.readStateKey(ctx, j, ChangelogKey(j))
			if err != nil {
				return nil, nil, err
			}
			chain = append(chain, b)
		default:
			if j == id {
				return nil, nil, missingState(StateKey(id) + " is missing")
			}
			return nil, nil, missingState(fmt.Sprintf("the state of batch %d is a changelog over batch %d's, and %s is missing", id, j, StateKey(j)))
		}
	}
	return nil, nil, fmt.Errorf("%w: the state of batch %d is a chain of changelogs with no snapshot under it", ErrDamaged, id)
}

// missingState says a state file a batch needs is not in the checkpoint.
type missingState string

func (m missingState) Error() string { return string(m) }

// Is makes a missing state file a lake.ErrNotExist.
func (m missingState) Is(target error) bool { return target == lake.ErrNotExist }

// listStates returns the batch ids of the snapshots and of the changelogs
// under StateDir, each ascending.
func (c *Checkpoint) listStates(ctx context.Context, notes *[]string) (snaps, changes []int64, err error) {
	infos, err := c.st.List(ctx, StateDir)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: list %s: %w", StateDir, err)
	}
	for _, o := range infos {
		if id, ok := parseBatchKey(o.Key, StateDir, snapshotSuffix); ok {
			snaps = append(snaps, id)
		} else if id, ok := parseBatchKey(o.Key, StateDir, changelogSuffix); ok {
			changes = append(changes, id)
		} else {
			*notes = append(*notes, fmt.Sprintf("ignoring %s: not a checkpoint file", o.Key))
		}
	}
	slices.Sort(snaps)
	slices.Sort(changes)
	return snaps, changes, nil
}

// listIDs returns the batch ids stored under dir, ascending. Keys that are not
// batch files are left alone and noted.
func (c *Checkpoint) listIDs(ctx context.Context, dir, suffix string, notes *[]string) ([]int64, error) {
	infos, err := c.st.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", dir, err)
	}
	ids := make([]int64, 0, len(infos))
	for _, o := range infos {
		id, ok := parseBatchKey(o.Key, dir, suffix)
		if !ok {
			*notes = append(*notes, fmt.Sprintf("ignoring %s: not a checkpoint file", o.Key))
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// Purge deletes the offsets, state and commit files of every batch older than
// the newest keep committed batches (Spark keeps 100). Later batches, committed
// or not, are never touched, and neither are the older state files the kept
// batches' state is built from (the snapshot and changelogs under their
// changelogs). Commits go first, so that a purge interrupted half-way never
// leaves an old commit whose state or offsets are gone.
func (c *Checkpoint) Purge(ctx context.Context, keep int) error {
	if keep < 1 {
		return fmt.Errorf("checkpoint: purge: keep must be at least 1, got %d", keep)
	}
	var notes []string
	commits, err := c.listIDs(ctx, CommitsDir, ".json", &notes)
	if err != nil {
		return err
	}
	if len(commits) == 0 {
		return nil
	}
	below := commits[len(commits)-1] - int64(keep) + 1
	del := func(key string) error {
		if err := c.st.Delete(ctx, key); err != nil {
			return fmt.Errorf("checkpoint: purge %s: %w", key, err)
		}
		return nil
	}
	for _, id := range commits {
		if id >= below {
			break
		}
		if err := del(CommitKey(id)); err != nil {
			return err
		}
	}
	// State files: everything before the newest snapshot at or below the
	// oldest kept batch (none when there is no such snapshot).
	snaps, changes, err := c.listStates(ctx, &notes)
	if err != nil {
		return err
	}
	stateBelow := int64(-1)
	for _, id := range snaps {
		if id <= below {
			stateBelow = id
		}
	}
	for _, id := range snaps {
		if id < stateBelow {
			if err := del(StateKey(id)); err != nil {
				return err
			}
		}
	}
	for _, id := range changes {
		if id < stateBelow {
			if err := del(ChangelogKey(id)); err != nil {
				return err
			}
		}
	}
	offs, err := c.listIDs(ctx, OffsetsDir, ".json", &notes)
	if err != nil {
		return err
	}
	for _, id := range offs {
		if id >= below {
			break
		}
		if err := del(OffsetsKey(id)); err != nil {
			return err
		}
	}
	return nil
}

// LatestCommit returns the newest commit (ok false when nothing is
// committed yet): what a replica learns of another partition's progress,
// its watermark and whether it read records.
func (c *Checkpoint) LatestCommit(ctx context.Context) (e CommitEntry, ok bool, err error) {
	var notes []string
	ids, err := c.listIDs(ctx, CommitsDir, ".json", &notes)
	if err != nil || len(ids) == 0 {
		return CommitEntry{}, false, err
	}
	e, _, err = c.readCommit(ctx, ids[len(ids)-1])
	if err != nil {
		return CommitEntry{}, false, err
	}
	return e, true, nil
}
