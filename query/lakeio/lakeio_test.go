package lakeio

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/types"
)

// everyType is a schema with each engine type twice: nullable and NOT NULL.
func everyType() types.Schema {
	ts := []types.Type{types.TString, types.TBoolean, types.TInt, types.TBigint, types.TDouble,
		types.DecimalOf(9, 2), types.DecimalOf(18, 4), types.TTimestamp}
	var s types.Schema
	for i, t := range ts {
		s = append(s, types.Field{Name: fmt.Sprintf("c%d_null", i), Type: t, Nullable: true})
		s = append(s, types.Field{Name: fmt.Sprintf("C%d_NotNull", i), Type: t})
	}
	return s
}

// randomBatch fills schema s with n random rows; nullable columns get
// about nullRate nulls.
func randomBatch(r *rand.Rand, s types.Schema, n int, nullRate float64) *types.Batch {
	b := types.NewBatch(s, n)
	for c, f := range s {
		v := b.Cols[c]
		for range n {
			if f.Nullable && r.Float64() < nullRate {
				v.AppendNull()
				continue
			}
			switch t := f.Type; t.Kind {
			case types.String:
				v.AppendString(strings.Repeat(string(rune('a'+r.IntN(26))), r.IntN(12)) + "é")
			case types.Boolean:
				v.AppendBool(r.IntN(2) == 0)
			case types.Int:
				v.AppendInt(int64(int32(r.Uint32())))
			case types.Bigint, types.Timestamp:
				v.AppendInt(int64(r.Uint64()))
			case types.Double:
				x := math.Float64frombits(r.Uint64())
				if r.IntN(10) == 0 {
					x = math.Copysign(0, -1)
				}
				v.AppendFloat(x)
			case types.Decimal:
				lim := int64(math.Pow10(int(t.Precision)))
				v.AppendInt(r.Int64N(2*lim-1) - (lim - 1))
			}
		}
	}
	b.N = n
	return b
}

func write(t testing.TB, b *types.Batch) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteParquet(&buf, b, Zstd); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func read(t testing.TB, data []byte, s types.Schema) *types.Batch {
	t.Helper()
	b, err := ReadParquet(bytes.NewReader(data), int64(len(data)), s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// equalBatches fails unless a and b hold the same rows: equal nulls, and
// equal values bit for bit (doubles by their bits, so -0 and NaNs count).
func equalBatches(t *testing.T, got, want *types.Batch) {
	t.Helper()
	if got.N != want.N || len(got.Cols) != len(want.Cols) {
		t.Fatalf("got %d rows of %d columns, want %d of %d", got.N, len(got.Cols), want.N, len(want.Cols))
	}
	for c, f := range want.Schema {
		g, w := got.Cols[c], want.Cols[c]
		if g.Len() != want.N {
			t.Fatalf("column %s: %d values for %d rows", f.Name, g.Len(), want.N)
		}
		for i := range want.N {
			if g.IsNull(i) != w.IsNull(i) {
				t.Fatalf("column %s row %d: null %v, want %v", f.Name, i, g.IsNull(i), w.IsNull(i))
			}
			if w.IsNull(i) {
				continue
			}
			var gv, wv any
			switch f.Type.Kind {
			case types.String:
				gv, wv = g.Str[i], w.Str[i]
			case types.Boolean:
				gv, wv = g.Bool[i], w.Bool[i]
			case types.Double:
				gv, wv = math.Float64bits(g.F64[i]), math.Float64bits(w.F64[i])
			default:
				gv, wv = g.I64[i], w.I64[i]
			}
			if gv != wv {
				t.Fatalf("column %s (%s) row %d: %v, want %v", f.Name, f.Type, i, gv, wv)
			}
		}
	}
}

// Random batches of every type, with and without nulls, small and large
// enough for several pages, read back equal; equal batches write equal
// bytes.
func TestRoundTripEveryType(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := everyType()
	for _, tc := range []struct {
		n        int
		nullRate float64
	}{{0, 0}, {1, 0}, {1, 1}, {17, 0.3}, {1000, 0}, {1000, 1}, {70000, 0.1}} {
		t.Run(fmt.Sprintf("%d rows, %.0f%% null", tc.n, 100*tc.nullRate), func(t *testing.T) {
			b := randomBatch(r, s, tc.n, tc.nullRate)
			data := write(t, b)
			equalBatches(t, read(t, data, s), b)
			if again := write(t, b); !bytes.Equal(again, data) {
				t.Fatal("the same batch written twice gave different bytes")
			}
		})
	}
}

// Columns are found without regard to case, in any order, and only the
// asked ones are read.
func TestReadSubsetAnyCase(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := everyType()
	b := randomBatch(r, s, 300, 0.2)
	data := write(t, b)
	want := types.Schema{
		{Name: "C7_NOTNULL", Type: types.TTimestamp},
		{Name: "c0_NULL", Type: types.TString, Nullable: true},
	}
	got := read(t, data, want)
	equalBatches(t, got, &types.Batch{Schema: want, Cols: []*types.Vector{b.Cols[15], b.Cols[0]}, N: b.N})
}

// The schema WriteParquet writes for contract.BatchRow's columns is the
// typed writer's, column for column; the rows read back by the typed
// reader are the rows written.
func TestWriteMatchesTypedBatchRow(t *testing.T) {
	rows := []contract.BatchRow{
		{SensorID: "S001", TotalEventos: 12, AvgTempGlobal: 21.123456789, AvgHumGlobal: 55.5, OKTotal: 11, Ventanas: 3},
		{SensorID: "S002", TotalEventos: 1, AvgTempGlobal: math.Copysign(0, -1), AvgHumGlobal: 1e-300, OKTotal: 0, Ventanas: 1},
	}
	s := types.Schema{
		{Name: "sensor_id", Type: types.TString}, {Name: "total_eventos", Type: types.TBigint},
		{Name: "avg_temp_global", Type: types.TDouble}, {Name: "avg_hum_global", Type: types.TDouble},
		{Name: "ok_total", Type: types.TBigint}, {Name: "ventanas", Type: types.TBigint},
	}
	b := types.NewBatch(s, len(rows))
	for _, r := range rows {
		b.Cols[0].AppendString(r.SensorID)
		b.Cols[1].AppendInt(r.TotalEventos)
		b.Cols[2].AppendFloat(r.AvgTempGlobal)
		b.Cols[3].AppendFloat(r.AvgHumGlobal)
		b.Cols[4].AppendInt(r.OKTotal)
		b.Cols[5].AppendInt(r.Ventanas)
	}
	b.N = len(rows)
	data := write(t, b)
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got, want := contract.Columns(pf.Schema()), contract.Columns(parquet.SchemaOf(contract.BatchRow{}))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("columns %v, the typed writer's %v", got, want)
	}
	for _, f := range pf.Schema().Fields() {
		if !f.Required() {
			t.Errorf("column %s is not REQUIRED, as the typed writer's is", f.Name())
		}
	}
	back, err := parquet.Read[contract.BatchRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(rows) {
		t.Fatalf("read %d rows, want %d", len(back), len(rows))
	}
	for i := range rows {
		g, w := back[i], rows[i]
		if g.SensorID != w.SensorID || g.TotalEventos != w.TotalEventos || g.OKTotal != w.OKTotal || g.Ventanas != w.Ventanas ||
			math.Float64bits(g.AvgTempGlobal) != math.Float64bits(w.AvgTempGlobal) || math.Float64bits(g.AvgHumGlobal) != math.Float64bits(w.AvgHumGlobal) {
			t.Fatalf("row %d read back by the typed reader: %+v, want %+v", i, g, w)
		}
	}
}

// windowSchema is contract.WindowRow's columns as the engine declares
// them.
var windowSchema = types.Schema{
	{Name: "win_start", Type: types.TTimestamp}, {Name: "win_end", Type: types.TTimestamp},
	{Name: "sensor_id", Type: types.TString}, {Name: "eventos", Type: types.TBigint},
	{Name: "avg_temp", Type: types.TDouble}, {Name: "avg_hum", Type: types.TDouble},
	{Name: "ok_count", Type: types.TBigint}, {Name: "min_temp", Type: types.TDouble},
	{Name: "max_temp", Type: types.TDouble},
}

func windowRows(r *rand.Rand, n, sensors int) []contract.WindowRow {
	rows := make([]contract.WindowRow, n)
	t0 := time.Date(2024, 11, 21, 14, 0, 0, 0, time.UTC)
	for i := range rows {
		start := t0.Add(time.Duration(i/sensors) * 10 * time.Second)
		rows[i] = contract.WindowRow{WinStart: start, WinEnd: start.Add(10 * time.Second),
			SensorID: fmt.Sprintf("S%03d", r.IntN(sensors)), Eventos: r.Int64N(50) + 1,
			AvgTemp: 15 + 20*r.Float64(), AvgHum: 100 * r.Float64(), OKCount: r.Int64N(50),
			MinTemp: 10 * r.Float64(), MaxTemp: 30 + 10*r.Float64()}
	}
	return rows
}

// Files the streamer's typed writer writes (contract.WindowRow, zstd) read
// as the engine's window rows, value for value.
func TestReadTypedWindowRows(t *testing.T) {
	rows := windowRows(rand.New(rand.NewPCG(5, 6)), 5000, 20)
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[contract.WindowRow](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := read(t, buf.Bytes(), windowSchema)
	want := types.NewBatch(windowSchema, len(rows))
	for _, r := range rows {
		want.Cols[0].AppendInt(r.WinStart.UnixMicro())
		want.Cols[1].AppendInt(r.WinEnd.UnixMicro())
		want.Cols[2].AppendString(r.SensorID)
		want.Cols[3].AppendInt(r.Eventos)
		want.Cols[4].AppendFloat(r.AvgTemp)
		want.Cols[5].AppendFloat(r.AvgHum)
		want.Cols[6].AppendInt(r.OKCount)
		want.Cols[7].AppendFloat(r.MinTemp)
		want.Cols[8].AppendFloat(r.MaxTemp)
	}
	want.N = len(rows)
	equalBatches(t, got, want)
}

// other is what other writers put in files: dictionary-encoded and
// optional columns, narrower types to widen, milliseconds.
type other struct {
	Sensor *string   `parquet:"sensor_id,dict,optional"`
	N      int32     `parquet:"n"`
	F      float32   `parquet:"f,optional"`
	TS     time.Time `parquet:"ts,timestamp(millisecond)"`
	Amount int64     `parquet:"amount,decimal(2:12)"`
	OK     *bool     `parquet:"ok,optional"`
}

func TestReadOtherEncodingsAndWidening(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var rows []other
	for i := range 3000 {
		var s *string
		if i%7 != 0 {
			x := fmt.Sprintf("S%02d", r.IntN(9))
			s = &x
		}
		var ok *bool
		if i%5 != 0 {
			x := i%2 == 0
			ok = &x
		}
		rows = append(rows, other{Sensor: s, N: int32(r.Uint32()), F: r.Float32(),
			TS: time.UnixMilli(r.Int64N(4e12) - 1e12).UTC(), Amount: r.Int64N(2e11) - 1e11, OK: ok})
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows, parquet.PageBufferSize(4096)); err != nil {
		t.Fatal(err)
	}
	s := types.Schema{
		{Name: "SENSOR_ID", Type: types.TString, Nullable: true}, {Name: "n", Type: types.TBigint},
		{Name: "f", Type: types.TDouble, Nullable: true}, {Name: "ts", Type: types.TTimestamp},
		{Name: "amount", Type: types.DecimalOf(14, 2)}, {Name: "ok", Type: types.TBoolean, Nullable: true},
	}
	got := read(t, buf.Bytes(), s)
	want := types.NewBatch(s, len(rows))
	for _, r := range rows {
		if r.Sensor == nil {
			want.Cols[0].AppendNull()
		} else {
			want.Cols[0].AppendString(*r.Sensor)
		}
		want.Cols[1].AppendInt(int64(r.N))
		want.Cols[2].AppendFloat(float64(r.F))
		want.Cols[3].AppendInt(r.TS.UnixMicro())
		want.Cols[4].AppendInt(r.Amount)
		if r.OK == nil {
			want.Cols[5].AppendNull()
		} else {
			want.Cols[5].AppendBool(*r.OK)
		}
	}
	want.N = len(rows)
	equalBatches(t, got, want)
}

// A user asking for a column the file lacks, or of another type, or NOT
// NULL where the file holds a null, is told which column and why.
func TestReadErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	data := write(t, randomBatch(r, everyType(), 50, 0.5))
	for _, tc := range []struct {
		want types.Schema
		msg  []string
	}{
		{types.Schema{{Name: "nope", Type: types.TString}}, []string{`column "nope" is missing`}},
		{types.Schema{{Name: "c0_null", Type: types.TBigint, Nullable: true}}, []string{"c0_null", "STRING", "BIGINT"}},
		{types.Schema{{Name: "c4_null", Type: types.TInt, Nullable: true}}, []string{"c4_null", "DOUBLE", "INT"}},
		{types.Schema{{Name: "c5_null", Type: types.DecimalOf(9, 3), Nullable: true}}, []string{"c5_null", "DECIMAL(9,3)"}},
		{types.Schema{{Name: "c3_null", Type: types.TBigint}}, []string{"c3_null", "null", "NOT NULL"}},
	} {
		_, err := ReadParquet(bytes.NewReader(data), int64(len(data)), tc.want)
		if err == nil {
			t.Errorf("reading %s: no error", tc.want)
			continue
		}
		for _, m := range tc.msg {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("reading %s: error %q does not say %q", tc.want, err, m)
			}
		}
	}
	if _, err := ReadParquet(bytes.NewReader(data[:len(data)/2]), int64(len(data)/2), windowSchema); err == nil {
		t.Error("a truncated file read without error")
	}
}

// A null written into a NOT NULL column is refused, naming it.
func TestWriteNullIntoNotNull(t *testing.T) {
	s := types.Schema{{Name: "k", Type: types.TString}}
	b := types.NewBatch(s, 1)
	b.Cols[0].AppendNull()
	b.N = 1
	err := WriteParquet(&bytes.Buffer{}, b, Zstd)
	if err == nil || !strings.Contains(err.Error(), "column k is NOT NULL") {
		t.Fatalf("error %v, want one naming column k", err)
	}
}

// DeltaSchema writes Spark's type names; FromDelta reads them back and
// refuses a type the engine lacks by its name.
func TestDeltaSchema(t *testing.T) {
	s := everyType()
	d, err := DeltaSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	js, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"type":"string","nullable":true`, `"boolean"`, `"integer"`, `"long"`, `"double"`, `"decimal(9,2)"`, `"decimal(18,4)"`, `"timestamp","nullable":false`} {
		if !strings.Contains(js, name) {
			t.Errorf("schema JSON %s lacks %s", js, name)
		}
	}
	back, err := FromDelta(d)
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != s.String() {
		t.Fatalf("FromDelta(DeltaSchema(s)) = %s, want %s", back, s)
	}
	for _, bad := range []delta.DataType{delta.Date, delta.Binary, delta.TimestampNTZ, delta.PrimitiveType("decimal(38,2)"), &delta.ArrayType{ElementType: delta.Long}} {
		_, err := FromDelta(delta.StructType{Fields: []delta.StructField{{Name: "x", Type: bad}}})
		if err == nil || !strings.Contains(err.Error(), "column x") || !strings.Contains(err.Error(), bad.TypeName()) {
			t.Errorf("FromDelta of %s: %v, want an error naming column x and the type", bad.TypeName(), err)
		}
	}
}

// A batch large enough to be encoded column by column on several
// goroutines gives the bytes of one goroutine's encoding, and reads back.
func TestConcurrentColumnsWriteTheSameFile(t *testing.T) {
	batch := randomBatch(rand.New(rand.NewPCG(5, 5)), everyType(), parallelRows+1000, 0.1)
	write := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		var buf bytes.Buffer
		if err := WriteParquet(&buf, batch, Zstd); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	one, four := write(1), write(4)
	if !bytes.Equal(one, four) {
		t.Fatalf("one goroutine wrote %d bytes, four wrote %d different ones", len(one), len(four))
	}
	equalBatches(t, read(t, four, everyType()), batch)
}

// Each codec a Spark user names writes files that say so in every column
// chunk and read back equal; another name is refused, listing them.
func TestCodecs(t *testing.T) {
	batch := randomBatch(rand.New(rand.NewPCG(6, 6)), everyType(), 3000, 0.1)
	for name, want := range map[string]string{"snappy": "SNAPPY", "ZSTD": "ZSTD", "gzip": "GZIP", "brotli": "BROTLI", "none": "UNCOMPRESSED", "uncompressed": "UNCOMPRESSED"} {
		codec, err := Codec(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var buf bytes.Buffer
		if err := WriteParquet(&buf, batch, codec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, rg := range f.Metadata().RowGroups {
			for _, c := range rg.Columns {
				if got := c.MetaData.Codec.String(); got != want {
					t.Fatalf("%s: a column chunk is %s", name, got)
				}
			}
		}
		equalBatches(t, read(t, buf.Bytes(), everyType()), batch)
	}
	if _, err := Codec("lz4_raw"); err == nil || !strings.Contains(err.Error(), "use zstd, snappy, gzip") {
		t.Errorf("Codec(lzo): err = %v", err)
	}
}
