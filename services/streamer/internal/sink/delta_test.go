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
	"github.com/sensorlab/sensorlab/lake/laketest"
	"github.com/sensorlab/sensorlab/services/streamer/internal/faultstore"
)

const query = "0f6c9a52-8d1e-4b7a-9c3f-2e5d7a1b4c60"

func fileStore(tb testing.TB) lake.Store {
	st, err := lake.Open(context.Background(), "file://"+tb.TempDir(), lake.S3Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// forEachKind runs fn against local files and a real MinIO; newStore
// opens an empty lake (on MinIO, a bucket of its own on one server).
func forEachKind(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) lake.Store)) {
	m := laketest.StartMinIO(t)
	var n atomic.Int64
	t.Run("file", func(t *testing.T) { fn(t, func(t *testing.T) lake.Store { return fileStore(t) }) })
	t.Run("minio", func(t *testing.T) {
		fn(t, func(t *testing.T) lake.Store { return m.Bucket(t, fmt.Sprintf("lake-%d", n.Add(1))) })
	})
}

// forEachStore runs fn against an empty lake on local files and on a real MinIO.
func forEachStore(t *testing.T, fn func(t *testing.T, st lake.Store)) {
	forEachKind(t, func(t *testing.T, newStore func(t *testing.T) lake.Store) { fn(t, newStore(t)) })
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

// batchRows are the rows of batch b in a run of many batches: 3 windows of
// 3 sensors, after the previous batch's; batch 4's cross midnight, so it
// writes two files.
func batchRows(b int64) []contract.WindowRow {
	return windows(time.Date(2024, 11, 21, 23, 57, 50, 0, time.UTC).Add(time.Duration(b)*30*time.Second), 3, 3)
}

func shuffled(rows []contract.WindowRow) []contract.WindowRow {
	out := slices.Clone(rows)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// objects returns every object of the store with its bytes.
func objects(t *testing.T, st lake.Store) map[string][]byte {
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

func readFile(t *testing.T, st lake.Store, key string) []contract.WindowRow {
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

func snapshotOf(t *testing.T, st lake.Store) *delta.Snapshot {
	t.Helper()
	snap, err := delta.NewTable(st, TableRoot).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// tableRows reads the table's rows as a Delta reader does: the live files
// of its latest snapshot, in path order.
func tableRows(t *testing.T, st lake.Store) []contract.WindowRow {
	t.Helper()
	snap := snapshotOf(t, st)
	var rows []contract.WindowRow
	for _, f := range snap.Files() {
		key, err := snap.Table().DataKey(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, readFile(t, st, key)...)
	}
	return rows
}

func sortRows(rows []contract.WindowRow) []contract.WindowRow {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, compareRows)
	return rows
}

// sameRows compares rows as multisets, reporting duplicates and losses.
func sameRows(t *testing.T, got, want []contract.WindowRow) {
	t.Helper()
	got, want = sortRows(got), sortRows(want)
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

// commitLines reads version v's commit file as one JSON object per action.
func commitLines(t *testing.T, st lake.Store, v int64) []map[string]any {
	t.Helper()
	b, err := st.Get(context.Background(), fmt.Sprintf("stream/_delta_log/%020d.json", v))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("version %d: line %q: %v", v, line, err)
		}
		out = append(out, m)
	}
	return out
}

// action returns the actions of one kind in a commit's lines.
func action(lines []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if a, ok := l[kind].(map[string]any); ok {
			out = append(out, a)
		}
	}
	return out
}

func newSink(st lake.Store) *DeltaSink { return NewDeltaSink(st, query, "append") }

// sparkSchema is the schemaString Spark writes for a table of these
// columns: its type names, timestamps as "timestamp" (microseconds, UTC).
const sparkSchema = `{"type":"struct","fields":[` +
	`{"name":"win_start","type":"timestamp","nullable":false,"metadata":{}},` +
	`{"name":"win_end","type":"timestamp","nullable":false,"metadata":{}},` +
	`{"name":"sensor_id","type":"string","nullable":false,"metadata":{}},` +
	`{"name":"eventos","type":"long","nullable":false,"metadata":{}},` +
	`{"name":"avg_temp","type":"double","nullable":false,"metadata":{}},` +
	`{"name":"avg_hum","type":"double","nullable":false,"metadata":{}},` +
	`{"name":"ok_count","type":"long","nullable":false,"metadata":{}},` +
	`{"name":"min_temp","type":"double","nullable":false,"metadata":{}},` +
	`{"name":"max_temp","type":"double","nullable":false,"metadata":{}},` +
	`{"name":"date","type":"date","nullable":true,"metadata":{}}]}`

func TestFirstBatchCreatesTheTableInOneCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		rows := acrossMidnight()
		before := time.Now().UnixMilli()
		res, err := newSink(st).WriteBatch(ctx, 7, shuffled(rows))
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now().UnixMilli()
		if res.Skipped || res.Rows != int64(len(rows)) || res.Version != 0 || res.CommittedElsewhere != nil || res.PostCommitErr != nil {
			t.Fatalf("result %+v, want %d rows committed as version 0", res, len(rows))
		}
		wantFiles := []File{
			{Key: "stream/date=2024-11-21/part-0000000007-000-0f6c9a52.parquet", Date: "2024-11-21", Rows: 6},
			{Key: "stream/date=2024-11-22/part-0000000007-001-0f6c9a52.parquet", Date: "2024-11-22", Rows: 6},
		}
		if len(res.Files) != len(wantFiles) {
			t.Fatalf("wrote %+v, want one file per date", res.Files)
		}
		for i, f := range res.Files {
			w := wantFiles[i]
			if f.Key != w.Key || f.Date != w.Date || f.Rows != w.Rows {
				t.Errorf("file %d = %+v, want %+v", i, f, w)
			}
			info, err := st.Stat(ctx, f.Key)
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != f.Size {
				t.Errorf("%s: result says %d bytes, stored %d", f.Key, f.Size, info.Size)
			}
		}

		lines := commitLines(t, st, 0)
		// commitInfo first, shaped as Spark's DeltaSink writes it.
		ci, ok := lines[0]["commitInfo"].(map[string]any)
		if !ok {
			t.Fatalf("first action %v, want commitInfo", lines[0])
		}
		if ci["operation"] != "STREAMING UPDATE" {
			t.Errorf("commitInfo.operation = %v, want STREAMING UPDATE", ci["operation"])
		}
		wantParams := map[string]any{"outputMode": "Append", "queryId": query, "epochId": "7"}
		if !reflect.DeepEqual(ci["operationParameters"], wantParams) {
			t.Errorf("commitInfo.operationParameters = %v, want %v", ci["operationParameters"], wantParams)
		}
		if m, _ := ci["operationMetrics"].(map[string]any); m["numOutputRows"] != "12" || m["numAddedFiles"] != "2" {
			t.Errorf("commitInfo.operationMetrics = %v, want 12 rows in 2 files", m)
		}

		protocol := action(lines, "protocol")
		if len(protocol) != 1 || protocol[0]["minReaderVersion"] != 1.0 || protocol[0]["minWriterVersion"] != 2.0 ||
			protocol[0]["readerFeatures"] != nil || protocol[0]["writerFeatures"] != nil {
			t.Errorf("protocol %v, want reader 1 / writer 2, the lowest a table of these types needs", protocol)
		}
		md := action(lines, "metaData")
		if len(md) != 1 {
			t.Fatalf("metaData actions %v, want one", md)
		}
		if md[0]["schemaString"] != sparkSchema {
			t.Errorf("schemaString\n%v\nwant Spark's\n%s", md[0]["schemaString"], sparkSchema)
		}
		if !reflect.DeepEqual(md[0]["partitionColumns"], []any{"date"}) {
			t.Errorf("partitionColumns %v, want [date]", md[0]["partitionColumns"])
		}
		if !reflect.DeepEqual(md[0]["configuration"], map[string]any{"delta.checkpointInterval": "10"}) {
			t.Errorf("configuration %v, want the checkpoint interval", md[0]["configuration"])
		}
		if f, _ := md[0]["format"].(map[string]any); f["provider"] != "parquet" {
			t.Errorf("format %v, want parquet", md[0]["format"])
		}

		txn := action(lines, "txn")
		if len(txn) != 1 || txn[0]["appId"] != query || txn[0]["version"] != 7.0 {
			t.Errorf("txn %v, want {appId: query id, version: 7}", txn)
		}

		adds := action(lines, "add")
		if len(adds) != 2 {
			t.Fatalf("adds %v, want 2", adds)
		}
		wantStats := []string{
			`{"numRecords":6,"minValues":{"avg_hum":35,"avg_temp":18.142857142857142,"eventos":1,"max_temp":39.7,"min_temp":18,"ok_count":0,"sensor_id":"S001","win_end":"2024-11-21T23:59:50.000Z","win_start":"2024-11-21T23:59:40.000Z"},` +
				`"maxValues":{"avg_hum":36,"avg_temp":19.428571428571427,"eventos":4,"max_temp":39.9,"min_temp":18,"ok_count":3,"sensor_id":"S003","win_end":"2024-11-22T00:00:00.000Z","win_start":"2024-11-21T23:59:50.000Z"},` +
				`"nullCount":{"avg_hum":0,"avg_temp":0,"eventos":0,"max_temp":0,"min_temp":0,"ok_count":0,"sensor_id":0,"win_end":0,"win_start":0}}`,
		}
		for i, a := range adds {
			w := wantFiles[i]
			if a["path"] != strings.TrimPrefix(w.Key, "stream/") {
				t.Errorf("add %d path %v, want %s", i, a["path"], strings.TrimPrefix(w.Key, "stream/"))
			}
			if !reflect.DeepEqual(a["partitionValues"], map[string]any{"date": w.Date}) {
				t.Errorf("add %d partitionValues %v, want date %s", i, a["partitionValues"], w.Date)
			}
			if a["size"] != float64(res.Files[i].Size) || a["dataChange"] != true {
				t.Errorf("add %d size %v dataChange %v, want %d, true", i, a["size"], a["dataChange"], res.Files[i].Size)
			}
			if mt, _ := a["modificationTime"].(float64); int64(mt) < before || int64(mt) > after {
				t.Errorf("add %d modificationTime %v, want the write's time, in [%d, %d]", i, a["modificationTime"], before, after)
			}
			stats, _ := a["stats"].(string)
			if i < len(wantStats) && stats != wantStats[i] {
				t.Errorf("add %d stats\n%s\nwant\n%s", i, stats, wantStats[i])
			}
			st, err := delta.ParseStats(stats)
			if err != nil || st.NumRecords != 6 {
				t.Errorf("add %d stats %q: numRecords %d (%v), want 6", i, stats, st.NumRecords, err)
			}
		}

		// Through a Delta reader: exactly these rows, and nothing else in the lake.
		sameRows(t, tableRows(t, st), rows)
		if got := len(objects(t, st)); got != 3 {
			t.Errorf("lake holds %d objects, want 2 data files and 1 commit", got)
		}
	})
}

func TestABatchTheTableHoldsIsSkipped(t *testing.T) {
	forEachStore(t, func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		s := newSink(st)
		if _, err := s.WriteBatch(ctx, 3, acrossMidnight()); err != nil {
			t.Fatal(err)
		}
		before := objects(t, st)
		// A re-run never differs in practice; other rows prove nothing is rewritten.
		other := windows(time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), 1, 1)
		for name, sink := range map[string]*DeltaSink{"same sink": s, "restarted sink": newSink(st)} {
			for _, batch := range []int64{3, 2} {
				res, err := sink.WriteBatch(ctx, batch, other)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Skipped || res.Version != -1 || len(res.Files) != 0 {
					t.Fatalf("%s, batch %d at or below the table's txn: %+v, want skipped", name, batch, res)
				}
			}
		}
		if after := objects(t, st); !reflect.DeepEqual(after, before) {
			t.Fatalf("re-running a committed batch changed the lake: %d objects before, %d after", len(before), len(after))
		}
		// The next batch goes on.
		res, err := s.WriteBatch(ctx, 4, other)
		if err != nil || res.Skipped || res.Version != 1 {
			t.Fatalf("batch 4: %+v, %v; want it committed as version 1", res, err)
		}
	})
}

func TestBatchBytesAreDeterministic(t *testing.T) {
	ctx := context.Background()
	rows := windows(time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC), 50, 20)
	a, b := fileStore(t), fileStore(t)
	ra, err := newSink(a).WriteBatch(ctx, 1, rows)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSink(b).WriteBatch(ctx, 1, shuffled(rows)); err != nil {
		t.Fatal(err)
	}
	oa, ob := objects(t, a), objects(t, b)
	for _, f := range ra.Files {
		if !bytes.Equal(oa[f.Key], ob[f.Key]) {
			t.Fatalf("%s: the same rows in another order gave other bytes", f.Key)
		}
	}
	sameRows(t, readFile(t, a, ra.Files[0].Key), rows)
}

func TestABatchWithoutRowsWritesNothing(t *testing.T) {
	st := fileStore(t)
	res, err := newSink(st).WriteBatch(context.Background(), 0, nil)
	if err != nil || !reflect.DeepEqual(res, Result{Version: -1}) {
		t.Fatalf("WriteBatch(no rows) = %+v, %v; want an empty result", res, err)
	}
	if n := len(objects(t, st)); n != 0 {
		t.Fatalf("an empty batch wrote %d objects", n)
	}
}

// hookStore runs hook once, before the first Put of a key with the given
// prefix: another writer acting while this one writes its data files.
type hookStore struct {
	lake.Store
	prefix string
	once   sync.Once
	hook   func()
}

func (h *hookStore) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, h.prefix) {
		h.once.Do(h.hook)
	}
	return h.Store.Put(ctx, key, data)
}

// Two writers of one query commit the same batch: the second learns it from
// the table's txn and skips, saying so; the table holds the batch once.
func TestABatchAnotherWriterCommittedMeanwhileIsSkipped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing bool // the table exists before the race
	}{{"on an existing table", true}, {"while creating the table", false}} {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st lake.Store) {
				ctx := context.Background()
				if tc.existing {
					if _, err := newSink(st).WriteBatch(ctx, 0, batchRows(0)); err != nil {
						t.Fatal(err)
					}
				}
				var otherErr error
				var otherRes Result
				slow := newSink(&hookStore{Store: st, prefix: "stream/date=", hook: func() {
					otherRes, otherErr = newSink(st).WriteBatch(ctx, 1, batchRows(1))
				}})
				if err := slow.Open(ctx); err != nil { // it read the table before the other writer committed
					t.Fatal(err)
				}
				res, err := slow.WriteBatch(ctx, 1, batchRows(1))
				if err != nil || otherErr != nil {
					t.Fatalf("errors: %v; the other writer's: %v", err, otherErr)
				}
				if otherRes.Skipped {
					t.Fatalf("the first writer skipped: %+v", otherRes)
				}
				if !res.Skipped || res.CommittedElsewhere == nil || res.Version != -1 {
					t.Fatalf("result %+v, want skipped because another writer committed the batch", res)
				}
				want := batchRows(1)
				if tc.existing {
					want = append(batchRows(0), want...)
				}
				sameRows(t, tableRows(t, st), want)
				if v, _ := snapshotOf(t, st).TxnVersion(query); v != 1 {
					t.Fatalf("txn version %d, want 1", v)
				}
			})
		})
	}
}

// Another query creates the table while this one writes its first batch:
// this one commits on top of it, without a second metaData.
func TestATableCreatedMeanwhileIsAppendedTo(t *testing.T) {
	st := fileStore(t)
	ctx := context.Background()
	const other = "7d1f0000-0000-4000-8000-000000000001"
	slow := newSink(&hookStore{Store: st, prefix: "stream/date=", hook: func() {
		if _, err := NewDeltaSink(st, other, "append").WriteBatch(ctx, 0, batchRows(100)); err != nil {
			t.Error(err)
		}
	}})
	res, err := slow.WriteBatch(ctx, 0, batchRows(0))
	if err != nil || res.Skipped || res.Version != 1 {
		t.Fatalf("result %+v, %v; want committed as version 1, after the other query's table creation", res, err)
	}
	if md := action(commitLines(t, st, 1), "metaData"); len(md) != 0 {
		t.Fatalf("version 1 holds metaData %v: it would replace the table's", md)
	}
	sameRows(t, tableRows(t, st), append(batchRows(100), batchRows(0)...))
}

// optimizeLike commits what Spark's OPTIMIZE does: the live files of a
// partition removed and one file with all their rows added, dataChange
// false.
func optimizeLike(t *testing.T, st lake.Store, date string) {
	t.Helper()
	ctx := context.Background()
	tbl := delta.NewTable(st, TableRoot)
	snap := snapshotOf(t, st)
	var rows []contract.WindowRow
	var actions []delta.Action
	for _, f := range snap.Files() {
		if f.PartitionValues["date"] != date {
			continue
		}
		key, _ := tbl.DataKey(f.Path)
		rows = append(rows, readFile(t, st, key)...)
		rm := delta.RemoveOf(f, time.Now(), false)
		actions = append(actions, delta.Action{Remove: &rm})
	}
	var buf bytes.Buffer
	if err := encode(&buf, sortRows(rows)); err != nil {
		t.Fatal(err)
	}
	rel := "date=" + date + "/part-00000-0a1b2c3d-c000.zstd.parquet"
	if err := st.Put(ctx, TableRoot+"/"+rel, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	add, err := delta.NewAdd(snap.Metadata(), rel, delta.PartitionValues{"date": date}, buf.Bytes(), time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	actions = append(actions, delta.Action{Add: &add})
	if _, err := tbl.Commit(ctx, snap, delta.Commit{Operation: delta.Operation{Name: "OPTIMIZE",
		Parameters: map[string]string{"predicate": "[]", "zOrderBy": "[]"}}, Actions: actions}); err != nil {
		t.Fatal(err)
	}
}

// commitMetadata commits a metaData change another engine made: the
// window schema with a change applied to its fields.
func commitMetadata(t *testing.T, st lake.Store, change func([]delta.StructField) []delta.StructField) {
	t.Helper()
	snap := snapshotOf(t, st)
	md := snap.Metadata()
	schema := snap.Schema()
	schema.Fields = change(slices.Clone(schema.Fields))
	s, err := schema.JSON()
	if err != nil {
		t.Fatal(err)
	}
	md.SchemaString = s
	if _, err := delta.NewTable(st, TableRoot).Commit(context.Background(), snap, delta.Commit{
		Operation: delta.Operation{Name: "ADD COLUMNS"}, Actions: []delta.Action{{Metadata: &md}}}); err != nil {
		t.Fatal(err)
	}
}

// After another engine rewrites files (OPTIMIZE), deletes some (DELETE) or
// adds a nullable column, the streamer keeps appending, with its snapshot
// cached from before, and a Delta reader sees every row once.
func TestAppendsGoOnAfterAnotherEngineWrote(t *testing.T) {
	forEachStore(t, func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		s := newSink(st)
		var want []contract.WindowRow
		write := func(b int64) Result {
			t.Helper()
			res, err := s.WriteBatch(ctx, b, batchRows(b))
			if err != nil || res.Skipped {
				t.Fatalf("batch %d: %+v, %v", b, res, err)
			}
			want = append(want, batchRows(b)...)
			return res
		}
		for b := range int64(4) {
			write(b)
		}
		optimizeLike(t, st, "2024-11-21")
		res := write(4)
		sameRows(t, tableRows(t, st), want)
		if n := snapshotOf(t, st).NumFiles(); n != 1+len(res.Files) {
			t.Fatalf("%d live files after OPTIMIZE and one batch, want the merged file and the batch's %d", n, len(res.Files))
		}

		// DELETE of one file's rows (a data-changing remove).
		snap := snapshotOf(t, st)
		last := snap.Files()[len(snap.Files())-1]
		key, _ := snap.Table().DataKey(last.Path)
		deleted := readFile(t, st, key)
		rm := delta.RemoveOf(last, time.Now(), true)
		if _, err := snap.Table().Commit(ctx, snap, delta.Commit{Operation: delta.Operation{Name: "DELETE"},
			Actions: []delta.Action{{Remove: &rm}}}); err != nil {
			t.Fatal(err)
		}
		want = slices.DeleteFunc(want, func(r contract.WindowRow) bool {
			return slices.ContainsFunc(deleted, func(d contract.WindowRow) bool {
				return d.WinStart.Equal(r.WinStart) && d.SensorID == r.SensorID
			})
		})
		write(5)

		commitMetadata(t, st, func(f []delta.StructField) []delta.StructField {
			return append(f, delta.StructField{Name: "note", Type: delta.String, Nullable: true})
		})
		write(6)
		sameRows(t, tableRows(t, st), want)
		if v, _ := snapshotOf(t, st).TxnVersion(query); v != 6 {
			t.Fatalf("txn version %d, want 6", v)
		}
	})
}

func TestATableWhoseSchemaChangedIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func([]delta.StructField) []delta.StructField
		want   []string
	}{
		{"a column retyped", func(f []delta.StructField) []delta.StructField {
			f[4].Type = delta.String
			return f
		}, []string{"column avg_temp is string, want double"}},
		{"a column dropped", func(f []delta.StructField) []delta.StructField {
			return slices.Delete(f, 2, 3)
		}, []string{"column sensor_id is missing"}},
		{"a NOT NULL column added", func(f []delta.StructField) []delta.StructField {
			return append(f, delta.StructField{Name: "site", Type: delta.String})
		}, []string{"column site (string) is NOT NULL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := fileStore(t)
			ctx := context.Background()
			s := newSink(st)
			if _, err := s.WriteBatch(ctx, 0, batchRows(0)); err != nil {
				t.Fatal(err)
			}
			commitMetadata(t, st, tc.change)
			before := objects(t, st)
			for name, open := range map[string]func() error{
				"running sink":   func() error { _, err := s.WriteBatch(ctx, 1, batchRows(1)); return err },
				"starting sink":  func() error { return newSink(st).Open(ctx) },
				"starting batch": func() error { _, err := newSink(st).WriteBatch(ctx, 1, batchRows(1)); return err },
			} {
				err := open()
				if !errors.Is(err, ErrIncompatibleTable) {
					t.Fatalf("%s: err = %v, want ErrIncompatibleTable", name, err)
				}
				for _, w := range append(tc.want, snapshotOf(t, st).Table().String(), "another lake") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not mention %q", name, err, w)
					}
				}
			}
			if after := objects(t, st); !reflect.DeepEqual(after, before) {
				t.Fatal("a refused batch wrote to the lake")
			}
		})
	}
}

// A table needing a feature lake/delta cannot honour is refused, naming it.
func TestATableNeedingAnUnsupportedFeatureIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, protocol string
		atOpen         bool // refused when reading, not only when writing
	}{
		{"deletion vectors", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}`, true},
		{"row tracking", `{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["rowTracking","domainMetadata"]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := fileStore(t)
			if _, err := newSink(st).WriteBatch(ctx, 0, batchRows(0)); err != nil {
				t.Fatal(err)
			}
			// Another engine upgraded the protocol.
			line := `{"commitInfo":{"timestamp":1,"operation":"SET TBLPROPERTIES"}}` + "\n" + `{"protocol":` + tc.protocol + "}\n"
			if err := st.Put(ctx, "stream/_delta_log/00000000000000000001.json", []byte(line)); err != nil {
				t.Fatal(err)
			}
			err := newSink(st).Open(ctx)
			if tc.atOpen != (err != nil) {
				t.Fatalf("Open: %v; want refused: %v", err, tc.atOpen)
			}
			if err == nil {
				_, err = newSink(st).WriteBatch(ctx, 1, batchRows(1))
			}
			feature := strings.ReplaceAll(tc.name, " ", "")
			if !errors.Is(err, delta.ErrUnsupportedFeature) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(feature)) ||
				!strings.Contains(err.Error(), "file://") {
				t.Fatalf("err = %v, want an unsupported-feature error naming %s and the table", err, feature)
			}
			if _, err := st.Stat(ctx, "stream/_delta_log/00000000000000000002.json"); !errors.Is(err, lake.ErrNotExist) {
				t.Fatalf("the refused batch reached the table: version 2: %v", err)
			}
		})
	}
}

// Every write of a run of batches fails in turn, as if the process died
// there: before a batch's data files, between them, between them and the
// commit, at the commit, after it (at the table's checkpoint, which batch
// 10's commit writes). A restarted sink re-runs the batch that was in
// flight and goes on; the table then holds every row exactly once.
func TestACrashAtAnyWriteLosesAndDuplicatesNothing(t *testing.T) {
	const batches = 12
	var want []contract.WindowRow
	for b := range int64(batches) {
		want = append(want, batchRows(b)...)
	}
	run := func(t *testing.T, st lake.Store, crashAt int) {
		t.Helper()
		ctx := context.Background()
		fs := faultstore.New(st, "")
		fs.Group().CrashAt(crashAt, nil)
		s := newSink(fs)
		crashed := false
		for b := int64(0); b < batches; b++ {
			_, err := s.WriteBatch(ctx, b, batchRows(b))
			if !crashed && fs.Group().Dead() {
				// Restart: a new process re-runs the batch in flight.
				crashed = true
				s = newSink(st)
				_, err = s.WriteBatch(ctx, b, batchRows(b))
			}
			if err != nil {
				t.Fatalf("batch %d: %v", b, err)
			}
		}
		if !crashed {
			t.Fatalf("the run never reached write %d", crashAt)
		}
		sameRows(t, tableRows(t, st), want)
		if v, _ := snapshotOf(t, st).TxnVersion(query); v != batches-1 {
			t.Fatalf("txn version %d, want %d", v, batches-1)
		}
	}
	// The writes of a run without a crash: each is a place to crash.
	ref := faultstore.New(fileStore(t), "")
	s := newSink(ref)
	for b := int64(0); b < batches; b++ {
		if _, err := s.WriteBatch(context.Background(), b, batchRows(b)); err != nil {
			t.Fatal(err)
		}
	}
	writes := ref.Group().Writes()
	kinds := map[string]bool{}
	for _, w := range writes {
		switch {
		case strings.HasSuffix(w, ".checkpoint.parquet"):
			kinds["checkpoint"] = true
		case strings.HasSuffix(w, "_last_checkpoint"):
			kinds["_last_checkpoint"] = true
		case strings.Contains(w, "_delta_log/"):
			kinds["commit"] = true
		case strings.Contains(w, "date="):
			kinds["data file"] = true
		}
	}
	if len(kinds) != 4 {
		t.Fatalf("a run of %d batches writes %v (%d writes): want data files, commits and a checkpoint to crash at", batches, kinds, len(writes))
	}
	forEachKind(t, func(t *testing.T, newStore func(t *testing.T) lake.Store) {
		for k := 1; k <= len(writes); k++ {
			t.Run(fmt.Sprintf("write %d %s", k, writes[k-1]), func(t *testing.T) { run(t, newStore(t), k) })
		}
	})
}

// readCounter counts the log files read.
type readCounter struct {
	lake.Store
	mu    sync.Mutex
	reads []string
}

func (r *readCounter) Get(ctx context.Context, key string) ([]byte, error) {
	r.count(key)
	return r.Store.Get(ctx, key)
}

func (r *readCounter) Open(ctx context.Context, key string) (lake.Object, lake.ObjectInfo, error) {
	r.count(key)
	return r.Store.Open(ctx, key)
}

func (r *readCounter) count(key string) {
	if strings.Contains(key, "_delta_log/") {
		r.mu.Lock()
		r.reads = append(r.reads, key)
		r.mu.Unlock()
	}
}

func (r *readCounter) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reads
	r.reads = nil
	return out
}

// isCommit reports whether key is a commit file of the log.
func isCommit(key string) bool {
	name := key[strings.LastIndexByte(key, '/')+1:]
	return len(name) == 25 && strings.HasSuffix(name, ".json")
}

// A running sink keeps its snapshot and applies only the commits made since
// its last batch: a batch's cost does not grow with the table's history.
func TestABatchReadsOnlyTheCommitsSinceThePrevious(t *testing.T) {
	ctx := context.Background()
	rc := &readCounter{Store: fileStore(t)}
	s := newSink(rc)
	commits := func(reads []string) []string {
		return slices.DeleteFunc(reads, func(k string) bool { return !isCommit(k) })
	}
	for b := range int64(35) {
		res, err := s.WriteBatch(ctx, b, batchRows(b))
		if err != nil {
			t.Fatal(err)
		}
		reads := rc.take()
		// Batch 1 reads the table batch 0 created; from then on the sink
		// updates its snapshot. (Writing a checkpoint, every 10 versions,
		// reads it back.)
		if b > 1 && len(commits(reads)) > 1 || b > 1 && res.Version%10 != 0 && len(reads) > 1 {
			t.Fatalf("batch %d (version %d) read %v from the log, want only the previous batch's commit", b, res.Version, reads)
		}
	}
	// Another writer's commit costs one more read, not a replay.
	optimizeLike(t, rc.Store, "2024-11-21")
	rc.take()
	if _, err := s.WriteBatch(ctx, 35, batchRows(35)); err != nil {
		t.Fatal(err)
	}
	if reads := rc.take(); len(reads) != 2 {
		t.Fatalf("after another writer's commit the batch read %v, want that commit and the previous batch's", reads)
	}
}

// BenchmarkWriteBatch10k appends batches of 10,000 rows (one file, one
// commit each).
func BenchmarkWriteBatch10k(b *testing.B) {
	st := fileStore(b)
	s := newSink(st)
	rows := windows(time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC), 500, 20)
	ctx := context.Background()
	b.ReportAllocs()
	var id int64
	for b.Loop() {
		if _, err := s.WriteBatch(ctx, id, rows); err != nil {
			b.Fatal(err)
		}
		id++
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteBatchLongLog appends small batches to a table that already
// has 1,000 commits: a batch's cost must not grow with the history.
func BenchmarkWriteBatchLongLog(b *testing.B) {
	st := fileStore(b)
	s := newSink(st)
	ctx := context.Background()
	var id int64
	for ; id < 1000; id++ {
		if _, err := s.WriteBatch(ctx, id, batchRows(id%100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.WriteBatch(ctx, id, batchRows(id%100)); err != nil {
			b.Fatal(err)
		}
		id++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
