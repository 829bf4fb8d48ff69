package lakeio

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/query/types"
)

// consolidationColumns are the five window-row columns the seed's batch
// query reads.
var consolidationColumns = types.Schema{
	{Name: "sensor_id", Type: types.TString, Nullable: true}, {Name: "eventos", Type: types.TBigint, Nullable: true},
	{Name: "avg_temp", Type: types.TDouble, Nullable: true}, {Name: "avg_hum", Type: types.TDouble, Nullable: true},
	{Name: "ok_count", Type: types.TBigint, Nullable: true},
}

// BenchmarkReadParquet reads the consolidation's five columns of one
// window file (100,000 rows, the streamer's typed writer, zstd).
func BenchmarkReadParquet(b *testing.B) {
	rows := windowRows(rand.New(rand.NewPCG(1, 1)), 100_000, 20)
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[contract.WindowRow](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := ReadParquet(bytes.NewReader(data), int64(len(data)), consolidationColumns)
		if err != nil || got.N != len(rows) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(rows)), "ns/row")
}

// BenchmarkWriteParquet writes 100,000 rows of every type, 10 % nulls,
// with Spark's default codec and with zstd.
func BenchmarkWriteParquet(b *testing.B) {
	batch := randomBatch(rand.New(rand.NewPCG(2, 2)), everyType(), 100_000, 0.1)
	for _, name := range []string{"snappy", "zstd"} {
		codec, _ := Codec(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var buf bytes.Buffer
				if err := WriteParquet(&buf, batch, codec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/row")
		})
	}
}
