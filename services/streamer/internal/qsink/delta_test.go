package qsink

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
)

// notNullData is q with its data columns declared NOT NULL, as the seed's
// stream table declares them (see TestTheSeedStreamTableIsTheSeedSinks).
func notNullData(q *plan.Query) *plan.Query {
	c := *q
	c.Output = slices.Clone(q.Output)
	for i := range c.Output {
		c.Output[i].Nullable = c.Output[i].Name == "date"
	}
	return &c
}

func seedEnv(st lake.Store) Env { return Env{Lake: st, QueryID: queryID} }

func write(t testing.TB, o Output, q *plan.Query, batchID int64, rows []contract.WindowRow) Result {
	t.Helper()
	res, err := o.Write(context.Background(), batchID, windowBatch(t, q.Output, rows), false)
	if err != nil {
		t.Fatalf("batch %d: %v", batchID, err)
	}
	return res
}

// liveFiles maps a table's live files' paths to their adds.
func liveFiles(t testing.TB, st lake.Store, root string) map[string]delta.Add {
	out := map[string]delta.Add{}
	for _, f := range snapshotOf(t, st, root).Files() {
		out[f.Path] = f
	}
	return out
}

// builtinLake is a copy of testdata/builtin-lake: the stream table an
// earlier streamer's specialised Delta sink wrote for batchRows(0..5) of
// query queryID, one commit per batch (version b is batch b).
func builtinLake(t testing.TB) lake.Store {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/builtin-lake")); err != nil {
		t.Fatal(err)
	}
	st, err := lake.Open(context.Background(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The seed's stream sink, compiled from queries/seed/streaming.sql and
// written through this package, gives the table the earlier streamer's
// specialised Delta sink wrote for the same window rows (testdata/
// builtin-lake): the same data file names, partition values and stats, the
// same rows read back, the same txn, commitInfo parameters, protocol,
// partitioning and configuration, and, once the query declares its data
// columns NOT NULL as that table does, the same schema to the byte. With
// the planner's all-nullable Output the schema differs only in those
// columns' nullability.
func TestTheSeedStreamTableIsTheSeedSinks(t *testing.T) {
	compiled := seedQuery(t, "stream")
	if got := compiled.Sink.Options["partitioned_by"]; got != "date" || compiled.Sink.Options["path"] != "stream" {
		t.Fatalf("seed stream sink options %v, want path stream partitioned by date", compiled.Sink.Options)
	}
	for _, tc := range []struct {
		name    string
		q       *plan.Query
		exactly bool
	}{
		{"Output with NOT NULL data columns", notNullData(compiled), true},
		{"Output as compiled", compiled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, gen := builtinLake(t), fileStore(t)
			o := open(t, tc.q, seedEnv(gen))
			var all []contract.WindowRow
			for b := range int64(6) {
				rows := batchRows(b)
				all = append(all, rows...)
				adds := len(action(commitLines(t, old, "stream", b), "add"))
				got := write(t, o, tc.q, b, shuffled(rows))
				if got.Version != b || got.Rows != int64(len(rows)) || got.Files != adds || got.Skipped {
					t.Fatalf("batch %d: %+v, want version %d with %d rows in %d files, as the seed sink's", b, got, b, len(rows), adds)
				}
			}
			wantRows := windowTableRows(all)
			if got := readTable(t, old, "stream"); !slices.Equal(got, wantRows) {
				t.Fatalf("the seed sink's table reads back\n%v\nwant\n%v", got, wantRows)
			}
			if got := readTable(t, gen, "stream"); !slices.Equal(got, wantRows) {
				t.Fatalf("the generic sink's table reads back\n%v\nwant the seed sink's\n%v", got, wantRows)
			}

			so, sg := snapshotOf(t, old, "stream"), snapshotOf(t, gen, "stream")
			mo, mg := so.Metadata(), sg.Metadata()
			if !slices.Equal(mg.PartitionColumns, mo.PartitionColumns) || !reflect.DeepEqual(mg.Configuration, mo.Configuration) ||
				!reflect.DeepEqual(sg.Protocol(), so.Protocol()) {
				t.Errorf("metadata %+v protocol %+v; the seed sink's %+v, %+v", mg, sg.Protocol(), mo, so.Protocol())
			}
			if tc.exactly {
				if mg.SchemaString != mo.SchemaString {
					t.Errorf("schema\n%s\nthe seed sink's\n%s", mg.SchemaString, mo.SchemaString)
				}
			} else {
				fo, fg := so.Schema().Fields, sg.Schema().Fields
				if len(fg) != len(fo) {
					t.Fatalf("schema %v, the seed sink's %v", fg, fo)
				}
				for i := range fo {
					if fg[i].Name != fo[i].Name || typeString(fg[i].Type) != typeString(fo[i].Type) {
						t.Errorf("column %d: %s %s, the seed sink's %s %s", i, fg[i].Name, typeString(fg[i].Type), fo[i].Name, typeString(fo[i].Type))
					}
					if fg[i].Nullable != compiled.Output[i].Nullable && fg[i].Name != "date" {
						t.Errorf("column %s nullable %v, the query declares %v", fg[i].Name, fg[i].Nullable, compiled.Output[i].Nullable)
					}
				}
				if d, _ := sg.Schema().Field("date"); !d.Nullable {
					t.Errorf("partition column date is NOT NULL")
				}
			}
			txns := func(s *delta.Snapshot) map[string]int64 {
				m := map[string]int64{}
				for _, x := range s.Txns() {
					m[x.AppID] = x.Version
				}
				return m
			}
			if !reflect.DeepEqual(txns(sg), txns(so)) || len(txns(so)) != 1 {
				t.Errorf("txns %v, the seed sink's %v", txns(sg), txns(so))
			}
			fo, fg := liveFiles(t, old, "stream"), liveFiles(t, gen, "stream")
			if len(fg) != len(fo) {
				t.Fatalf("%d live files, the seed sink's %d", len(fg), len(fo))
			}
			for p, a := range fo {
				g, ok := fg[p]
				switch {
				case !ok:
					t.Errorf("no file %s, which the seed sink writes", p)
				case !reflect.DeepEqual(g.PartitionValues, a.PartitionValues):
					t.Errorf("%s: partition values %v, the seed sink's %v", p, g.PartitionValues, a.PartitionValues)
				case tc.exactly && g.Stats != a.Stats:
					t.Errorf("%s: stats\n%s\nthe seed sink's\n%s", p, g.Stats, a.Stats)
				}
			}
			for v := range int64(6) {
				co := action(commitLines(t, old, "stream", v), "commitInfo")[0]
				cg := action(commitLines(t, gen, "stream", v), "commitInfo")[0]
				if co["operation"] != cg["operation"] || !reflect.DeepEqual(co["operationParameters"], cg["operationParameters"]) {
					t.Errorf("version %d commitInfo %v %v, the seed sink's %v %v", v, cg["operation"], cg["operationParameters"], co["operation"], co["operationParameters"])
				}
			}
			if k := contract.StreamFileKey("2024-11-22", queryID, 4, 1); objects(t, gen)[k] == nil {
				t.Errorf("no data file %s: the stream table's files keep contract.StreamFileKey's names", k)
			}
		})
	}
}

// A lake the earlier streamer's specialised Delta sink wrote (testdata/
// builtin-lake, batches 0 to 5) is taken over by the generic sink: the
// last batch, re-run as after a crash, is recognised (same txn appId), the
// table keeps its schema (NOT NULL columns written NOT NULL), and every row
// is there once.
func TestTheGenericSinkTakesOverTheSeedSinksTable(t *testing.T) {
	st := builtinLake(t)
	var all []contract.WindowRow
	for b := range int64(6) {
		all = append(all, batchRows(b)...)
	}
	schema := snapshotOf(t, st, "stream").Metadata().SchemaString
	if !strings.Contains(schema, `"name":"eventos","type":"long","nullable":false`) {
		t.Fatalf("the fixture's schema %s does not declare its data columns NOT NULL", schema)
	}
	q := seedQuery(t, "stream")
	o := open(t, q, seedEnv(st))
	before := objects(t, st)
	if res := write(t, o, q, 5, batchRows(5)); !res.Skipped || res.Version != -1 {
		t.Fatalf("re-running batch 5 after the switch: %+v, want skipped", res)
	}
	if !reflect.DeepEqual(objects(t, st), before) {
		t.Fatal("re-running a committed batch changed the lake")
	}
	for b := int64(6); b < 9; b++ {
		if res := write(t, o, q, b, batchRows(b)); res.Skipped || res.Version != b {
			t.Fatalf("batch %d: %+v, want committed as version %d", b, res, b)
		}
		all = append(all, batchRows(b)...)
	}
	if got := snapshotOf(t, st, "stream").Metadata().SchemaString; got != schema {
		t.Errorf("the schema changed:\n%s\nwas\n%s", got, schema)
	}
	if got, want := readTable(t, st, "stream"), windowTableRows(all); !slices.Equal(got, want) {
		t.Fatalf("table rows\n%v\nwant\n%v", got, want)
	}
}

func TestABatchTheTableHoldsIsSkipped(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	q := seedQuery(t, "stream")
	o := open(t, q, seedEnv(st))
	first := write(t, o, q, 3, batchRows(4))
	if first.Files != 2 || first.Version != 0 || first.Rows != 9 {
		t.Fatalf("first batch: %+v, want 9 rows in 2 files as version 0", first)
	}
	before := objects(t, st)
	other := windows(time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), 1, 1)
	for name, out := range map[string]Output{"same sink": o, "reopened sink": open(t, q, seedEnv(st))} {
		for _, b := range []int64{3, 2} {
			res := write(t, out, q, b, other)
			if !res.Skipped || res.Version != -1 || res.Files != 0 || res.Rows != 1 {
				t.Fatalf("%s, batch %d at or below the table's txn: %+v, want skipped", name, b, res)
			}
		}
	}
	if !reflect.DeepEqual(objects(t, st), before) {
		t.Fatal("re-running a committed batch changed the lake")
	}
	if res := write(t, o, q, 4, other); res.Skipped || res.Version != 1 {
		t.Fatalf("batch 4: %+v, want committed as version 1", res)
	}
	if res, err := o.Write(ctx, 5, types.NewBatch(q.Output, 0), true); err != nil || res.Version != -1 || len(objects(t, st)) != len(before)+2 {
		t.Fatalf("a batch without rows: %+v, %v; want nothing written", res, err)
	}
}

// The same rows in another order give the same files, byte for byte: a
// batch re-run after a crash rewrites the objects it wrote before.
func TestBatchBytesAreDeterministic(t *testing.T) {
	q := seedQuery(t, "stream")
	rows := windows(time.Date(2024, 11, 21, 23, 50, 0, 0, time.UTC), 100, 20)
	a, b := fileStore(t), fileStore(t)
	write(t, open(t, q, seedEnv(a)), q, 1, rows)
	write(t, open(t, q, seedEnv(b)), q, 1, shuffled(rows))
	oa, ob := objects(t, a), objects(t, b)
	n := 0
	for k, v := range oa {
		if strings.HasSuffix(k, ".parquet") {
			n++
			if !slices.Equal(v, ob[k]) {
				t.Errorf("%s: the same rows in another order gave other bytes", k)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d data files, want one per date (2)", n)
	}
}

// commitMetadata commits a metaData change another engine made.
func commitMetadata(t *testing.T, st lake.Store, change func([]delta.StructField) []delta.StructField) {
	t.Helper()
	snap := snapshotOf(t, st, "stream")
	md := snap.Metadata()
	schema := snap.Schema()
	schema.Fields = change(slices.Clone(schema.Fields))
	s, err := schema.JSON()
	if err != nil {
		t.Fatal(err)
	}
	md.SchemaString = s
	if _, err := delta.NewTable(st, "stream").Commit(context.Background(), snap, delta.Commit{
		Operation: delta.Operation{Name: "ADD COLUMNS"}, Actions: []delta.Action{{Metadata: &md}}}); err != nil {
		t.Fatal(err)
	}
}

// After another engine compacts the table (OPTIMIZE) and adds a nullable
// column, the sink keeps appending with its cached snapshot, and a Delta
// reader sees every row once (null in the new column).
func TestAppendsGoOnAfterAnotherEngineWrote(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	q := seedQuery(t, "stream")
	o := open(t, q, seedEnv(st))
	var all []contract.WindowRow
	for b := range int64(4) {
		write(t, o, q, b, batchRows(b))
		all = append(all, batchRows(b)...)
	}
	opt, err := delta.NewTable(st, "stream").Optimize(ctx, delta.OptimizeOptions{})
	if err != nil || opt.Version < 0 {
		t.Fatalf("OPTIMIZE: %+v, %v", opt, err)
	}
	res := write(t, o, q, 4, batchRows(4))
	all = append(all, batchRows(4)...)
	if res.Version != opt.Version+1 {
		t.Fatalf("batch after OPTIMIZE committed as version %d, want %d", res.Version, opt.Version+1)
	}
	commitMetadata(t, st, func(f []delta.StructField) []delta.StructField {
		return append(f, delta.StructField{Name: "note", Type: delta.String, Nullable: true})
	})
	write(t, o, q, 5, batchRows(5))
	all = append(all, batchRows(5)...)
	want := windowTableRows(all)
	for i := range want {
		want[i] += " note=NULL"
	}
	got := readTable(t, st, "stream")
	if !slices.Equal(got, want) {
		t.Fatalf("table rows\n%v\nwant\n%v", got, want)
	}
	if v, _ := snapshotOf(t, st, "stream").TxnVersion(queryID); v != 5 {
		t.Fatalf("txn version %d, want 5", v)
	}
}

func TestATableWhoseSchemaChangedIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func([]delta.StructField) []delta.StructField
		want   string
	}{
		{"a column retyped", func(f []delta.StructField) []delta.StructField {
			f[4].Type = delta.String
			return f
		}, "column avg_temp is string, want double"},
		{"a column dropped", func(f []delta.StructField) []delta.StructField {
			return slices.Delete(f, 2, 3)
		}, "column sensor_id is missing"},
		{"a NOT NULL column added", func(f []delta.StructField) []delta.StructField {
			return append(f, delta.StructField{Name: "site", Type: delta.String})
		}, "column site (string) is NOT NULL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := fileStore(t)
			q := seedQuery(t, "stream")
			o := open(t, q, seedEnv(st))
			write(t, o, q, 0, batchRows(0))
			commitMetadata(t, st, tc.change)
			before := objects(t, st)
			for name, try := range map[string]func() error{
				"running sink": func() error {
					_, err := o.Write(ctx, 1, windowBatch(t, q.Output, batchRows(1)), false)
					return err
				},
				"opening sink": func() error { _, err := Open(ctx, q, seedEnv(st)); return err },
			} {
				err := try()
				if !errors.Is(err, ErrIncompatibleTable) {
					t.Fatalf("%s: err = %v, want ErrIncompatibleTable", name, err)
				}
				for _, w := range []string{tc.want, "file://", "sink stream"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not mention %q", name, err, w)
					}
				}
			}
			if !reflect.DeepEqual(objects(t, st), before) {
				t.Fatal("a refused batch wrote to the lake")
			}
		})
	}
}

// A table partitioned otherwise is refused by name.
func TestATableOfAnotherPartitioningIsRefused(t *testing.T) {
	st := fileStore(t)
	q := seedQuery(t, "stream")
	write(t, open(t, q, seedEnv(st)), q, 0, batchRows(0))
	other := *q
	sk := *q.Sink
	sk.Options = map[string]string{"connector": "delta", "path": "stream", "mode": "append", "partitioned_by": "date,win_end"}
	other.Sink = &sk
	_, err := Open(context.Background(), &other, seedEnv(st))
	if !errors.Is(err, ErrIncompatibleTable) || !strings.Contains(err.Error(), "partitioned by [date], want [date win_end]") {
		t.Fatalf("err = %v, want the partitioning named", err)
	}
}

// partitionedQuery outputs a DATE, a STRING and a TIMESTAMP partition
// column around two data columns.
func partitionedQuery() *plan.Query {
	return query("events", "delta", "append", types.Schema{
		{Name: "day", Type: types.TDate, Nullable: true},
		{Name: "id", Type: types.TBigint, Nullable: true},
		{Name: "region", Type: types.TString, Nullable: true},
		{Name: "at", Type: types.TTimestamp, Nullable: true},
		{Name: "amount", Type: types.DecimalOf(10, 2), Nullable: true},
	}, map[string]string{"path": "tables/events", "partitioned_by": "day, region,at"})
}

type event struct {
	day    int64
	id     int64
	region *string
	at     int64
	amount int64
}

func eventBatch(q *plan.Query, evs []event) *types.Batch {
	b := types.NewBatch(q.Output, len(evs))
	for _, e := range evs {
		b.Cols[0].AppendInt(e.day)
		b.Cols[1].AppendInt(e.id)
		if e.region == nil {
			b.Cols[2].AppendNull()
		} else {
			b.Cols[2].AppendString(*e.region)
		}
		b.Cols[3].AppendInt(e.at)
		b.Cols[4].AppendInt(e.amount)
	}
	b.N = len(evs)
	return b
}

// Partitioned tables: one file per partition value under Hive-style
// directories (values as Spark writes them, escaped; NULL and the empty string as
// __HIVE_DEFAULT_PARTITION__), the values in the adds' partitionValues
// (null as null), and the partition columns in the schema but not in the
// data files.
func TestPartitionColumns(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	q := partitionedQuery()
	o := open(t, q, seedEnv(st))
	eu, empty := "eu/west", ""
	day := time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC).Unix() / 86400
	at := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC).UnixMicro()
	evs := []event{
		{day, 1, &eu, at, 1050},
		{day, 2, &eu, at, -7},
		{day + 1, 3, &eu, at + 1500, 99},
		{day, 4, nil, at, 1},
		{day, 5, &empty, at, 2},
	}
	res, err := o.Write(ctx, 7, eventBatch(q, shuffled(evs)), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 3 || res.Rows != 5 {
		t.Fatalf("result %+v, want 5 rows in 3 files", res)
	}
	want := map[string]map[string]any{
		"day=2024-11-21/region=__HIVE_DEFAULT_PARTITION__/at=2024-11-21 10%3A00%3A00/part-0000000007-000-0f6c9a52.parquet": {
			"day": "2024-11-21", "region": nil, "at": "2024-11-21 10:00:00"},
		"day=2024-11-21/region=eu%2Fwest/at=2024-11-21 10%3A00%3A00/part-0000000007-001-0f6c9a52.parquet": {
			"day": "2024-11-21", "region": "eu/west", "at": "2024-11-21 10:00:00"},
		"day=2024-11-22/region=eu%2Fwest/at=2024-11-21 10%3A00%3A00.0015/part-0000000007-002-0f6c9a52.parquet": {
			"day": "2024-11-22", "region": "eu/west", "at": "2024-11-21 10:00:00.0015"},
	}
	lines := commitLines(t, st, "tables/events", 0)
	md := action(lines, "metaData")[0]
	if !reflect.DeepEqual(md["partitionColumns"], []any{"day", "region", "at"}) {
		t.Errorf("partitionColumns %v", md["partitionColumns"])
	}
	wantSchema := `{"type":"struct","fields":[{"name":"day","type":"date","nullable":true,"metadata":{}},` +
		`{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"region","type":"string","nullable":true,"metadata":{}},` +
		`{"name":"at","type":"timestamp","nullable":true,"metadata":{}},{"name":"amount","type":"decimal(10,2)","nullable":true,"metadata":{}}]}`
	if md["schemaString"] != wantSchema {
		t.Errorf("schema\n%v\nwant\n%s", md["schemaString"], wantSchema)
	}
	adds := action(lines, "add")
	if len(adds) != len(want) {
		t.Fatalf("adds %v, want %d", adds, len(want))
	}
	for _, a := range adds {
		rel, err := delta.DecodePath(a["path"].(string))
		if err != nil {
			t.Fatal(err)
		}
		pv, ok := want[rel]
		if !ok {
			t.Errorf("add of %s, want one of %v", rel, want)
			continue
		}
		if !reflect.DeepEqual(a["partitionValues"], pv) {
			t.Errorf("%s: partitionValues %v, want %v", rel, a["partitionValues"], pv)
		}
		data, err := st.Get(ctx, "tables/events/"+rel)
		if err != nil {
			t.Fatalf("the add's file: %v", err)
		}
		// The file holds the data columns only.
		if _, err := readTableFile(data, types.Schema{{Name: "region", Type: types.TString, Nullable: true}}); err == nil {
			t.Errorf("%s holds the partition column region", rel)
		}
		if _, err := readTableFile(data, types.Schema{{Name: "id", Type: types.TBigint, Nullable: true}, {Name: "amount", Type: types.DecimalOf(10, 2), Nullable: true}}); err != nil {
			t.Errorf("%s: data columns: %v", rel, err)
		}
	}
	got := readTable(t, st, "tables/events")
	wantRows := []string{
		"day=2024-11-21 id=1 region=eu/west at=2024-11-21 10:00:00 amount=1050",
		"day=2024-11-21 id=2 region=eu/west at=2024-11-21 10:00:00 amount=-7",
		"day=2024-11-21 id=4 region=NULL at=2024-11-21 10:00:00 amount=1",
		"day=2024-11-21 id=5 region=NULL at=2024-11-21 10:00:00 amount=2",
		"day=2024-11-22 id=3 region=eu/west at=2024-11-21 10:00:00.0015 amount=99",
	}
	if !slices.Equal(got, wantRows) {
		t.Fatalf("rows read back\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
	}
	// lake/delta reads the values back as their types.
	snap := snapshotOf(t, st, "tables/events")
	for _, f := range snap.Files() {
		for _, c := range []string{"day", "at"} {
			fl, _ := snap.Schema().Field(c)
			v, err := delta.ParsePartitionValue(fl.Type, f.PartitionValues[c])
			if _, isTime := v.(time.Time); err != nil || !isTime {
				t.Errorf("%s: partition value %s=%q reads as %v, %v", f.Path, c, f.PartitionValues[c], v, err)
			}
		}
	}
}

// A null in a column the table declares NOT NULL fails the batch before
// any file is written, naming the column.
func TestANullInANotNullColumnIsRefused(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	q := notNullData(seedQuery(t, "stream"))
	o := open(t, q, seedEnv(st))
	write(t, o, q, 0, batchRows(0))
	before := objects(t, st)
	b := windowBatch(t, q.Output, batchRows(1))
	avg := b.Cols[q.Output.Index("avg_hum")]
	avg.Null = make([]bool, b.N)
	avg.Null[4], avg.F64[4] = true, 0
	// The compiled query's Output says nullable; the table says NOT NULL.
	_, err := open(t, seedQuery(t, "stream"), seedEnv(st)).Write(ctx, 1, b, false)
	if err == nil || !strings.Contains(err.Error(), "NOT NULL constraint violated for column: avg_hum") {
		t.Fatalf("err = %v, want the NOT NULL column named", err)
	}
	if !reflect.DeepEqual(objects(t, st), before) {
		t.Fatal("a refused batch wrote to the lake")
	}
}

func TestOpenRefuses(t *testing.T) {
	st := fileStore(t)
	seed := seedQuery(t, "stream")
	withOpts := func(mode string, opts map[string]string) *plan.Query {
		q := *seed
		sk := *seed.Sink
		sk.Mode, sk.Options = mode, opts
		q.Sink = &sk
		return &q
	}
	for _, tc := range []struct {
		name string
		q    *plan.Query
		want string
	}{
		{"complete mode", withOpts("complete", map[string]string{"path": "stream"}), "complete mode is not supported"},
		{"a URL path", withOpts("append", map[string]string{"path": "s3://other/stream"}), "relative to the lake"},
		{"a path leaving the lake", withOpts("append", map[string]string{"path": "../stream"}), "'..'"},
		{"an unknown partition column", withOpts("append", map[string]string{"path": "stream", "partitioned_by": "day"}), "partition column day is not an output column"},
		{"every column a partition column", query("p", "delta", "append", types.Schema{{Name: "a", Type: types.TBigint}},
			map[string]string{"path": "p", "partitioned_by": "a"}), "needs a data column"},
		{"a DATE data column", query("p", "delta", "append", types.Schema{{Name: "a", Type: types.TDate}},
			map[string]string{"path": "p"}), "column a: type DATE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.q, seedEnv(st))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestDescribeNamesTheTable(t *testing.T) {
	dir := t.TempDir()
	st, err := lake.Open(context.Background(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	o := open(t, seedQuery(t, "stream"), seedEnv(st))
	if got, want := o.Describe(), "DeltaSink[file://"+dir+"/stream]"; got != want {
		t.Fatalf("Describe() = %q, want %q", got, want)
	}
}

// BenchmarkDeltaWrite10k appends batches of 10,000 seed rows (one file,
// one commit each), as the seed sink's BenchmarkWriteBatch10k.
func BenchmarkDeltaWrite10k(b *testing.B) {
	st := fileStore(b)
	q := seedQuery(b, "stream")
	o := open(b, q, seedEnv(st))
	batch := windowBatch(b, q.Output, windows(time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC), 500, 20))
	ctx := context.Background()
	b.ReportAllocs()
	var id int64
	for b.Loop() {
		if _, err := o.Write(ctx, id, batch, false); err != nil {
			b.Fatal(err)
		}
		id++
	}
	b.ReportMetric(float64(batch.N)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// The data files are compressed with zstd unless the sink names another
// codec as Spark's Parquet writer does (compression = 'snappy', …), and
// read back the same either way.
func TestDataFilesAreCompressedAsTheSinkSays(t *testing.T) {
	rows := windows(time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC), 5, 20)
	for opt, want := range map[string]string{"": "ZSTD", "snappy": "SNAPPY", "None": "UNCOMPRESSED"} {
		q := seedQuery(t, "stream")
		if opt != "" {
			qq := *q
			s := *q.Sink
			s.Options = map[string]string{"compression": opt}
			for k, v := range q.Sink.Options {
				s.Options[k] = v
			}
			qq.Sink = &s
			q = &qq
		}
		st := fileStore(t)
		write(t, open(t, q, seedEnv(st)), q, 1, rows)
		files := 0
		for k, data := range objects(t, st) {
			if !strings.HasSuffix(k, ".parquet") {
				continue
			}
			files++
			f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range f.Metadata().RowGroups[0].Columns {
				if got := c.MetaData.Codec.String(); got != want {
					t.Fatalf("compression %q: %s has a %s column chunk, want %s", opt, k, got, want)
				}
			}
		}
		if got := readTable(t, st, "stream"); files == 0 || !slices.Equal(got, windowTableRows(rows)) {
			t.Fatalf("compression %q: %d files, the table reads %d rows of %d", opt, files, len(got), len(rows))
		}
	}
	q := seedQuery(t, "stream")
	s := *q.Sink
	s.Options = map[string]string{"compression": "lzo", "path": "stream"}
	q.Sink = &s
	if _, err := Open(context.Background(), q, seedEnv(fileStore(t))); err == nil || !strings.Contains(err.Error(), "use zstd, snappy") {
		t.Fatalf("compression lzo: err = %v", err)
	}
}

// A replica's task fences the table when it opens its sink with its owner
// epoch: the partition's earlier owner (a zombie, frozen past the group's
// session timeout) then commits nothing, its batches fail (the one it was
// running, or a later one), and it cannot open the sink again; the new
// owner's batches go on from the table's, a re-run of one the zombie
// committed before the fence skipped.
func TestALaterOwnerFencesTheTable(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	q := seedQuery(t, "stream")
	env := func(epoch int64) Env { e := seedEnv(st); e.Epoch = epoch; return e }
	zombie := open(t, q, env(3))
	if res := write(t, zombie, q, 0, batchRows(0)); res.Skipped {
		t.Fatalf("the first owner's batch 0: %+v", res)
	}
	if res := write(t, zombie, q, 1, batchRows(1)); res.Skipped {
		t.Fatalf("the first owner's batch 1: %+v", res)
	}
	if v, _ := snapshotOf(t, st, "stream").TxnVersion(queryID); v != 3<<32+2 {
		t.Fatalf("txn version %#x, want epoch 3, batch 1 (%#x)", v, int64(3<<32+2))
	}

	owner := open(t, q, env(5)) // the group gave the partition to another replica
	fenced := snapshotOf(t, st, "stream")
	if v, _ := fenced.TxnVersion(queryID); v != 5<<32+2 {
		t.Fatalf("txn version after the fence %#x, want epoch 5, batch 1", v)
	}
	live := len(fenced.Files())
	for _, b := range []int64{1, 2, 7} { // the batch in flight, the next one, any later one
		// Fenced, the batch fails: counted as committed, it would be
		// recorded done in the checkpoint while the owner has not
		// committed it.
		_, err := zombie.Write(ctx, b, windowBatch(t, q.Output, batchRows(b)), false)
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("the zombie's batch %d: %v, want ErrFenced", b, err)
		}
	}
	if snap := snapshotOf(t, st, "stream"); snap.Version() != fenced.Version() || len(snap.Files()) != live {
		t.Fatalf("the zombie committed after the fence: version %d → %d", fenced.Version(), snap.Version())
	}
	if _, err := Open(ctx, q, env(3)); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "from owner epoch 5; this task's epoch is 3") {
		t.Fatalf("the zombie reopening its sink: %v, want ErrFenced", err)
	}

	if res := write(t, owner, q, 1, batchRows(1)); !res.Skipped {
		t.Fatalf("the owner's re-run of batch 1, which the zombie committed: %+v, want skipped", res)
	}
	if res := write(t, owner, q, 2, batchRows(2)); res.Skipped {
		t.Fatalf("the owner's batch 2: %+v", res)
	}
	if v, _ := snapshotOf(t, st, "stream").TxnVersion(queryID); v != 5<<32+3 {
		t.Fatalf("txn version %#x, want epoch 5, batch 2", v)
	}
	// Reopening at the same epoch (an in-process restart) commits nothing.
	before := snapshotOf(t, st, "stream").Version()
	open(t, q, env(5))
	if v := snapshotOf(t, st, "stream").Version(); v != before {
		t.Fatalf("reopening at the same epoch committed version %d", v)
	}
	// A fence on an empty path creates the table.
	empty := fileStore(t)
	e := seedEnv(empty)
	e.Epoch = 1
	open(t, q, e)
	if v, ok := snapshotOf(t, empty, "stream").TxnVersion(queryID); !ok || v != 1<<32 {
		t.Fatalf("a fence on no table: txn %#x, %v; want epoch 1, no batch", v, ok)
	}
}
