package duck_test

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/tools/bench/internal/duck"
	"github.com/sensorlab/sensorlab/tools/bench/internal/lakegen"
	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

func open(t testing.TB, threads int) *duck.DB {
	t.Helper()
	d, err := duck.Open(threads)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func smallLake(t testing.TB, files int) (dir string, store lake.Store) {
	t.Helper()
	dir = t.TempDir()
	store, err := lake.Open(context.Background(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lakegen.Write(context.Background(), store, lakegen.Spec{Files: files, Sensors: 5, WindowsPerFile: 3,
		Start: time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	return dir, store
}

// The reference is only a reference if it computes the batcher's formulas:
// the seed's sums, unweighted means of window means and window counts, and
// writes the consolidated schema.
func TestConsolidationIsTheSeedFormulasWithTheContractSchema(t *testing.T) {
	dir, store := smallLake(t, 7)
	ctx := context.Background()
	files, _, err := lakegen.LiveFiles(ctx, store, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 7 {
		t.Fatalf("the snapshot lists %d files, want 7", len(files))
	}
	type acc struct {
		eventos, ok, n int64
		temp, hum      float64
	}
	byS := map[string]*acc{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.Read[contract.WindowRow](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			a := byS[r.SensorID]
			if a == nil {
				a = &acc{}
				byS[r.SensorID] = a
			}
			a.eventos, a.ok, a.n = a.eventos+r.Eventos, a.ok+r.OKCount, a.n+1
			a.temp, a.hum = a.temp+r.AvgTemp, a.hum+r.AvgHum
		}
	}
	d := open(t, 1)
	got, err := d.ConsolidatedRows(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || len(byS) != 5 {
		t.Fatalf("DuckDB computed %d sensors, the files hold %d", len(got), len(byS))
	}
	if !slices.IsSortedFunc(got, func(a, b contract.BatchRow) int { return strings.Compare(a.SensorID, b.SensorID) }) {
		t.Fatal("rows not sorted by sensor_id")
	}
	for _, r := range got {
		a := byS[r.SensorID]
		if r.TotalEventos != a.eventos || r.OKTotal != a.ok || r.Ventanas != a.n ||
			math.Abs(r.AvgTempGlobal-a.temp/float64(a.n)) > 1e-9 || math.Abs(r.AvgHumGlobal-a.hum/float64(a.n)) > 1e-9 {
			t.Fatalf("%s: DuckDB %+v, formulas %+v", r.SensorID, r, *a)
		}
	}
	out := filepath.Join(t.TempDir(), "out.parquet")
	if _, err := d.Consolidate(ctx, files, out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range contract.Columns(pf.Schema()) {
		names = append(names, c.Name)
	}
	var want []string
	for _, c := range contract.BatchColumns {
		want = append(want, c.Name)
	}
	if !slices.Equal(names, want) || pf.NumRows() != 5 {
		t.Fatalf("DuckDB wrote columns %v and %d rows, want %v and 5", names, pf.NumRows(), want)
	}
}

func writeNDJSON(t testing.TB, n, sensors int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.ndjson")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	g := readings.New(sensors, 1_732_200_000_000, 20, 1)
	var line []byte
	for range n {
		line, _ = g.AppendNext(line[:0])
		w.Write(append(line, '\n'))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// 20 readings per ms, 20 sensors: 200,000 readings span 10 s windows
// [t0, t0+10s) exactly when t0 is a window start; 1_732_200_000_000 is.
func TestWindowsFromNDJSONCountsEveryReadingOnce(t *testing.T) {
	path := writeNDJSON(t, 400_000, 20)
	w, err := open(t, 1).WindowsFromNDJSON(context.Background(), path, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if w.Eventos != 400_000 || w.Groups != 2*20 {
		t.Fatalf("DuckDB windows: %+v, want 400000 readings in 2 windows x 20 sensors", w)
	}
}

func BenchmarkDuckDBConsolidate(b *testing.B) {
	dir, store := smallLake(b, 50)
	files, _, err := lakegen.LiveFiles(context.Background(), store, dir)
	if err != nil {
		b.Fatal(err)
	}
	d := open(b, 1)
	out := filepath.Join(b.TempDir(), "out.parquet")
	for b.Loop() {
		if _, err := d.Consolidate(context.Background(), files, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(50*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

func BenchmarkDuckDBWindowsFromNDJSON(b *testing.B) {
	const n = 200_000
	path := writeNDJSON(b, n, 20)
	d := open(b, 1)
	for b.Loop() {
		if _, err := d.WindowsFromNDJSON(context.Background(), path, 10_000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}
