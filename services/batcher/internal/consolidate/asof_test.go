package consolidate

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/queries"
)

// seedAsOf is the seed's batch query reading `FROM stream <clause>`.
func seedAsOf(t *testing.T, clause string) *Job {
	t.Helper()
	text, err := fs.ReadFile(queries.FS, queries.SeedBatch)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(text), "FROM stream\n", "FROM stream "+clause+"\n", 1)
	if edited == string(text) {
		t.Fatal("the seed's batch query has no `FROM stream` line to edit")
	}
	job, err := CompileJob("asof.sql", edited)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// batchVersion is the batch table's latest version, -1 when there is none.
func batchVersion(t *testing.T, s lake.Store) int64 {
	t.Helper()
	snap, err := delta.NewTable(s, BatchTable).Snapshot(context.Background())
	if errors.Is(err, delta.ErrNotATable) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return snap.Version()
}

// A batch query's VERSION AS OF n reads the stream table's version n, as
// --as-of-version n does: the same rows, the same record of the source in
// the batch commit; another version has other rows.
func TestQueryVersionAsOf(t *testing.T) {
	t0 := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	s, batches := timeTravelLake(t, t0)

	v1 := int64(1)
	byFlag := run(t, s, Options{AsOfVersion: &v1})
	byText := run(t, s, Options{Job: seedAsOf(t, "VERSION AS OF 1")})
	checkRows(t, byText.Rows, Consolidate(upTo(batches, 1)))
	checkRows(t, byText.Rows, byFlag.Rows)
	checkRows(t, readBatch(t, s), Consolidate(upTo(batches, 1)))
	if byText.Source.Version != 1 || byText.Source.AsOfVersion == nil || *byText.Source.AsOfVersion != 1 {
		t.Fatalf("source %+v, want version 1 read as of version 1", byText.Source)
	}
	if latest := Consolidate(upTo(batches, 2)); len(latest) == len(byText.Rows) {
		t.Fatalf("the lake's versions 1 and 2 consolidate alike (%d rows): the test could not tell them apart", len(latest))
	}

	v0 := run(t, s, Options{Job: seedAsOf(t, "VERSION AS OF 0")})
	checkRows(t, v0.Rows, Consolidate(upTo(batches, 0)))

	// The flag naming the same version as the text is no conflict.
	agreed := run(t, s, Options{Job: seedAsOf(t, "VERSION AS OF 1"), AsOfVersion: &v1})
	checkRows(t, agreed.Rows, Consolidate(upTo(batches, 1)))
}

// A batch query's TIMESTAMP AS OF reads the latest commit at or before the
// time, as --as-of-timestamp does; the text is read as Spark casts a string
// to TIMESTAMP (UTC).
func TestQueryTimestampAsOf(t *testing.T) {
	t0 := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	s, batches := timeTravelLake(t, t0)
	for _, tc := range []struct {
		text string
		at   time.Time
		want int
	}{
		{"'2024-11-21 10:00:00'", t0, 0},                                // exactly version 0's time
		{"'2024-11-21 11:30:00'", t0.Add(90 * time.Minute), 1},          // between versions 1 and 2
		{"'2024-11-21T13:00:00+01:00'", t0.Add(2 * time.Hour), 2},       // the latest, exactly, in another zone
		{"'2024-11-21T10:59:59.999Z' AS s", t0.Add(time.Hour - 1e6), 0}, // just before version 1
	} {
		res := run(t, s, Options{Job: seedAsOf(t, "TIMESTAMP AS OF "+tc.text)})
		checkRows(t, res.Rows, Consolidate(upTo(batches, tc.want)))
		byFlag := run(t, s, Options{AsOfTimestamp: tc.at})
		checkRows(t, res.Rows, byFlag.Rows)
		if res.Source.Version != int64(tc.want) || res.Source.AsOfTimestamp != tc.at.Format(time.RFC3339Nano) || res.Source != byFlag.Source {
			t.Fatalf("TIMESTAMP AS OF %s: source %+v, want version %d as of %s, as the flag's %+v", tc.text, res.Source, tc.want, tc.at, byFlag.Source)
		}
	}
}

// A snapshot the stream table does not have is refused with Delta's
// reasons (the versions available; the earliest commit's time), and
// nothing is written.
func TestQueryAsOfOutOfRange(t *testing.T) {
	t0 := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	s, _ := timeTravelLake(t, t0)
	run(t, s, Options{})
	before := batchVersion(t, s)
	for _, tc := range []struct {
		clause string
		target error
		says   []string
	}{
		{"VERSION AS OF 5", delta.ErrVersionNotFound, []string{"as of version 5", "available versions: [0, 2]"}},
		{"TIMESTAMP AS OF '2024-11-21 09:59:00'", delta.ErrTimestampOutOfRange, []string{"2024-11-21T09:59:00Z is before the earliest available version, 0 (2024-11-21T10:00:00Z)"}},
		{"TIMESTAMP AS OF '2024-11-21 12:00:01'", delta.ErrTimestampOutOfRange, []string{"after the latest version, 2 (2024-11-21T12:00:00Z)"}},
	} {
		_, err := Run(context.Background(), s, Options{Job: seedAsOf(t, tc.clause)})
		if !errors.Is(err, tc.target) {
			t.Errorf("%s: %v, want %v", tc.clause, err, tc.target)
			continue
		}
		for _, w := range tc.says {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", tc.clause, err, w)
			}
		}
	}
	if after := batchVersion(t, s); after != before {
		t.Fatalf("a refused time travel committed batch version %d", after)
	}
}

// The query's snapshot and the --as-of-* flags' must agree: two different
// ones are refused, naming both, before anything is read or written.
func TestQueryAsOfConflictsWithFlag(t *testing.T) {
	t0 := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	s, _ := timeTravelLake(t, t0)
	v1, v2 := int64(1), int64(2)
	for _, tc := range []struct {
		clause string
		opts   Options
		says   []string
	}{
		{"VERSION AS OF 1", Options{AsOfVersion: &v2}, []string{"asof.sql:", "stream VERSION AS OF 1", "--as-of-version 2"}},
		{"VERSION AS OF 1", Options{AsOfTimestamp: t0.Add(time.Hour)}, []string{"stream VERSION AS OF 1", "--as-of-timestamp 2024-11-21T11:00:00Z"}},
		{"TIMESTAMP AS OF '2024-11-21 11:00:00'", Options{AsOfVersion: &v1}, []string{"stream TIMESTAMP AS OF '2024-11-21T11:00:00Z'", "--as-of-version 1"}},
		{"TIMESTAMP AS OF '2024-11-21 11:00:00'", Options{AsOfTimestamp: t0}, []string{"TIMESTAMP AS OF '2024-11-21T11:00:00Z'", "--as-of-timestamp 2024-11-21T10:00:00Z"}},
	} {
		tc.opts.Job = seedAsOf(t, tc.clause)
		_, err := Run(context.Background(), s, tc.opts)
		if !errors.Is(err, ErrAsOfConflict) {
			t.Errorf("%s with %+v: %v, want ErrAsOfConflict", tc.clause, tc.opts, err)
			continue
		}
		for _, w := range tc.says {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", tc.clause, err, w)
			}
		}
	}
	if v := batchVersion(t, s); v != -1 {
		t.Fatalf("a refused run created the batch table (version %d)", v)
	}
}
