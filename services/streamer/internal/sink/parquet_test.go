package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

const query = "0f6c9a52-8d1e-4b7a-9c3f-2e5d7a1b4c60"

func fileStore(tb testing.TB) lake.Store {
	st, err := lake.Open(context.Background(), "file://"+tb.TempDir(), lake.S3Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// forEachStore runs fn against an empty lake on local files and on a real MinIO.
func forEachStore(t *testing.T, fn func(t *testing.T, st lake.Store)) {
	m := laketest.StartMinIO(t)
	n := 0
	for _, name := range []string{"file", "minio"} {
		t.Run(name, func(t *testing.T) {
			if name == "file" {
				fn(t, fileStore(t))
				return
			}
			n++
			fn(t, m.Bucket(t, fmt.Sprintf("lake-%d", n)))
		})
	}
}

// windows returns rows of 10-second windows for sensors S001..S00n starting at
// start, in window then sensor order.
func windows(start time.Time, count, sensors int) []contract.WindowRow {
	var rows []contract.WindowRow
	for w := range count {
		ws := start.Add(time.Duration(w) * 10 * time.Second)
		for s := 1; s <= sensors; s++ {
			rows = append(rows, contract.WindowRow{
				WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: fmt.Sprintf("S%03d", s),
				Eventos: int64(w + s), AvgTemp: 18 + float64(w%22) + float64(s)/7, AvgHum: 35 + float64(s*w%60)/3,
				OKCount: int64(w+s) - 1, MinTemp: 18, MaxTemp: 40 - float64(s)/10,
			})
		}
	}
	return rows
}

// acrossMidnight: two windows on 2024-11-21 and two on 2024-11-22, for 3 sensors.
func acrossMidnight() []contract.WindowRow {
	return windows(time.Date(2024, 11, 21, 23, 59, 40, 0, time.UTC), 4, 3)
}

func shuffled(rows []contract.WindowRow) []contract.WindowRow {
	out := slices.Clone(rows)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// snapshot returns every object of the store with its bytes.
func snapshot(t *testing.T, st lake.Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	infos, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, o := range infos {
		if out[o.Key], err = st.Get(ctx, o.Key); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func readRows(t *testing.T, st lake.Store, key string) []contract.WindowRow {
	t.Helper()
	obj, info, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	f, err := parquet.OpenFile(obj, info.Size)
	if err != nil {
		t.Fatalf("%s is not a Parquet file: %v", key, err)
	}
	if err := contract.CheckColumns(contract.Columns(f.Schema()), contract.WindowColumns); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("%s: column %v is compressed with %v, want ZSTD", key, c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	rows, err := parquet.Read[contract.WindowRow](obj, info.Size)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func committedFiles(t *testing.T, st lake.Store) []contract.SinkFile {
	t.Helper()
	files, err := lake.CommittedStreamFiles(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameRows(t *testing.T, got, want []contract.WindowRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.WinStart.Equal(w.WinStart) || !g.WinEnd.Equal(w.WinEnd) {
			t.Fatalf("row %d window [%v, %v), want [%v, %v)", i, g.WinStart, g.WinEnd, w.WinStart, w.WinEnd)
		}
		g.WinStart, g.WinEnd = w.WinStart, w.WinEnd
		if g != w {
			t.Fatalf("row %d = %+v, want %+v", i, g, w)
		}
	}
}

func logEntry(t *testing.T, st lake.Store, batchID int64) contract.SinkLogEntry {
	t.Helper()
	b, err := st.Get(context.Background(), contract.SinkLogKey(query, batchID))
	if err != nil {
		t.Fatal(err)
	}
	var e contract.SinkLogEntry
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestWriteBatchWritesOneFilePerDateThenTheLog(t *testing.T) {
	forEachStore(t, func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		rows := acrossMidnight()
		res, err := NewParquetSink(st, query).WriteBatch(ctx, 7, shuffled(rows))
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped || res.Rows != int64(len(rows)) {
			t.Fatalf("result %+v, want %d rows written", res, len(rows))
		}
		wantKeys := []string{
			contract.StreamFileKey("2024-11-21", query, 7, 0),
			contract.StreamFileKey("2024-11-22", query, 7, 1),
		}
		wantRows := [][]contract.WindowRow{rows[:6], rows[6:]}
		if len(res.Files) != 2 {
			t.Fatalf("wrote %d files, want one per date: %+v", len(res.Files), res.Files)
		}
		for i, f := range res.Files {
			if f.Path != wantKeys[i] || f.Rows != int64(len(wantRows[i])) {
				t.Errorf("file %d = %+v, want %s with %d rows", i, f, wantKeys[i], len(wantRows[i]))
			}
			info, err := st.Stat(ctx, f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != f.Size {
				t.Errorf("%s: logged size %d, stored %d", f.Path, f.Size, info.Size)
			}
			sameRows(t, readRows(t, st, f.Path), wantRows[i])
		}
		e := logEntry(t, st, 7)
		want := contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: query, BatchID: 7, Files: res.Files}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("sink log %+v, want %+v", e, want)
		}
		if got := len(snapshot(t, st)); got != 3 {
			t.Errorf("lake holds %d objects, want 2 files and 1 log entry", got)
		}
		// What the batcher reads: exactly these files.
		if committed := committedFiles(t, st); !reflect.DeepEqual(committed, res.Files) {
			t.Errorf("the lake's committed files are %+v, want %+v", committed, res.Files)
		}
	})
}

func TestWriteBatchSkipsALoggedBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		s := NewParquetSink(st, query)
		first, err := s.WriteBatch(ctx, 3, acrossMidnight())
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, st)
		// A re-run never differs in practice; different rows prove nothing is rewritten.
		again, err := s.WriteBatch(ctx, 3, windows(time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !again.Skipped || !reflect.DeepEqual(again.Files, first.Files) || again.Rows != first.Rows {
			t.Fatalf("re-run result %+v, want the logged %+v with Skipped", again, first)
		}
		if after := snapshot(t, st); !reflect.DeepEqual(after, before) {
			t.Fatalf("re-run of a logged batch changed the lake: %d objects before, %d after", len(before), len(after))
		}
	})
}

// failingPut fails every Put of one key, like a crash just before it.
type failingPut struct {
	lake.Store
	key string
}

var errCrash = errors.New("simulated crash")

func (f failingPut) Put(ctx context.Context, key string, data []byte) error {
	if key == f.key {
		return errCrash
	}
	return f.Store.Put(ctx, key, data)
}

func TestWriteBatchAfterACrashBeforeTheLogRewritesIdenticalFiles(t *testing.T) {
	forEachStore(t, func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		rows := acrossMidnight()
		crashing := failingPut{st, contract.SinkLogKey(query, 5)}
		if _, err := NewParquetSink(crashing, query).WriteBatch(ctx, 5, rows); !errors.Is(err, errCrash) {
			t.Fatalf("err = %v, want the simulated crash", err)
		}
		left := snapshot(t, st)
		if len(left) != 2 {
			t.Fatalf("the crashed attempt left %d objects, want its 2 data files", len(left))
		}
		if committed := committedFiles(t, st); len(committed) != 0 {
			t.Fatalf("files of a batch without a sink-log entry count as committed: %+v", committed)
		}
		// The re-run sees the rows in another order: the engine's order must not matter.
		res, err := NewParquetSink(st, query).WriteBatch(ctx, 5, shuffled(rows))
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped {
			t.Fatal("a batch without a sink-log entry was skipped")
		}
		after := snapshot(t, st)
		for key, b := range left {
			if !bytes.Equal(after[key], b) {
				t.Errorf("%s was rewritten with different bytes", key)
			}
		}
		if len(after) != 3 || !reflect.DeepEqual(committedFiles(t, st), res.Files) || len(res.Files) != 2 {
			t.Errorf("after the re-run the lake holds %d objects and commits %+v, want the same 2 files and their log entry",
				len(after), res.Files)
		}
	})
}

func TestWriteBatchBytesAreDeterministic(t *testing.T) {
	ctx := context.Background()
	rows := windows(time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC), 50, 20)
	a, b := fileStore(t), fileStore(t)
	ra, err := NewParquetSink(a, query).WriteBatch(ctx, 1, rows)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewParquetSink(b, query).WriteBatch(ctx, 1, shuffled(rows)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snapshot(t, a), snapshot(t, b)) {
		t.Fatal("the same rows gave different objects")
	}
	sameRows(t, readRows(t, a, ra.Files[0].Path), rows)
}

func TestWriteBatchWithoutRowsWritesNothing(t *testing.T) {
	st := fileStore(t)
	res, err := NewParquetSink(st, query).WriteBatch(context.Background(), 0, nil)
	if err != nil || !reflect.DeepEqual(res, Result{}) {
		t.Fatalf("WriteBatch(no rows) = %+v, %v; want an empty result", res, err)
	}
	if n := len(snapshot(t, st)); n != 0 {
		t.Fatalf("an empty batch wrote %d objects", n)
	}
}

func TestWriteBatchRefusesADamagedLog(t *testing.T) {
	st := fileStore(t)
	ctx := context.Background()
	if err := st.Put(ctx, contract.SinkLogKey(query, 2), []byte(`{"version":1,"queryId":"`)); err != nil {
		t.Fatal(err)
	}
	_, err := NewParquetSink(st, query).WriteBatch(ctx, 2, acrossMidnight())
	if err == nil {
		t.Fatal("a damaged sink-log entry was taken as proof the batch is durable, or overwritten")
	}
	if n := len(snapshot(t, st)); n != 1 {
		t.Fatalf("WriteBatch wrote %d objects next to a damaged log entry", n-1)
	}
}

func BenchmarkWriteBatch10k(b *testing.B) {
	st := fileStore(b)
	s := NewParquetSink(st, query)
	rows := windows(time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC), 500, 20) // 10,000 rows
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var id int64
	for b.Loop() {
		if _, err := s.WriteBatch(ctx, id, rows); err != nil {
			b.Fatal(err)
		}
		id++
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
