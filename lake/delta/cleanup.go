package delta

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// CleanupLog deletes expired log files by the protocol's metadata cleanup
// rules, and returns how many it deleted. The cut-off is midnight UTC of
// the day delta.logRetentionDuration (default 30 days) ago; the cut-off
// commit is the newest commit not newer than that (by file time, made
// increasing); the cut-off checkpoint is the newest complete checkpoint not
// newer than the cut-off commit. Commits, checkpoints and checksum files
// of versions before the cut-off checkpoint are deleted, and log
// compaction files that start at or before it; the cut-off checkpoint, its
// commit and everything after it stay, so the table stays readable at
// every version from the cut-off checkpoint on. Without a cut-off
// checkpoint nothing is deleted. delta.enableExpiredLogCleanup = false
// turns it off. Commit calls it after each checkpoint it writes.
func (t *Table) CleanupLog(ctx context.Context) (int, error) {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	// Cleaning is writing: a table this package cannot write is left alone.
	if err := checkWrite(snap.Protocol(), snap.Metadata(), snap.Schema()); err != nil {
		return 0, fmt.Errorf("%s: %w", t, err)
	}
	conf := snap.Metadata().Configuration
	if enabled, err := confBool(conf, PropEnableExpiredLogCleanup, true); err != nil || !enabled {
		return 0, err
	}
	retention, err := confDuration(conf, PropLogRetentionDuration, defaultLogRetention)
	if err != nil {
		return 0, err
	}
	cutoff := t.now().Add(-retention).UTC().Truncate(24 * time.Hour).UnixMilli()
	files, err := t.listExpirable(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	cutoffCommit := int64(-1)
	for _, c := range fileTimestamps(files) {
		if c.ms <= cutoff {
			cutoffCommit = c.version
		}
	}
	if cutoffCommit < 0 {
		return 0, nil
	}
	cutoffCheckpoint := int64(-1)
	for v := range checkpointSets(files) {
		if v <= cutoffCommit && v > cutoffCheckpoint {
			cutoffCheckpoint = v
		}
	}
	if cutoffCheckpoint <= 0 {
		return 0, nil
	}
	deleted := 0
	for _, f := range files { // sorted by key: oldest versions first
		expired := false
		switch f.kind {
		case kindCommit, kindCheckpoint, kindCheckpointPart, kindCheckpointUUID, kindChecksum:
			expired = f.version < cutoffCheckpoint
		case kindCompacted:
			expired = f.version <= cutoffCheckpoint
		}
		if !expired {
			continue
		}
		if err := t.store.Delete(ctx, f.key); err != nil {
			return deleted, fmt.Errorf("delta: %s: metadata cleanup: %w", t, err)
		}
		deleted++
	}
	t.setLogStart(cutoffCheckpoint)
	return deleted, nil
}

// listExpirable lists the log from its oldest version up to the first
// block of listBlock versions that holds a commit newer than cutoff (ms):
// everything metadata cleanup may delete, or must know to decide, without
// listing the whole log each time (a log kept 30 days at one commit every
// few seconds holds hundreds of thousands of files). The first cleanup of a
// Table lists the whole log; later ones start where the last one left it.
func (t *Table) listExpirable(ctx context.Context, cutoff int64) ([]logFile, error) {
	start := t.logStartHint()
	if start < 0 {
		return t.listLog(ctx, 0)
	}
	var out []logFile
	dir := t.key(logDir) + "/"
	for block := start / listBlock; ; block++ {
		objs, err := t.store.List(ctx, fmt.Sprintf("%s%018d", dir, block))
		if err != nil {
			return nil, fmt.Errorf("delta: list %s: %w", t, err)
		}
		newer, found := false, false
		for _, o := range objs {
			kind, v, part, parts, end := parseLogName(strings.TrimPrefix(o.Key, dir))
			if kind == kindOther {
				continue
			}
			found = true
			if kind == kindCommit && o.ModTime.UnixMilli() > cutoff {
				newer = true
			}
			out = append(out, logFile{key: o.Key, kind: kind, version: v, part: part, parts: parts,
				endVer: end, size: o.Size, modTime: o.ModTime})
		}
		if newer || !found {
			return out, nil
		}
	}
}
