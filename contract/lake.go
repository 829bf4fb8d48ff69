package contract

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lake layout. Keys are relative to the lake root (an S3 bucket and prefix,
// or a local directory). Names that start with "_" or "." are not data: Spark,
// DuckDB and Hive-style readers skip them.
//
//	stream/date=YYYY-MM-DD/part-<batch>-<seq>-<query>.parquet  window rows (append mode)
//	stream/_sink_log/<query>/<batch>.json                      one entry per committed batch
//	stream/_sink_log/_checkpoint/<seq>.json                    the log folded up to some batches (batcher compact)
//	stream/_sink_log/_trimmed.json                             retention marker: covered entries were deleted (batcher compact)
//	batch/agg_desde_stream/part-00000.parquet                  consolidated rows
//	batch/agg_desde_stream/_SUCCESS                            written after the object above
//
// The committed-files rule: a window file is committed once a sink-log entry
// lists it, and stops being part of the table once an entry lists it as
// removed (compaction). Readers that honour the log (the batcher) see exactly
// the committed files. File names are deterministic in (query, batch, seq), and
// a re-run batch rewrites identical rows under the same names, so a plain
// directory reader also sees each closed window exactly once after recovery.
const (
	StreamPrefix  = "stream/"
	SinkLogPrefix = StreamPrefix + "_sink_log/"
	BatchDir      = "batch/agg_desde_stream/"
	BatchObject   = BatchDir + "part-00000.parquet"
	BatchSuccess  = BatchDir + "_SUCCESS"
)

// PartitionDate is the Hive partition value of a window: its start's UTC date.
func PartitionDate(winStart time.Time) string { return winStart.UTC().Format(time.DateOnly) }

// StreamFileKey names the seq-th file that batch batchID of query queryID
// writes into the partition of date (YYYY-MM-DD).
func StreamFileKey(date, queryID string, batchID int64, seq int) string {
	return fmt.Sprintf("%sdate=%s/part-%010d-%03d-%s.parquet", StreamPrefix, date, batchID, seq, shortID(queryID))
}

// SinkLogKey names the sink-log entry of batch batchID of query queryID. Batch
// ids are zero-padded so that keys sort in batch order. A query id never
// starts with "_" or ".": those names under SinkLogPrefix are the log's own
// (SinkLogCheckpointPrefix, SinkLogTrimmedKey).
func SinkLogKey(queryID string, batchID int64) string {
	return fmt.Sprintf("%s%s/%020d.json", SinkLogPrefix, queryID, batchID)
}

// ParseSinkLogKey is the inverse of SinkLogKey. It accepts entry keys only: a
// checkpoint key (ParseSinkLogCheckpointKey) or any other key whose query
// directory starts with "_" or "." is not an entry.
func ParseSinkLogKey(key string) (queryID string, batchID int64, ok bool) {
	rest, found := strings.CutPrefix(key, SinkLogPrefix)
	if !found {
		return "", 0, false
	}
	q, file, found := strings.Cut(rest, "/")
	if !found || q == "" || q[0] == '_' || q[0] == '.' {
		return "", 0, false
	}
	num, found := strings.CutSuffix(file, ".json")
	if !found {
		return "", 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id < 0 {
		return "", 0, false
	}
	return q, id, true
}

// ParseStreamFileName is the inverse of StreamFileKey's file name: it
// accepts a path under any directory (stream/date=D/, or a staging prefix in
// front of it) whose base name is exactly part-<batch>-<seq>-<short>.parquet
// as StreamFileKey writes it (batch %010d and seq %03d without a sign or a
// superfluous leading zero, short 1 to 8 characters without "-"), and returns
// the batch id, the seq and the query's short id (the first 8 characters of
// the query id without its dashes: "compacti" for the compactor).
func ParseStreamFileName(path string) (batchID int64, seq int, short string, ok bool) {
	base := path[strings.LastIndexByte(path, '/')+1:]
	rest, found := strings.CutPrefix(base, "part-")
	if !found {
		return 0, 0, "", false
	}
	if rest, found = strings.CutSuffix(rest, ".parquet"); !found {
		return 0, 0, "", false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || len(parts[2]) < 1 || len(parts[2]) > 8 {
		return 0, 0, "", false
	}
	b, okB := parsePadded(parts[0], 10)
	s, okS := parsePadded(parts[1], 3)
	if !okB || !okS || s > int64(int(^uint(0)>>1)) {
		return 0, 0, "", false
	}
	return b, int(s), parts[2], true
}

// parsePadded parses a non-negative number written with %0<width>d: digits
// only, at least width of them, and no leading zero beyond the padding.
func parsePadded(s string, width int) (int64, bool) {
	if len(s) < width || (len(s) > width && s[0] == '0') {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func shortID(queryID string) string {
	id := strings.ReplaceAll(queryID, "-", "")
	if len(id) > 8 {
		id = id[:8]
	}
	return id
}

// SinkLogVersion is the version of the SinkLogEntry format.
const SinkLogVersion = 1

// SinkLogEntry records that a batch of a query committed Files to the lake
// (and, for a compaction, that Removed no longer belong to the table).
type SinkLogEntry struct {
	Version int        `json:"version"`
	QueryID string     `json:"queryId"`
	BatchID int64      `json:"batchId"`
	Files   []SinkFile `json:"files"`
	Removed []string   `json:"removed,omitempty"`
}

// SinkFile is one committed data file.
type SinkFile struct {
	Path string `json:"path"`
	Rows int64  `json:"rows"`
	Size int64  `json:"size"`
}

// CommittedFiles folds sink-log entries, in any order, into the set of
// committed data files: every file listed as added and not listed as removed
// by any entry, sorted by path. Entries must be sorted by (query, batch) for
// the result to be deterministic when a path is added twice; the last one wins.
func CommittedFiles(entries []SinkLogEntry) []SinkFile {
	removed := map[string]bool{}
	for _, e := range entries {
		for _, p := range e.Removed {
			removed[p] = true
		}
	}
	byPath := map[string]SinkFile{}
	for _, e := range entries {
		for _, f := range e.Files {
			if !removed[f.Path] {
				byPath[f.Path] = f
			}
		}
	}
	out := make([]SinkFile, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b SinkFile) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Sink-log checkpoints. A long log is slow to read: one object per batch.
// `batcher compact`, the log's maintainer, now and then folds every entry it
// lists into one checkpoint object (as Spark's FileStreamSinkLog compacts its
// log into a .compact file), and readers read the latest checkpoint plus the
// entries it does not cover, instead of every entry. The checkpoint is a
// summary of entries it read; once it has existed for the compactor's grace
// period, the entries it covers may be deleted (sink-log retention, below),
// except the newest of each query, which the streamer's recovery looks for.
//
//	stream/_sink_log/_checkpoint/<seq>.json   seq zero-padded to 20 digits; the highest is the latest
//
// A checkpoint covers, per query id, every entry with a batch id up to
// ThroughBatch (Entries of them; version 2 lists their batch ids in
// Batches). Readers read the entries above it (all the entries of a query it
// does not know), and FoldSinkLog(checkpoint, those) gives exactly
// CommittedFiles(every entry). This needs the writer to cover only entries it
// read, and every entry of a query up to the highest it read: a query's
// entries are written in batch order, each after the previous one is durable
// (the streamer: a batch runs after the previous one committed; the
// compactor: one at a time per lake). A reader checks the listing
// (CheckListed): an entry up to ThroughBatch the checkpoint did not fold (or,
// for version 1, more or fewer entries up to ThroughBatch than it folded)
// makes it ignore the checkpoint and read the whole log.
//
// Version 2 prunes tombstones. A removed path only matters to the fold if an
// entry the checkpoint does not cover adds it again, and window files are
// named after their batch (ParseStreamFileName). So a version-2 checkpoint
// keeps in Removed only the removed paths that are not window-file names;
// the others are summed up in PrunedThrough, per short query id the highest
// batch among them. A reader may use the checkpoint only if no entry it does
// not cover adds a path named after a batch at or below PrunedThrough of its
// short id (CheckUncovered); otherwise it reads the whole log. Neither the
// streamer nor the compactor ever adds such a path: a streamer batch is
// written once, after every batch before it, and never compacted before it
// committed; the compactor names its files after a fresh batch id.
const (
	SinkLogCheckpointPrefix = SinkLogPrefix + "_checkpoint/"
	// SinkLogCheckpointVersion is the version of the SinkLogCheckpoint
	// format this build writes. It reads version 1 too
	// (SinkLogCheckpointVersion1).
	SinkLogCheckpointVersion = 2
	// SinkLogCheckpointVersion1 is the first format: every removed path in
	// Removed, no PrunedThrough.
	SinkLogCheckpointVersion1 = 1
)

// SinkLogCheckpointKey names the seq-th checkpoint of the sink log. Seq is
// zero-padded so that keys sort in seq order.
func SinkLogCheckpointKey(seq int64) string {
	return fmt.Sprintf("%s%020d.json", SinkLogCheckpointPrefix, seq)
}

// ParseSinkLogCheckpointKey is the inverse of SinkLogCheckpointKey: it
// accepts exactly the keys SinkLogCheckpointKey writes (20 digits).
func ParseSinkLogCheckpointKey(key string) (seq int64, ok bool) {
	rest, found := strings.CutPrefix(key, SinkLogCheckpointPrefix)
	if !found {
		return 0, false
	}
	num, found := strings.CutSuffix(rest, ".json")
	if !found || len(num) != 20 {
		return 0, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// Sink-log retention. `batcher compact` deletes the entries a checkpoint
// that has existed for its grace period covers, except the newest entry of
// each query (the streamer's recovery looks its latest batch's entry up), as
// Spark's FileStreamSinkLog deletes the log files its compaction made
// obsolete. Before its first deletion it writes the marker
// SinkLogTrimmedKey: the log alone is then no longer the whole truth, and a
// reader that cannot use a checkpoint covering every deleted entry must fail
// rather than fold what is left.
//
//	stream/_sink_log/_trimmed.json   {"version":1,"queries":{"3f2a9c1e-…":811,"compaction":4}}
const (
	SinkLogTrimmedKey = SinkLogPrefix + "_trimmed.json"
	// SinkLogTrimmedVersion is the version of the SinkLogTrimmed format.
	SinkLogTrimmedVersion = 1
)

// SinkLogTrimmed is the retention marker: per query id, the highest batch id
// whose entry may have been deleted. It only ever grows.
type SinkLogTrimmed struct {
	Version int              `json:"version"`
	Queries map[string]int64 `json:"queries"`
}

// Validate checks the version and the queries.
func (m *SinkLogTrimmed) Validate() error {
	if m.Version != SinkLogTrimmedVersion {
		return fmt.Errorf("version %d, this build reads version %d", m.Version, SinkLogTrimmedVersion)
	}
	for q, b := range m.Queries {
		if q == "" || q[0] == '_' || q[0] == '.' || strings.Contains(q, "/") || b < 0 {
			return fmt.Errorf("query %q batch %d: not a sink-log query and batch", q, b)
		}
	}
	return nil
}

// CoveredBy reports whether cp covers, for every trimmed query, batches up
// to at least the highest one whose entry may have been deleted. A query's
// entries appear in batch order, so a checkpoint that reaches that batch
// folded every entry of the query up to it, deleted ones included (nil
// covers nothing; a marker with no query is covered by anything).
func (m *SinkLogTrimmed) CoveredBy(cp *SinkLogCheckpoint) error {
	for _, q := range slices.Sorted(maps.Keys(m.Queries)) {
		b := m.Queries[q]
		var cov SinkLogCoverage
		ok := false
		if cp != nil {
			cov, ok = cp.Queries[q]
		}
		if !ok {
			return fmt.Errorf("entries of query %s up to batch %d may be deleted, and the checkpoint does not cover that query", q, b)
		}
		if cov.ThroughBatch < b {
			return fmt.Errorf("entries of query %s up to batch %d may be deleted, and the checkpoint covers it through batch %d only", q, b, cov.ThroughBatch)
		}
	}
	return nil
}

// SinkLogCheckpoint is the sink log folded up to some batch of each query.
//
//	{"version":2,"seq":3,
//	 "queries":{"3f2a9c1e-…":{"throughBatch":812,"entries":790},"compaction":{"throughBatch":5,"entries":6}},
//	 "files":[{"path":"stream/date=2024-11-21/part-0000000004-000-compacti.parquet","rows":60000,"size":912345,
//	           "queryId":"compaction","batchId":5}],
//	 "removed":[],
//	 "prunedThrough":{"3f2a9c1e":790,"compacti":4}}
type SinkLogCheckpoint struct {
	Version int   `json:"version"`
	Seq     int64 `json:"seq"`
	// Queries says what is covered: per query id, the highest batch id
	// folded and how many entries were folded (every entry of the query up
	// to that batch).
	Queries map[string]SinkLogCoverage `json:"queries"`
	// Files are the committed files of the covered entries (added and not
	// removed by any of them), sorted by path, each with the entry that
	// added it last.
	Files []CheckpointFile `json:"files"`
	// Removed is every path a covered entry removed (version 1), or those of
	// them ParseStreamFileName does not accept (version 2), sorted: a later
	// entry that adds one of them again does not make it committed.
	Removed []string `json:"removed"`
	// PrunedThrough (version 2) stands for the removed window files left
	// out of Removed: per short query id, the highest batch id among them.
	// A later entry that adds a window file of that short id and a batch at
	// or below it makes the checkpoint unusable (CheckUncovered).
	PrunedThrough map[string]int64 `json:"prunedThrough,omitempty"`
}

// SinkLogCoverage is what a checkpoint covers of one query.
type SinkLogCoverage struct {
	ThroughBatch int64 `json:"throughBatch"`
	Entries      int64 `json:"entries"`
	// Batches (version 2) are the batch ids of the entries folded, as
	// sorted, disjoint, inclusive ranges [lo, hi]: Entries ids in all, the
	// last hi is ThroughBatch. A reader checks the entries it lists against
	// them, so the covered entries may be deleted (log retention) while an
	// entry the checkpoint never folded is still caught. A version-1
	// checkpoint does not record them; CheckListed fills them in from a
	// listing that passes its count check.
	Batches [][2]int64 `json:"batches,omitempty"`
}

// covers reports whether batchID is one of the batches folded.
func (cov SinkLogCoverage) covers(batchID int64) bool {
	if batchID > cov.ThroughBatch {
		return false
	}
	if cov.Batches == nil {
		return true
	}
	i, _ := slices.BinarySearchFunc(cov.Batches, batchID, func(r [2]int64, b int64) int { return cmp.Compare(r[1], b) })
	return i < len(cov.Batches) && cov.Batches[i][0] <= batchID
}

// checkBatches checks Batches against ThroughBatch and Entries.
func (cov SinkLogCoverage) checkBatches() error {
	if len(cov.Batches) == 0 {
		return errors.New("no batches")
	}
	var n int64
	for i, r := range cov.Batches {
		if r[0] < 0 || r[0] > r[1] || (i > 0 && r[0] <= cov.Batches[i-1][1]) {
			return fmt.Errorf("batches %v: want sorted, disjoint ranges [lo,hi] with 0 <= lo <= hi", cov.Batches)
		}
		n += r[1] - r[0] + 1
	}
	if n != cov.Entries || cov.Batches[len(cov.Batches)-1][1] != cov.ThroughBatch {
		return fmt.Errorf("batches %v: %d batches through %d, want %d through %d", cov.Batches, n, cov.Batches[len(cov.Batches)-1][1], cov.Entries, cov.ThroughBatch)
	}
	return nil
}

// addBatch appends batchID, above every batch already in Batches.
func (cov *SinkLogCoverage) addBatch(batchID int64) {
	if n := len(cov.Batches); n > 0 && cov.Batches[n-1][1]+1 == batchID {
		cov.Batches[n-1][1] = batchID
		return
	}
	cov.Batches = append(cov.Batches, [2]int64{batchID, batchID})
}

// CheckpointFile is a committed file in a checkpoint, with the entry that
// added it (the last one, in (query, batch) order, when several did).
type CheckpointFile struct {
	SinkFile
	QueryID string `json:"queryId"`
	BatchID int64  `json:"batchId"`
}

// Covers reports whether entry batchID of queryID is folded into c (nil
// covers nothing): one of its Batches, or for a version-1 checkpoint without
// them, any batch up to ThroughBatch.
func (c *SinkLogCheckpoint) Covers(queryID string, batchID int64) bool {
	if c == nil {
		return false
	}
	q, ok := c.Queries[queryID]
	return ok && q.covers(batchID)
}

// CheckListed checks c against the entries a reader listed (per query id,
// their batch ids, in any order): whether it may be folded with the entries
// it does not cover. Version 2: every listed entry up to ThroughBatch of its
// query must be one of Batches (one the checkpoint never folded would be
// lost); covered entries may be missing (deleted by log retention).
// Version 1: the listed entries up to ThroughBatch must be exactly as many
// as Entries (more: one it never read; fewer: entries gone), and then they
// are the batches it folded: CheckListed records them in Batches (in memory
// only), so that a checkpoint folded on top of c records them too.
func (c *SinkLogCheckpoint) CheckListed(listed map[string][]int64) error {
	if c.Version != SinkLogCheckpointVersion1 {
		for q, batches := range listed {
			cov, ok := c.Queries[q]
			if !ok {
				continue
			}
			for _, b := range batches {
				if b <= cov.ThroughBatch && !cov.covers(b) {
					return fmt.Errorf("the log lists entry %s#%d, which it did not fold (it folded batches %v)", q, b, cov.Batches)
				}
			}
		}
		return nil
	}
	covered := map[string][]int64{}
	for q, cov := range c.Queries {
		for _, b := range listed[q] {
			if b <= cov.ThroughBatch {
				covered[q] = append(covered[q], b)
			}
		}
		if int64(len(covered[q])) != cov.Entries {
			return fmt.Errorf("it folded %d entries of query %s through batch %d, the log lists %d", cov.Entries, q, cov.ThroughBatch, len(covered[q]))
		}
	}
	for q, cov := range c.Queries {
		bs := slices.Clone(covered[q])
		slices.Sort(bs)
		cov.Batches = nil
		for i, b := range bs {
			if i > 0 && bs[i-1] == b {
				return fmt.Errorf("the log lists entry %s#%d twice", q, b)
			}
			cov.addBatch(b)
		}
		if err := cov.checkBatches(); err != nil {
			return fmt.Errorf("query %s: %w", q, err)
		}
		c.Queries[q] = cov
	}
	return nil
}

// Validate checks what a reader relies on: the version, the coverage, and
// that every file is attributed to a covered entry, once, and not removed.
func (c *SinkLogCheckpoint) Validate() error {
	if c.Version != SinkLogCheckpointVersion && c.Version != SinkLogCheckpointVersion1 {
		return fmt.Errorf("version %d, this build reads versions %d and %d", c.Version, SinkLogCheckpointVersion1, SinkLogCheckpointVersion)
	}
	if c.Version == SinkLogCheckpointVersion1 && len(c.PrunedThrough) > 0 {
		return fmt.Errorf("version %d has no prunedThrough", c.Version)
	}
	for short, b := range c.PrunedThrough {
		if short == "" || b < 0 {
			return fmt.Errorf("prunedThrough %q: %d: want a non-empty short query id and a batch id >= 0", short, b)
		}
	}
	if c.Seq < 0 {
		return fmt.Errorf("seq %d < 0", c.Seq)
	}
	for q, cov := range c.Queries {
		if q == "" || q[0] == '_' || q[0] == '.' || strings.Contains(q, "/") {
			return fmt.Errorf("query id %q is not a sink-log query", q)
		}
		if cov.ThroughBatch < 0 || cov.Entries < 1 || cov.Entries > cov.ThroughBatch+1 {
			return fmt.Errorf("query %s: %d entries through batch %d", q, cov.Entries, cov.ThroughBatch)
		}
		if c.Version != SinkLogCheckpointVersion1 || cov.Batches != nil {
			if err := cov.checkBatches(); err != nil {
				return fmt.Errorf("query %s: %w", q, err)
			}
		}
	}
	removed := make(map[string]bool, len(c.Removed))
	for _, p := range c.Removed {
		if p == "" {
			return fmt.Errorf("an empty removed path")
		}
		removed[p] = true
	}
	seen := make(map[string]bool, len(c.Files))
	for i, f := range c.Files {
		switch {
		case f.Path == "":
			return fmt.Errorf("file %d has an empty path", i)
		case seen[f.Path]:
			return fmt.Errorf("file %s listed twice", f.Path)
		case removed[f.Path]:
			return fmt.Errorf("file %s is both committed and removed", f.Path)
		case !c.Covers(f.QueryID, f.BatchID) || f.BatchID < 0:
			return fmt.Errorf("file %s comes from query %q batch %d, which the checkpoint does not cover", f.Path, f.QueryID, f.BatchID)
		}
		seen[f.Path] = true
	}
	return nil
}

// FoldSinkLog folds a checkpoint (nil for none) and the entries it does not
// cover into the committed files, sorted by path: exactly CommittedFiles of
// every entry, covered or not, provided cp.CheckUncovered(entries) is nil.
// Entries need not be sorted.
func FoldSinkLog(cp *SinkLogCheckpoint, entries []SinkLogEntry) []SinkFile {
	f := newFold(cp, entries)
	out := make([]SinkFile, 0, len(f.last))
	for p, cf := range f.last {
		if !f.removed[p] {
			out = append(out, cf.SinkFile)
		}
	}
	slices.SortFunc(out, func(a, b SinkFile) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// CheckUncovered reports whether c may be folded with entries it does not
// cover: an error names the first entry that adds a window file c may have
// pruned from Removed (its name's batch is at or below PrunedThrough of its
// short id). Without one, FoldSinkLog(c, entries) is exact.
func (c *SinkLogCheckpoint) CheckUncovered(entries []SinkLogEntry) error {
	if c == nil || len(c.PrunedThrough) == 0 {
		return nil
	}
	for _, e := range entries {
		for _, f := range e.Files {
			if b, _, short, ok := ParseStreamFileName(f.Path); ok {
				if through, pruned := c.PrunedThrough[short]; pruned && b <= through {
					return fmt.Errorf("entry %s#%d adds %s, and the checkpoint pruned the removed files of %s through batch %d",
						e.QueryID, e.BatchID, f.Path, short, through)
				}
			}
		}
	}
	return nil
}

// NewSinkLogCheckpoint folds prev (nil for none; version 1 or 2) and entries
// that prev does not cover into checkpoint seq (version 2), which covers
// both. It fails if prev covers one of the entries (it would be counted
// twice), two entries are the same batch, or an entry adds a path prev
// pruned (CheckUncovered: the fold would not be exact; fold the whole log
// instead).
func NewSinkLogCheckpoint(seq int64, prev *SinkLogCheckpoint, entries []SinkLogEntry) (SinkLogCheckpoint, error) {
	cp := SinkLogCheckpoint{Version: SinkLogCheckpointVersion, Seq: seq, Queries: map[string]SinkLogCoverage{},
		Files: []CheckpointFile{}, Removed: []string{}, PrunedThrough: map[string]int64{}}
	if prev != nil {
		for q, cov := range prev.Queries {
			if cov.Batches == nil {
				return SinkLogCheckpoint{}, fmt.Errorf("contract: checkpoint %d: checkpoint %d does not say which batches of %s it folded (a version-1 checkpoint needs CheckListed)", seq, prev.Seq, q)
			}
			cov.Batches = slices.Clone(cov.Batches)
			cp.Queries[q] = cov
		}
		maps.Copy(cp.PrunedThrough, prev.PrunedThrough)
		if err := prev.CheckUncovered(entries); err != nil {
			return SinkLogCheckpoint{}, fmt.Errorf("contract: checkpoint %d: checkpoint %d cannot be folded with the entries: %w", seq, prev.Seq, err)
		}
	}
	seen := map[string]map[int64]bool{}
	for _, e := range entries {
		if prev.Covers(e.QueryID, e.BatchID) {
			return SinkLogCheckpoint{}, fmt.Errorf("contract: checkpoint %d: entry %s#%d is already covered by checkpoint %d", seq, e.QueryID, e.BatchID, prev.Seq)
		}
		if prev != nil {
			if cov, ok := prev.Queries[e.QueryID]; ok && e.BatchID <= cov.ThroughBatch {
				return SinkLogCheckpoint{}, fmt.Errorf("contract: checkpoint %d: entry %s#%d is below batch %d, which checkpoint %d folded without it", seq, e.QueryID, e.BatchID, cov.ThroughBatch, prev.Seq)
			}
		}
		if seen[e.QueryID] == nil {
			seen[e.QueryID] = map[int64]bool{}
		}
		if seen[e.QueryID][e.BatchID] {
			return SinkLogCheckpoint{}, fmt.Errorf("contract: checkpoint %d: entry %s#%d given twice", seq, e.QueryID, e.BatchID)
		}
		seen[e.QueryID][e.BatchID] = true
		cov, ok := cp.Queries[e.QueryID]
		if !ok {
			cov.ThroughBatch = e.BatchID
		}
		cov.ThroughBatch = max(cov.ThroughBatch, e.BatchID)
		cov.Entries++
		cp.Queries[e.QueryID] = cov
	}
	for q, batches := range seen {
		cov := cp.Queries[q]
		for _, b := range slices.Sorted(maps.Keys(batches)) {
			cov.addBatch(b)
		}
		cp.Queries[q] = cov
	}
	f := newFold(prev, entries)
	for p, cf := range f.last {
		if !f.removed[p] {
			cp.Files = append(cp.Files, cf)
		}
	}
	slices.SortFunc(cp.Files, func(a, b CheckpointFile) int { return strings.Compare(a.Path, b.Path) })
	for p := range f.removed {
		if b, _, short, ok := ParseStreamFileName(p); ok {
			if through, in := cp.PrunedThrough[short]; !in || b > through {
				cp.PrunedThrough[short] = b
			}
			continue
		}
		cp.Removed = append(cp.Removed, p)
	}
	slices.Sort(cp.Removed)
	if len(cp.PrunedThrough) == 0 {
		cp.PrunedThrough = nil
	}
	if err := cp.Validate(); err != nil {
		return SinkLogCheckpoint{}, fmt.Errorf("contract: checkpoint %d: %w", seq, err)
	}
	return cp, nil
}

// fold is CommittedFiles' rule with each file's origin kept: a path is
// committed if some entry adds it and none removes it; when several entries
// add it, the last in (query, batch) order wins (within one entry, the last
// occurrence).
type fold struct {
	removed map[string]bool
	last    map[string]CheckpointFile
}

func newFold(cp *SinkLogCheckpoint, entries []SinkLogEntry) fold {
	f := fold{removed: map[string]bool{}, last: map[string]CheckpointFile{}}
	if cp != nil {
		for _, p := range cp.Removed {
			f.removed[p] = true
		}
		for _, cf := range cp.Files {
			f.add(cf)
		}
	}
	for _, e := range entries {
		for _, p := range e.Removed {
			f.removed[p] = true
		}
		for _, sf := range e.Files {
			f.add(CheckpointFile{SinkFile: sf, QueryID: e.QueryID, BatchID: e.BatchID})
		}
	}
	return f
}

func (f fold) add(cf CheckpointFile) {
	if old, ok := f.last[cf.Path]; ok && cmp.Or(strings.Compare(cf.QueryID, old.QueryID), cmp.Compare(cf.BatchID, old.BatchID)) < 0 {
		return
	}
	f.last[cf.Path] = cf
}
