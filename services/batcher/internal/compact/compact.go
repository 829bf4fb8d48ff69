// Package compact merges the small window files the streamer's sink writes
// into larger ones (`batcher compact`), without ever letting a reader of the
// lake see a window row twice or miss one.
//
// # Readers it protects
//
// Sink-log readers (the batcher, lake.CommittedStreamFiles) see exactly the
// committed files: each change of the table is one sink-log entry, written in
// the compaction's own namespace (query id QueryID), so one Put switches them
// from the old files to the new ones, atomically.
//
// Plain directory readers (DuckDB over stream/**/*.parquet, Spark without the
// log) see whatever data files exist. No sequence of single-object writes can
// swap n files for one atomically for them; compaction orders its steps so
// that such a reader may, for a few milliseconds, miss a partition's rows
// being compacted, but never sees a row twice:
//
//  1. Stage: write the merged rows under the staging prefix
//     (_compaction/stream/date=D/part-….parquet), outside stream/, where no
//     directory reader looks.
//  2. Commit: a sink-log entry adds the staged files and removes the small
//     ones. Log readers switch now.
//  3. After Grace (so that a log reader that listed the log just before step 2
//     can finish reading the small files): delete the small files. From the
//     first delete, a directory reader misses the rows not yet visible again.
//  4. Publish: copy each staged file to its visible name under stream/
//     (contract.StreamFileKey with QueryID). Directory readers see every row
//     once again.
//  5. A second entry adds the visible files and removes the staged ones (the
//     same rows: log readers see no change), and after Grace the staged copies
//     are deleted.
//
// Every step is idempotent and the sink log says how far a compaction got: a
// run first finishes any compaction a crash interrupted (a staged file still
// committed means steps 3-5 are due), and deletes staged files no entry
// commits once they are older than Grace. A crash anywhere leaves log readers
// exact and directory readers without duplicates.
//
// Compaction is safe while the streamer runs: it only touches files the sink
// log committed, which the streamer never rewrites (a committed batch is
// skipped on re-run), and the streamer's new files and entries are simply not
// part of this run. Run one compactor at a time per lake.
//
// # The sink log's checkpoint
//
// The compactor also maintains the sink log. At the end of a run that changed
// the table, or when LogCheckpointEvery entries or more have been written
// since the last checkpoint, it lists the log again and folds the latest
// checkpoint and every entry it lists into the next checkpoint
// (contract.SinkLogCheckpoint), with one Put: readers then read that object
// and the few entries after it instead of the whole log. The checkpoint
// covers only entries it read, and a reader that listed the log before the
// Put reads the entries as before. Checkpoints before the one readers use
// are deleted once a later one has existed for Grace; the one readers use,
// and any after it, stay.
//
// Log retention (LogRetention, Spark's fileSink.log.deletion): then the run
// deletes the entries covered both by the checkpoint readers use and by the
// newest one that has existed for Grace (no reader that listed the log
// before it still reads them), except the newest entry of each query, which
// the streamer's sink looks up when recovery re-runs its latest batch
// (lake.TrimSinkLog). Before the first deletion it writes the marker
// contract.SinkLogTrimmedKey: from then on a reader that cannot use a
// checkpoint covering every deleted entry fails instead of folding what is
// left. Retention is skipped while readers cannot use the latest checkpoint,
// while it is of version 1, and while a compaction is unfinished.
//
// The compactor's own state survives the summary: its next batch id comes
// from the highest compaction batch, covered or not (its newest entry is
// never deleted), and a checkpoint is never written while a compaction is
// unfinished; if one covers the entry that staged a still-committed file
// anyway, the run reads the whole log to finish that compaction, and fails
// on a trimmed log, where the whole log is gone.
package compact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// QueryID is the sink-log namespace of compaction entries
// (stream/_sink_log/compaction/<batch>.json), apart from every streamer query.
const QueryID = "compaction"

// StagingPrefix is where merged files wait before they are published: outside
// stream/, so that no directory reader of the table ever sees them.
const StagingPrefix = "_compaction/"

// Defaults of Options.
const (
	DefaultTargetFileBytes = 128 << 20
	DefaultMinFiles        = 10
	DefaultGrace           = 30 * time.Second
	// DefaultLogCheckpointEvery is how many sink-log entries written since
	// the last checkpoint make a run with nothing to compact write one.
	DefaultLogCheckpointEvery = 100
)

// Options tunes a compaction run.
type Options struct {
	// TargetFileBytes is the size merged files aim at (estimated from the
	// input's bytes per row); files at or above half of it are left alone.
	TargetFileBytes int64
	// MinFiles is how many small files a partition needs before it is compacted.
	MinFiles int
	// Grace is how long a file a sink-log entry removed is kept before it is
	// deleted: longer than a log reader's (the batcher's) longest run.
	Grace time.Duration
	// LogCheckpointEvery: a run writes a sink-log checkpoint when it changed
	// the table, or when at least this many entries were written since the
	// last one. 0 never writes (nor deletes) checkpoints, nor entries.
	LogCheckpointEvery int
	// LogRetention: after its checkpoint step, a run deletes the sink-log
	// entries covered by a checkpoint that has existed for Grace, except
	// the newest entry of each query (lake.TrimSinkLog).
	LogRetention bool
	Log          *slog.Logger
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{TargetFileBytes: DefaultTargetFileBytes, MinFiles: DefaultMinFiles, Grace: DefaultGrace,
		LogCheckpointEvery: DefaultLogCheckpointEvery, LogRetention: true}
}

// Validate reports every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.TargetFileBytes <= 0 {
		errs = append(errs, fmt.Errorf("target file size %d: must be > 0", o.TargetFileBytes))
	}
	if o.MinFiles < 2 {
		errs = append(errs, fmt.Errorf("min files %d: must be >= 2", o.MinFiles))
	}
	if o.Grace < 0 {
		errs = append(errs, fmt.Errorf("grace %v: must be >= 0", o.Grace))
	}
	if o.LogCheckpointEvery < 0 {
		errs = append(errs, fmt.Errorf("log checkpoint every %d: must be >= 0", o.LogCheckpointEvery))
	}
	return errors.Join(errs...)
}

// Result is what a run did.
type Result struct {
	Partitions int   // partitions compacted by this run
	Resumed    int   // interrupted compactions this run finished
	FilesIn    int   // small files merged
	FilesOut   int   // merged files published
	Rows       int64 // window rows rewritten
	BytesIn    int64
	BytesOut   int64
	// Checkpoint is the sink-log checkpoint this run wrote ("" if none), and
	// CheckpointEntries how many entries it folded that the previous one did
	// not cover.
	Checkpoint        string
	CheckpointEntries int
	// CheckpointsDeleted counts superseded checkpoints deleted.
	CheckpointsDeleted int
	// LogEntriesDeleted counts the sink-log entries log retention deleted.
	LogEntriesDeleted int
	Duration          time.Duration
}

// job is one partition's compaction: the small files it replaces and the
// merged files, by their staged names.
type job struct {
	removed []string            // the small files (step 3)
	staged  []contract.SinkFile // staged files (the entry of step 2 added them)
}

// Run compacts every partition of store's stream/ table that has at least
// MinFiles small files, after finishing any compaction a crash interrupted.
func Run(ctx context.Context, store lake.Store, o Options) (Result, error) {
	start := time.Now()
	if err := o.Validate(); err != nil {
		return Result{}, fmt.Errorf("compact: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sl, err := lake.LoadSinkLog(ctx, store)
	if err != nil {
		return Result{}, fmt.Errorf("compact: %w", err)
	}
	if sl.CheckpointErr != nil {
		log.Warn("compaction: sink-log checkpoint unusable, read the whole log", "err", sl.CheckpointErr)
	}
	c := &compactor{store: store, o: o, log: log, next: nextBatch(sl)}
	var res Result

	// Finish what a crash interrupted: staged files still committed.
	committed := sl.Committed()
	pending, err := c.pendingJobs(ctx, sl, committed)
	if err != nil {
		return res, err
	}
	res.Resumed = len(pending)
	if err := c.removeOrphans(ctx, committed); err != nil {
		return res, err
	}

	// Steps 1-2 for every partition worth compacting.
	var fresh []job
	for _, part := range plan(committed, o) {
		j, err := c.stage(ctx, part)
		if err != nil {
			return res, err
		}
		fresh = append(fresh, j)
		res.Partitions++
		res.FilesIn += len(part)
		for _, f := range part {
			res.BytesIn += f.Size
		}
		for _, f := range j.staged {
			res.Rows += f.Rows
			res.BytesOut += f.Size
		}
		res.FilesOut += len(j.staged)
	}
	jobs := append(pending, fresh...)
	if len(jobs) == 0 {
		err := c.checkpoint(ctx, false, &res)
		res.Duration = time.Since(start)
		return res, err
	}
	// Steps 3-5.
	if err := c.wait(ctx); err != nil {
		return res, err
	}
	var staged []string
	for _, j := range jobs {
		if err := c.publish(ctx, j); err != nil {
			return res, err
		}
		for _, f := range j.staged {
			staged = append(staged, f.Path)
		}
	}
	if err := c.wait(ctx); err != nil {
		return res, err
	}
	for _, k := range staged {
		if err := store.Delete(ctx, k); err != nil {
			return res, fmt.Errorf("compact: delete staged %s: %w", k, err)
		}
	}
	err = c.checkpoint(ctx, true, &res)
	res.Duration = time.Since(start)
	return res, err
}

type compactor struct {
	store lake.Store
	o     Options
	log   *slog.Logger
	next  int64 // next compaction batch id
}

// nextBatch is one past the last compaction entry's batch id, whether a
// checkpoint covers that entry or not.
func nextBatch(sl *lake.SinkLog) int64 {
	if last, ok := sl.LastBatch(QueryID); ok {
		return last + 1
	}
	return 0
}

// pendingJobs finds the compactions a crash interrupted after step 2: their
// staged files are still committed. The entry that added them says which
// small files they replace. That entry is after the checkpoint (none is
// written while a compaction is unfinished, and retention deletes only
// covered entries); if a checkpoint covers it all the same, the whole log is
// read to find it. On a trimmed log the whole log is no longer there:
// lake.ReadSinkLog then fails (lake.ErrSinkLogTrimmed) and so does the run,
// rather than look for the entry in part of the log.
func (c *compactor) pendingJobs(ctx context.Context, sl *lake.SinkLog, committed []contract.SinkFile) ([]job, error) {
	jobs, unexplained := pendingJobsIn(sl.Entries, committed)
	if unexplained == 0 {
		return jobs, nil
	}
	c.log.Warn("compaction: checkpoint covers an unfinished compaction, reading the whole sink log",
		"checkpoint", sl.CheckpointKey, "staged_files", unexplained)
	entries, err := lake.ReadSinkLog(ctx, c.store)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	jobs, unexplained = pendingJobsIn(entries, committed)
	if unexplained > 0 {
		return nil, fmt.Errorf("compact: %d committed staged files that no compaction entry added", unexplained)
	}
	return jobs, nil
}

// pendingJobsIn returns the jobs of entries' staged files still committed,
// and how many committed staged files none of entries added.
func pendingJobsIn(entries []contract.SinkLogEntry, committed []contract.SinkFile) ([]job, int) {
	live := map[string]contract.SinkFile{}
	for _, f := range committed {
		if strings.HasPrefix(f.Path, StagingPrefix) {
			live[f.Path] = f
		}
	}
	explained := map[string]bool{}
	var out []job
	for _, e := range entries {
		if e.QueryID != QueryID {
			continue
		}
		var j job
		for _, f := range e.Files {
			if lf, ok := live[f.Path]; ok {
				j.staged = append(j.staged, lf)
				explained[f.Path] = true
			}
		}
		if len(j.staged) > 0 {
			j.removed = e.Removed
			out = append(out, j)
		}
	}
	return out, len(live) - len(explained)
}

// checkpoint writes the sink log's next checkpoint if the run changed the
// table (worked) or LogCheckpointEvery entries have been written since the
// last one, deletes the checkpoints superseded for longer than Grace, then
// runs the log's retention (LogRetention).
//
// It lists the log afresh: the checkpoint covers the latest one and exactly
// the entries listed now, all of which it reads. Entries the streamer writes
// after the listing are left to the next checkpoint.
func (c *compactor) checkpoint(ctx context.Context, worked bool, res *Result) error {
	if c.o.LogCheckpointEvery == 0 {
		return nil
	}
	sl, err := lake.LoadSinkLog(ctx, c.store)
	if err != nil {
		return fmt.Errorf("compact: checkpoint: %w", err)
	}
	if sl.CheckpointErr != nil {
		c.log.Warn("compaction: sink-log checkpoint unusable, writing a new one", "err", sl.CheckpointErr)
	}
	due := len(sl.Entries) > 0 && (worked || sl.CheckpointErr != nil || len(sl.Entries) >= c.o.LogCheckpointEvery)
	if due {
		// A pending job's entry must stay readable as an entry (pendingJobs).
		if jobs, n := pendingJobsIn(sl.Entries, sl.Committed()); len(jobs) > 0 || n > 0 {
			c.log.Warn("compaction: a compaction is unfinished (another compactor running?): no sink-log checkpoint this run")
			return nil
		}
		cp, key, err := lake.WriteSinkLogCheckpoint(ctx, c.store, sl)
		if err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		res.Checkpoint, res.CheckpointEntries = key, len(sl.Entries)
		c.log.Info("compaction: sink-log checkpoint written", "object", key, "entries_folded", len(sl.Entries),
			"entries_covered", sl.Listed, "files", len(cp.Files), "removed", len(cp.Removed), "pruned_queries", len(cp.PrunedThrough))
		// The log as readers see it now.
		if sl, err = lake.LoadSinkLog(ctx, c.store); err != nil {
			return fmt.Errorf("compact: checkpoint: %w", err)
		}
	}
	objs, err := c.store.List(ctx, contract.SinkLogCheckpointPrefix)
	if err != nil {
		return fmt.Errorf("compact: list checkpoints: %w", err)
	}
	var cps []lake.ObjectInfo
	used := -1 // the checkpoint readers use (sl.CheckpointKey), in cps
	for _, o := range objs {
		if _, ok := contract.ParseSinkLogCheckpointKey(o.Key); ok {
			if o.Key == sl.CheckpointKey {
				used = len(cps)
			}
			cps = append(cps, o)
		}
	}
	// The checkpoint readers use and the ones after it (unusable, or written
	// since) stay. An earlier one is deleted once a later one up to the used
	// one has existed for Grace: a reader that listed the log since then
	// reads that later one (or, if it could not use the latest, falls back
	// to the one it uses now; never to a deleted one, as those are earlier).
	var old *contract.SinkLogCheckpoint
	if c.o.LogRetention {
		old = c.settled(ctx, cps, used, sl)
	}
	for i := 0; i+1 <= used; i++ {
		if time.Since(cps[i+1].ModTime) < c.o.Grace {
			break
		}
		if err := c.store.Delete(ctx, cps[i].Key); err != nil {
			return fmt.Errorf("compact: delete superseded checkpoint %s: %w", cps[i].Key, err)
		}
		res.CheckpointsDeleted++
		c.log.Info("compaction: deleted a superseded sink-log checkpoint", "object", cps[i].Key)
	}
	if c.o.LogRetention {
		return c.retain(ctx, sl, old, res)
	}
	return nil
}

// settled returns the newest checkpoint up to the one readers use
// (cps[used], sl.Checkpoint) that has existed for Grace: no reader that
// listed the log before it still reads the entries it covers. Nil if there is
// none, or it cannot be read.
func (c *compactor) settled(ctx context.Context, cps []lake.ObjectInfo, used int, sl *lake.SinkLog) *contract.SinkLogCheckpoint {
	for i := used; i >= 0; i-- {
		if time.Since(cps[i].ModTime) < c.o.Grace {
			continue
		}
		if i == used {
			return sl.Checkpoint
		}
		cp, err := lake.ReadSinkLogCheckpoint(ctx, c.store, cps[i].Key)
		if err != nil {
			c.log.Warn("compaction: sink-log checkpoint unreadable, no log retention this run", "object", cps[i].Key, "err", err)
			return nil
		}
		return cp
	}
	return nil
}

// retain deletes the sink-log entries that old (a checkpoint that has
// existed for Grace) and the checkpoint readers use both cover, except the
// newest entry of each query (lake.TrimSinkLog). It skips a run whose log
// readers cannot read with its latest checkpoint, a version-1 latest
// checkpoint (readers count its entries), and an unfinished compaction.
func (c *compactor) retain(ctx context.Context, sl *lake.SinkLog, old *contract.SinkLogCheckpoint, res *Result) error {
	switch {
	case old == nil:
		return nil
	case sl.CheckpointErr != nil:
		c.log.Warn("compaction: the latest sink-log checkpoint is unusable: no log retention this run", "err", sl.CheckpointErr)
		return nil
	case sl.Checkpoint.Version == contract.SinkLogCheckpointVersion1:
		c.log.Info("compaction: the sink-log checkpoint is of version 1: no log retention until the next checkpoint", "object", sl.CheckpointKey)
		return nil
	}
	if jobs, n := pendingJobsIn(sl.Entries, sl.Committed()); len(jobs) > 0 || n > 0 {
		c.log.Warn("compaction: a compaction is unfinished (another compactor running?): no log retention this run")
		return nil
	}
	n, err := lake.TrimSinkLog(ctx, c.store, sl, old)
	res.LogEntriesDeleted += n
	if err != nil {
		return fmt.Errorf("compact: log retention: %w", err)
	}
	if n > 0 {
		c.log.Info("compaction: sink-log entries deleted (log retention)", "entries", n, "checkpoint", sl.CheckpointKey,
			"entries_left", sl.Listed-n)
	}
	return nil
}

// removeOrphans deletes staged files that no entry commits (written by a run
// that crashed before step 2, or already published and removed) once they
// are older than Grace, so that a log reader never loses a file it listed.
func (c *compactor) removeOrphans(ctx context.Context, committed []contract.SinkFile) error {
	objs, err := c.store.List(ctx, StagingPrefix)
	if err != nil {
		return fmt.Errorf("compact: list %s: %w", StagingPrefix, err)
	}
	live := map[string]bool{}
	for _, f := range committed {
		live[f.Path] = true
	}
	for _, o := range objs {
		if live[o.Key] || time.Since(o.ModTime) < c.o.Grace {
			continue
		}
		if err := c.store.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("compact: delete orphan %s: %w", o.Key, err)
		}
		c.log.Info("compaction: deleted an orphan staged file", "object", o.Key)
	}
	return nil
}

// plan groups the committed window files by partition (their directory under
// stream/) and returns, per partition with at least MinFiles small files,
// those files sorted by path.
func plan(committed []contract.SinkFile, o Options) [][]contract.SinkFile {
	byDir := map[string][]contract.SinkFile{}
	var dirs []string
	for _, f := range committed {
		if !strings.HasPrefix(f.Path, contract.StreamPrefix) || f.Size >= o.TargetFileBytes/2 {
			continue
		}
		dir := f.Path[:strings.LastIndexByte(f.Path, '/')+1]
		if _, ok := byDir[dir]; !ok {
			dirs = append(dirs, dir)
		}
		byDir[dir] = append(byDir[dir], f)
	}
	slices.Sort(dirs)
	var out [][]contract.SinkFile
	for _, d := range dirs {
		if fs := byDir[d]; len(fs) >= o.MinFiles {
			out = append(out, fs) // committed is sorted by path, so fs is
		}
	}
	return out
}

// partitionDate returns D of a stream/date=D/ file path.
func partitionDate(path string) (string, error) {
	rest, ok := strings.CutPrefix(path, contract.StreamPrefix+"date=")
	if !ok || !strings.Contains(rest, "/") {
		return "", fmt.Errorf("compact: %s is not under %sdate=YYYY-MM-DD/", path, contract.StreamPrefix)
	}
	date, _, _ := strings.Cut(rest, "/")
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return "", fmt.Errorf("compact: %s: partition date %q: %w", path, date, err)
	}
	return date, nil
}

// stage merges one partition's files (steps 1 and 2).
func (c *compactor) stage(ctx context.Context, files []contract.SinkFile) (job, error) {
	date, err := partitionDate(files[0].Path)
	if err != nil {
		return job{}, err
	}
	var rowsIn, bytesIn int64
	for _, f := range files {
		rowsIn += f.Rows
		bytesIn += f.Size
	}
	rowsPerFile := c.o.TargetFileBytes
	if rowsIn > 0 && bytesIn > 0 {
		rowsPerFile = max(1, c.o.TargetFileBytes*rowsIn/bytesIn)
	}
	batch := c.next
	c.next++
	j := job{removed: make([]string, len(files))}
	w := newOutput()
	flush := func() error {
		if w.rows == 0 {
			return nil
		}
		data, err := w.close()
		if err != nil {
			return fmt.Errorf("compact: encode: %w", err)
		}
		key := StagingPrefix + contract.StreamFileKey(date, QueryID, batch, len(j.staged))
		if err := c.store.Put(ctx, key, data); err != nil {
			return fmt.Errorf("compact: stage %s: %w", key, err)
		}
		j.staged = append(j.staged, contract.SinkFile{Path: key, Rows: w.rows, Size: int64(len(data))})
		w = newOutput()
		return nil
	}
	for i, f := range files {
		j.removed[i] = f.Path
		rows, err := readRows(ctx, c.store, f)
		if err != nil {
			return job{}, err
		}
		for len(rows) > 0 {
			n := min(int64(len(rows)), rowsPerFile-w.rows)
			if err := w.write(rows[:n]); err != nil {
				return job{}, fmt.Errorf("compact: encode: %w", err)
			}
			rows = rows[n:]
			if w.rows >= rowsPerFile {
				if err := flush(); err != nil {
					return job{}, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return job{}, err
	}
	var rowsOut int64
	for _, f := range j.staged {
		rowsOut += f.Rows
	}
	if rowsOut != rowsIn {
		return job{}, fmt.Errorf("compact: partition %s: merged %d rows, the sink log lists %d", date, rowsOut, rowsIn)
	}
	entry := contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: QueryID, BatchID: batch,
		Files: j.staged, Removed: j.removed}
	if err := c.putEntry(ctx, entry); err != nil {
		return job{}, err
	}
	c.log.Info("compaction: staged", "partition", date, "batch_id", batch, "files_in", len(files),
		"files_out", len(j.staged), "rows", rowsOut)
	return j, nil
}

// publish runs steps 3 to 5 of one job (all idempotent).
func (c *compactor) publish(ctx context.Context, j job) error {
	for _, k := range j.removed {
		if err := c.store.Delete(ctx, k); err != nil {
			return fmt.Errorf("compact: delete %s: %w", k, err)
		}
	}
	visible := make([]contract.SinkFile, len(j.staged))
	for i, f := range j.staged {
		data, err := c.store.Get(ctx, f.Path)
		if err != nil {
			return fmt.Errorf("compact: read staged %s: %w", f.Path, err)
		}
		if int64(len(data)) != f.Size {
			return fmt.Errorf("compact: staged %s has %d bytes, the sink log says %d", f.Path, len(data), f.Size)
		}
		key := strings.TrimPrefix(f.Path, StagingPrefix)
		if err := c.store.Put(ctx, key, data); err != nil {
			return fmt.Errorf("compact: publish %s: %w", key, err)
		}
		visible[i] = contract.SinkFile{Path: key, Rows: f.Rows, Size: f.Size}
	}
	removed := make([]string, len(j.staged))
	for i, f := range j.staged {
		removed[i] = f.Path
	}
	entry := contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: QueryID, BatchID: c.next,
		Files: visible, Removed: removed}
	c.next++
	if err := c.putEntry(ctx, entry); err != nil {
		return err
	}
	c.log.Info("compaction: published", "batch_id", entry.BatchID, "files", len(visible))
	return nil
}

func (c *compactor) putEntry(ctx context.Context, e contract.SinkLogEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	key := contract.SinkLogKey(e.QueryID, e.BatchID)
	if err := c.store.Put(ctx, key, data); err != nil {
		return fmt.Errorf("compact: write %s: %w", key, err)
	}
	return nil
}

func (c *compactor) wait(ctx context.Context) error {
	if c.o.Grace <= 0 {
		return nil
	}
	t := time.NewTimer(c.o.Grace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("compact: interrupted during the grace period (the next run resumes): %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// readRows reads every row of a committed window file, checking the count
// the sink log recorded.
func readRows(ctx context.Context, store lake.Store, f contract.SinkFile) (rows []contract.WindowRow, err error) {
	obj, info, err := store.Open(ctx, f.Path)
	if err != nil {
		return nil, fmt.Errorf("compact: open %s: %w", f.Path, err)
	}
	defer obj.Close()
	defer func() { // parquet-go panics on some malformed inputs
		if r := recover(); r != nil {
			rows, err = nil, fmt.Errorf("compact: %s: parquet decoder failed: %v", f.Path, r)
		}
	}()
	pf, err := parquet.OpenFile(obj, info.Size)
	if err != nil {
		return nil, fmt.Errorf("compact: %s: %w", f.Path, err)
	}
	r := parquet.NewGenericReader[contract.WindowRow](pf)
	defer r.Close()
	rows = make([]contract.WindowRow, pf.NumRows())
	n, err := r.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("compact: read %s: %w", f.Path, err)
	}
	if int64(n) != pf.NumRows() || (f.Rows > 0 && int64(n) != f.Rows) {
		return nil, fmt.Errorf("compact: %s: read %d rows, the footer says %d, the sink log %d", f.Path, n, pf.NumRows(), f.Rows)
	}
	return rows[:n], nil
}

// output is one merged file being written, with the sink's settings.
type output struct {
	buf  bytes.Buffer
	w    *parquet.GenericWriter[contract.WindowRow]
	rows int64
}

func newOutput() *output {
	o := &output{}
	o.w = parquet.NewGenericWriter[contract.WindowRow](&o.buf, parquet.Compression(&parquet.Zstd))
	return o
}

func (o *output) write(rows []contract.WindowRow) error {
	_, err := o.w.Write(rows)
	o.rows += int64(len(rows))
	return err
}

func (o *output) close() ([]byte, error) {
	if err := o.w.Close(); err != nil {
		return nil, err
	}
	return o.buf.Bytes(), nil
}
