package expr

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// benchBatch is 10,000 rows of a sensor reading: ok, temp, s (a mixed-case
// string), ts (epoch millis), a, b, iso (a timestamp string); about 1 % of
// temp is NULL.
func benchBatch(n int) (*types.Batch, *Scope) {
	cols := []Column{
		{"", "ok", types.TBoolean},
		{"", "temp", types.TDouble},
		{"", "s", types.TString},
		{"", "ts", types.TBigint},
		{"", "a", types.TDouble},
		{"", "b", types.TString},
		{"", "iso", types.TString},
	}
	var schema types.Schema
	for _, c := range cols {
		schema = append(schema, types.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	r := rand.New(rand.NewPCG(7, 7))
	batch := types.NewBatch(schema, n)
	words := []string{"Sensor-A", "sensor-b", "SENSOR-C", "x", "y", "Kitchen", "garage"}
	for i := 0; i < n; i++ {
		batch.Cols[0].AppendBool(r.IntN(2) == 0)
		if r.IntN(100) == 0 {
			batch.Cols[1].AppendNull()
		} else {
			batch.Cols[1].AppendFloat(15 + r.Float64()*20)
		}
		batch.Cols[2].AppendString(words[r.IntN(len(words))])
		batch.Cols[3].AppendInt(1_700_000_000_000 + int64(i)*100)
		batch.Cols[4].AppendFloat(r.Float64() * 200)
		batch.Cols[5].AppendString(words[r.IntN(len(words))])
		batch.Cols[6].AppendString(strings.Replace(formatTimestamp(1_700_000_000_000_000+int64(i)*100_123), " ", "T", 1) + "Z")
	}
	batch.N = n
	return batch, &Scope{Columns: cols}
}

// BenchmarkEval reports ns/row for the expressions a query plan evaluates
// most: go test -bench Eval -benchmem ./query/expr
func BenchmarkEval(b *testing.B) {
	const n = 10_000
	batch, scope := benchBatch(n)
	for _, src := range []string{
		"CASE WHEN ok THEN 1 ELSE 0 END",
		"temp * 1.8 + 32",
		"lower(s)",
		"timestamp_millis(ts)",
		"a > 100.5 AND b = 'x'",
		"to_timestamp(iso)", // ISO-8601 strings, as JSON sources carry them
	} {
		b.Run(src, func(b *testing.B) {
			ast, err := sql.ParseExpr(src)
			if err != nil {
				b.Fatal(err)
			}
			e, err := Compile(ast, scope)
			if err != nil {
				b.Fatal(err)
			}
			var out types.Vector
			b.ResetTimer()
			for b.Loop() {
				e.Eval(batch, &out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
		})
	}
}

func ExampleCompile() {
	ast, _ := sql.ParseExpr("CASE WHEN temp > 30 THEN 'hot' ELSE lower(room) END")
	e, err := Compile(ast, &Scope{Columns: []Column{
		{Name: "temp", Type: types.TDouble},
		{Name: "room", Type: types.TString},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	batch := types.NewBatch(types.Schema{{Name: "temp", Type: types.TDouble}, {Name: "room", Type: types.TString}}, 2)
	batch.Cols[0].AppendFloat(31.5)
	batch.Cols[0].AppendFloat(20)
	batch.Cols[1].AppendString("Kitchen")
	batch.Cols[1].AppendString("Garage")
	batch.N = 2
	var out types.Vector
	e.Eval(batch, &out)
	fmt.Println(e.Type(), out.Str)

	ast, _ = sql.ParseExpr("tmp * 2")
	_, err = Compile(ast, &Scope{Columns: []Column{{Name: "temp", Type: types.TDouble}}})
	fmt.Println(err)
	// Output:
	// STRING [hot garage]
	// 1:1: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name `tmp` cannot be resolved. Did you mean one of the following? [`temp`].
}
