package deltaread_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/agree"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// The tables here are written by lake/delta (the writer the end-to-end tests
// check) or taken from another engine's files, and read back by both
// readers: every version must agree, through checkpoints, removes, log
// cleanup and multi-part checkpoints.

func fileStore(t *testing.T) (lake.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := lake.Open(t.Context(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return st, dir
}

// regionRow is a data row of the test table partitioned by region.
type regionRow struct {
	ID int64 `parquet:"id"`
}

// table is a lake/delta table under test and what was committed to it.
type table struct {
	t    *testing.T
	st   lake.Store
	dir  string
	root string
	tbl  *delta.Table
	md   delta.Metadata
	n    int
}

// newWindowTable creates the stream table's shape: the window row's columns
// plus date, partitioned by date.
func newWindowTable(t *testing.T, st lake.Store, dir, root string, conf map[string]string) *table {
	t.Helper()
	s, err := delta.SchemaFromParquet(parquet.SchemaOf(contract.WindowRow{}))
	if err != nil {
		t.Fatal(err)
	}
	s.Fields = append(s.Fields, delta.StructField{Name: "date", Type: delta.Date, Nullable: true})
	return newTable(t, st, dir, root, s, []string{"date"}, conf)
}

// newRegionTable creates a table (id long, region string) partitioned by
// region, whose values and file names need URL encoding.
func newRegionTable(t *testing.T, st lake.Store, dir, root string) *table {
	t.Helper()
	s := delta.StructType{Fields: []delta.StructField{{Name: "id", Type: delta.Long}, {Name: "region", Type: delta.String, Nullable: true}}}
	return newTable(t, st, dir, root, s, []string{"region"}, nil)
}

func newTable(t *testing.T, st lake.Store, dir, root string, s delta.StructType, parts []string, conf map[string]string) *table {
	t.Helper()
	tb := &table{t: t, st: st, dir: dir, root: root, tbl: delta.NewTable(st, root)}
	md, err := tb.tbl.NewMetadata(s, parts, conf)
	if err != nil {
		t.Fatal(err)
	}
	tb.md = md
	tb.commit(nil, delta.Write("ErrorIfExists", parts), delta.Action{Metadata: &md})
	return tb
}

// put writes rows as a Parquet data file at rel (unencoded, relative to the
// table root) and returns its add action, with lake/delta's stats.
func put[T any](tb *table, rel string, pv delta.PartitionValues, rows []T) delta.Add {
	tb.t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		tb.t.Fatal(err)
	}
	key, err := tb.tbl.DataKey(delta.EncodePath(rel))
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := tb.st.Put(tb.t.Context(), key, buf.Bytes()); err != nil {
		tb.t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		tb.t.Fatal(err)
	}
	stats, err := delta.StatsFromParquet(f, tb.md)
	if err != nil {
		tb.t.Fatal(err)
	}
	js, err := stats.JSON()
	if err != nil {
		tb.t.Fatal(err)
	}
	return delta.Add{Path: delta.EncodePath(rel), PartitionValues: pv, Size: int64(buf.Len()),
		ModificationTime: time.Now().UnixMilli(), DataChange: true, Stats: js}
}

// commit commits actions on the latest snapshot (none: a new table).
func (tb *table) commit(extra func(*delta.Commit), op delta.Operation, acts ...delta.Action) delta.CommitResult {
	tb.t.Helper()
	var read *delta.Snapshot
	if tb.n > 0 {
		var err error
		if read, err = tb.tbl.Snapshot(tb.t.Context()); err != nil {
			tb.t.Fatal(err)
		}
	}
	c := delta.Commit{Operation: op, Actions: acts}
	if extra != nil {
		extra(&c)
	}
	res, err := tb.tbl.Commit(tb.t.Context(), read, c)
	if err != nil {
		tb.t.Fatalf("commit %d: %v", tb.n, err)
	}
	if res.PostCommitErr != nil {
		tb.t.Fatalf("commit %d: after the commit: %v", tb.n, res.PostCommitErr)
	}
	tb.n++
	return res
}

func windowRows(start time.Time, n int) []contract.WindowRow {
	rows := make([]contract.WindowRow, n)
	for i := range rows {
		ws := start.Add(time.Duration(i) * 10 * time.Second)
		rows[i] = contract.WindowRow{WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: fmt.Sprintf("S%03d", i%7),
			Eventos: int64(i + 1), AvgTemp: 20 + float64(i)/4, AvgHum: 50, OKCount: int64(i), MinTemp: 19, MaxTemp: 30}
	}
	return rows
}

// streamTable writes what the streamer and `batcher optimize` write: 23
// streaming commits (one add per date, a txn per batch) and an optimize of
// one partition (dataChange=false removes and one add) at version 15.
func streamTable(t *testing.T) *table {
	st, dir := fileStore(t)
	tb := newWindowTable(t, st, dir, "stream", nil)
	day := time.Date(2024, 11, 21, 23, 50, 0, 0, time.UTC)
	var toCompact []delta.Add
	for b := int64(0); tb.n < 25; b++ {
		if tb.n == 15 {
			rows := windowRows(day, 3*4)
			merged := put(tb, "date=2024-11-21/part-optimized-0001.parquet", delta.PartitionValues{"date": "2024-11-21"}, rows)
			merged.DataChange = false
			acts := []delta.Action{{Add: &merged}}
			for _, a := range toCompact {
				r := delta.RemoveOf(a, time.Now(), false)
				acts = append(acts, delta.Action{Remove: &r})
			}
			tb.commit(func(c *delta.Commit) {
				c.ReadPartitions = func(pv delta.PartitionValues) bool { return pv["date"] == "2024-11-21" }
			},
				delta.Operation{Name: "OPTIMIZE", Parameters: map[string]string{"predicate": `["(date = '2024-11-21')"]`}}, acts...)
			continue
		}
		rows := windowRows(day.Add(time.Duration(b)*time.Minute), 4)
		var acts []delta.Action
		for _, date := range []string{"2024-11-21", "2024-11-22"} {
			var part []contract.WindowRow
			for _, r := range rows {
				if r.WinStart.UTC().Format(time.DateOnly) == date {
					part = append(part, r)
				}
			}
			if len(part) == 0 {
				continue
			}
			a := put(tb, fmt.Sprintf("date=%s/part-%010d-000-q1.parquet", date, b), delta.PartitionValues{"date": date}, part)
			if date == "2024-11-21" && len(toCompact) < 4 {
				toCompact = append(toCompact, a)
			}
			acts = append(acts, delta.Action{Add: &a})
		}
		acts = append(acts, delta.Action{Txn: &delta.Txn{AppID: "query-1", Version: b}})
		tb.commit(nil, delta.StreamingUpdate("Append", "query-1", b), acts...)
	}
	return tb
}

// requireAgree reads version v (latest when negative) with both readers
// and fails on any difference.
func requireAgree(t *testing.T, tb *table, v int64) *deltaread.Snapshot {
	t.Helper()
	ctx := t.Context()
	mine, err := deltaread.Read(ctx, tb.st, tb.root, deltaread.Options{Version: v})
	if err != nil {
		t.Fatalf("deltaread at %d: %v", v, err)
	}
	var theirs *delta.Snapshot
	if v < 0 {
		theirs, err = tb.tbl.Snapshot(ctx)
	} else {
		theirs, err = tb.tbl.SnapshotAt(ctx, v)
	}
	if err != nil {
		t.Fatalf("lake/delta at %d: %v", v, err)
	}
	if d := agree.Diff(mine, theirs, tb.root); len(d) > 0 {
		t.Fatalf("version %d: the readers disagree:\n%s", v, strings.Join(d, "\n"))
	}
	return mine
}

func TestAgreesWithTheWriterAtEveryVersion(t *testing.T) {
	tb := streamTable(t)
	ctx := t.Context()
	latest := requireAgree(t, tb, -1)
	if latest.Version != 24 {
		t.Fatalf("latest version %d, want 24", latest.Version)
	}
	// Checkpoints every 10 commits: the latest read starts at 20, from
	// _last_checkpoint, which counts the checkpoint's actions right.
	if latest.Checkpoint != 20 || latest.CheckpointParts != 1 || !slices.Equal(latest.Commits, []int64{21, 22, 23, 24}) {
		t.Fatalf("read from checkpoint %d (%d parts) and commits %v, want checkpoint 20 and commits 21..24",
			latest.Checkpoint, latest.CheckpointParts, latest.Commits)
	}
	lc := latest.LastCheckpoint
	if lc == nil || lc.Version != 20 || lc.Size == nil || *lc.Size != int64(latest.CheckpointActions) {
		t.Fatalf("_last_checkpoint %+v, the checkpoint holds %d actions", lc, latest.CheckpointActions)
	}
	if lc.NumOfAddFiles != nil {
		ck, _ := deltaread.At(ctx, tb.st, tb.root, 20)
		if int(*lc.NumOfAddFiles) != len(ck.Files) {
			t.Fatalf("_last_checkpoint numOfAddFiles %d, checkpoint 20 has %d live files", *lc.NumOfAddFiles, len(ck.Files))
		}
	}
	// The optimize at 15: its four inputs are tombstones, its output live.
	if len(latest.Tombstones) != 4 {
		t.Fatalf("%d tombstones, want the 4 files optimize removed", len(latest.Tombstones))
	}
	for _, r := range latest.Tombstones {
		if r.DataChange || r.DeletionTimestamp == 0 || r.Version != 15 && r.Version != 20 {
			t.Fatalf("tombstone %+v: want dataChange=false, a deletion time, from the optimize (or checkpoint 20)", r)
		}
		if _, live := latest.Files[r.Path]; live {
			t.Fatalf("%s is live and a tombstone", r.Path)
		}
	}
	if latest.Txns["query-1"] != 23 {
		t.Fatalf("txns %v, want query-1 at batch 23", latest.Txns)
	}
	for v := int64(0); v <= 24; v++ {
		s := requireAgree(t, tb, v)
		// Time travel: checkpoint v/10*10 (none below 10), the commits after.
		want := v / 10 * 10
		if v < 10 {
			want = -1
		}
		if s.Checkpoint != want {
			t.Fatalf("version %d read from checkpoint %d, want %d", v, s.Checkpoint, want)
		}
		// The checkpoint holds what replaying every commit gives.
		full, err := deltaread.Read(ctx, tb.st, tb.root, deltaread.Options{Version: v, NoCheckpoint: true})
		if err != nil {
			t.Fatal(err)
		}
		if msg := sameState(s, full); msg != "" {
			t.Fatalf("version %d: checkpoint %d and the JSON commits disagree: %s", v, s.Checkpoint, msg)
		}
		if s.CommitInfo == nil || s.CommitInfo["operation"] == nil {
			t.Fatalf("version %d: no commitInfo with an operation: %v", v, s.CommitInfo)
		}
	}
	// History: every commit as written, with the operations lake/delta's
	// DESCRIBE HISTORY shows.
	hist, err := deltaread.History(ctx, tb.st, tb.root)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := tb.tbl.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 25 || len(theirs) != 25 {
		t.Fatalf("history: %d commits read, lake/delta shows %d, want 25", len(hist), len(theirs))
	}
	for i, c := range hist {
		h := theirs[len(theirs)-1-i] // newest first
		if c.Version != int64(i) || h.Version != c.Version || c.Operation() != h.CommitInfo.Operation {
			t.Fatalf("history entry %d: version %d operation %q; lake/delta version %d operation %q",
				i, c.Version, c.Operation(), h.Version, h.CommitInfo.Operation)
		}
		switch {
		case i == 15:
			if c.Operation() != "OPTIMIZE" || len(c.Removes) != 4 || len(c.Adds) != 1 || c.Adds[0].DataChange {
				t.Fatalf("commit 15: %s with %d removes and %d adds, want OPTIMIZE 4 -> 1 with dataChange=false", c.Operation(), len(c.Removes), len(c.Adds))
			}
			for _, r := range c.Removes {
				if r.DataChange {
					t.Fatalf("commit 15 removes %s with dataChange=true", r.Path)
				}
			}
		case i > 0:
			if c.Operation() != "STREAMING UPDATE" || len(c.Txns) != 1 {
				t.Fatalf("commit %d: %s with txns %v", i, c.Operation(), c.Txns)
			}
		}
	}
	// Every file read back has the rows its stats count.
	for _, f := range latest.LiveFiles() {
		rows, err := parquet.ReadFile[contract.WindowRow](filepath.Join(tb.dir, "stream", filepath.FromSlash(f.Key)))
		if err != nil {
			t.Fatal(err)
		}
		if f.Stats == nil || f.Stats.NumRecords != int64(len(rows)) {
			t.Fatalf("%s: %d rows, stats %+v", f.Key, len(rows), f.Stats)
		}
	}
}

// sameState compares two snapshots of one version by what a reader uses.
func sameState(a, b *deltaread.Snapshot) string {
	if a.Version != b.Version || a.Metadata.SchemaString != b.Metadata.SchemaString ||
		fmt.Sprint(a.Protocol) != fmt.Sprint(b.Protocol) || fmt.Sprint(a.Txns) != fmt.Sprint(b.Txns) {
		return fmt.Sprintf("version/metadata/protocol/txns %d %v %v vs %d %v %v", a.Version, a.Protocol, a.Txns, b.Version, b.Protocol, b.Txns)
	}
	if len(a.Files) != len(b.Files) || len(a.Tombstones) != len(b.Tombstones) {
		return fmt.Sprintf("%d files and %d tombstones vs %d and %d", len(a.Files), len(a.Tombstones), len(b.Files), len(b.Tombstones))
	}
	for k, f := range a.Files {
		g, ok := b.Files[k]
		if !ok || f.Size != g.Size || f.StatsJSON != g.StatsJSON || fmt.Sprint(f.PartitionValues) != fmt.Sprint(g.PartitionValues) {
			return fmt.Sprintf("file %s: %+v vs %+v", k, f, g)
		}
	}
	for k := range a.Tombstones {
		if _, ok := b.Tombstones[k]; !ok {
			return "tombstone " + k + " on one side only"
		}
	}
	return ""
}

// Paths and partition values that need URL encoding: spaces, "%", "=",
// and a null partition value.
func TestURLEncodedPathsAndPartitionValues(t *testing.T) {
	st, dir := fileStore(t)
	tb := newRegionTable(t, st, dir, "")
	regions := []string{"a b", "50%", "k=v", "x/y", ""}
	var adds []delta.Add
	for i, r := range regions {
		pv := delta.PartitionValues{"region": r}
		rel := delta.PartitionPath([]string{"region"}, pv) + fmt.Sprintf("/part %d%%=x.parquet", i)
		a := put(tb, rel, pv, []regionRow{{ID: int64(i)}, {ID: int64(10 + i)}})
		adds = append(adds, a)
		tb.commit(nil, delta.Write("Append", []string{"region"}), delta.Action{Add: &a})
	}
	// Remove the "k=v" file again.
	r := delta.RemoveOf(adds[2], time.Now(), true)
	tb.commit(nil, delta.Operation{Name: "DELETE"}, delta.Action{Remove: &r})

	s := requireAgree(t, tb, -1)
	if len(s.Files) != 4 || len(s.Tombstones) != 1 {
		t.Fatalf("%d live files and %d tombstones, want 4 and 1", len(s.Files), len(s.Tombstones))
	}
	seen := map[string]bool{}
	for _, f := range s.Files {
		if !strings.Contains(f.Path, "%") {
			t.Errorf("path %q is not URL-encoded", f.Path)
		}
		// The decoded key names the file in the store, and it holds the rows.
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Key))); err != nil {
			t.Errorf("path %q decodes to %q, which is not a file: %v", f.Path, f.Key, err)
		}
		seen[f.PartitionValues["region"]] = true
	}
	for _, want := range []string{"a b", "50%", "x/y", ""} {
		if !seen[want] {
			t.Errorf("no live file with region %q (have %v)", want, seen)
		}
	}
	for _, r := range s.Tombstones {
		if !strings.HasSuffix(r.Key, "/part 2%=x.parquet") {
			t.Errorf("tombstone %q (key %q), want the k=v file", r.Path, r.Key)
		}
	}
	if got := s.Metadata.Schema; fmt.Sprint(got) != "[id long not null region string]" {
		t.Errorf("schema %v", got)
	}
}

// Log cleanup deletes the commits before the newest checkpoint older than
// the retention: the reader starts from the checkpoint and cannot go back
// further, as lake/delta.
func TestAfterLogCleanup(t *testing.T) {
	tb := streamTable(t)
	ctx := t.Context()
	old := time.Now().AddDate(0, 0, -40)
	for v := 0; v <= 15; v++ {
		p := filepath.Join(tb.dir, "stream", "_delta_log", fmt.Sprintf("%020d.json", v))
		tm := old.Add(time.Duration(v) * time.Minute)
		if err := os.Chtimes(p, tm, tm); err != nil {
			t.Fatal(err)
		}
	}
	n, err := tb.tbl.CleanupLog(ctx)
	if err != nil || n == 0 {
		t.Fatalf("CleanupLog deleted %d files: %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(tb.dir, "stream", "_delta_log", fmt.Sprintf("%020d.json", 0))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("commit 0 is still there after cleanup (%v)", err)
	}
	requireAgree(t, tb, -1)
	for v := int64(10); v <= 24; v++ {
		requireAgree(t, tb, v)
	}
	for _, v := range []int64{0, 5, 9} {
		if _, err := deltaread.At(ctx, tb.st, tb.root, v); err == nil {
			t.Fatalf("version %d read after its commits were cleaned up", v)
		}
		if _, err := tb.tbl.SnapshotAt(ctx, v); err == nil {
			t.Fatalf("lake/delta read version %d after cleanup: the readers disagree on what is readable", v)
		}
	}
	if _, err := deltaread.Read(ctx, tb.st, tb.root, deltaread.Options{Version: -1, NoCheckpoint: true}); err == nil {
		t.Fatal("a replay without checkpoints succeeded though commit 0 is gone")
	}
}

// sparkCheckpoint is lake/delta's test checkpoint laid out as Spark writes
// it (testdata/spark_checkpoint.sql there): version 10, three live files
// (one URL-encoded, one in the null partition), a tombstone, two txns.
func sparkCheckpoint(t *testing.T) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "lake", "delta", "testdata", "spark_checkpoint.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkSparkTable(t *testing.T, s *deltaread.Snapshot) {
	t.Helper()
	if s.Version != 10 || s.Checkpoint != 10 {
		t.Fatalf("version %d from checkpoint %d, want 10 from 10", s.Version, s.Checkpoint)
	}
	want := map[string]string{
		"region=eu/part-00000-1.c000.snappy.parquet":                         "eu",
		"region=a%3Db c/part-00001-2.c000.snappy.parquet":                    "a=b c",
		"region=__HIVE_DEFAULT_PARTITION__/part-00002-3.c000.snappy.parquet": "",
	}
	if len(s.Files) != len(want) {
		t.Fatalf("live files %v, want %v", s.LiveFiles(), want)
	}
	for _, f := range s.Files {
		region, ok := want[f.Key]
		if !ok || f.PartitionValues["region"] != region {
			t.Fatalf("live file %q (path %q) region %q: not one of %v", f.Key, f.Path, f.PartitionValues["region"], want)
		}
		if f.Key == "region=eu/part-00000-1.c000.snappy.parquet" &&
			(f.Size != 1000 || f.Stats == nil || f.Stats.NumRecords != 10 || fmt.Sprint(agree.Normalize(f.Stats.MaxValues)) != "map[id:10]") {
			t.Fatalf("file %s: size %d stats %+v", f.Key, f.Size, f.Stats)
		}
	}
	if len(s.Tombstones) != 1 {
		t.Fatalf("tombstones %v, want one", s.Tombstones)
	}
	if fmt.Sprint(s.Txns) != "map[query-a:41 query-b:7]" {
		t.Fatalf("txns %v", s.Txns)
	}
	if s.Protocol.MinReaderVersion != 1 || s.Protocol.MinWriterVersion != 7 || !slices.Contains(s.Protocol.WriterFeatures, "domainMetadata") {
		t.Fatalf("protocol %+v", s.Protocol)
	}
	md := s.Metadata
	if md.ID != "f00dcafe-0000-4000-8000-000000000000" || !slices.Equal(md.PartitionColumns, []string{"region"}) ||
		md.Configuration["owner"] != "spark" || md.Configuration["delta.checkpointInterval"] != "10" ||
		fmt.Sprint(md.Schema) != "[id long region string]" || md.CreatedTime != 1732100000000 {
		t.Fatalf("metadata %+v", md)
	}
}

// A checkpoint as Spark lays it out (more columns than lake/delta writes,
// stats_parsed, deletionVector), alone in the log as after cleanup.
func TestSparkCheckpoint(t *testing.T) {
	st, dir := fileStore(t)
	ctx := t.Context()
	put := func(name string, b []byte) {
		if err := st.Put(ctx, "t/_delta_log/"+name, b); err != nil {
			t.Fatal(err)
		}
	}
	put("00000000000000000010.checkpoint.parquet", sparkCheckpoint(t))
	put("_last_checkpoint", []byte(`{"version":10,"size":9}`))
	s, err := deltaread.Latest(ctx, st, "t")
	if err != nil {
		t.Fatal(err)
	}
	checkSparkTable(t, s)
	if s.CheckpointActions != 8 { // 9 rows; the domainMetadata one is not read
		t.Fatalf("%d actions read from the checkpoint, want 8", s.CheckpointActions)
	}
	tb := &table{t: t, st: st, dir: dir, root: "t", tbl: delta.NewTable(st, "t")}
	requireAgree(t, tb, -1)
}

// splitCheckpoint rewrites a checkpoint as n parts of its rows, in order,
// with its schema: a multi-part checkpoint.
func splitCheckpoint(t *testing.T, b []byte, n int) [][]byte {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var rows []parquet.Row
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			k, err := rr.ReadRows(buf)
			for _, r := range buf[:k] {
				rows = append(rows, r.Clone())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		_ = rr.Close()
	}
	out := make([][]byte, n)
	for i := range n {
		lo, hi := len(rows)*i/n, len(rows)*(i+1)/n
		var buf bytes.Buffer
		w := parquet.NewWriter(&buf, f.Schema())
		if _, err := w.WriteRows(rows[lo:hi]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}

func partName(v int64, i, n int) string {
	return fmt.Sprintf("%020d.checkpoint.%010d.%010d.parquet", v, i, n)
}

// Multi-part checkpoints: Spark's checkpoint and one of lake/delta's, each
// split in parts, read as the single file reads; a checkpoint with a part
// missing is ignored for the older complete one and the commits after it.
func TestMultiPartCheckpoints(t *testing.T) {
	ctx := t.Context()
	t.Run("spark", func(t *testing.T) {
		st, _ := fileStore(t)
		for i, p := range splitCheckpoint(t, sparkCheckpoint(t), 3) {
			if err := st.Put(ctx, "t/_delta_log/"+partName(10, i+1, 3), p); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Put(ctx, "t/_delta_log/_last_checkpoint", []byte(`{"version":10,"size":9,"parts":3}`)); err != nil {
			t.Fatal(err)
		}
		s, err := deltaread.Latest(ctx, st, "t")
		if err != nil {
			t.Fatal(err)
		}
		if s.CheckpointParts != 3 {
			t.Fatalf("read %d parts, want 3", s.CheckpointParts)
		}
		checkSparkTable(t, s)
	})
	t.Run("lake/delta", func(t *testing.T) {
		tb := streamTable(t)
		single := requireAgree(t, tb, 20)
		logDir := filepath.Join(tb.dir, "stream", "_delta_log")
		b, err := os.ReadFile(filepath.Join(logDir, fmt.Sprintf("%020d.checkpoint.parquet", 20)))
		if err != nil {
			t.Fatal(err)
		}
		// Checkpoint 20 in two parts, the classic file gone; a newer
		// checkpoint at 22 with its second part missing.
		if err := os.Remove(filepath.Join(logDir, fmt.Sprintf("%020d.checkpoint.parquet", 20))); err != nil {
			t.Fatal(err)
		}
		for i, p := range splitCheckpoint(t, b, 2) {
			if err := os.WriteFile(filepath.Join(logDir, partName(20, i+1, 2)), p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(logDir, partName(22, 1, 2)), splitCheckpoint(t, b, 2)[0], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(logDir, "_last_checkpoint"), []byte(`{"version":22,"size":3,"parts":2}`), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := deltaread.At(ctx, tb.st, tb.root, 20)
		if err != nil {
			t.Fatal(err)
		}
		if s.Checkpoint != 20 || s.CheckpointParts != 2 {
			t.Fatalf("version 20 read from checkpoint %d in %d parts, want 20 in 2", s.Checkpoint, s.CheckpointParts)
		}
		if msg := sameState(s, single); msg != "" {
			t.Fatalf("the two-part checkpoint reads unlike the classic one: %s", msg)
		}
		latest, err := deltaread.Latest(ctx, tb.st, tb.root)
		if err != nil {
			t.Fatal(err)
		}
		if latest.Checkpoint != 20 || !slices.Equal(latest.Commits, []int64{21, 22, 23, 24}) {
			t.Fatalf("latest read from checkpoint %d and commits %v: the incomplete checkpoint 22 was not ignored",
				latest.Checkpoint, latest.Commits)
		}
		full, err := deltaread.Read(ctx, tb.st, tb.root, deltaread.Options{Version: -1, NoCheckpoint: true})
		if err != nil {
			t.Fatal(err)
		}
		if msg := sameState(latest, full); msg != "" {
			t.Fatal(msg)
		}
	})
}

// What the reader refuses: features it does not implement, gaps in the log,
// invalid commits, a missing table.
func TestRefusals(t *testing.T) {
	ctx := t.Context()
	md := `{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":%s}}`
	add := `{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}`
	cases := []struct {
		name string
		log  map[int64][]string
		want string
	}{
		{"deletion vectors", map[int64][]string{0: {`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}`, fmt.Sprintf(md, `{}`)}}, "deletionVectors"},
		{"column mapping", map[int64][]string{0: {`{"protocol":{"minReaderVersion":2,"minWriterVersion":5}}`, fmt.Sprintf(md, `{"delta.columnMapping.mode":"name"}`)}}, "column mapping"},
		{"reader version 4", map[int64][]string{0: {`{"protocol":{"minReaderVersion":4,"minWriterVersion":7}}`, fmt.Sprintf(md, `{}`)}}, "reader version 4"},
		{"gap", map[int64][]string{0: {`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`, fmt.Sprintf(md, `{}`)}, 2: {add}}, "commit 1 is missing"},
		{"add twice", map[int64][]string{0: {`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`, fmt.Sprintf(md, `{}`), add, add}}, "two add actions"},
		{"add and remove", map[int64][]string{0: {`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`, fmt.Sprintf(md, `{}`), add,
			`{"remove":{"path":"a.parquet","dataChange":true}}`}}, "adds and removes the same"},
		{"no metadata", map[int64][]string{0: {`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`}}, "no metaData"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, _ := fileStore(t)
			for v, lines := range c.log {
				if err := st.Put(ctx, fmt.Sprintf("t/_delta_log/%020d.json", v), []byte(strings.Join(lines, "\n")+"\n")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := deltaread.Latest(ctx, st, "t")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	st, _ := fileStore(t)
	if _, err := deltaread.Latest(ctx, st, "nothing"); !errors.Is(err, deltaread.ErrNoTable) {
		t.Fatalf("a directory without a log: %v, want ErrNoTable", err)
	}
}
