package qsink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/lakeio"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

const queryID = "0f6c9a52-8d1e-4b7a-9c3f-2e5d7a1b4c60"

func fileStore(tb testing.TB) lake.Store {
	st, err := lake.Open(context.Background(), "file://"+tb.TempDir(), lake.S3Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// seedQuery compiles the seed lab's streaming script and returns its query
// named name.
func seedQuery(t testing.TB, name string) *plan.Query {
	t.Helper()
	const file = "../../../../queries/seed/streaming.sql"
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sql.Parse(file, string(text))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(s, plan.Streaming)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range p.Queries {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("the seed script has no sink %s", name)
	return nil
}

// windows returns rows of 10-second windows for sensors S001..S00n starting
// at start, in window then sensor order (the seed sink's tests' rows).
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

// batchRows are the rows of batch b in a run: 3 windows of 3 sensors after
// the previous batch's; batch 4's cross midnight (two partitions).
func batchRows(b int64) []contract.WindowRow {
	return windows(time.Date(2024, 11, 21, 23, 57, 50, 0, time.UTC).Add(time.Duration(b)*30*time.Second), 3, 3)
}

func shuffled[T any](rows []T) []T {
	out := slices.Clone(rows)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// windowBatch turns window rows into a batch of schema s, whose columns are
// the window row's (by name) and optionally date, the window start's day.
func windowBatch(t testing.TB, s types.Schema, rows []contract.WindowRow) *types.Batch {
	t.Helper()
	b := types.NewBatch(s, len(rows))
	for _, r := range rows {
		for i, f := range s {
			v := b.Cols[i]
			switch strings.ToLower(f.Name) {
			case "win_start":
				v.AppendInt(r.WinStart.UnixMicro())
			case "win_end":
				v.AppendInt(r.WinEnd.UnixMicro())
			case "sensor_id":
				v.AppendString(r.SensorID)
			case "eventos":
				v.AppendInt(r.Eventos)
			case "avg_temp":
				v.AppendFloat(r.AvgTemp)
			case "avg_hum":
				v.AppendFloat(r.AvgHum)
			case "ok_count":
				v.AppendInt(r.OKCount)
			case "min_temp":
				v.AppendFloat(r.MinTemp)
			case "max_temp":
				v.AppendFloat(r.MaxTemp)
			case "date":
				v.AppendInt(r.WinStart.UTC().Unix() / 86400)
			default:
				t.Fatalf("no window row column %s", f.Name)
			}
		}
	}
	b.N = len(rows)
	return b
}

// objects returns every object of the store with its bytes.
func objects(t testing.TB, st lake.Store) map[string][]byte {
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

func snapshotOf(t testing.TB, st lake.Store, root string) *delta.Snapshot {
	t.Helper()
	snap, err := delta.NewTable(st, root).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// readTable reads a table as a Delta reader does: every live file of its
// latest snapshot, its data columns from the file and its partition columns
// from the add's partitionValues. Each row is rendered as "col=value"
// pairs in the table schema's order, the rows sorted.
func readTable(t testing.TB, st lake.Store, root string) []string {
	t.Helper()
	snap := snapshotOf(t, st, root)
	schema := snap.Schema()
	parts := snap.PartitionColumns()
	var data delta.StructType
	for _, f := range schema.Fields {
		if !slices.Contains(parts, f.Name) {
			data.Fields = append(data.Fields, f)
		}
	}
	want, err := lakeio.FromDelta(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range snap.Files() {
		key, err := snap.Table().DataKey(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := st.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		// Columns another engine added after the file was written are
		// null in it, as Delta readers read them.
		var inFile types.Schema
		for _, c := range want {
			if slices.ContainsFunc(pf.Schema().Fields(), func(f parquet.Field) bool { return strings.EqualFold(f.Name(), c.Name) }) {
				inFile = append(inFile, c)
			}
		}
		b, err := readTableFile(data, inFile)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for r := range b.N {
			var cells []string
			for _, sf := range schema.Fields {
				if slices.Contains(parts, sf.Name) {
					v, ok := f.PartitionValues[sf.Name]
					if !ok {
						t.Fatalf("%s: no partition value for %s", f.Path, sf.Name)
					}
					if v == "" {
						v = "NULL"
					}
					cells = append(cells, sf.Name+"="+v)
					continue
				}
				v := "NULL"
				if i := inFile.Index(sf.Name); i >= 0 {
					v = cell(b.Cols[i], r)
				}
				cells = append(cells, sf.Name+"="+v)
			}
			out = append(out, strings.Join(cells, " "))
		}
	}
	slices.Sort(out)
	return out
}

func readTableFile(data []byte, want types.Schema) (*types.Batch, error) {
	return lakeio.ReadParquet(bytes.NewReader(data), int64(len(data)), want)
}

// cell renders a value exactly (doubles by their shortest round-trip
// form), NULL for a null.
func cell(v *types.Vector, r int) string {
	if v.IsNull(r) {
		return "NULL"
	}
	switch v.Type.Kind {
	case types.String:
		return v.Str[r]
	case types.Boolean:
		return fmt.Sprint(v.Bool[r])
	case types.Double:
		return fmt.Sprint(v.F64[r])
	case types.Timestamp:
		return time.UnixMicro(v.I64[r]).UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v.I64[r])
}

// windowTableRows renders window rows as readTable renders the stream
// table's.
func windowTableRows(rows []contract.WindowRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("win_start=%s win_end=%s sensor_id=%s eventos=%d avg_temp=%v avg_hum=%v ok_count=%d min_temp=%v max_temp=%v date=%s",
			r.WinStart.UTC().Format(time.RFC3339Nano), r.WinEnd.UTC().Format(time.RFC3339Nano), r.SensorID, r.Eventos,
			r.AvgTemp, r.AvgHum, r.OKCount, r.MinTemp, r.MaxTemp, contract.PartitionDate(r.WinStart)))
	}
	slices.Sort(out)
	return out
}

// commitLines reads version v's commit file of the table at root as one
// JSON object per action.
func commitLines(t testing.TB, st lake.Store, root string, v int64) []map[string]any {
	t.Helper()
	b, err := st.Get(context.Background(), fmt.Sprintf("%s/_delta_log/%020d.json", root, v))
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

// query builds a compiled query by hand: a sink of the given connector and
// options over output columns s.
func query(name, connector, mode string, s types.Schema, opts map[string]string) *plan.Query {
	o := map[string]string{"connector": connector, "mode": mode}
	for k, v := range opts {
		o[k] = v
	}
	return &plan.Query{Name: name, Sink: &plan.Sink{Name: name, Connector: connector, Options: o, Mode: mode}, Output: s}
}

func open(t testing.TB, q *plan.Query, env Env) Output {
	t.Helper()
	o, err := Open(context.Background(), q, env)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
