package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// windowRows returns n distinct window rows of a day, numbered from first.
func windowRows(date string, first, n int) []contract.WindowRow {
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err)
	}
	rows := make([]contract.WindowRow, n)
	for i := range rows {
		k := first + i
		start := day.Add(time.Duration(k) * time.Minute)
		rows[i] = contract.WindowRow{WinStart: start, WinEnd: start.Add(time.Minute),
			SensorID: fmt.Sprintf("s-%02d", k%7), Eventos: int64(k), AvgTemp: 20 + float64(k%10)/10,
			AvgHum: 50, OKCount: int64(k % 3), MinTemp: 19, MaxTemp: 21 + float64(k%5)}
	}
	return rows
}

// putRows writes rows as a Parquet file at rel (under the table root) and
// returns its add, made by NewAdd.
func putRows[T any](t *testing.T, s lake.Store, tbl *delta.Table, md delta.Metadata, rel, date string, rows []T) delta.Add {
	t.Helper()
	add, err := putRowsE(t.Context(), s, tbl, md, rel, date, rows)
	if err != nil {
		t.Fatal(err)
	}
	return add
}

// putRowsE is putRows for any goroutine: it returns its error.
func putRowsE[T any](ctx context.Context, s lake.Store, tbl *delta.Table, md delta.Metadata, rel, date string, rows []T) (delta.Add, error) {
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows, parquet.Compression(&parquet.Snappy)); err != nil {
		return delta.Add{}, err
	}
	add, err := delta.NewAdd(md, rel, delta.PartitionValues{"date": date}, buf.Bytes(), time.Now(), true)
	if err != nil {
		return delta.Add{}, err
	}
	key, err := tbl.DataKey(add.Path)
	if err != nil {
		return delta.Add{}, err
	}
	return add, s.Put(ctx, key, buf.Bytes())
}

// appendFiles commits small files of window rows, files per partition,
// rowsPer rows each, in one commit, and returns their adds.
func appendFiles(t *testing.T, s lake.Store, tbl *delta.Table, prefix string, dates []string, files, rowsPer int) []delta.Add {
	t.Helper()
	snap := mustSnapshot(t, tbl)
	var adds []delta.Add
	for _, d := range dates {
		for i := range files {
			rel := fmt.Sprintf("date=%s/%s-%d.snappy.parquet", d, prefix, i)
			adds = append(adds, putRows(t, s, tbl, snap.Metadata(), rel, d, windowRows(d, 1000*i+100*int(prefix[0]-'a'), rowsPer)))
		}
	}
	if _, err := tbl.Commit(t.Context(), snap, appendCommit(adds...)); err != nil {
		t.Fatal(err)
	}
	return adds
}

// tableRows reads every row of the snapshot's live files, as a multiset of
// "partition values | column=value ..." keys, so that files of any schema
// compare.
func tableRows(t *testing.T, s lake.Store, snap *delta.Snapshot) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, a := range snap.Files() {
		for _, r := range fileRows(t, s, snap.Table(), a) {
			out[r]++
		}
	}
	return out
}

func fileRows(t *testing.T, s lake.Store, tbl *delta.Table, a delta.Add) []string {
	t.Helper()
	key, err := tbl.DataKey(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("live file %s: %v", a.Path, err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("live file %s: %v", a.Path, err)
	}
	cols := f.Schema().Columns()
	prefix := fmt.Sprint(map[string]string(a.PartitionValues)) + " |"
	var out []string
	r := parquet.NewReader(f)
	defer r.Close()
	buf := make([]parquet.Row, 16)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			var b strings.Builder
			b.WriteString(prefix)
			for _, v := range row {
				fmt.Fprintf(&b, " %s=%s", strings.Join(cols[v.Column()], "."), v)
			}
			out = append(out, b.String())
		}
		if err != nil {
			break
		}
	}
	if int64(len(out)) != f.NumRows() {
		t.Fatalf("%s: read %d rows of %d", a.Path, len(out), f.NumRows())
	}
	return out
}

func lastCommit(t *testing.T, tbl *delta.Table) delta.HistoryEntry {
	t.Helper()
	h, err := tbl.History(t.Context(), 1)
	if err != nil || len(h) != 1 {
		t.Fatalf("History: %v", err)
	}
	return h[0]
}

func filesIn(adds []delta.Add, date string) []string {
	var out []string
	for _, a := range adds {
		if a.PartitionValues["date"] == date {
			out = append(out, a.Path)
		}
	}
	slices.Sort(out)
	return out
}

var optimizedName = regexp.MustCompile(`^date=2024-11-2[01]/part-\d{5}-[0-9a-f-]{36}-c000\.zstd\.parquet$`)

// TestOptimizeCompactsSmallFiles: many small files in two partitions
// become one file per partition holding the same rows, with right stats,
// in one OPTIMIZE commit of dataChange=false removes and adds; the
// removed files stay in the store (VACUUM's job); a second run has
// nothing to do and commits nothing.
func TestOptimizeCompactsSmallFiles(t *testing.T) {
	s, _ := fileStore(t)
	tbl, _ := newStreamTable(t, s, "stream", nil)
	dates := []string{"2024-11-20", "2024-11-21"}
	appendFiles(t, s, tbl, "a", dates, 4, 10)
	appendFiles(t, s, tbl, "b", dates, 3, 5)
	before := mustSnapshot(t, tbl)
	rowsBefore := tableRows(t, s, before)

	res, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := mustSnapshot(t, tbl)
	if res.Version != before.Version()+1 || after.Version() != res.Version || res.PostCommitErr != nil {
		t.Fatalf("result %+v, table at version %d: want one commit after version %d", res, after.Version(), before.Version())
	}
	if res.Partitions != 2 || res.FilesRemoved != 14 || res.FilesAdded != 2 || after.NumFiles() != 2 ||
		res.BytesRemoved != before.SizeInBytes() || res.BytesAdded != after.SizeInBytes() {
		t.Fatalf("result %+v, %d files of %d bytes after: want 14 files of %d bytes merged into 2 in 2 partitions",
			res, after.NumFiles(), after.SizeInBytes(), before.SizeInBytes())
	}
	if m := res.Metrics; m.NumBins != 2 || m.TotalConsideredFiles != 14 || m.TotalFilesSkipped != 0 || m.NumRowsCopied != 110 ||
		m.FilesRemoved.TotalFiles != 14 || m.FilesAdded.Min > m.FilesAdded.Max || m.FilesAdded.Avg != float64(after.SizeInBytes())/2 {
		t.Fatalf("metrics %+v", m)
	}
	if got := tableRows(t, s, after); !maps.Equal(got, rowsBefore) {
		t.Fatalf("rows after OPTIMIZE differ from before: %d distinct before, %d after", len(rowsBefore), len(got))
	}
	for _, a := range after.Files() {
		if !optimizedName.MatchString(a.Path) || a.DataChange {
			t.Errorf("add %s (dataChange %v): want a Spark-named zstd file, dataChange false", a.Path, a.DataChange)
		}
		checkStats(t, s, tbl, a)
		checkCodec(t, s, tbl, a, format.Zstd)
	}
	// The removed files are tombstones with dataChange false, still stored.
	for _, r := range after.Tombstones() {
		if r.DataChange || r.DeletionTimestamp == nil {
			t.Errorf("remove %+v: want dataChange false and a deletion timestamp", r)
		}
		key, _ := tbl.DataKey(r.Path)
		if _, err := s.Stat(t.Context(), key); err != nil {
			t.Errorf("removed file %s is gone: %v (only VACUUM deletes)", r.Path, err)
		}
	}
	if len(after.Tombstones()) != 14 {
		t.Fatalf("%d tombstones, want 14", len(after.Tombstones()))
	}
	ci := lastCommit(t, tbl).CommitInfo
	if ci.Operation != "OPTIMIZE" || ci.OperationParameters["predicate"] != "[]" || ci.OperationParameters["zOrderBy"] != "[]" ||
		ci.OperationMetrics["numRemovedFiles"] != "14" || ci.OperationMetrics["numAddedFiles"] != "2" ||
		ci.OperationMetrics["numRemovedBytes"] != fmt.Sprint(before.SizeInBytes()) ||
		ci.OperationMetrics["maxFileSize"] != fmt.Sprint(res.Metrics.FilesAdded.Max) ||
		ci.IsolationLevel != delta.SnapshotIsolation || ci.IsBlindAppend == nil || *ci.IsBlindAppend {
		t.Fatalf("commitInfo %+v: want Spark's OPTIMIZE", ci)
	}

	again, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{})
	if err != nil || again.Version != -1 || again.FilesAdded != 0 || again.Metrics.TotalFilesSkipped != 2 {
		t.Fatalf("second OPTIMIZE = %+v, %v: want nothing to do", again, err)
	}
	if v := mustSnapshot(t, tbl).Version(); v != after.Version() {
		t.Fatalf("nothing to do committed version %d", v)
	}
}

// checkStats compares an add's stats with the rows of its file.
func checkStats(t *testing.T, s lake.Store, tbl *delta.Table, a delta.Add) {
	t.Helper()
	key, _ := tbl.DataKey(a.Path)
	data, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[contract.WindowRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := delta.ParseStats(a.Stats)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := rows[0].Eventos, rows[0].Eventos
	first := rows[0].WinStart
	for _, r := range rows {
		lo, hi = min(lo, r.Eventos), max(hi, r.Eventos)
		if r.WinStart.Before(first) {
			first = r.WinStart
		}
	}
	if st.NumRecords != int64(len(rows)) || st.MinValues["eventos"] != float64(lo) || st.MaxValues["eventos"] != float64(hi) ||
		st.MinValues["win_start"] != first.UTC().Format("2006-01-02T15:04:05.000Z") || st.NullCount["sensor_id"] != float64(0) {
		t.Errorf("%s: stats %s; the file holds %d rows, eventos %d..%d, win_start from %s", a.Path, a.Stats, len(rows), lo, hi, first)
	}
	if a.Size != int64(len(data)) {
		t.Errorf("%s: size %d, the file has %d bytes", a.Path, a.Size, len(data))
	}
}

func checkCodec(t *testing.T, s lake.Store, tbl *delta.Table, a delta.Add, want format.CompressionCodec) {
	t.Helper()
	key, _ := tbl.DataKey(a.Path)
	data, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != want {
				t.Fatalf("%s: column %v compressed with %v, want %v", a.Path, c.MetaData.PathInSchema, c.MetaData.Codec, want)
			}
		}
	}
}

// TestOptimizePacksBinsUpToTheTarget: files are packed, smallest first,
// into bins of at most TargetFileSize bytes; a file left alone in its bin
// and files not smaller than the target are not rewritten; a partition
// with fewer than MinFiles small files is left alone.
func TestOptimizePacksBinsUpToTheTarget(t *testing.T) {
	s, _ := fileStore(t)
	tbl, _ := newStreamTable(t, s, "stream", nil)
	small := appendFiles(t, s, tbl, "s", []string{"2024-11-20"}, 7, 20)
	// Sizes within a few percent of each other: a bin of 2*max bytes holds
	// exactly two of them.
	lo, hi := small[0].Size, small[0].Size
	for _, a := range small {
		lo, hi = min(lo, a.Size), max(hi, a.Size)
	}
	if 3*lo <= 2*hi {
		t.Fatalf("file sizes %d..%d too far apart for this test", lo, hi)
	}
	target := 2 * hi
	big := putRows(t, s, tbl, mustSnapshot(t, tbl).Metadata(), "date=2024-11-20/big.parquet", "2024-11-20", windowRows("2024-11-20", 5000, 200))
	if big.Size < target {
		t.Fatalf("big file of %d bytes is below the target %d", big.Size, target)
	}
	lonely := appendFiles(t, s, tbl, "l", []string{"2024-11-21"}, 2, 20) // 2 small files, MinFiles 3
	snap := mustSnapshot(t, tbl)
	if _, err := tbl.Commit(t.Context(), snap, appendCommit(big)); err != nil {
		t.Fatal(err)
	}
	before := mustSnapshot(t, tbl)
	res, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{TargetFileSize: target, MinFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	after := mustSnapshot(t, tbl)
	if res.FilesAdded != 3 || res.FilesRemoved != 6 || res.Partitions != 1 || res.Metrics.TotalFilesSkipped != 4 {
		t.Fatalf("result %+v: want 6 of the 7 small files merged two by two, the 7th, the big one and the lonely partition's 2 skipped", res)
	}
	kept := map[string]bool{}
	for _, a := range after.Files() {
		kept[a.Path] = true
	}
	if !kept[big.Path] || !kept[lonely[0].Path] || !kept[lonely[1].Path] {
		t.Fatalf("files after %q: want the big file and the lonely partition's untouched", paths(after.Files()))
	}
	leftAlone := 0
	for _, a := range small {
		if kept[a.Path] {
			leftAlone++
		}
	}
	if leftAlone != 1 {
		t.Fatalf("%d of the 7 small files untouched, want 1 (alone in its bin)", leftAlone)
	}
	if got, want := tableRows(t, s, after), tableRows(t, s, before); !maps.Equal(got, want) {
		t.Fatal("rows changed")
	}
}

// TestOptimizeWhereLeavesOtherPartitionsAlone: a partition filter limits
// the rewrite to the partitions it selects, and commitInfo records it.
func TestOptimizeWhereLeavesOtherPartitionsAlone(t *testing.T) {
	s, _ := fileStore(t)
	tbl, _ := newStreamTable(t, s, "stream", nil)
	adds := appendFiles(t, s, tbl, "a", []string{"2024-11-20", "2024-11-21", "2024-11-22"}, 3, 5)
	before := mustSnapshot(t, tbl)
	where, err := delta.ParsePartitionFilter(before.Metadata(), "date = '2024-11-21'")
	if err != nil {
		t.Fatal(err)
	}
	res, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{Where: where, Predicate: "date = '2024-11-21'"})
	if err != nil {
		t.Fatal(err)
	}
	after := mustSnapshot(t, tbl)
	if res.FilesRemoved != 3 || res.FilesAdded != 1 || res.Metrics.TotalConsideredFiles != 3 {
		t.Fatalf("result %+v: want the 3 files of 2024-11-21 merged, only they considered", res)
	}
	for _, d := range []string{"2024-11-20", "2024-11-22"} {
		if got, want := filesIn(after.Files(), d), filesIn(adds, d); !slices.Equal(got, want) {
			t.Errorf("partition %s: files %q after, want %q untouched", d, got, want)
		}
	}
	if got := filesIn(after.Files(), "2024-11-21"); len(got) != 1 || !optimizedName.MatchString(got[0]) {
		t.Errorf("partition 2024-11-21: files %q, want one merged file", got)
	}
	if got, want := tableRows(t, s, after), tableRows(t, s, before); !maps.Equal(got, want) {
		t.Fatal("rows changed")
	}
	if p := lastCommit(t, tbl).CommitInfo.OperationParameters["predicate"]; p != `["date = '2024-11-21'"]` {
		t.Fatalf("predicate %s, want the where clause as a JSON array", p)
	}
}

// TestOptimizeKeepsSchemasApart: files whose Parquet schemas differ are
// merged only with files of their own schema.
func TestOptimizeKeepsSchemasApart(t *testing.T) {
	type nested struct {
		Tags  []string         `parquet:"tags,list"`
		Attrs map[string]int64 `parquet:"attrs"`
		Maybe *int64           `parquet:"maybe,optional"`
	}
	type narrow struct {
		SensorID string `parquet:"sensor_id"`
		Eventos  int64  `parquet:"eventos"`
	}
	s, _ := fileStore(t)
	tbl, snap := newStreamTable(t, s, "stream", nil)
	md := snap.Metadata()
	var adds []delta.Add
	for i := range 3 {
		adds = append(adds, putRows(t, s, tbl, md, fmt.Sprintf("date=2024-11-21/w%d.parquet", i), "2024-11-21", windowRows("2024-11-21", 10*i, 4)))
	}
	for i := range 2 {
		adds = append(adds, putRows(t, s, tbl, md, fmt.Sprintf("date=2024-11-21/n%d.parquet", i), "2024-11-21",
			[]narrow{{fmt.Sprintf("n-%d", i), int64(i)}, {"x", 100}}))
	}
	for i := range 2 { // lists, maps and optional values keep their shape
		adds = append(adds, putRows(t, s, tbl, md, fmt.Sprintf("date=2024-11-21/x%d.parquet", i), "2024-11-21",
			[]nested{{Tags: []string{"a", fmt.Sprint(i)}, Attrs: map[string]int64{"k": int64(i)}, Maybe: p(int64(i))}, {}, {Tags: []string{}}}))
	}
	if _, err := tbl.Commit(t.Context(), snap, appendCommit(adds...)); err != nil {
		t.Fatal(err)
	}
	before := mustSnapshot(t, tbl)
	res, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := mustSnapshot(t, tbl)
	if res.FilesAdded != 3 || res.FilesRemoved != 7 {
		t.Fatalf("result %+v: want one file per schema", res)
	}
	for _, a := range after.Files() {
		st, _ := delta.ParseStats(a.Stats)
		if st.NumRecords != 12 && st.NumRecords != 4 && st.NumRecords != 6 {
			t.Errorf("%s holds %d rows: want 12 (the wide files), 4 (the narrow ones) or 6 (the nested ones), not a mix", a.Path, st.NumRecords)
		}
		if st.NumRecords == 6 { // read back through the Go type: same shape
			key, _ := tbl.DataKey(a.Path)
			data, _ := s.Get(t.Context(), key)
			got, err := parquet.Read[nested](bytes.NewReader(data), int64(len(data)))
			full, empty := 0, 0
			for _, r := range got {
				switch {
				case r.Maybe == nil && len(r.Tags) == 0 && len(r.Attrs) == 0:
					empty++
				case r.Maybe != nil && len(r.Tags) == 2 && r.Tags[1] == fmt.Sprint(*r.Maybe) && r.Attrs["k"] == *r.Maybe:
					full++
				}
			}
			if err != nil || full != 2 || empty != 4 {
				t.Errorf("nested rows read back: %+v, %v; want 2 full rows and 4 empty ones", got, err)
			}
		}
	}
	if got, want := tableRows(t, s, after), tableRows(t, s, before); !maps.Equal(got, want) {
		t.Fatal("rows changed")
	}
}

// TestOptimizeWithCheckpointAndRemoves: OPTIMIZE of a table read through a
// checkpoint, with a file deleted earlier: the deleted file is not
// resurrected, and the OPTIMIZE commit's own checkpoint reads the same.
func TestOptimizeWithCheckpointAndRemoves(t *testing.T) {
	s, _ := fileStore(t)
	tbl, _ := newStreamTable(t, s, "stream", map[string]string{delta.PropCheckpointInterval: "3"})
	appendFiles(t, s, tbl, "a", []string{"2024-11-20", "2024-11-21"}, 2, 5) // v1
	appendFiles(t, s, tbl, "b", []string{"2024-11-20", "2024-11-21"}, 2, 5) // v2
	snap := mustSnapshot(t, tbl)
	gone := delta.RemoveOf(snap.Files()[0], time.Now(), true)
	if res, err := tbl.Commit(t.Context(), snap, delta.Commit{Operation: delta.Operation{Name: "DELETE"},
		Actions: []delta.Action{{Remove: &gone}}}); err != nil || !res.Checkpointed { // v3
		t.Fatalf("DELETE: %+v, %v; want a checkpoint", res, err)
	}
	appendFiles(t, s, tbl, "c", []string{"2024-11-21"}, 2, 5) // v4
	appendFiles(t, s, tbl, "d", []string{"2024-11-20"}, 1, 5) // v5
	before := mustSnapshot(t, tbl)
	rows := tableRows(t, s, before)
	res, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 6 || res.FilesRemoved != before.NumFiles() || res.FilesAdded != 2 {
		t.Fatalf("result %+v: want version 6 merging all %d files into 2", res, before.NumFiles())
	}
	after := mustSnapshot(t, tbl)
	for _, a := range after.Files() {
		if a.Path == gone.Path {
			t.Fatalf("deleted file %s is live again", gone.Path)
		}
	}
	if got := tableRows(t, s, after); !maps.Equal(got, rows) {
		t.Fatal("rows changed")
	}
	// Read from version 6's checkpoint alone.
	for v := range int64(6) {
		if err := s.Delete(t.Context(), "stream/_delta_log/"+commitName(v)); err != nil {
			t.Fatal(err)
		}
	}
	fromCkpt := mustSnapshot(t, delta.NewTable(s, "stream"))
	if !slices.Equal(paths(fromCkpt.Files()), paths(after.Files())) || len(fromCkpt.Tombstones()) != len(after.Tombstones()) {
		t.Fatalf("from the checkpoint: files %q, %d tombstones; want %q, %d",
			paths(fromCkpt.Files()), len(fromCkpt.Tombstones()), paths(after.Files()), len(after.Tombstones()))
	}
}

// TestOptimizeWithNothingToDo commits nothing and writes nothing.
func TestOptimizeWithNothingToDo(t *testing.T) {
	s, _ := fileStore(t)
	tbl, empty := newStreamTable(t, s, "stream", nil)
	res, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{})
	if err != nil || res.Version != -1 || res.Metrics.TotalConsideredFiles != 0 {
		t.Fatalf("OPTIMIZE of an empty table = %+v, %v; want nothing to do", res, err)
	}
	appendFiles(t, s, tbl, "a", []string{"2024-11-20", "2024-11-21"}, 1, 5)
	before := mustSnapshot(t, tbl)
	objs, _ := s.List(t.Context(), "stream/date=")
	res, err = tbl.Optimize(t.Context(), delta.OptimizeOptions{})
	if err != nil || res.Version != -1 || res.FilesAdded != 0 || res.Metrics.TotalFilesSkipped != 2 {
		t.Fatalf("OPTIMIZE of one file per partition = %+v, %v; want nothing to do", res, err)
	}
	after := mustSnapshot(t, tbl)
	objsAfter, _ := s.List(t.Context(), "stream/date=")
	if after.Version() != before.Version() || len(objsAfter) != len(objs) || empty.Version() != 0 {
		t.Fatalf("nothing to do: version %d -> %d, %d -> %d data objects", before.Version(), after.Version(), len(objs), len(objsAfter))
	}
	if _, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{TargetFileSize: -1}); err == nil {
		t.Fatal("a negative target size was accepted")
	}
}

// hookStore runs a function once, just before the first commit file a
// writer tries to create: the moment another writer can win the race.
type hookStore struct {
	lake.Store
	mu     sync.Mutex
	before func()
}

func (h *hookStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if strings.Contains(key, "_delta_log/") && strings.HasSuffix(key, ".json") {
		h.mu.Lock()
		f := h.before
		h.before = nil
		h.mu.Unlock()
		if f != nil {
			f()
		}
	}
	return h.Store.PutIfAbsent(ctx, key, data)
}

// TestOptimizeAndAppendBothLand (file store; MinIO in minio_test.go).
func TestOptimizeAndAppendBothLand(t *testing.T) {
	s, _ := fileStore(t)
	optimizeRacesAppend(t, s)
}

// optimizeRacesAppend: a streaming append (blind, with a txn) that commits
// while OPTIMIZE rewrites the same partition, first before OPTIMIZE's
// commit, then after OPTIMIZE read the table: both commits land, OPTIMIZE
// never removes the appended file, and every row is there once.
func optimizeRacesAppend(t *testing.T, s lake.Store) {
	dates := []string{"2024-11-20", "2024-11-21"}
	// streamBatch commits one streaming micro-batch (a file and a txn) read
	// at snap; it is safe in any goroutine.
	streamBatchE := func(ctx context.Context, tbl *delta.Table, snap *delta.Snapshot, batch int64) (delta.Add, int64, error) {
		add, err := putRowsE(ctx, s, tbl, snap.Metadata(), fmt.Sprintf("date=2024-11-21/batch-%d.parquet", batch), "2024-11-21",
			windowRows("2024-11-21", 9000+100*int(batch), 3))
		if err != nil {
			return add, 0, err
		}
		c := delta.Commit{Operation: delta.StreamingUpdate("Append", "query-1", batch),
			Actions: []delta.Action{{Add: &add}, {Txn: &delta.Txn{AppID: "query-1", Version: batch}}}}
		res, err := tbl.Commit(ctx, snap, c)
		if err != nil {
			return add, 0, fmt.Errorf("streaming batch %d: %w", batch, err)
		}
		return add, res.Version, nil
	}
	streamBatch := func(tbl *delta.Table, snap *delta.Snapshot, batch int64) (delta.Add, int64) {
		t.Helper()
		add, v, err := streamBatchE(t.Context(), tbl, snap, batch)
		if err != nil {
			t.Fatal(err)
		}
		return add, v
	}

	t.Run("append commits first", func(t *testing.T) {
		stream := delta.NewTable(s, "race1")
		newStreamTableOn(t, stream)
		appendFiles(t, s, stream, "a", dates, 3, 5)
		hs := &hookStore{Store: s}
		opt := delta.NewTable(hs, "race1")
		var appended delta.Add
		var appendedAt int64
		hs.before = func() { appended, appendedAt = streamBatch(stream, mustSnapshot(t, stream), 0) }
		before := mustSnapshot(t, stream)
		res, err := opt.Optimize(t.Context(), delta.OptimizeOptions{})
		if err != nil {
			t.Fatalf("OPTIMIZE after a concurrent append: %v", err)
		}
		if appendedAt != before.Version()+1 || res.Version != appendedAt+1 || res.FilesRemoved != 6 {
			t.Fatalf("append at %d, OPTIMIZE %+v: want the append at %d, OPTIMIZE after it removing the 6 files it read",
				appendedAt, res, before.Version()+1)
		}
		checkBothLanded(t, s, stream, before, appended)
	})

	t.Run("optimize commits first", func(t *testing.T) {
		stream := delta.NewTable(s, "race2")
		newStreamTableOn(t, stream)
		appendFiles(t, s, stream, "a", dates, 3, 5)
		before := mustSnapshot(t, stream)
		res, err := delta.NewTable(s, "race2").Optimize(t.Context(), delta.OptimizeOptions{})
		if err != nil || res.Version != before.Version()+1 {
			t.Fatalf("OPTIMIZE: %+v, %v", res, err)
		}
		appended, v := streamBatch(stream, before, 0) // read before OPTIMIZE committed
		if v != res.Version+1 {
			t.Fatalf("append landed at %d, want %d", v, res.Version+1)
		}
		checkBothLanded(t, s, stream, before, appended)
	})

	t.Run("while batches keep coming", func(t *testing.T) {
		stream := delta.NewTable(s, "race3")
		newStreamTableOn(t, stream)
		appendFiles(t, s, stream, "a", dates, 4, 5)
		before := mustSnapshot(t, stream)
		const batches = 12
		added := make(chan delta.Add, batches)
		var wg sync.WaitGroup
		wg.Go(func() {
			for b := range int64(batches) {
				snap, err := stream.Snapshot(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				a, _, err := streamBatchE(t.Context(), stream, snap, b)
				if err != nil {
					t.Error(err)
					return
				}
				added <- a
			}
		})
		res, err := delta.NewTable(s, "race3").Optimize(t.Context(), delta.OptimizeOptions{})
		wg.Wait()
		close(added)
		if t.Failed() {
			return
		}
		if err != nil || res.Version < 0 {
			t.Fatalf("OPTIMIZE while appending: %+v, %v", res, err)
		}
		after := mustSnapshot(t, stream)
		want := tableRows(t, s, before)
		for a := range added {
			for _, r := range fileRows(t, s, stream, a) {
				want[r]++
			}
		}
		if got := tableRows(t, s, after); !maps.Equal(got, want) {
			t.Fatalf("rows: %d distinct, want %d", len(got), len(want))
		}
		if v, ok := after.TxnVersion("query-1"); !ok || v != batches-1 || after.Version() != before.Version()+batches+1 {
			t.Fatalf("version %d, txn %d: want %d commits after version %d, the last batch %d", after.Version(), v, batches+1, before.Version(), batches-1)
		}
	})
}

func newStreamTableOn(t *testing.T, tbl *delta.Table) {
	t.Helper()
	md, err := tbl.NewMetadata(windowSchema(t), []string{"date"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Commit(t.Context(), nil, delta.Commit{Operation: delta.Operation{Name: "CREATE TABLE"},
		Actions: []delta.Action{{Metadata: &md}}}); err != nil {
		t.Fatal(err)
	}
}

// checkBothLanded: the table holds the rows read before, plus the appended
// file's, each once, and the appended file is live.
func checkBothLanded(t *testing.T, s lake.Store, tbl *delta.Table, before *delta.Snapshot, appended delta.Add) {
	t.Helper()
	after := mustSnapshot(t, tbl)
	want := tableRows(t, s, before)
	for _, r := range fileRows(t, s, tbl, appended) {
		want[r]++
	}
	if got := tableRows(t, s, after); !maps.Equal(got, want) {
		t.Fatalf("rows: %d distinct, want %d (those before and the appended ones, once each)", len(got), len(want))
	}
	if !slices.Contains(paths(after.Files()), appended.Path) {
		t.Fatalf("appended file %s is not live: %q", appended.Path, paths(after.Files()))
	}
	if v, ok := after.TxnVersion("query-1"); !ok || v != 0 {
		t.Fatalf("txn of query-1 = %d %v, want 0", v, ok)
	}
}

// TestConcurrentOptimizesOneConflicts: two OPTIMIZEs of the same files:
// the second to commit gets a ConflictError (both remove the same
// files), deletes what it wrote, and no row or live file is lost.
func TestConcurrentOptimizesOneConflicts(t *testing.T) {
	s, _ := fileStore(t)
	tbl, _ := newStreamTable(t, s, "stream", nil)
	appendFiles(t, s, tbl, "a", []string{"2024-11-20", "2024-11-21"}, 3, 5)
	before := mustSnapshot(t, tbl)
	hs := &hookStore{Store: s}
	var other delta.OptimizeResult
	var otherErr error
	hs.before = func() { other, otherErr = delta.NewTable(s, "stream").Optimize(t.Context(), delta.OptimizeOptions{}) }
	_, err := delta.NewTable(hs, "stream").Optimize(t.Context(), delta.OptimizeOptions{})
	if otherErr != nil || other.Version != before.Version()+1 {
		t.Fatalf("the first OPTIMIZE: %+v, %v", other, otherErr)
	}
	var ce *delta.ConflictError
	if !errors.As(err, &ce) || ce.Kind != "ConcurrentDeleteDelete" || !errors.Is(err, delta.ErrConflict) {
		t.Fatalf("the second OPTIMIZE = %v, want a ConcurrentDeleteDelete conflict", err)
	}
	after := mustSnapshot(t, tbl)
	if after.Version() != other.Version {
		t.Fatalf("table at version %d, want %d (the loser committed nothing)", after.Version(), other.Version)
	}
	if got, want := tableRows(t, s, after), tableRows(t, s, before); !maps.Equal(got, want) {
		t.Fatal("rows changed")
	}
	// In the store: the inputs (tombstones now) and the winner's outputs;
	// the loser's outputs are gone.
	objs, err := s.List(t.Context(), "stream/date=")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, "stream/"))
	}
	want := append(paths(before.Files()), paths(after.Files())...)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("data objects %q, want the inputs and the winner's outputs %q", keys, want)
	}
}
