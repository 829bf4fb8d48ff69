package delta

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrRetentionTooShort refuses a VACUUM whose retention is shorter than the
// table's delta.deletedFileRetentionDuration without VacuumOptions.Force
// (Delta's spark.databricks.delta.retentionDurationCheck). The error
// wrapping it names both durations.
var ErrRetentionTooShort = errors.New("delta: vacuum retention is shorter than the table's deleted-file retention")

// VacuumOptions says what Table.Vacuum may delete.
type VacuumOptions struct {
	// Retention: files no snapshot of the last Retention needs are deleted.
	// nil: the table's delta.deletedFileRetentionDuration (default 7 days).
	Retention *time.Duration
	// Force allows a Retention shorter than the table's (Delta's
	// retentionDurationCheck off): a reader of an older version, or a
	// writer whose commit is still to come, may then lose its files.
	Force bool
	// DryRun lists what would be deleted, deletes nothing and commits
	// nothing.
	DryRun bool
}

// VacuumResult is what Table.Vacuum deleted (or, in a dry run, would
// delete).
type VacuumResult struct {
	// Files are the deleted files' keys relative to the table root
	// (unencoded, as stored), sorted.
	Files []string
	// Bytes is their total size.
	Bytes  int64
	DryRun bool
	// Retention is the retention applied; DeleteBefore = now - Retention:
	// only files older than it were candidates.
	Retention    time.Duration
	DeleteBefore time.Time
	// Directories counts the directories under the table root that VACUUM
	// looked through, the root included (Delta's numVacuumedDirectories).
	Directories int
	// StartVersion and EndVersion are the VACUUM START and VACUUM END
	// commits; -1 in a dry run (or when the end could not be recorded).
	StartVersion, EndVersion int64
}

// vacuumDeleteParallelism bounds concurrent deletes (an S3 delete is one
// round trip each).
const vacuumDeleteParallelism = 8

// Vacuum deletes the table's files that no snapshot within the retention
// needs, by Delta's rules (PROTOCOL.md, Delta's VacuumCommand): it lists
// every object under the table root except hidden ones (any path segment
// starting with "_" or ".", such as _delta_log/, unless it is a partition
// directory "<partition column>=…" or Delta's _change_data/ and
// _delta_index/), and keeps
//   - the latest snapshot's live files,
//   - the files of its tombstones (removes) deleted at or after
//     now - retention, which time travel within the retention still reads,
//   - every object modified at or after now - retention, so that a file a
//     running writer has written but not yet committed is safe.
//
// Everything else is deleted, including files no commit ever added (left
// by crashed writers). Paths of the log are decoded, and absolute URIs
// inside the table resolved; files outside the table are never touched.
// Tables using deletion vectors are refused by the reader, so no deletion
// vector file is ever in question. The table must be writable by this
// package (VACUUM writes commits; vacuumProtocolCheck asks for that).
//
// Unless it is a dry run, Vacuum records itself as Delta ≥ 2.3 does: a
// "VACUUM START" commit (no actions; parameters retentionCheckEnabled,
// defaultRetentionMillis, specifiedRetentionMillis; metrics
// numFilesToDelete, sizeOfDataToDelete) before deleting, and a "VACUUM END"
// commit (status COMPLETED with numDeletedFiles and
// numVacuumedDirectories, or FAILED) after, so DESCRIBE HISTORY shows it.
// A file that cannot be deleted does not stop the others: Vacuum deletes
// what it can, records FAILED and returns an error saying how many went.
//
// The store has no directories to remove: on S3 a "directory" disappears
// with its last object, and the file store removes the directories a
// delete leaves empty. A directory that was already empty (no object
// under it) is not listed, so it stays.
//
// After VACUUM, time travel to a version whose files were deleted still
// loads its snapshot (the log is not VACUUM's), but reading those files
// fails with lake.ErrNotExist.
func (t *Table) Vacuum(ctx context.Context, opts VacuumOptions) (VacuumResult, error) {
	res := VacuumResult{DryRun: opts.DryRun, StartVersion: -1, EndVersion: -1}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return res, err
	}
	if err := checkWrite(snap.Protocol(), snap.Metadata(), snap.Schema()); err != nil {
		return res, fmt.Errorf("%s: %w", t, err)
	}
	md := snap.Metadata()
	tableRetention, err := confDuration(md.Configuration, PropDeletedFileRetentionDuration, defaultDeletedFileRetention)
	if err != nil {
		return res, fmt.Errorf("delta: vacuum %s: %w", t, err)
	}
	res.Retention = tableRetention
	if opts.Retention != nil {
		res.Retention = *opts.Retention
		if res.Retention < 0 {
			return res, fmt.Errorf("delta: vacuum %s: retention %s is negative", t, res.Retention)
		}
		if res.Retention < tableRetention && !opts.Force {
			return res, fmt.Errorf("%w: %s: a retention of %s is shorter than the table's %s = %s. "+
				"Deleting files that a reader of an older version or a writer still committing needs may corrupt the table. "+
				"Use a retention of at least %s, or force it if no writer is running and no reader needs older versions",
				ErrRetentionTooShort, t, humanDuration(res.Retention), PropDeletedFileRetentionDuration,
				humanDuration(tableRetention), humanDuration(tableRetention))
		}
	}
	now := t.now()
	res.DeleteBefore = now.Add(-res.Retention)
	cutoff := res.DeleteBefore.UnixMilli()

	// What the table still needs.
	keep := map[string]bool{}
	for _, a := range snap.st.files {
		if rel, inside, err := t.relativePath(a.Path); err == nil && inside {
			keep[rel] = true
		}
	}
	for _, r := range snap.st.tombstones {
		if r.DeletionTimestamp == nil || *r.DeletionTimestamp < cutoff {
			continue // expired (Delta reads a missing timestamp as 0)
		}
		if rel, inside, err := t.relativePath(r.Path); err == nil && inside {
			keep[rel] = true
		}
	}

	// What the store holds.
	prefix := ""
	if t.root != "" {
		prefix = t.root + "/"
	}
	objs, err := t.store.List(ctx, prefix)
	if err != nil {
		return res, fmt.Errorf("delta: vacuum %s: %w", t, err)
	}
	hidden := hiddenNames(md.PartitionColumns)
	dirs := map[string]bool{}
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, prefix)
		if hidden(rel) {
			continue
		}
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		if keep[rel] || o.ModTime.UnixMilli() >= cutoff {
			continue
		}
		res.Files = append(res.Files, rel)
		res.Bytes += o.Size
	}
	slices.Sort(res.Files)
	res.Directories = len(dirs) + 1 // and the root, as Delta counts
	if opts.DryRun {
		return res, nil
	}

	startParams := map[string]string{
		"retentionCheckEnabled":  strconv.FormatBool(!opts.Force),
		"defaultRetentionMillis": strconv.FormatInt(tableRetention.Milliseconds(), 10),
	}
	if opts.Retention != nil {
		startParams["specifiedRetentionMillis"] = strconv.FormatInt(opts.Retention.Milliseconds(), 10)
	}
	start, err := t.commitVacuumLog(ctx, snap, Operation{Name: "VACUUM START", Parameters: startParams}, map[string]string{
		"numFilesToDelete":   strconv.Itoa(len(res.Files)),
		"sizeOfDataToDelete": strconv.FormatInt(res.Bytes, 10),
	})
	if err != nil {
		return res, err
	}
	res.StartVersion = start

	// Delete everything it can (a file that cannot be deleted does not stop
	// the others), then report what failed.
	var deleted atomic.Int64
	var mu sync.Mutex
	var failed []error
	var g errgroup.Group
	g.SetLimit(vacuumDeleteParallelism)
	for _, rel := range res.Files {
		g.Go(func() error {
			if err := t.store.Delete(ctx, t.key(rel)); err != nil {
				mu.Lock()
				failed = append(failed, fmt.Errorf("delete %s: %w", rel, err))
				mu.Unlock()
				return nil
			}
			deleted.Add(1)
			return nil
		})
	}
	_ = g.Wait()
	if len(failed) > 0 {
		// Record the failure, as Delta does, then report it.
		if v, lerr := t.commitVacuumLog(context.WithoutCancel(ctx), snap,
			Operation{Name: "VACUUM END", Parameters: map[string]string{"status": "FAILED"}}, map[string]string{}); lerr == nil {
			res.EndVersion = v
		}
		more := ""
		if len(failed) > 1 {
			more = fmt.Sprintf(" (and %d more failures)", len(failed)-1)
		}
		return res, fmt.Errorf("delta: vacuum %s: %d of %d files deleted: %w%s", t, deleted.Load(), len(res.Files), failed[0], more)
	}
	end, err := t.commitVacuumLog(ctx, snap, Operation{Name: "VACUUM END", Parameters: map[string]string{"status": "COMPLETED"}},
		map[string]string{
			"numDeletedFiles":        strconv.FormatInt(deleted.Load(), 10),
			"numVacuumedDirectories": strconv.Itoa(res.Directories),
		})
	if err != nil {
		return res, fmt.Errorf("delta: vacuum %s: every file was deleted, but VACUUM END was not recorded: %w", t, err)
	}
	res.EndVersion = end
	return res, nil
}

// commitVacuumLog writes one of VACUUM's empty commits on the latest
// version, and returns its version.
func (t *Table) commitVacuumLog(ctx context.Context, snap *Snapshot, op Operation, metrics map[string]string) (int64, error) {
	latest, err := snap.Update(ctx)
	if err != nil {
		return -1, err
	}
	cr, err := t.Commit(ctx, latest, Commit{Operation: op, OperationMetrics: metrics})
	if err != nil {
		return -1, fmt.Errorf("delta: vacuum %s: record %s: %w", t, op.Name, err)
	}
	return cr.Version, nil
}

// hiddenNames returns Delta's test for paths VACUUM leaves alone: any
// segment that starts with "_" or "." (the log, checksums, temporary and
// marker files), except partition directories (a partition column may
// start with "_") and Delta's _change_data and _delta_index.
func hiddenNames(partitionColumns []string) func(rel string) bool {
	var partDirs []string
	for _, c := range partitionColumns {
		partDirs = append(partDirs, escapePathName(c)+"=")
	}
	hiddenSegment := func(name string) bool {
		if !strings.HasPrefix(name, "_") && !strings.HasPrefix(name, ".") {
			return false
		}
		if strings.HasPrefix(name, "_delta_index") || strings.HasPrefix(name, "_change_data") {
			return false
		}
		for _, p := range partDirs {
			if strings.HasPrefix(name, p) {
				return false
			}
		}
		return true
	}
	return func(rel string) bool {
		for _, seg := range strings.Split(rel, "/") {
			if hiddenSegment(seg) {
				return true
			}
		}
		return false
	}
}

// humanDuration writes a retention as people set it: "7 days",
// "36 hours", else Go's form.
func humanDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0 hours"
	case d%(24*time.Hour) == 0:
		if d == 24*time.Hour {
			return "1 day"
		}
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}
