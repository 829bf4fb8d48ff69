package plan

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// stableOrder is ORDER BY's definition, written plainly: compare the keys
// in turn, nulls first or last whatever the direction, NaN after every
// double; equal rows keep their order (a stable sort).
func stableOrder(b *types.Batch, sp *sortSpec) []int32 {
	idx := make([]int32, b.N)
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(x, y int32) int {
		for k, c := range sp.cols {
			v := b.Cols[c]
			nx, ny := v.IsNull(int(x)), v.IsNull(int(y))
			switch {
			case nx && ny:
				continue
			case nx && sp.nullF[k], ny && !sp.nullF[k]:
				return -1
			case nx, ny:
				return 1
			}
			var r int
			switch v.Type.Kind {
			case types.String:
				r = strings.Compare(v.Str[x], v.Str[y])
			case types.Boolean:
				r = cmp.Compare(b2i(v.Bool[x]), b2i(v.Bool[y]))
			case types.Double:
				a, c := v.F64[x], v.F64[y]
				switch {
				case math.IsNaN(a) && math.IsNaN(c):
				case math.IsNaN(a):
					r = 1
				case math.IsNaN(c):
					r = -1
				default:
					r = cmp.Compare(a, c)
				}
			default:
				r = cmp.Compare(v.I64[x], v.I64[y])
			}
			if sp.desc[k] {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return 0
	})
	return idx
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// randomSortBatch is n rows of every key type, few distinct values (ties
// in every key are common), some nulls, doubles with NaN, -0 and 0.
func randomSortBatch(rng *rand.Rand, n int, nulls bool) *types.Batch {
	s := types.Schema{
		{Name: "s", Type: types.Type{Kind: types.String}, Nullable: nulls},
		{Name: "i", Type: types.Type{Kind: types.Bigint}, Nullable: nulls},
		{Name: "d", Type: types.Type{Kind: types.Double}, Nullable: nulls},
		{Name: "b", Type: types.Type{Kind: types.Boolean}, Nullable: nulls},
		{Name: "t", Type: types.Type{Kind: types.Timestamp}, Nullable: nulls},
	}
	b := types.NewBatch(s, n)
	doubles := []float64{math.NaN(), math.Inf(-1), -1.5, math.Copysign(0, -1), 0, 2.5, math.Inf(1)}
	for range n {
		null := func() bool { return nulls && rng.IntN(6) == 0 }
		if null() {
			b.Cols[0].AppendNull()
		} else {
			b.Cols[0].AppendString([]string{"", "a", "ab", "b", "ä", "z"}[rng.IntN(6)])
		}
		if null() {
			b.Cols[1].AppendNull()
		} else {
			b.Cols[1].AppendInt([]int64{math.MinInt64, -3, 0, 7, math.MaxInt64}[rng.IntN(5)])
		}
		if null() {
			b.Cols[2].AppendNull()
		} else {
			b.Cols[2].AppendFloat(doubles[rng.IntN(len(doubles))])
		}
		if null() {
			b.Cols[3].AppendNull()
		} else {
			b.Cols[3].AppendBool(rng.IntN(2) == 0)
		}
		if null() {
			b.Cols[4].AppendNull()
		} else {
			b.Cols[4].AppendInt(int64(rng.IntN(4)) * 1_000_000)
		}
	}
	b.N = n
	return b
}

// sortedRows gives ORDER BY's stable order for every key type, direction
// and null placement; asked for its first k rows, it gives exactly the
// stable order's first k, then every other row once, in row order.
func TestSortedRowsIsTheStableOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 16))
	for trial := range 400 {
		n := rng.IntN(200)
		b := randomSortBatch(rng, n, trial%4 != 0)
		sp := &sortSpec{}
		for range 1 + rng.IntN(3) {
			sp.cols = append(sp.cols, rng.IntN(len(b.Cols)))
			sp.desc = append(sp.desc, rng.IntN(2) == 0)
			sp.nullF = append(sp.nullF, rng.IntN(2) == 0)
		}
		want := stableOrder(b, sp)
		name := fmt.Sprintf("trial %d: %d rows, keys %v desc %v nulls first %v", trial, n, sp.cols, sp.desc, sp.nullF)
		if got := sortedRows(b, sp, n); !slices.Equal(got, want) {
			t.Fatalf("%s: order %v, want %v", name, got, want)
		}
		k := rng.IntN(n + 1)
		got := sortedRows(b, sp, k)
		if !slices.Equal(got[:k], want[:k]) {
			t.Fatalf("%s: first %d rows %v, want %v", name, k, got[:k], want[:k])
		}
		rest := slices.Clone(want[k:])
		slices.Sort(rest)
		if !slices.Equal(got[k:], rest) {
			t.Fatalf("%s: rows after the first %d: %v, want the others in row order %v", name, k, got[k:], rest)
		}
	}
}

// Spark orders NaN after every other double (first in DESC), nulls apart.
func TestOrderByPutsNaNLast(t *testing.T) {
	text := `CREATE SOURCE raw (k STRING NOT NULL, x DOUBLE) WITH (connector = 'kafka', topic = 't', format = 'json');
CREATE SINK s WITH (connector = 'console', mode = 'complete') AS
SELECT k, max(CASE WHEN k = 'nan' THEN CAST('NaN' AS DOUBLE) WHEN k = 'inf' THEN CAST('Infinity' AS DOUBLE) ELSE x END) AS m
FROM raw GROUP BY k ORDER BY m, k`
	x := executor(t, text, 0)
	out, err := x.Process(records(`{"k":"nan","x":1}`, `{"k":"big","x":1e308}`, `{"k":"null"}`,
		`{"k":"neg","x":-1}`, `{"k":"inf","x":1}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rejected) > 0 {
		t.Fatalf("rejected %+v", out.Rejected)
	}
	if got, want := out.Rows.Cols[0].Str, []string{"null", "neg", "big", "inf", "nan"}; !slices.Equal(got, want) {
		t.Errorf("ORDER BY m: %v, want %v", got, want)
	}
}

// A console's executor told it reads the first n rows sorts only those:
// they are the rows and order of the full sort, and every other row of the
// table is still in the batch (a console says how many rows it did not
// show).
func TestReadsFirstKeepsTheFirstRowsAndTheCount(t *testing.T) {
	text, err := os.ReadFile("../../queries/examples/wordcount.sql")
	if err != nil {
		t.Fatal(err)
	}
	full, first := executor(t, string(text), 0), executor(t, string(text), 0)
	first.ReadsFirst(5)
	rng := rand.New(rand.NewPCG(3, 4))
	for batch := range 4 {
		var lines []string
		for range 200 {
			var w []string
			for range 1 + rng.IntN(5) {
				w = append(w, fmt.Sprintf("w%d", rng.IntN(300)))
			}
			lines = append(lines, strings.Join(w, " "))
		}
		a, err := full.Process(records(lines...), 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := first.Process(records(lines...), 0)
		if err != nil {
			t.Fatal(err)
		}
		if a.Rows.N != b.Rows.N {
			t.Fatalf("batch %d: %d rows, want all %d", batch, b.Rows.N, a.Rows.N)
		}
		rows := func(o *Output, lo, hi int) []string {
			var r []string
			for i := lo; i < hi; i++ {
				r = append(r, fmt.Sprintf("%s=%d", o.Rows.Cols[0].Str[i], o.Rows.Cols[1].I64[i]))
			}
			return r
		}
		if got, want := rows(b, 0, 5), rows(a, 0, 5); !slices.Equal(got, want) {
			t.Errorf("batch %d: first rows %v, want %v", batch, got, want)
		}
		got, want := rows(b, 0, b.Rows.N), rows(a, 0, a.Rows.N)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("batch %d: the rows are not the table's", batch)
		}
	}
}

// ORDER BY … LIMIT n keeps the stable order's first n rows.
func TestOrderByLimitIsTheSortsFirstRows(t *testing.T) {
	text := `CREATE SOURCE raw (k STRING NOT NULL, g BIGINT NOT NULL) WITH (connector = 'kafka', topic = 't', format = 'json');
CREATE SINK s WITH (connector = 'console', mode = 'complete') AS
SELECT k, count(*) AS n FROM raw GROUP BY k ORDER BY n DESC LIMIT 3`
	x := executor(t, text, 0)
	out, err := x.Process(records(`{"k":"a","g":1}`, `{"k":"b","g":1}`, `{"k":"b","g":1}`, `{"k":"c","g":1}`,
		`{"k":"d","g":1}`, `{"k":"d","g":1}`, `{"k":"e","g":1}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	// b and d have 2; a, c and e 1 each, in the aggregation's key order.
	if got, want := out.Rows.Cols[0].Str, []string{"b", "d", "a"}; !slices.Equal(got, want) {
		t.Errorf("ORDER BY n DESC LIMIT 3: %v, want %v", got, want)
	}
}

// The aggregation's input columns are NOT NULL where the query proves it
// (a NOT NULL source column, the pieces of split under explode): such a
// group key is kept without a null marker and looked up by its bytes. A
// column that can be NULL stays nullable, and its NULL groups apart.
func TestAggregationInputIsNotNullWhereProved(t *testing.T) {
	src := `CREATE SOURCE raw (k STRING NOT NULL, n STRING, line STRING, ts BIGINT NOT NULL) WITH (connector = 'kafka', topic = 't', format = 'json');
`
	for _, c := range []struct {
		sink    string
		notNull []bool // the aggregation's input columns
	}{
		{"SELECT k, count(*) AS c FROM raw GROUP BY k", []bool{true}},
		{"SELECT n, count(*) AS c FROM raw GROUP BY n", []bool{false}},
		{"SELECT k, sum(ts) AS s, max(n) AS m FROM raw GROUP BY k", []bool{true, true, false}},
		{"SELECT w, count(*) AS c FROM (SELECT explode(split(line, ' ')) AS w FROM raw) AS x GROUP BY w", []bool{true}},
		{"SELECT w, count(*) AS c FROM (SELECT explode_outer(split(line, ' ')) AS w FROM raw) AS x GROUP BY w", []bool{false}},
		{"SELECT w, count(*) AS c FROM (SELECT explode_outer(split(k, ' ')) AS w FROM raw) AS x GROUP BY w", []bool{true}},
	} {
		text := src + "CREATE SINK s WITH (connector = 'console', mode = 'complete') AS " + c.sink
		x := executor(t, text, 0)
		in, _, ok := x.q.AggConfig()
		if !ok {
			t.Fatalf("%s: no aggregation", c.sink)
		}
		var got []bool
		for _, f := range in {
			got = append(got, !f.Nullable)
		}
		if !slices.Equal(got, c.notNull) {
			t.Errorf("%s: aggregation input %v, NOT NULL %v, want %v", c.sink, in, got, c.notNull)
		}
	}
	// A NULL key of a nullable column is a group of its own.
	x := executor(t, src+"CREATE SINK s WITH (connector = 'console', mode = 'complete') AS SELECT n, count(*) AS c FROM raw GROUP BY n ORDER BY n", 0)
	out, err := x.Process(records(`{"k":"a","ts":1,"n":"x"}`, `{"k":"a","ts":1}`, `{"k":"a","ts":1,"n":null}`, `{"k":"a","ts":1,"n":""}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range out.Rows.N {
		got = append(got, fmt.Sprintf("%q/%v=%d", out.Rows.Cols[0].Str[i], out.Rows.Cols[0].IsNull(i), out.Rows.Cols[1].I64[i]))
	}
	if want := []string{`""/true=2`, `""/false=1`, `"x"/false=1`}; !slices.Equal(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
}
