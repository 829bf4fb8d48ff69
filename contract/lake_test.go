package contract

import (
	"testing"
	"time"
)

// TestStreamFileKeyIsDeterministicAndPartitioned: a re-run batch must write
// the same names (exactly-once relies on it), in its window's UTC date
// partition, and names must sort in batch order within a partition.
func TestStreamFileKeyIsDeterministicAndPartitioned(t *testing.T) {
	q := "3f2a9c1e-7b7d-4e3f-9a51-0c6f3f7d2b10"
	if got, want := StreamFileKey("2024-11-21", q, 7, 0), "stream/date=2024-11-21/part-0000000007-000-3f2a9c1e.parquet"; got != want {
		t.Fatalf("StreamFileKey = %q, want %q", got, want)
	}
	if StreamFileKey("2024-11-21", q, 7, 1) == StreamFileKey("2024-11-21", q, 7, 0) {
		t.Fatal("two files of one batch share a name")
	}
	if !(StreamFileKey("2024-11-21", q, 9, 0) < StreamFileKey("2024-11-21", q, 10, 0)) {
		t.Fatal("file names do not sort in batch order")
	}
	if StreamFileKey("2024-11-21", q, 7, 0) == StreamFileKey("2024-11-21", "4f2a9c1e-0000-0000-0000-000000000000", 7, 0) {
		t.Fatal("two queries' batches share a name")
	}
	// 23:59:59.999 in UTC-3 is the next day in UTC: the partition is the UTC date.
	ts := time.Date(2024, 11, 21, 23, 59, 59, 0, time.FixedZone("ART", -3*3600))
	if got := PartitionDate(ts); got != "2024-11-22" {
		t.Fatalf("PartitionDate(%v) = %s, want 2024-11-22", ts, got)
	}
}
