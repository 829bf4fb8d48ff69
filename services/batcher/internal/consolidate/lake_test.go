package consolidate

import (
	"bytes"
	"context"
	"encoding/json"
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
)

const query = "7f3c9a1e-0000-4000-8000-000000000001"

var day = time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC)

// windows returns n window rows of sensor, 10 s tumbling windows from start.
func windows(sensor string, start time.Time, n int, eventos int64, temp, hum float64, ok int64) []contract.WindowRow {
	out := make([]contract.WindowRow, n)
	for i := range out {
		ws := start.Add(time.Duration(i) * 10 * time.Second)
		out[i] = contract.WindowRow{
			WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: sensor,
			Eventos: eventos, AvgTemp: temp + float64(i), AvgHum: hum - float64(i), OKCount: ok,
			MinTemp: temp - 1, MaxTemp: temp + 1,
		}
	}
	return out
}

// storeTests run against every lake implementation: the file store here,
// and a real MinIO in minio_test.go.
var storeTests = map[string]func(t *testing.T, newStore func(t *testing.T) lake.Store){
	"Consolidates committed files":             testRunConsolidatesCommittedFiles,
	"Ignores uncommitted and compacted files":  testRunIgnoresUncommittedAndCompactedFiles,
	"No committed rows writes an empty object": testRunWithNoCommittedRowsWritesEmptyObject,
	"Fails on a bad committed file":            testRunFailsOnBadCommittedFile,
	"Replaces the object atomically":           testRunReplacesObjectAtomically,
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

func encodeWindows(t testing.TB, rows []contract.WindowRow) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows, parquet.Compression(&parquet.Zstd)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// putWindows writes a window file, as the streamer's sink does, and returns
// its sink-log record.
func putWindows(t testing.TB, s lake.Store, key string, rows []contract.WindowRow) contract.SinkFile {
	t.Helper()
	data := encodeWindows(t, rows)
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	return contract.SinkFile{Path: key, Rows: int64(len(rows)), Size: int64(len(data))}
}

// commit writes the sink-log entry of a batch.
func commit(t testing.TB, s lake.Store, batch int64, files []contract.SinkFile, removed ...string) {
	t.Helper()
	e := contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: query, BatchID: batch, Files: files, Removed: removed}
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), contract.SinkLogKey(query, batch), data); err != nil {
		t.Fatal(err)
	}
}

func key(date time.Time, batch int64, seq int) string {
	return contract.StreamFileKey(contract.PartitionDate(date), query, batch, seq)
}

// readBatch reads the consolidated object back as a user would, checking its
// schema, compression and the _SUCCESS marker.
func readBatch(t testing.TB, s lake.Store) []contract.BatchRow {
	t.Helper()
	ctx := context.Background()
	data, err := s.Get(ctx, contract.BatchObject)
	if err != nil {
		t.Fatalf("consolidated object: %v", err)
	}
	if _, err := s.Stat(ctx, contract.BatchSuccess); err != nil {
		t.Fatalf("_SUCCESS: %v", err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("consolidated object is not Parquet: %v", err)
	}
	if err := contract.CheckColumns(contract.Columns(f.Schema()), contract.BatchColumns); err != nil {
		t.Fatalf("consolidated schema: %v", err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("column %v compressed with %v, want ZSTD", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	rows, err := parquet.Read[contract.BatchRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("read consolidated rows: %v", err)
	}
	return rows
}

func testRunConsolidatesCommittedFiles(t *testing.T, newStore func(t *testing.T) lake.Store) {
	ctx := context.Background()
	s := newStore(t)
	b0 := append(windows("S002", day, 3, 4, 20, 50, 4), windows("S001", day, 2, 5, 30, 60, 5)...)
	nextDay := day.Add(24 * time.Hour)
	b1a := windows("S001", day.Add(time.Minute), 1, 2, 27, 44, 1)
	b1b := windows("S003", nextDay, 4, 1, 35.5, 80.25, 1)
	commit(t, s, 0, []contract.SinkFile{putWindows(t, s, key(day, 0, 0), b0)})
	commit(t, s, 1, []contract.SinkFile{putWindows(t, s, key(day, 1, 0), b1a), putWindows(t, s, key(nextDay, 1, 1), b1b)})

	res, err := Run(ctx, s, 2)
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(append([]contract.WindowRow{}, b0...), b1a...), b1b...)
	want := Consolidate(all)
	// By hand, S001: windows 30,31 (b0) and 27 (b1a): avg temp 88/3; hum (60+59+44)/3.
	checkRows(t, want[:1], []contract.BatchRow{{SensorID: "S001", TotalEventos: 12, AvgTempGlobal: 88.0 / 3, AvgHumGlobal: 163.0 / 3, OKTotal: 11, Ventanas: 3}})
	checkRows(t, res.Rows, want)
	checkRows(t, readBatch(t, s), want)
	if res.Files != 3 || res.WindowRows != int64(len(all)) || len(res.Rows) != 3 {
		t.Fatalf("result counts: %d files, %d window rows, %d rows", res.Files, res.WindowRows, len(res.Rows))
	}
}

func testRunIgnoresUncommittedAndCompactedFiles(t *testing.T, newStore func(t *testing.T) lake.Store) {
	ctx := context.Background()
	s := newStore(t)
	a := windows("S001", day, 2, 5, 30, 60, 5)
	b := windows("S001", day.Add(time.Minute), 2, 3, 20, 40, 3)
	fa := putWindows(t, s, key(day, 0, 0), a)
	fb := putWindows(t, s, key(day, 1, 0), b)
	commit(t, s, 0, []contract.SinkFile{fa})
	commit(t, s, 1, []contract.SinkFile{fb})
	// A compaction rewrote a and b into one file and removed them.
	compacted := putWindows(t, s, "stream/date=2024-11-21/part-compacted-000.parquet", append(append([]contract.WindowRow{}, a...), b...))
	commit(t, s, 2, []contract.SinkFile{compacted}, fa.Path, fb.Path)
	// A crashed batch left a file in stream/ that no sink-log entry lists.
	putWindows(t, s, key(day, 3, 0), windows("S999", day, 5, 100, 99, 99, 100))

	res, err := Run(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.BatchRow{{SensorID: "S001", TotalEventos: 16, AvgTempGlobal: (30 + 31 + 20 + 21) / 4.0, AvgHumGlobal: (60 + 59 + 40 + 39) / 4.0, OKTotal: 16, Ventanas: 4}}
	checkRows(t, readBatch(t, s), want)
	if res.Files != 1 {
		t.Fatalf("read %d files, want only the compacted one", res.Files)
	}
}

func testRunWithNoCommittedRowsWritesEmptyObject(t *testing.T, newStore func(t *testing.T) lake.Store) {
	s := newStore(t)
	putWindows(t, s, key(day, 0, 0), windows("S001", day, 2, 5, 30, 60, 5)) // uncommitted
	res, err := Run(context.Background(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBatch(t, s); len(got) != 0 || len(res.Rows) != 0 {
		t.Fatalf("got rows %+v from a lake without commits", got)
	}
}

func testRunFailsOnBadCommittedFile(t *testing.T, newStore func(t *testing.T) lake.Store) {
	good := windows("S001", day, 2, 5, 30, 60, 5)
	cases := map[string]struct {
		setup func(t *testing.T, s lake.Store) contract.SinkFile
		want  string
	}{
		"missing": {func(t *testing.T, s lake.Store) contract.SinkFile {
			return contract.SinkFile{Path: key(day, 0, 0), Rows: 2}
		}, "does not exist"},
		"corrupt": {func(t *testing.T, s lake.Store) contract.SinkFile {
			if err := s.Put(context.Background(), key(day, 0, 0), []byte("PAR1 this is not parquet PAR1")); err != nil {
				t.Fatal(err)
			}
			return contract.SinkFile{Path: key(day, 0, 0)}
		}, "bad window file"},
		"truncated": {func(t *testing.T, s lake.Store) contract.SinkFile {
			data := encodeWindows(t, good)
			if err := s.Put(context.Background(), key(day, 0, 0), data[:len(data)/2]); err != nil {
				t.Fatal(err)
			}
			return contract.SinkFile{Path: key(day, 0, 0)}
		}, "bad window file"},
		"row count differs from the sink log": {func(t *testing.T, s lake.Store) contract.SinkFile {
			f := putWindows(t, s, key(day, 0, 0), good)
			f.Rows, f.Size = 3, 0
			return f
		}, "sink log says 3 rows"},
		"size differs from the sink log": {func(t *testing.T, s lake.Store) contract.SinkFile {
			f := putWindows(t, s, key(day, 0, 0), good)
			f.Size++
			return f
		}, "bytes"},
		"wrong schema": {func(t *testing.T, s lake.Store) contract.SinkFile {
			type other struct {
				SensorID string  `parquet:"sensor_id"`
				Eventos  float64 `parquet:"eventos"`
				AvgTemp  float64 `parquet:"avg_temp"`
			}
			var buf bytes.Buffer
			if err := parquet.Write(&buf, []other{{"S001", 1, 2}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(context.Background(), key(day, 0, 0), buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			return contract.SinkFile{Path: key(day, 0, 0), Rows: 1}
		}, `column "avg_hum" is missing`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			ok := putWindows(t, s, key(day, 1, 0), windows("S002", day, 1, 1, 20, 50, 1))
			commit(t, s, 0, []contract.SinkFile{tc.setup(t, s), ok})
			_, err := Run(context.Background(), s, 0)
			if err == nil {
				t.Fatal("a bad committed file was skipped silently")
			}
			if !strings.Contains(err.Error(), key(day, 0, 0)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name the file and %q", err, tc.want)
			}
			if _, err := s.Stat(context.Background(), contract.BatchObject); !errors.Is(err, lake.ErrNotExist) {
				t.Fatalf("a failed run wrote the consolidated object (stat: %v)", err)
			}
		})
	}
}

// Each run replaces the object whole; a failed run leaves the previous one;
// readers during repeated runs always find a complete object.
func testRunReplacesObjectAtomically(t *testing.T, newStore func(t *testing.T) lake.Store) {
	ctx := context.Background()
	s := newStore(t)
	commit(t, s, 0, []contract.SinkFile{putWindows(t, s, key(day, 0, 0), windows("S001", day, 2, 5, 30, 60, 5))})
	if _, err := Run(ctx, s, 0); err != nil {
		t.Fatal(err)
	}
	first := readBatch(t, s)

	// More committed data: the next run's object holds both sensors, and
	// there is still exactly one data object.
	commit(t, s, 1, []contract.SinkFile{putWindows(t, s, key(day, 1, 0), windows("S002", day, 3, 2, 20, 50, 2))})
	var stop atomic.Bool
	var wg sync.WaitGroup
	var readErr error
	wg.Go(func() {
		for !stop.Load() {
			data, err := s.Get(ctx, contract.BatchObject)
			if err == nil {
				var rows []contract.BatchRow
				rows, err = parquet.Read[contract.BatchRow](bytes.NewReader(data), int64(len(data)))
				if err == nil && len(rows) != 1 && len(rows) != 2 {
					err = errors.New("unexpected row count")
				}
			}
			if err != nil {
				readErr = err
				return
			}
		}
	})
	for range 20 {
		if _, err := Run(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("a reader saw a partial consolidated object: %v", readErr)
	}
	second := readBatch(t, s)
	if len(first) != 1 || len(second) != 2 || second[1].SensorID != "S002" || second[1].Ventanas != 3 {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	objs, err := s.List(ctx, contract.BatchDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key != contract.BatchSuccess || objs[1].Key != contract.BatchObject {
		t.Fatalf("batch dir holds %+v, want exactly _SUCCESS and the object", objs)
	}

	// A run that fails leaves the last good object in place.
	commit(t, s, 2, []contract.SinkFile{{Path: key(day, 2, 0), Rows: 1}})
	if _, err := Run(ctx, s, 0); err == nil {
		t.Fatal("run over a missing committed file succeeded")
	}
	checkRows(t, readBatch(t, s), second)
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
	k := key(day, 0, 0)
	if err := s.Put(context.Background(), k, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, whole := range []bool{true, false} {
		if !whole {
			// Read the object in place: footer and column chunks by ReadAt.
			defer func(old int64) { smallObjectMax = old }(smallObjectMax)
			smallObjectMax = 0
		}
		agg, err := Read(context.Background(), s, []contract.SinkFile{{Path: k, Rows: int64(len(rows)), Size: int64(buf.Len())}}, 1)
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
	_, err = Read(context.Background(), s, []contract.SinkFile{{Path: k}}, 1)
	if err == nil || !strings.Contains(err.Error(), "null") || !strings.Contains(err.Error(), "avg_temp") {
		t.Fatalf("a null avg_temp gave %v", err)
	}
}
