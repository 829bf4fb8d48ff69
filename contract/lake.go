package contract

import (
	"fmt"
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
// ids are zero-padded so that keys sort in batch order.
func SinkLogKey(queryID string, batchID int64) string {
	return fmt.Sprintf("%s%s/%020d.json", SinkLogPrefix, queryID, batchID)
}

// ParseSinkLogKey is the inverse of SinkLogKey.
func ParseSinkLogKey(key string) (queryID string, batchID int64, ok bool) {
	rest, found := strings.CutPrefix(key, SinkLogPrefix)
	if !found {
		return "", 0, false
	}
	q, file, found := strings.Cut(rest, "/")
	if !found || q == "" {
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
