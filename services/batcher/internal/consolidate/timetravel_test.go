package consolidate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

// timeTravelLake is a file lake whose stream table has three versions, one
// batch each (sensors S001, S002, S003), committed an hour apart from t0:
// the commit files' times, which Delta's timestamp rules read, are set so.
func timeTravelLake(t *testing.T, t0 time.Time) (lake.Store, [3][]contract.WindowRow) {
	t.Helper()
	dir := t.TempDir()
	s, err := lake.Open(context.Background(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := streamtest.New(s, query)
	var batches [3][]contract.WindowRow
	for i := range batches {
		batches[i] = windows(fmt.Sprintf("S00%d", i+1), day, i+1, int64(i+1), 20+float64(i), 50, 1)
		if v := w.MustAppend(t, int64(i), batches[i]); v != int64(i) {
			t.Fatalf("batch %d committed version %d", i, v)
		}
		at := t0.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, "stream", "_delta_log", fmt.Sprintf("%020d.json", i)), at, at); err != nil {
			t.Fatal(err)
		}
	}
	return s, batches
}

func upTo(batches [3][]contract.WindowRow, v int) []contract.WindowRow {
	var out []contract.WindowRow
	for _, b := range batches[:v+1] {
		out = append(out, b...)
	}
	return out
}

// --as-of-version and --as-of-timestamp read an older snapshot of the
// stream table; the batch commit records what was read; a version or time
// out of the table's history is a clear error that writes nothing.
func TestTimeTravel(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	s, batches := timeTravelLake(t, t0)
	v1 := int64(1)

	res := run(t, s, Options{AsOfVersion: &v1})
	checkRows(t, res.Rows, Consolidate(upTo(batches, 1)))
	checkRows(t, readBatch(t, s), Consolidate(upTo(batches, 1)))
	if res.Source.Version != 1 || res.Source.AsOfVersion == nil || *res.Source.AsOfVersion != 1 {
		t.Fatalf("source %+v, want version 1 read as of version 1", res.Source)
	}

	for _, tc := range []struct {
		at   time.Time
		want int
	}{
		{t0, 0},                       // exactly version 0's time
		{t0.Add(90 * time.Minute), 1}, // between versions 1 and 2
		{t0.Add(2 * time.Hour), 2},    // the latest, exactly
	} {
		res := run(t, s, Options{AsOfTimestamp: tc.at})
		checkRows(t, readBatch(t, s), Consolidate(upTo(batches, tc.want)))
		if res.Source.Version != int64(tc.want) || res.Source.AsOfTimestamp != tc.at.Format(time.RFC3339Nano) {
			t.Fatalf("as of %s: source %+v, want version %d", tc.at, res.Source, tc.want)
		}
	}
	hist, err := delta.NewTable(s, BatchTable).History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if um := hist[0].CommitInfo.UserMetadata; !strings.Contains(um, `"asOfTimestamp":"2024-11-21T12:00:00Z"`) || !strings.Contains(um, `"sourceVersion":2`) {
		t.Fatalf("the batch commit's userMetadata %q does not record the time travel", um)
	}

	before := mustSnapshot(t, delta.NewTable(s, BatchTable)).Version()
	v3 := int64(3)
	for name, tc := range map[string]struct {
		opts   Options
		target error
		says   string
	}{
		"version after the latest":   {Options{AsOfVersion: &v3}, delta.ErrVersionNotFound, "version 3 is newer than the latest, 2"},
		"time before the first":      {Options{AsOfTimestamp: t0.Add(-time.Minute)}, delta.ErrTimestampOutOfRange, "before the earliest available version"},
		"date before the first":      {Options{AsOfTimestamp: time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)}, delta.ErrTimestampOutOfRange, "2024-11-21T00:00:00Z"},
		"time after the last commit": {Options{AsOfTimestamp: t0.Add(3 * time.Hour)}, delta.ErrTimestampOutOfRange, "after the latest version, 2"},
	} {
		_, err := Run(ctx, s, tc.opts)
		if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, tc.target, tc.says)
		}
	}
	if after := mustSnapshot(t, delta.NewTable(s, BatchTable)).Version(); after != before {
		t.Fatalf("failed time travel committed batch version %d", after)
	}
}

// With SkipUnchanged (interval mode), a run whose stream version is the
// one the batch table's latest commit was consolidated from writes
// nothing; a new stream version, a time-travelled last commit or a
// recreated stream table make it write again.
func TestSkipUnchanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := lake.Open(ctx, "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := New(s, Options{SkipUnchanged: true})
	step := func(wantSkipped bool, wantBatch int64) Result {
		t.Helper()
		res, err := c.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped != wantSkipped || res.BatchVersion != wantBatch {
			t.Fatalf("skipped %v at batch version %d, want %v at %d", res.Skipped, res.BatchVersion, wantSkipped, wantBatch)
		}
		if got := mustSnapshot(t, delta.NewTable(s, BatchTable)).Version(); got != wantBatch {
			t.Fatalf("batch table at version %d, want %d", got, wantBatch)
		}
		return res
	}
	step(false, 0) // no stream table: an empty batch table
	step(true, 0)  // still none
	w := streamtest.New(s, query)
	w.MustAppend(t, 0, windows("S001", day, 2, 5, 30, 60, 5))
	res := step(false, 1)
	if len(res.Rows) != 1 {
		t.Fatalf("rows %+v", res.Rows)
	}
	res = step(true, 1)
	if res.Rows != nil || res.Files != 0 {
		t.Fatalf("a skipped run read %d files", res.Files)
	}
	w.MustAppend(t, 1, windows("S002", day, 1, 5, 30, 60, 5))
	step(false, 2)
	step(true, 2)

	// A one-shot time travel overwrote the table with an older result: the
	// next interval run writes the latest again.
	v0 := int64(0)
	run(t, s, Options{AsOfVersion: &v0}) // batch version 3
	step(false, 4)
	step(true, 4)

	// The stream table was deleted and started again: its version 0 is not
	// the old table's.
	if err := os.RemoveAll(filepath.Join(dir, "stream")); err != nil {
		t.Fatal(err)
	}
	w = streamtest.New(s, query)
	w.MustAppend(t, 0, windows("S009", day, 1, 5, 30, 60, 5)) // version 0, below the old table's 1
	res = step(false, 5)
	if len(res.Rows) != 1 || res.Rows[0].SensorID != "S009" || res.Rows[0].Ventanas != 1 {
		t.Fatalf("rows after the stream table was recreated: %+v", res.Rows)
	}
	w.MustAppend(t, 1, windows("S009", day.Add(time.Minute), 1, 5, 30, 60, 5)) // version 1 again, another table
	res = step(false, 6)
	if len(res.Rows) != 1 || res.Rows[0].Ventanas != 2 {
		t.Fatalf("rows after the recreated stream table's second commit: %+v", res.Rows)
	}
	step(true, 6)

	// Without SkipUnchanged (a one-shot run) every run writes.
	run(t, s, Options{})
	if got := mustSnapshot(t, delta.NewTable(s, BatchTable)).Version(); got != 7 {
		t.Fatalf("a one-shot run over an unchanged stream: batch version %d, want 7", got)
	}
}

// A batch table another writer created with another schema is not
// overwritten.
func TestRefusesBatchTableOfAnotherSchema(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	tbl := delta.NewTable(s, BatchTable)
	md, err := tbl.NewMetadata(delta.StructType{Fields: []delta.StructField{{Name: "sensor_id", Type: delta.String, Nullable: true}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Commit(ctx, nil, delta.Commit{Operation: delta.Write("ErrorIfExists", nil), Actions: []delta.Action{{Metadata: &md}}}); err != nil {
		t.Fatal(err)
	}
	_, err = Run(ctx, s, Options{})
	if err == nil || !strings.Contains(err.Error(), "is not the batcher's") || !strings.Contains(err.Error(), "move the table aside") {
		t.Fatalf("overwrite of a table of another schema: %v", err)
	}
	if v := mustSnapshot(t, tbl).Version(); v != 0 {
		t.Fatalf("the other table was overwritten (version %d)", v)
	}
}
