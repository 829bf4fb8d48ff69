package consolidate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

const query = "7f3c9a1e-0000-4000-8000-000000000001"

var day = time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC)

var windows = streamtest.Windows

// storeTests run against every lake implementation: the file store here,
// and a real MinIO in minio_test.go.
var storeTests = map[string]func(t *testing.T, newStore func(t *testing.T) lake.Store){
	"Consolidates a snapshot":                     testRunConsolidatesSnapshot,
	"Reads only live files":                       testRunReadsOnlyLiveFiles,
	"No stream table writes an empty batch table": testRunWithoutStreamTable,
	"Fails on a bad data file":                    testRunFailsOnBadDataFile,
	"Each run is one overwrite commit":            testRunIsOneOverwriteCommit,
	"Refuses a lake of an earlier sensorlab":      testRunRefusesLegacyLake,
}

func TestRunOnFileLake(t *testing.T) {
	for name, test := range storeTests {
		t.Run(name, func(t *testing.T) { test(t, func(t *testing.T) lake.Store { return fileLake(t) }) })
	}
}

func fileLake(t testing.TB) lake.Store {
	t.Helper()
	s, err := lake.Open(context.Background(), "file://"+t.TempDir(), lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, s lake.Store, opts Options) Result {
	t.Helper()
	res, err := Run(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.PostCommitErr != nil {
		t.Fatalf("after the commit: %v", res.PostCommitErr)
	}
	return res
}

// readBatch reads the batch table's latest snapshot back as a Delta reader
// would: exactly one live data file, the six columns of the seed's schema
// in the log and in the file, zstd-compressed, no partitions.
func readBatch(t testing.TB, s lake.Store) []contract.BatchRow {
	t.Helper()
	snap, err := delta.NewTable(s, BatchTable).Snapshot(context.Background())
	if err != nil {
		t.Fatalf("batch table: %v", err)
	}
	return readBatchSnapshot(t, s, snap)
}

func readBatchSnapshot(t testing.TB, s lake.Store, snap *delta.Snapshot) []contract.BatchRow {
	t.Helper()
	ctx := context.Background()
	var names []string
	for _, f := range snap.Schema().Fields {
		names = append(names, f.Name+" "+f.Type.TypeName())
	}
	if got, want := strings.Join(names, ", "), "sensor_id string, total_eventos long, avg_temp_global double, avg_hum_global double, ok_total long, ventanas long"; got != want {
		t.Fatalf("batch table schema: %s, want %s", got, want)
	}
	if pc := snap.PartitionColumns(); len(pc) != 0 {
		t.Fatalf("batch table partitioned by %v", pc)
	}
	files := snap.Files()
	if len(files) != 1 {
		t.Fatalf("batch table version %d has %d live files, want 1: %+v", snap.Version(), len(files), files)
	}
	if !strings.HasPrefix(files[0].Path, "part-00000-") || !strings.HasSuffix(files[0].Path, "-c000.zstd.parquet") {
		t.Fatalf("data file %q: not Spark's part-00000-<uuid>-c000.zstd.parquet", files[0].Path)
	}
	key, err := snap.Table().DataKey(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("batch data file: %v", err)
	}
	if int64(len(raw)) != files[0].Size {
		t.Fatalf("batch data file is %d bytes, its add says %d", len(raw), files[0].Size)
	}
	f, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("batch data file is not Parquet: %v", err)
	}
	if err := contract.CheckColumns(contract.Columns(f.Schema()), contract.BatchColumns); err != nil {
		t.Fatalf("batch data file schema: %v", err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("column %v compressed with %v, want ZSTD", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	rows, err := parquet.Read[contract.BatchRow](bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("read consolidated rows: %v", err)
	}
	if st, err := delta.ParseStats(files[0].Stats); err != nil || st.NumRecords != int64(len(rows)) {
		t.Fatalf("add stats %q (%v): want numRecords %d", files[0].Stats, err, len(rows))
	}
	return rows
}

func testRunConsolidatesSnapshot(t *testing.T, newStore func(t *testing.T) lake.Store) {
	s := newStore(t)
	w := streamtest.New(s, query)
	b0 := append(windows("S002", day, 3, 4, 20, 50, 4), windows("S001", day, 2, 5, 30, 60, 5)...)
	nextDay := day.Add(24 * time.Hour)
	b1 := append(windows("S001", day.Add(time.Minute), 1, 2, 27, 44, 1), windows("S003", nextDay, 4, 1, 35.5, 80.25, 1)...)
	w.MustAppend(t, 0, b0)
	v := w.MustAppend(t, 1, b1) // two files: one per date

	res := run(t, s, Options{Concurrency: 2})
	all := append(append([]contract.WindowRow{}, b0...), b1...)
	want := Consolidate(all)
	// By hand, S001: windows 30,31 (b0) and 27 (b1): avg temp 88/3; hum (60+59+44)/3.
	checkRows(t, want[:1], []contract.BatchRow{{SensorID: "S001", TotalEventos: 12, AvgTempGlobal: 88.0 / 3, AvgHumGlobal: 163.0 / 3, OKTotal: 11, Ventanas: 3}})
	checkRows(t, res.Rows, want)
	checkRows(t, readBatchSnapshot(t, s, mustSnapshot(t, delta.NewTable(s, BatchTable))), want)
	if res.Files != 3 || res.WindowRows != int64(len(all)) || len(res.Rows) != 3 {
		t.Fatalf("result counts: %d files, %d window rows, %d rows", res.Files, res.WindowRows, len(res.Rows))
	}
	if res.Source.Version != v || res.Source.Table != "stream" || res.Source.TableID == "" || res.BatchVersion != 0 {
		t.Fatalf("result source %+v, batch version %d; want stream version %d, batch version 0", res.Source, res.BatchVersion, v)
	}
}

func mustSnapshot(t testing.TB, tbl *delta.Table) *delta.Snapshot {
	t.Helper()
	snap, err := tbl.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// Files the log does not list (a crashed writer's) and files a later
// commit removed (an OPTIMIZE's rewrite) are not read.
func testRunReadsOnlyLiveFiles(t *testing.T, newStore func(t *testing.T) lake.Store) {
	ctx := context.Background()
	s := newStore(t)
	w := streamtest.New(s, query)
	a := windows("S001", day, 2, 5, 30, 60, 5)
	b := windows("S001", day.Add(time.Minute), 2, 3, 20, 40, 3)
	w.MustAppend(t, 0, a)
	w.MustAppend(t, 1, b)
	// An OPTIMIZE rewrote a and b into one file: removes with dataChange
	// false, one add.
	snap := mustSnapshot(t, w.Table)
	md := snap.Metadata()
	data, err := streamtest.Encode(append(append([]contract.WindowRow{}, a...), b...))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := w.Add(ctx, md, "date=2024-11-21/part-00000-optimized.c000.zstd.parquet", "2024-11-21", data)
	if err != nil {
		t.Fatal(err)
	}
	merged.DataChange = false
	actions := []delta.Action{{Add: &merged}}
	for _, f := range snap.Files() {
		rm := delta.RemoveOf(f, time.Now(), false)
		actions = append(actions, delta.Action{Remove: &rm})
	}
	if _, err := w.Table.Commit(ctx, snap, delta.Commit{Operation: delta.Operation{Name: "OPTIMIZE"}, Actions: actions}); err != nil {
		t.Fatal(err)
	}
	// A crashed batch left a file in stream/ that no commit lists.
	orphan, err := streamtest.Encode(windows("S999", day, 5, 100, 99, 99, 100))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "stream/date=2024-11-21/part-00000-crashed.c000.zstd.parquet", orphan); err != nil {
		t.Fatal(err)
	}

	res := run(t, s, Options{})
	want := []contract.BatchRow{{SensorID: "S001", TotalEventos: 16, AvgTempGlobal: (30 + 31 + 20 + 21) / 4.0, AvgHumGlobal: (60 + 59 + 40 + 39) / 4.0, OKTotal: 16, Ventanas: 4}}
	checkRows(t, readBatch(t, s), want)
	if res.Files != 1 {
		t.Fatalf("read %d files, want only the optimized one", res.Files)
	}
}

// Before the streamer's first commit there is no stream table: the batch
// table is still created, with the schema and no rows.
func testRunWithoutStreamTable(t *testing.T, newStore func(t *testing.T) lake.Store) {
	s := newStore(t)
	res := run(t, s, Options{})
	if got := readBatch(t, s); len(got) != 0 || len(res.Rows) != 0 || res.Source.Version != -1 || res.BatchVersion != 0 {
		t.Fatalf("got rows %+v, result %+v, from a lake without a stream table", got, res)
	}
	// Time travel needs a table.
	if _, err := Run(context.Background(), s, Options{AsOfVersion: new(int64)}); err == nil || !errors.Is(err, delta.ErrNotATable) {
		t.Fatalf("as of version 0 of a missing stream table: %v", err)
	}
}

func testRunFailsOnBadDataFile(t *testing.T, newStore func(t *testing.T) lake.Store) {
	good := windows("S001", day, 2, 5, 30, 60, 5)
	const rel = "date=2024-11-21/part-00000-bad.c000.zstd.parquet"
	goodData, err := streamtest.Encode(good)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := map[string]struct {
		add  func(t *testing.T, w *streamtest.Writer, md delta.Metadata) delta.Add
		want string
	}{
		"missing (vacuumed, or lost)": {func(t *testing.T, w *streamtest.Writer, md delta.Metadata) delta.Add {
			a, err := w.Add(ctx, md, rel, "2024-11-21", goodData)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Store.Delete(ctx, "stream/"+rel); err != nil {
				t.Fatal(err)
			}
			return a
		}, "version 1 lists a data file the lake lacks (vacuumed, or lost)"},
		"corrupt": {func(t *testing.T, w *streamtest.Writer, md delta.Metadata) delta.Add {
			a, _ := w.Add(ctx, md, rel, "2024-11-21", goodData)
			bad := []byte("PAR1 this is not parquet PAR1")
			if err := w.Store.Put(ctx, "stream/"+rel, bad); err != nil {
				t.Fatal(err)
			}
			a.Size, a.Stats = int64(len(bad)), ""
			return a
		}, "bad window file"},
		"truncated": {func(t *testing.T, w *streamtest.Writer, md delta.Metadata) delta.Add {
			a, _ := w.Add(ctx, md, rel, "2024-11-21", goodData)
			half := goodData[:len(goodData)/2]
			if err := w.Store.Put(ctx, "stream/"+rel, half); err != nil {
				t.Fatal(err)
			}
			a.Size, a.Stats = int64(len(half)), ""
			return a
		}, "bad window file"},
		"row count differs from the stats": {func(t *testing.T, w *streamtest.Writer, md delta.Metadata) delta.Add {
			a, err := w.Add(ctx, md, rel, "2024-11-21", goodData)
			if err != nil {
				t.Fatal(err)
			}
			a.Stats = `{"numRecords":3}`
			return a
		}, "stats say 3 rows"},
		"size differs from the log": {func(t *testing.T, w *streamtest.Writer, md delta.Metadata) delta.Add {
			a, err := w.Add(ctx, md, rel, "2024-11-21", goodData)
			if err != nil {
				t.Fatal(err)
			}
			a.Size++
			return a
		}, "bytes"},
		"wrong schema": {func(t *testing.T, w *streamtest.Writer, md delta.Metadata) delta.Add {
			type other struct {
				SensorID string  `parquet:"sensor_id"`
				Eventos  float64 `parquet:"eventos"`
				AvgTemp  float64 `parquet:"avg_temp"`
			}
			var buf bytes.Buffer
			if err := parquet.Write(&buf, []other{{"S001", 1, 2}}); err != nil {
				t.Fatal(err)
			}
			a, err := w.Add(ctx, md, rel, "2024-11-21", buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			return a
		}, `column "avg_hum" is missing`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			w := streamtest.New(s, query)
			w.MustAppend(t, 0, windows("S002", day, 1, 1, 20, 50, 1))
			run(t, s, Options{}) // batch table version 0
			before := readBatch(t, s)
			md, err := w.Metadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(ctx, 1, tc.add(t, w, md)); err != nil {
				t.Fatal(err)
			}
			_, err = Run(ctx, s, Options{})
			if err == nil {
				t.Fatal("a bad data file was skipped silently")
			}
			if !strings.Contains(err.Error(), rel) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "version 1") {
				t.Fatalf("error %q does not name the file, the stream version and %q", err, tc.want)
			}
			snap := mustSnapshot(t, delta.NewTable(s, BatchTable))
			if snap.Version() != 0 {
				t.Fatalf("a failed run committed batch table version %d", snap.Version())
			}
			checkRows(t, readBatch(t, s), before)
		})
	}
}

// Each run overwrites the batch table in one commit (WRITE, mode
// Overwrite): one live file, the previous one removed, the stream version
// recorded; readers of the batch table during runs always see one whole
// file; older batch versions keep their rows (time travel).
func testRunIsOneOverwriteCommit(t *testing.T, newStore func(t *testing.T) lake.Store) {
	ctx := context.Background()
	s := newStore(t)
	w := streamtest.New(s, query)
	w.MustAppend(t, 0, windows("S001", day, 2, 5, 30, 60, 5))
	run(t, s, Options{})
	first := readBatch(t, s)

	w.MustAppend(t, 1, windows("S002", day, 3, 2, 20, 50, 2))
	var stop atomic.Bool
	var wg sync.WaitGroup
	var readErr error
	tbl := delta.NewTable(s, BatchTable)
	wg.Go(func() {
		for !stop.Load() {
			snap, err := tbl.Snapshot(ctx)
			if err == nil && snap.NumFiles() != 1 {
				err = fmt.Errorf("version %d has %d live files", snap.Version(), snap.NumFiles())
			}
			if err == nil {
				var key string
				if key, err = tbl.DataKey(snap.Files()[0].Path); err == nil {
					var data []byte
					if data, err = s.Get(ctx, key); err == nil {
						var rows []contract.BatchRow
						rows, err = parquet.Read[contract.BatchRow](bytes.NewReader(data), int64(len(data)))
						if err == nil && len(rows) != 1 && len(rows) != 2 {
							err = fmt.Errorf("%d rows", len(rows))
						}
					}
				}
			}
			if err != nil {
				readErr = err
				return
			}
		}
	})
	const runs = 5
	for range runs {
		run(t, s, Options{})
	}
	stop.Store(true)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("a reader of the batch table saw a broken version: %v", readErr)
	}
	second := readBatch(t, s)
	if len(first) != 1 || len(second) != 2 || second[1].SensorID != "S002" || second[1].Ventanas != 3 {
		t.Fatalf("first %+v, second %+v", first, second)
	}

	hist, err := tbl.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != runs+1 {
		t.Fatalf("history has %d versions, want %d (one per run)", len(hist), runs+1)
	}
	for _, h := range hist {
		ci := h.CommitInfo
		if ci.Operation != "WRITE" || ci.OperationParameters["mode"] != "Overwrite" {
			t.Fatalf("version %d: operation %s %v, want WRITE Overwrite", h.Version, ci.Operation, ci.OperationParameters)
		}
		wantStream := int64(1)
		if h.Version == 0 {
			wantStream = 0
		}
		if !strings.Contains(ci.UserMetadata, fmt.Sprintf(`"sourceVersion":%d`, wantStream)) {
			t.Fatalf("version %d: userMetadata %q does not record stream version %d", h.Version, ci.UserMetadata, wantStream)
		}
		if h.Version > 0 && (ci.OperationMetrics["numRemovedFiles"] != "1" || ci.OperationMetrics["numAddedFiles"] != "1") {
			t.Fatalf("version %d: metrics %v, want one file added and one removed", h.Version, ci.OperationMetrics)
		}
	}
	// Time travel on the batch table: version 0 holds the first run's rows.
	old, err := tbl.SnapshotAt(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, readBatchSnapshot(t, s, old), first)
	if n := len(mustSnapshot(t, tbl).Tombstones()); n != runs {
		t.Fatalf("%d tombstones, want %d (each overwrite removed the previous file)", n, runs)
	}
}

func testRunRefusesLegacyLake(t *testing.T, newStore func(t *testing.T) lake.Store) {
	s := newStore(t)
	if err := s.Put(context.Background(), "stream/_sink_log/7f3c9a1e/00000000000000000000.json", []byte(`{"version":1}`)); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), s, Options{})
	if !errors.Is(err, ErrLegacyLake) || !strings.Contains(err.Error(), "stream/_sink_log/") || !strings.Contains(err.Error(), "empty lake") {
		t.Fatalf("a lake with stream/_sink_log/: %v, want a refusal saying what to do", err)
	}
	if _, err := delta.NewTable(s, BatchTable).Snapshot(context.Background()); !errors.Is(err, delta.ErrNotATable) {
		t.Fatalf("the refused run wrote the batch table (%v)", err)
	}
}

// Window files written by other tools use other encodings and layouts:
// dictionary and delta encodings, optional (nullable) columns, several row
// groups and pages, columns in another order. They consolidate the same.
func TestReadHandlesOtherWritersLayouts(t *testing.T) {
	type otherWriter struct {
		MaxTemp  float64   `parquet:"max_temp,optional"`
		OKCount  *int64    `parquet:"ok_count,optional"`
		AvgHum   *float64  `parquet:"avg_hum,optional"`
		SensorID *string   `parquet:"sensor_id,optional,dict"`
		Eventos  int64     `parquet:"eventos,delta"`
		AvgTemp  float64   `parquet:"avg_temp"`
		WinStart time.Time `parquet:"win_start,timestamp(microsecond)"`
	}
	var rows []contract.WindowRow
	for i := range 5000 {
		rows = append(rows, contract.WindowRow{SensorID: fmt.Sprintf("S%03d", i%17+1), Eventos: int64(i%9 + 1), AvgTemp: 18 + float64(i%220)/10, AvgHum: 35 + float64(i%600)/10, OKCount: int64(i % 9)})
	}
	other := make([]otherWriter, len(rows))
	for i, r := range rows {
		other[i] = otherWriter{MaxTemp: 99, OKCount: &r.OKCount, AvgHum: &r.AvgHum, SensorID: &r.SensorID, Eventos: r.Eventos, AvgTemp: r.AvgTemp, WinStart: day}
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[otherWriter](&buf, parquet.MaxRowsPerRowGroup(1500), parquet.PageBufferSize(1024), parquet.Compression(&parquet.Snappy))
	if _, err := w.Write(other); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.RowGroups()) < 3 {
		t.Fatalf("the file has %d row groups; the test wants several", len(f.RowGroups()))
	}

	s := fileLake(t)
	k := "stream/date=2024-11-21/other.parquet"
	if err := s.Put(context.Background(), k, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, whole := range []bool{true, false} {
		if !whole {
			// Read the object in place: footer and column chunks by ReadAt.
			defer func(old int64) { smallObjectMax = old }(smallObjectMax)
			smallObjectMax = 0
		}
		agg, err := Read(context.Background(), s, []File{{Path: "other.parquet", Key: k, Rows: int64(len(rows)), Size: int64(buf.Len())}}, 1)
		if err != nil {
			t.Fatalf("read whole %v: %v", whole, err)
		}
		checkRows(t, agg.Rows(), Consolidate(rows))
	}

	// A null in a nullable column is a clear error, not a zero.
	var nbuf bytes.Buffer
	type nullable struct {
		SensorID string   `parquet:"sensor_id"`
		Eventos  int64    `parquet:"eventos"`
		AvgTemp  *float64 `parquet:"avg_temp,optional"`
		AvgHum   float64  `parquet:"avg_hum"`
		OKCount  int64    `parquet:"ok_count"`
	}
	if err := parquet.Write(&nbuf, []nullable{{SensorID: "S001", Eventos: 1, AvgHum: 50, OKCount: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), k, nbuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	_, err = Read(context.Background(), s, []File{{Path: "other.parquet", Key: k, Rows: -1}}, 1)
	if err == nil || !strings.Contains(err.Error(), "null") || !strings.Contains(err.Error(), "avg_temp") {
		t.Fatalf("a null avg_temp gave %v", err)
	}
}
