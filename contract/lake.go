package contract

import (
	"fmt"
	"strings"
	"time"
)

// Lake layout. Keys are relative to the lake root (an S3 bucket and prefix,
// or a local directory). The lake holds two Delta Lake tables (docs/lake.md);
// a table is its _delta_log, and lake/delta reads and writes it.
//
//	stream/                                          window rows, partitioned by date (the streamer appends)
//	stream/_delta_log/                               its transaction log
//	stream/date=YYYY-MM-DD/part-<batch>-<seq>-<query>.parquet   a streamer batch's file
//	batch/agg_desde_stream/                          consolidated rows (the batcher overwrites)
//
// A streamer batch's file names are deterministic in (query, batch, seq), and
// a re-run batch writes identical bytes under them, so a batch re-run before
// its commit rewrites the same objects.
const (
	StreamPrefix = "stream/"
	BatchDir     = "batch/agg_desde_stream/"
)

// PartitionDate is the Hive partition value of a window: its start's UTC date.
func PartitionDate(winStart time.Time) string { return winStart.UTC().Format(time.DateOnly) }

// StreamFileKey names the seq-th file that batch batchID of query queryID
// writes into the partition of date (YYYY-MM-DD).
func StreamFileKey(date, queryID string, batchID int64, seq int) string {
	return fmt.Sprintf("%sdate=%s/part-%010d-%03d-%s.parquet", StreamPrefix, date, batchID, seq, shortID(queryID))
}

func shortID(queryID string) string {
	id := strings.ReplaceAll(queryID, "-", "")
	if len(id) > 8 {
		id = id[:8]
	}
	return id
}
