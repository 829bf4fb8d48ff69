package compact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
)

const streamQuery = "7f3c9a1e-0000-4000-8000-000000000001"

var day0 = time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)

func fileLake(t testing.TB) lake.Store {
	t.Helper()
	s, err := lake.Open(context.Background(), "file://"+t.TempDir(), lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// streamer commits window files as the streamer's sink does: one file per
// batch and date, then the batch's sink-log entry.
type streamer struct {
	s     lake.Store
	batch int64
}

// commitBatch writes batch b's rows: nSensors sensors in one 10 s window of
// the given day, the window index following the batch number.
func (st *streamer) commitBatch(t testing.TB, day time.Time, nSensors int) {
	t.Helper()
	ws := day.Add(time.Duration(st.batch) * 10 * time.Second)
	rows := make([]contract.WindowRow, nSensors)
	for i := range rows {
		rows[i] = contract.WindowRow{
			WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: fmt.Sprintf("S%03d", i+1),
			Eventos: int64(10 + i), AvgTemp: 20 + float64(st.batch%7) + float64(i)/10, AvgHum: 50 + float64(i%5),
			OKCount: int64(9 + i), MinTemp: 18, MaxTemp: 30,
		}
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows, parquet.Compression(&parquet.Zstd)); err != nil {
		t.Fatal(err)
	}
	key := contract.StreamFileKey(contract.PartitionDate(ws), streamQuery, st.batch, 0)
	ctx := context.Background()
	if err := st.s.Put(ctx, key, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	entry, _ := json.Marshal(contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: streamQuery, BatchID: st.batch,
		Files: []contract.SinkFile{{Path: key, Rows: int64(len(rows)), Size: int64(buf.Len())}}})
	if err := st.s.Put(ctx, contract.SinkLogKey(streamQuery, st.batch), entry); err != nil {
		t.Fatal(err)
	}
	st.batch++
}

// rowID identifies a window row: (window, sensor) is unique in the table.
func rowID(r contract.WindowRow) string {
	return fmt.Sprintf("%d/%s/%d", r.WinStart.UnixMilli(), r.SensorID, r.Eventos)
}

func readFileRows(t testing.TB, s lake.Store, key string) []contract.WindowRow {
	t.Helper()
	data, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	rows, err := parquet.Read[contract.WindowRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("decode %s: %v", key, err)
	}
	return rows
}

// logView is what a sink-log reader (the batcher) sees: the rows of the
// committed files, by row id, with their multiplicity. The checkpointed read
// must fold to what the whole log folds to.
func logView(t testing.TB, s lake.Store) map[string]int {
	t.Helper()
	files, err := lake.CommittedStreamFiles(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	// On a trimmed log (log retention) the whole log is gone; the rows
	// below are still checked against what was committed.
	all, err := lake.ReadSinkLog(context.Background(), s)
	if errors.Is(err, lake.ErrSinkLogTrimmed) {
		all = nil
	} else if err != nil {
		t.Fatal(err)
	}
	if full := contract.CommittedFiles(all); all != nil && !slices.Equal(files, full) {
		t.Fatalf("the checkpointed sink log folds to %d files, the whole log (%d entries) to %d:\n%+v\n%+v", len(files), len(all), len(full), files, full)
	}
	view := map[string]int{}
	for _, f := range files {
		for _, r := range readFileRows(t, s, f.Path) {
			view[rowID(r)]++
		}
	}
	return view
}

// dirView is what a plain directory reader sees: every Parquet file under
// stream/ whose path has no segment starting with "_" or ".", as Spark skips
// them (DuckDB's stream/**/*.parquet sees the same files: none is hidden).
func dirView(t testing.TB, s lake.Store) map[string]int {
	t.Helper()
	objs, err := s.List(context.Background(), contract.StreamPrefix)
	if err != nil {
		t.Fatal(err)
	}
	view := map[string]int{}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".parquet") || strings.Contains(o.Key, "/_") || strings.Contains(o.Key, "/.") {
			continue
		}
		for _, r := range readFileRows(t, s, o.Key) {
			view[rowID(r)]++
		}
	}
	return view
}

// checkReaders asserts the compaction's promise at one instant: a log reader
// sees exactly the rows committed, once each; a directory reader never sees
// a row twice nor a row that was never committed (it may miss some while a
// partition is being swapped).
func checkReaders(t testing.TB, s lake.Store, want map[string]int, when string) (dirMissing int) {
	t.Helper()
	if got := logView(t, s); !equalViews(got, want) {
		t.Fatalf("%s: a sink-log reader sees %d distinct rows (%d in all), want %d once each", when, len(got), total(got), len(want))
	}
	for id, n := range dirView(t, s) {
		if n > 1 {
			t.Fatalf("%s: a directory reader sees row %s %d times", when, id, n)
		}
		if want[id] == 0 {
			t.Fatalf("%s: a directory reader sees row %s that was never committed", when, id)
		}
	}
	return len(want) - len(dirView(t, s))
}

func equalViews(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func total(v map[string]int) int {
	n := 0
	for _, c := range v {
		n += c
	}
	return n
}

func opts() Options {
	o := DefaultOptions()
	o.Grace = 0
	o.MinFiles = 4
	o.LogCheckpointEvery = 2
	return o
}

// loadLog reads the sink log as readers do, failing on an unusable checkpoint.
func loadLog(t testing.TB, s lake.Store) *lake.SinkLog {
	t.Helper()
	sl, err := lake.LoadSinkLog(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if sl.CheckpointErr != nil {
		t.Fatalf("checkpoint unusable: %v", sl.CheckpointErr)
	}
	return sl
}

// checkpoints lists the sink log's checkpoint keys.
func checkpoints(t testing.TB, s lake.Store) []string {
	t.Helper()
	objs, err := s.List(context.Background(), contract.SinkLogCheckpointPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

func dataFiles(t testing.TB, s lake.Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".parquet") {
			keys = append(keys, o.Key)
		}
	}
	return keys
}

func TestCompactMergesEachPartitionsSmallFilesIntoOne(t *testing.T) {
	s := fileLake(t)
	st := &streamer{s: s}
	for range 12 {
		st.commitBatch(t, day0, 20)
	}
	for range 3 { // too few files on this day: left alone
		st.commitBatch(t, day0.Add(24*time.Hour-10*time.Second*12), 20)
	}
	want := logView(t, s)
	o := opts()
	o.LogRetention = false // the whole log stays: a damaged checkpoint is read around below
	before, err := consolidate.Run(context.Background(), s, 0)
	if err != nil {
		t.Fatal(err)
	}

	res, err := Run(context.Background(), s, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Partitions != 1 || res.FilesIn != 12 || res.FilesOut != 1 || res.Rows != 12*20 {
		t.Fatalf("result %+v: want 1 partition, 12 files into 1, 240 rows", res)
	}
	// The run changed the table: it checkpointed the sink log, all of it
	// (15 streamer batches, the compaction's stage and publish entries).
	if res.Checkpoint != contract.SinkLogCheckpointKey(0) || res.CheckpointEntries != 17 {
		t.Fatalf("result %+v: want checkpoint 0 folding the 17 entries", res)
	}
	if sl := loadLog(t, s); sl.CheckpointKey != res.Checkpoint || len(sl.Entries) != 0 || sl.Listed != 17 {
		t.Fatalf("readers read checkpoint %q and %d of %d entries, want checkpoint 0 and none", sl.CheckpointKey, len(sl.Entries), sl.Listed)
	}
	checkReaders(t, s, want, "after compaction")
	if got := dirView(t, s); !equalViews(got, want) {
		t.Fatalf("after compaction a directory reader sees %d rows, want %d", len(got), len(want))
	}
	day1 := dataFiles(t, s, contract.StreamPrefix+"date="+contract.PartitionDate(day0)+"/")
	if len(day1) != 1 || !strings.Contains(day1[0], "-compacti.parquet") {
		t.Fatalf("day 1 holds %q, want one compacted file", day1)
	}
	if left := dataFiles(t, s, StagingPrefix); len(left) != 0 {
		t.Fatalf("staged files left behind: %q", left)
	}
	// The batcher computes the same consolidation from the compacted lake.
	after, err := consolidate.Run(context.Background(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Files != 4 || before.Files != 15 {
		t.Fatalf("the batcher read %d files before and %d after, want 15 and 4", before.Files, after.Files)
	}
	if before.LogCheckpoint != "" || before.LogEntriesRead != 15 || after.LogCheckpoint != res.Checkpoint || after.LogEntriesRead != 0 {
		t.Fatalf("the batcher read checkpoint %q + %d entries before, %q + %d after; want none + 15, then the checkpoint alone",
			before.LogCheckpoint, before.LogEntriesRead, after.LogCheckpoint, after.LogEntriesRead)
	}
	sameBatchRows(t, before.Rows, after.Rows)

	// A second run has nothing to do, not even a checkpoint.
	if res, err := Run(context.Background(), s, o); err != nil || res.Partitions != 0 || res.Resumed != 0 || res.Checkpoint != "" {
		t.Fatalf("second run: %+v, %v; want nothing done", res, err)
	}

	// Without the checkpoint (a reader that finds it damaged reads the
	// whole log), the batcher computes the same consolidation.
	if err := s.Put(context.Background(), res.Checkpoint, []byte(`{"version":1,`)); err != nil {
		t.Fatal(err)
	}
	full, err := consolidate.Run(context.Background(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if full.LogCheckpointErr == nil || full.LogEntriesRead != 17 || full.Files != 4 {
		t.Fatalf("with a damaged checkpoint the batcher read %d entries and %d files (err %v), want the whole log: 17 entries, 4 files",
			full.LogEntriesRead, full.Files, full.LogCheckpointErr)
	}
	sameBatchRows(t, after.Rows, full.Rows)
	// The next compaction run replaces the damaged checkpoint, though it
	// has nothing to compact.
	if res, err := Run(context.Background(), s, o); err != nil || res.Checkpoint != contract.SinkLogCheckpointKey(1) || res.CheckpointsDeleted != 1 {
		t.Fatalf("run after the damage: %+v, %v; want checkpoint 1 written and the damaged one deleted", res, err)
	}
	if sl := loadLog(t, s); len(sl.Entries) != 0 {
		t.Fatalf("after the new checkpoint readers read %d entries", len(sl.Entries))
	}
}

func sameBatchRows(t *testing.T, a, b []contract.BatchRow) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d consolidated rows, then %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.SensorID != y.SensorID || x.TotalEventos != y.TotalEventos || x.OKTotal != y.OKTotal || x.Ventanas != y.Ventanas ||
			math.Abs(x.AvgTempGlobal-y.AvgTempGlobal) > 1e-9 || math.Abs(x.AvgHumGlobal-y.AvgHumGlobal) > 1e-9 {
			t.Fatalf("consolidated row %d: %+v before compaction, %+v after", i, x, y)
		}
	}
}

// hookStore calls before ahead of every write or delete: tests interleave a
// streamer's commits with the compaction's steps, check what readers see
// between the steps, and simulate a crash by failing one of them. A crash
// right after a step is failAfter returning an error once the step is done.
// Writes and deletes run one at a time, hooks included (log retention
// deletes entries concurrently): each is one step of some sequential order.
type hookStore struct {
	lake.Store
	before    func(op, key string) error
	after     func(op, key string)       // optional
	failAfter func(op, key string) error // optional
	mu        sync.Mutex
}

var errCrash = errors.New("simulated crash")

func (h *hookStore) Put(ctx context.Context, key string, data []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.before("put", key); err != nil {
		return err
	}
	err := h.Store.Put(ctx, key, data)
	if h.after != nil && err == nil {
		h.after("put", key)
	}
	if h.failAfter != nil && err == nil {
		return h.failAfter("put", key)
	}
	return err
}

func (h *hookStore) Delete(ctx context.Context, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.before("delete", key); err != nil {
		return err
	}
	err := h.Store.Delete(ctx, key)
	if h.failAfter != nil && err == nil {
		return h.failAfter("delete", key)
	}
	return err
}

// TestReadersBetweenEveryStepWhileTheStreamerWrites checks both readers
// before every write and delete of a compaction, while the streamer commits a
// new batch into the partition being compacted at each of those instants.
func TestReadersBetweenEveryStepWhileTheStreamerWrites(t *testing.T) {
	s := fileLake(t)
	st := &streamer{s: s}
	for range 10 {
		st.commitBatch(t, day0, 5)
	}
	steps, missWindow, missed, checkpointed, sinceCheckpoint, trims := 0, false, 0, false, 0, 0
	hs := &hookStore{Store: s, before: func(op, key string) error {
		if op == "put" && strings.HasPrefix(key, contract.SinkLogCheckpointPrefix) {
			checkpointed = true
		}
		if checkpointed {
			sinceCheckpoint++
		}
		if op == "delete" && strings.HasPrefix(key, contract.SinkLogPrefix) {
			trims++
		}
		want := logView(t, s)
		if n := checkReaders(t, s, want, fmt.Sprintf("before %s %s", op, key)); n > 0 {
			if !missWindow {
				t.Fatalf("before %s %s: a directory reader misses %d rows outside the window between deleting the small files and publishing the merged one", op, key, n)
			}
			missed++
		}
		switch {
		case op == "delete" && strings.HasPrefix(key, contract.StreamPrefix):
			missWindow = true
		case op == "put" && strings.HasPrefix(key, contract.StreamPrefix+"date="):
			missWindow = false // the merged file is published
		}
		st.commitBatch(t, day0, 5)
		steps++
		return nil
	}}
	res, err := Run(context.Background(), hs, opts())
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesIn != 10 {
		t.Fatalf("compacted %d files, want the 10 committed when it started", res.FilesIn)
	}
	want := logView(t, s)
	if len(want) != (10+steps)*5 {
		t.Fatalf("log reader sees %d rows, want the %d rows of %d batches", len(want), (10+steps)*5, 10+steps)
	}
	checkReaders(t, s, want, "after compaction")
	if got := dirView(t, s); !equalViews(got, want) {
		t.Fatalf("after compaction a directory reader sees %d rows, want %d", len(got), len(want))
	}
	if missed == 0 {
		t.Fatal("no step fell between deleting the small files and publishing: the test checked nothing there")
	}
	// The run checkpointed the log as it listed it, before the streamer's
	// commit just ahead of the checkpoint's Put: readers read that entry and
	// the ones committed during log retention, which deleted every entry the
	// checkpoint covers but the newest of each query (the streamer's is
	// covered only if it committed nothing since).
	if !checkpointed || res.Checkpoint == "" {
		t.Fatalf("result %+v: the run wrote no sink-log checkpoint", res)
	}
	sl := loadLog(t, s)
	if sl.CheckpointKey != res.Checkpoint || len(sl.Entries) != sinceCheckpoint || sl.Entries[len(sl.Entries)-1].BatchID != st.batch-1 {
		t.Fatalf("readers read checkpoint %q and %d entries, want %q and the streamer's %d last batches", sl.CheckpointKey, len(sl.Entries), res.Checkpoint, sinceCheckpoint)
	}
	if res.LogEntriesDeleted == 0 || res.LogEntriesDeleted != trims || sl.Listed != sinceCheckpoint+1 {
		t.Fatalf("result %+v, %d entry deletes, %d entries left: want the covered ones deleted but compaction's newest", res, trims, sl.Listed)
	}
}

// TestCrashAtEveryStep fails each write or delete of a compaction in turn,
// as a crash just before it or just after it would, checks both readers right
// after it, then lets the next run finish the job. The lake has a sink-log
// checkpoint already, so the run's steps include writing the next one and
// deleting the superseded one.
func TestCrashAtEveryStep(t *testing.T) {
	setup := func(t *testing.T) (lake.Store, *streamer) {
		s := fileLake(t)
		st := &streamer{s: s}
		for range 3 {
			st.commitBatch(t, day0, 3)
		}
		// Too few files to compact, but enough entries for a checkpoint.
		if res, err := Run(context.Background(), s, opts()); err != nil || res.Partitions != 0 || res.Checkpoint != contract.SinkLogCheckpointKey(0) {
			t.Fatalf("first run: %+v, %v; want only checkpoint 0", res, err)
		}
		for range 3 {
			st.commitBatch(t, day0, 3)
		}
		return s, st
	}
	// Count the steps of a clean run first.
	var steps []string
	func() {
		s, _ := setup(t)
		if _, err := Run(context.Background(), &hookStore{Store: s, before: func(op, key string) error {
			steps = append(steps, op+" "+key)
			return nil
		}}, opts()); err != nil {
			t.Fatal(err)
		}
	}()
	// 6 deletes, stage, entry, publish, entry, staged delete, checkpoint, its predecessor's delete
	if len(steps) < 6+7 || !slices.Contains(steps, "put "+contract.SinkLogCheckpointKey(1)) ||
		!slices.Contains(steps, "delete "+contract.SinkLogCheckpointKey(0)) {
		t.Fatalf("a clean run's writes and deletes: %q; want its steps, checkpoint 1 and the deletion of checkpoint 0 among them", steps)
	}
	for crashAt := 1; crashAt <= len(steps); crashAt++ {
		for _, when := range []string{"before", "after"} {
			t.Run(fmt.Sprintf("crash %s step %d", when, crashAt), func(t *testing.T) {
				s, st := setup(t)
				want := logView(t, s)
				n := 0
				var crashed string
				crash := func(op, key string) error {
					n++
					if n == crashAt {
						crashed = when + " " + op + " " + key
						return errCrash
					}
					return nil
				}
				hs := &hookStore{Store: s, before: crash}
				if when == "after" {
					hs = &hookStore{Store: s, before: func(string, string) error { return nil }, failAfter: crash}
				}
				_, err := Run(context.Background(), hs, opts())
				if !errors.Is(err, errCrash) {
					t.Fatalf("run with a crash %s step %d: %v", when, crashAt, err)
				}
				checkReaders(t, s, want, "after a crash "+crashed)

				st.commitBatch(t, day0, 3) // the streamer carries on
				want = logView(t, s)
				if _, err := Run(context.Background(), s, opts()); err != nil {
					t.Fatalf("run after the crash %s: %v", crashed, err)
				}
				checkReaders(t, s, want, "after the recovering run")
				if got := dirView(t, s); !equalViews(got, want) {
					t.Fatalf("after the recovering run a directory reader sees %d rows, want %d", len(got), len(want))
				}
				if left := dataFiles(t, s, StagingPrefix); len(left) != 0 {
					t.Fatalf("staged files left after recovery: %q", left)
				}
				// One checkpoint is left, usable, and nothing is pending.
				if cps := checkpoints(t, s); len(cps) != 1 {
					t.Fatalf("checkpoints after recovery: %q, want one", cps)
				}
				if sl := loadLog(t, s); len(sl.Entries) >= opts().LogCheckpointEvery {
					t.Fatalf("after recovery readers still read %d entries past the checkpoint", len(sl.Entries))
				}
			})
		}
	}
}

func TestGraceKeepsRemovedFilesForLogReaders(t *testing.T) {
	s := fileLake(t)
	st := &streamer{s: s}
	for range 4 {
		st.commitBatch(t, day0, 2)
	}
	small := dataFiles(t, s, contract.StreamPrefix)
	ctx, cancel := context.WithCancel(context.Background())
	o := opts()
	o.Grace = time.Hour
	// Cancel as soon as the first entry is written: the run is then waiting
	// out its grace period, and must not have deleted anything.
	hs := &hookStore{Store: s, before: func(string, string) error { return nil }, after: func(op, key string) {
		if strings.HasPrefix(key, contract.SinkLogPrefix+QueryID+"/") {
			cancel()
		}
	}}
	_, err := Run(ctx, hs, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run cancelled in its grace period: %v", err)
	}
	if got := dataFiles(t, s, contract.StreamPrefix); !slices.Equal(got, small) {
		t.Fatalf("within the grace period the small files changed: %q, want %q", got, small)
	}
	// The next run (no grace) finishes the interrupted compaction.
	res, err := Run(context.Background(), s, opts())
	if err != nil || res.Resumed != 1 {
		t.Fatalf("next run: %+v, %v; want the interrupted compaction resumed", res, err)
	}
	if got := dataFiles(t, s, contract.StreamPrefix); len(got) != 1 {
		t.Fatalf("after the resumed compaction: %q, want one file", got)
	}
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	err := Options{TargetFileBytes: 0, MinFiles: 1, Grace: -time.Second, LogCheckpointEvery: -1}.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"target file size", "min files", "grace", "log checkpoint every"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// TestCompactionBatchIDsContinueAfterACheckpoint: once a checkpoint covers
// every compaction entry, the next compaction still takes the next batch ids
// (taking 0 again would overwrite the log's history).
func TestCompactionBatchIDsContinueAfterACheckpoint(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	for range 5 {
		st.commitBatch(t, day0, 2)
	}
	o := opts()
	o.LogRetention = false // the test reads the compaction's entries
	res, err := Run(ctx, s, o)
	if err != nil || res.Checkpoint == "" {
		t.Fatalf("first run: %+v, %v; want a compaction and a checkpoint", res, err)
	}
	if sl := loadLog(t, s); len(sl.Entries) != 0 {
		t.Fatalf("the checkpoint left %d entries to read", len(sl.Entries))
	}
	first := map[string][]byte{}
	for _, b := range []int64{0, 1} {
		data, err := s.Get(ctx, contract.SinkLogKey(QueryID, b))
		if err != nil {
			t.Fatalf("compaction entry %d: %v", b, err)
		}
		first[contract.SinkLogKey(QueryID, b)] = data
	}
	for range 5 { // the next day: a new partition to compact
		st.commitBatch(t, day0.Add(24*time.Hour), 2)
	}
	want := logView(t, s)
	if res, err := Run(ctx, s, o); err != nil || res.Partitions != 1 {
		t.Fatalf("second run: %+v, %v; want one partition compacted", res, err)
	}
	for key, data := range first {
		if now, err := s.Get(ctx, key); err != nil || !bytes.Equal(now, data) {
			t.Fatalf("compaction entry %s was rewritten by the second run", key)
		}
	}
	for _, b := range []int64{2, 3} {
		if _, err := s.Get(ctx, contract.SinkLogKey(QueryID, b)); err != nil {
			t.Fatalf("the second compaction did not write entry %d: %v", b, err)
		}
	}
	checkReaders(t, s, want, "after the second compaction")
}

// TestRunFinishesACompactionThatACheckpointCovers: a checkpoint is never
// written while a compaction is unfinished, but if one covers the entry that
// staged a still-committed file (a second compactor, a hand-run tool), the
// next run reads the whole log and finishes the compaction all the same.
func TestRunFinishesACompactionThatACheckpointCovers(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	for range 6 {
		st.commitBatch(t, day0, 3)
	}
	want := logView(t, s)
	// Crash right after the stage entry.
	_, err := Run(ctx, &hookStore{Store: s, before: func(string, string) error { return nil },
		failAfter: func(op, key string) error {
			if key == contract.SinkLogKey(QueryID, 0) {
				return errCrash
			}
			return nil
		}}, opts())
	if !errors.Is(err, errCrash) {
		t.Fatalf("run: %v, want the simulated crash", err)
	}
	sl := loadLog(t, s)
	if _, _, err := lake.WriteSinkLogCheckpoint(ctx, s, sl); err != nil {
		t.Fatal(err)
	}
	if sl := loadLog(t, s); len(sl.Entries) != 0 {
		t.Fatalf("the checkpoint left %d entries", len(sl.Entries))
	}
	res, err := Run(ctx, s, opts())
	if err != nil || res.Resumed != 1 {
		t.Fatalf("next run: %+v, %v; want the compaction resumed", res, err)
	}
	checkReaders(t, s, want, "after the resumed compaction")
	if got := dirView(t, s); !equalViews(got, want) {
		t.Fatalf("a directory reader sees %d rows, want %d", len(got), len(want))
	}
	if left := dataFiles(t, s, StagingPrefix); len(left) != 0 {
		t.Fatalf("staged files left: %q", left)
	}
	if got := dataFiles(t, s, contract.StreamPrefix); len(got) != 1 {
		t.Fatalf("the partition holds %q, want one compacted file", got)
	}
}

// TestCheckpointWhenTheLogHasGrown: with nothing to compact, a run writes a
// checkpoint only once LogCheckpointEvery entries follow the last one; 0
// never writes nor deletes one.
func TestCheckpointWhenTheLogHasGrown(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	o := opts()
	o.MinFiles = 1000 // nothing to compact
	o.LogCheckpointEvery = 3
	o.LogRetention = false // the test counts the entries
	run := func() Result {
		t.Helper()
		res, err := Run(ctx, s, o)
		if err != nil || res.Partitions != 0 {
			t.Fatalf("run: %+v, %v", res, err)
		}
		return res
	}
	for range 2 {
		st.commitBatch(t, day0, 1)
	}
	if res := run(); res.Checkpoint != "" {
		t.Fatalf("2 entries, every 3: checkpoint %s written", res.Checkpoint)
	}
	st.commitBatch(t, day0, 1)
	if res := run(); res.Checkpoint != contract.SinkLogCheckpointKey(0) || res.CheckpointEntries != 3 {
		t.Fatalf("3 entries, every 3: %+v, want checkpoint 0 of 3 entries", res)
	}
	for range 2 {
		st.commitBatch(t, day0, 1)
	}
	if res := run(); res.Checkpoint != "" {
		t.Fatalf("2 entries since checkpoint 0: checkpoint %s written", res.Checkpoint)
	}
	st.commitBatch(t, day0, 1)
	if res := run(); res.Checkpoint != contract.SinkLogCheckpointKey(1) || res.CheckpointEntries != 3 || res.CheckpointsDeleted != 1 {
		t.Fatalf("3 entries since checkpoint 0: %+v, want checkpoint 1 of 3 entries, checkpoint 0 deleted", res)
	}
	if sl := loadLog(t, s); sl.Listed != 6 || len(sl.Entries) != 0 {
		t.Fatalf("readers list %d entries and read %d, want 6 and none", sl.Listed, len(sl.Entries))
	}
	logView(t, s)

	o.LogCheckpointEvery = 0
	for range 5 {
		st.commitBatch(t, day0, 1)
	}
	if res := run(); res.Checkpoint != "" || res.CheckpointsDeleted != 0 {
		t.Fatalf("every 0: %+v, want no checkpoint written nor deleted", res)
	}
	if cps := checkpoints(t, s); !slices.Equal(cps, []string{contract.SinkLogCheckpointKey(1)}) {
		t.Fatalf("checkpoints %q", cps)
	}
	logView(t, s)
}

// TestSupersededCheckpointKeptForGrace: a reader that listed the log before
// a checkpoint was written reads the previous one; it is deleted only once
// the new one is older than Grace.
func TestSupersededCheckpointKeptForGrace(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	o := opts()
	o.MinFiles = 1000
	o.Grace = time.Hour
	for range 2 {
		st.commitBatch(t, day0, 1)
	}
	if res, err := Run(ctx, s, o); err != nil || res.Checkpoint == "" {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	for range 2 {
		st.commitBatch(t, day0, 1)
	}
	if res, err := Run(ctx, s, o); err != nil || res.Checkpoint == "" || res.CheckpointsDeleted != 0 {
		t.Fatalf("second run: %+v, %v; want a checkpoint and none deleted within the grace", res, err)
	}
	if cps := checkpoints(t, s); len(cps) != 2 {
		t.Fatalf("checkpoints %q, want both", cps)
	}
	o.Grace = 0
	if res, err := Run(ctx, s, o); err != nil || res.Checkpoint != "" || res.CheckpointsDeleted != 1 {
		t.Fatalf("run after the grace: %+v, %v; want the superseded checkpoint deleted", res, err)
	}
	if cps := checkpoints(t, s); !slices.Equal(cps, []string{contract.SinkLogCheckpointKey(1)}) {
		t.Fatalf("checkpoints %q, want only the latest", cps)
	}
	logView(t, s)
}
