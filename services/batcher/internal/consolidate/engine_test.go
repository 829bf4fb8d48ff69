package consolidate

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/lakeio"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

// randomLake commits batches micro-batches of random window rows (random
// sensors of 1..sensors, random averages with every bit of a double in
// use) and returns every row committed.
func randomLake(t testing.TB, s lake.Store, seed uint64, batches, sensors int) []contract.WindowRow {
	r := rand.New(rand.NewPCG(seed, 1))
	w := streamtest.New(s, query)
	var all []contract.WindowRow
	for b := range int64(batches) {
		start := day.Add(time.Duration(b) * 10 * time.Second)
		var rows []contract.WindowRow
		for range 1 + r.IntN(3*sensors) {
			rows = append(rows, contract.WindowRow{WinStart: start, WinEnd: start.Add(10 * time.Second),
				SensorID: fmt.Sprintf("S%03d", 1+r.IntN(sensors)), Eventos: 1 + r.Int64N(60),
				AvgTemp: -10 + 50*r.Float64(), AvgHum: 100 * r.Float64(), OKCount: r.Int64N(60),
				MinTemp: -20, MaxTemp: 38})
		}
		// A window straddling midnight goes to two date partitions: two
		// files in one commit.
		if b%7 == 3 {
			next := start.Add(24 * time.Hour)
			rows = append(rows, contract.WindowRow{WinStart: next, WinEnd: next.Add(10 * time.Second), SensorID: "S001",
				Eventos: 3, AvgTemp: r.Float64(), AvgHum: r.Float64(), OKCount: 1})
		}
		w.MustAppend(t, b, rows)
		all = append(all, rows...)
	}
	return all
}

// legacyRows is the consolidation by the batcher's previous reader and
// aggregator (legacy_*_test.go) of the stream table's latest snapshot.
func legacyRows(t *testing.T, s lake.Store) []contract.BatchRow {
	t.Helper()
	c := New(s, Options{})
	snap, err := c.stream.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files, err := c.dataFiles(snap)
	if err != nil {
		t.Fatal(err)
	}
	agg, err := Read(context.Background(), s, files, 3)
	if err != nil {
		t.Fatal(err)
	}
	return agg.Rows()
}

// The seed's batch query, run by the engine over the files lakeio reads,
// writes the rows the previous consolidation code computed on the same
// lake, bit for bit (the averages are sums of doubles, whose value depends
// on the order of the additions: per file in row order, then the files in
// log order). The lake is made so that the order matters: the row-by-row
// sum over all rows differs in some bit.
func TestEngineMatchesLegacyBitForBit(t *testing.T) {
	for seed := range uint64(3) {
		s := fileLake(t)
		all := randomLake(t, s, seed, 80, 12)
		want := legacyRows(t, s)
		res := run(t, s, Options{})
		if len(res.Rows) != len(want) || res.Output.N != len(want) {
			t.Fatalf("seed %d: %d rows (%d output), the previous code %d", seed, len(res.Rows), res.Output.N, len(want))
		}
		for i := range want {
			g, w := res.Rows[i], want[i]
			if g.SensorID != w.SensorID || g.TotalEventos != w.TotalEventos || g.OKTotal != w.OKTotal || g.Ventanas != w.Ventanas ||
				math.Float64bits(g.AvgTempGlobal) != math.Float64bits(w.AvgTempGlobal) ||
				math.Float64bits(g.AvgHumGlobal) != math.Float64bits(w.AvgHumGlobal) {
				t.Fatalf("seed %d row %d: %+v, the previous code %+v", seed, i, g, w)
			}
		}
		if got := readBatch(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: the batch table holds %+v, want %+v", seed, got, want)
		}
		differs := false
		for i, r := range streamtest.Consolidate(all) {
			differs = differs || math.Float64bits(r.AvgTempGlobal) != math.Float64bits(want[i].AvgTempGlobal) ||
				math.Float64bits(r.AvgHumGlobal) != math.Float64bits(want[i].AvgHumGlobal)
		}
		if !differs {
			t.Errorf("seed %d: the lake does not tell the order of the additions apart (row-by-row sums equal the per-file ones)", seed)
		}
	}
}

// The seed's query reads only the five columns its formulas need.
func TestSeedJobReadsFiveColumns(t *testing.T) {
	j, err := SeedJob()
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Read.String(); got != "sensor_id STRING NOT NULL, eventos BIGINT NOT NULL, avg_temp DOUBLE NOT NULL, avg_hum DOUBLE NOT NULL, ok_count BIGINT NOT NULL" {
		t.Fatalf("the seed job reads %s", got)
	}
	// The batch table it creates declares the seed's six columns NOT NULL,
	// as the table always has.
	want := "sensor_id STRING NOT NULL, total_eventos BIGINT NOT NULL, avg_temp_global DOUBLE NOT NULL, avg_hum_global DOUBLE NOT NULL, ok_total BIGINT NOT NULL, ventanas BIGINT NOT NULL"
	if got := j.Query.Output.String(); got != want {
		t.Fatalf("the seed job writes %s, want %s", got, want)
	}
	if j.Source != StreamTable || j.Sink != BatchTable {
		t.Fatalf("the seed job reads %s into %s, want %s into %s", j.Source, j.Sink, StreamTable, BatchTable)
	}
}

// Another batch query file runs through the same path: its own sink table,
// its own columns and types (a TIMESTAMP, a nullable aggregate), and mode
// 'append' adds a file per run instead of replacing them.
func TestOtherQuery(t *testing.T) {
	s := fileLake(t)
	randomLake(t, s, 7, 30, 5)
	job, err := CompileJob("hot.sql", `
CREATE TABLE w (win_start TIMESTAMP, sensor_id STRING, max_temp DOUBLE, eventos BIGINT)
  WITH (connector = 'delta', path = 'stream');
CREATE SINK hot WITH (connector = 'delta', path = 'reports/hot', mode = 'append') AS
SELECT sensor_id, max(win_start) AS last_window, count(*) AS n, sum(CASE WHEN max_temp > 40 THEN eventos END) AS hot_events
FROM w WHERE sensor_id <> 'S002' GROUP BY sensor_id ORDER BY sensor_id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Read.String(); got != "win_start TIMESTAMP, sensor_id STRING, max_temp DOUBLE, eventos BIGINT" {
		t.Fatalf("reads %s", got)
	}
	for range 2 {
		run(t, s, Options{Job: job})
	}
	snap, err := delta.NewTable(s, "reports/hot").Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.Files()); n != 2 {
		t.Fatalf("after two appends the table has %d files", n)
	}
	schema, err := lakeio.FromDelta(snap.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if got := schema.String(); got != "sensor_id STRING, last_window TIMESTAMP, n BIGINT NOT NULL, hot_events BIGINT" {
		t.Fatalf("schema %s", got)
	}
	key, err := delta.NewTable(s, "reports/hot").DataKey(snap.Files()[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lakeio.ReadParquet(bytes.NewReader(data), int64(len(data)), schema)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range b.N {
		ids = append(ids, b.Cols[0].Str[i])
		if b.Cols[1].I64[i] <= day.UnixMicro() || b.Cols[2].I64[i] < 1 {
			t.Errorf("row %d: last_window %d, n %d", i, b.Cols[1].I64[i], b.Cols[2].I64[i])
		}
		if !b.Cols[3].IsNull(i) {
			t.Errorf("row %d: hot_events %d, want NULL (no window is over 40)", i, b.Cols[3].I64[i])
		}
	}
	if got := strings.Join(ids, ","); got != "S005,S004,S003,S001" {
		t.Fatalf("sensors %s, want S005,S004,S003,S001", got)
	}
}

// Batch query files the batcher cannot run are refused at start, saying
// why.
func TestCompileJobRefusals(t *testing.T) {
	for _, tc := range []struct{ text, msg string }{
		{`CREATE TABLE t (a BIGINT) WITH (connector = 'delta', path = 'stream');
		  CREATE SINK k WITH (connector = 'kafka', topic = 'x') AS SELECT a FROM t`, "writes Delta tables"},
		{`CREATE TABLE t (a BIGINT) WITH (connector = 'delta', path = 'stream');
		  CREATE SINK k WITH (connector = 'delta', path = 'stream') AS SELECT a FROM t`, "must be two tables"},
		{`CREATE TABLE t (a BIGINT) WITH (connector = 'delta', path = 'stream');
		  CREATE SINK k WITH (connector = 'delta', path = 'x') AS SELECT a FROM t;
		  CREATE SINK l WITH (connector = 'delta', path = 'y') AS SELECT a FROM t`, "one query per file"},
	} {
		_, err := CompileJob("q.sql", tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want one saying %q", tc.text, err, tc.msg)
		}
	}
}

// BenchmarkReadStreamTable reads the 500 files x 200 rows stream table of
// BenchmarkRunFileLake: lakeio (the five columns into one engine batch)
// against the previous typed reader (the five columns folded into
// per-sensor sums).
func BenchmarkReadStreamTable(b *testing.B) {
	s, err := lake.Open(context.Background(), "file://"+b.TempDir(), lake.S3Config{})
	if err != nil {
		b.Fatal(err)
	}
	fillLake(b, s)
	c := New(s, Options{})
	snap, err := c.stream.Snapshot(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	files, err := c.dataFiles(snap)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rows := float64(benchFiles * benchRowsPerFile)
	b.Run("lakeio", func(b *testing.B) {
		var in *types.Batch
		for b.Loop() {
			if in, err = ReadTable(ctx, s, c.job, files, 0); err != nil || in.N != benchFiles*benchRowsPerFile {
				b.Fatal(err)
			}
		}
		b.ReportMetric(rows*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("legacy", func(b *testing.B) {
		for b.Loop() {
			if a, err := Read(ctx, s, files, 0); err != nil || a.WindowRows() != benchFiles*benchRowsPerFile {
				b.Fatal(err)
			}
		}
		b.ReportMetric(rows*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
