package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/agree"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// The lake is two Delta tables (docs/lake.md). The tests read them as a
// Delta reader does: the live files of a snapshot, found by the tests' own
// protocol reader (internal/deltaread, written from PROTOCOL.md), and only
// those files' rows. Every read also checks that lake/delta, the services'
// reader and writer, sees the same snapshot (internal/agree).
const (
	streamTable = "stream"
	batchTable  = "batch/agg_desde_stream"
)

// The tables' schemas as their Delta logs must declare them, written out
// here rather than taken from the services, so that a change cannot pass
// unnoticed: the window row's columns and the partition column date; and
// exactly the seed's six columns.
var (
	wantStreamSchema = []string{"win_start timestamp", "win_end timestamp", "sensor_id string", "eventos long",
		"avg_temp double", "avg_hum double", "ok_count long", "min_temp double", "max_temp double", "date date"}
	wantBatchSchema = []string{"sensor_id string", "total_eventos long", "avg_temp_global double",
		"avg_hum_global double", "ok_total long", "ventanas long"}
)

// schemaOf renders a table's schema as "name type" pairs.
func schemaOf(s *deltaread.Snapshot) []string {
	out := make([]string, len(s.Metadata.Schema))
	for i, f := range s.Metadata.Schema {
		out[i] = f.Name + " " + f.Type
	}
	return out
}

// snapshotOf reads a table's latest version (or version v >= 0) with the
// independent reader, and fails unless lake/delta reads the same version
// identically.
func snapshotOf(t testing.TB, ctx context.Context, st lake.Store, root string, v int64) *deltaread.Snapshot {
	t.Helper()
	mine, err := deltaread.Read(ctx, st, root, deltaread.Options{Version: v})
	if err != nil {
		t.Fatalf("table %s (version %d; -1 = latest), read by the tests' Delta reader: %v", root, v, err)
	}
	requireAgree(t, ctx, st, root, mine)
	// _last_checkpoint, when it names the checkpoint read, counts its
	// actions right (it may lag behind a newer checkpoint: a writer that
	// died between the two leaves it so, and readers list past it).
	if lc := mine.LastCheckpoint; lc != nil && lc.Version == mine.Checkpoint && lc.Size != nil &&
		*lc.Size != int64(mine.CheckpointActions) {
		t.Fatalf("table %s: _last_checkpoint says checkpoint %d holds %d actions; it holds %d",
			root, lc.Version, *lc.Size, mine.CheckpointActions)
	}
	return mine
}

// requireAgree fails unless lake/delta reads mine's version of the table
// as the independent reader did.
func requireAgree(t testing.TB, ctx context.Context, st lake.Store, root string, mine *deltaread.Snapshot) {
	t.Helper()
	theirs, err := delta.NewTable(st, root).SnapshotAt(ctx, mine.Version)
	if err != nil {
		t.Fatalf("table %s version %d, read by lake/delta: %v", root, mine.Version, err)
	}
	if d := agree.Diff(mine, theirs, root); len(d) > 0 {
		t.Fatalf("table %s version %d: the tests' Delta reader and lake/delta disagree:\n%s",
			root, mine.Version, strings.Join(d, "\n"))
	}
}

// streamRead is the stream table as a Delta reader sees it.
type streamRead struct {
	Snap *deltaread.Snapshot
	Rows map[winKey]contract.WindowRow
	// Dups describes each window row that repeats one already read.
	Dups []string
}

// readStream reads the stream table's latest snapshot (or version v >= 0):
// its schema through the log, then the rows of its live files only, each
// file checked against its add action (partition value, stats).
func readStream(t testing.TB, ctx context.Context, st lake.Store, v int64) streamRead {
	t.Helper()
	snap := snapshotOf(t, ctx, st, streamTable, v)
	if got := schemaOf(snap); !slices.Equal(got, wantStreamSchema) {
		t.Fatalf("stream table schema %v, want %v", got, wantStreamSchema)
	}
	if !slices.Equal(snap.Metadata.PartitionColumns, []string{"date"}) {
		t.Fatalf("stream table partitioned by %v, want [date]", snap.Metadata.PartitionColumns)
	}
	out := streamRead{Snap: snap, Rows: map[winKey]contract.WindowRow{}}
	for _, f := range snap.LiveFiles() {
		key := streamTable + "/" + f.Key
		rows, cols := readParquet[contract.WindowRow](t, ctx, st, key)
		if err := contract.CheckColumns(cols[:min(len(cols), len(wantWindowColumns))], wantWindowColumns); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if err := checkWindowStats(f, rows); err != nil {
			t.Fatalf("%s: its add action's stats do not describe its rows: %v", key, err)
		}
		for _, r := range rows {
			if date := r.WinStart.UTC().Format(time.DateOnly); f.PartitionValues["date"] != date {
				t.Fatalf("%s: window starting %v in a file whose partition value is date=%q", key, r.WinStart.UTC(), f.PartitionValues["date"])
			}
			k := winKey{r.WinStart.UnixMilli(), r.SensorID}
			if prev, dup := out.Rows[k]; dup {
				out.Dups = append(out.Dups, fmt.Sprintf("window (%s, %s) is in the stream table twice: %+v and %+v (file %s)",
					r.WinStart.UTC().Format(time.RFC3339), r.SensorID, prev, r, key))
				continue
			}
			out.Rows[k] = r
		}
	}
	t.Logf("stream table version %d (checkpoint %d, %d commits replayed): %d live files, %d tombstones, %d window rows, txns %v",
		snap.Version, snap.Checkpoint, len(snap.Commits), len(snap.Files), len(snap.Tombstones), len(out.Rows), snap.Txns)
	return out
}

// streamRows reads the stream table's window rows, failing on a window
// seen twice.
func streamRows(t testing.TB, ctx context.Context, st lake.Store) map[winKey]contract.WindowRow {
	t.Helper()
	r := readStream(t, ctx, st, -1)
	if len(r.Dups) > 0 {
		t.Fatal(r.Dups[0])
	}
	return r.Rows
}

// checkWindowStats checks an add's stats against the file's rows: the
// record count, each column's min and max, and no nulls.
func checkWindowStats(f deltaread.File, rows []contract.WindowRow) error {
	s := f.Stats
	if s == nil {
		return errors.New("no stats")
	}
	if s.NumRecords != int64(len(rows)) {
		return fmt.Errorf("numRecords %d, the file has %d rows", s.NumRecords, len(rows))
	}
	if len(rows) == 0 {
		return nil
	}
	type bounds struct{ min, max any }
	b := map[string]*bounds{}
	upd := func(col string, v any, less func(a, b any) bool) {
		x := b[col]
		if x == nil {
			b[col] = &bounds{v, v}
			return
		}
		if less(v, x.min) {
			x.min = v
		}
		if less(x.max, v) {
			x.max = v
		}
	}
	lt := func(a, b any) bool {
		switch a := a.(type) {
		case time.Time:
			return a.Before(b.(time.Time))
		case string:
			return a < b.(string)
		case int64:
			return a < b.(int64)
		case float64:
			return a < b.(float64)
		}
		return false
	}
	for _, r := range rows {
		upd("win_start", r.WinStart, lt)
		upd("win_end", r.WinEnd, lt)
		upd("sensor_id", r.SensorID, lt)
		upd("eventos", r.Eventos, lt)
		upd("avg_temp", r.AvgTemp, lt)
		upd("avg_hum", r.AvgHum, lt)
		upd("ok_count", r.OKCount, lt)
		upd("min_temp", r.MinTemp, lt)
		upd("max_temp", r.MaxTemp, lt)
	}
	for col, want := range b {
		for _, side := range []struct {
			name string
			got  any
			want any
		}{{"minValues", s.MinValues[col], want.min}, {"maxValues", s.MaxValues[col], want.max}} {
			if err := sameStat(side.got, side.want); err != nil {
				return fmt.Errorf("%s.%s: %w", side.name, col, err)
			}
		}
		if n, ok := s.NullCount[col].(json.Number); !ok || n.String() != "0" {
			return fmt.Errorf("nullCount.%s = %v, want 0", col, s.NullCount[col])
		}
	}
	return nil
}

// sameStat compares a stats value (as JSON gave it) with a column's value:
// timestamps as the protocol writes them, truncated to milliseconds.
func sameStat(got, want any) error {
	switch w := want.(type) {
	case time.Time:
		s, ok := got.(string)
		if !ok {
			return fmt.Errorf("%v (%T), want a timestamp string", got, got)
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		if !tm.Equal(w.Truncate(time.Millisecond)) {
			return fmt.Errorf("%s, the rows say %s", s, w.UTC().Format(time.RFC3339Nano))
		}
	case string:
		if got != w {
			return fmt.Errorf("%v, the rows say %q", got, w)
		}
	case int64:
		n, ok := got.(json.Number)
		if i, err := n.Int64(); !ok || err != nil || i != w {
			return fmt.Errorf("%v, the rows say %d", got, w)
		}
	case float64:
		n, ok := got.(json.Number)
		if f, err := n.Float64(); !ok || err != nil || f != w {
			return fmt.Errorf("%v, the rows say %v", got, w)
		}
	}
	return nil
}

// batchRead is the batch table as a Delta reader sees it.
type batchRead struct {
	Snap   *deltaread.Snapshot
	Rows   []contract.BatchRow
	Writes int // WRITE commits in its history
}

// readBatch reads the batch table: its schema through its Delta log,
// exactly the seed's six columns; its rows from its live files; and its
// history, where each batcher run is one overwrite commit whose files
// (uniquely named) are the table's whole content at that version.
func readBatch(t testing.TB, ctx context.Context, st lake.Store) batchRead {
	t.Helper()
	snap := snapshotOf(t, ctx, st, batchTable, -1)
	if got := schemaOf(snap); !slices.Equal(got, wantBatchSchema) {
		t.Fatalf("batch table schema in its Delta log: %v, want exactly %v", got, wantBatchSchema)
	}
	if len(snap.Metadata.PartitionColumns) != 0 {
		t.Fatalf("batch table partitioned by %v, want no partitions", snap.Metadata.PartitionColumns)
	}
	out := batchRead{Snap: snap}
	for _, f := range snap.LiveFiles() {
		key := batchTable + "/" + f.Key
		rows, cols := readParquet[contract.BatchRow](t, ctx, st, key)
		if err := contract.CheckColumns(cols, wantBatchColumns); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if f.Stats != nil && f.Stats.NumRecords != int64(len(rows)) {
			t.Fatalf("%s: stats count %d records, the file has %d", key, f.Stats.NumRecords, len(rows))
		}
		out.Rows = append(out.Rows, rows...)
	}
	if _, err := st.Stat(ctx, batchTable+"/_SUCCESS"); err == nil {
		t.Fatalf("%s/_SUCCESS exists: a Delta table's commits say what is written", batchTable)
	}

	hist, err := deltaread.History(ctx, st, batchTable)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int64{}
	for _, c := range hist {
		if c.Operation() != "WRITE" {
			continue
		}
		out.Writes++
		params, _ := c.CommitInfo["operationParameters"].(map[string]any)
		if c.Version > 0 && params["mode"] != "Overwrite" {
			t.Fatalf("batch table version %d: WRITE with parameters %v, want mode Overwrite", c.Version, params)
		}
		for _, a := range c.Adds {
			if v, dup := seen[a.Path]; dup {
				t.Fatalf("batch table: versions %d and %d both add %s: each run's files must be named uniquely", v, c.Version, a.Path)
			}
			seen[a.Path] = c.Version
		}
		// An overwrite: at its version the table is exactly its files.
		at := snapshotOf(t, ctx, st, batchTable, c.Version)
		var live, added []string
		for _, f := range at.Files {
			live = append(live, f.Path)
		}
		for _, a := range c.Adds {
			added = append(added, a.Path)
		}
		slices.Sort(live)
		slices.Sort(added)
		if !slices.Equal(live, added) {
			t.Fatalf("batch table version %d: live files %v, but the run added %v: not an overwrite", c.Version, live, added)
		}
	}
	t.Logf("batch table version %d: %d live files, %d rows, %d WRITE commits", snap.Version, len(snap.Files), len(out.Rows), out.Writes)
	return out
}

// batcherJSON returns the JSON objects a command printed on stdout: JSON
// lines or indented objects, one after the other.
func batcherJSON(t testing.TB, out string) []map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(out))
	var objs []map[string]any
	for {
		var m map[string]any
		err := d.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("stdout is not JSON objects: %v:\n%s", err, out)
		}
		objs = append(objs, m)
	}
}
