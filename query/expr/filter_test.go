package expr

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// filterNow is current_timestamp() in the filter tests: 1970-01-01 plus
// 40 seconds, so that unix_millis(current_timestamp()) lands among cb's
// values.
const filterNow = 40_000_000

// check generates a BOOLEAN expression of the shapes a CHECK constraint or
// a WHERE clause is made of, mixed with the property test's general ones.
func (g *gen) check(d int) string {
	if d <= 0 || g.r.IntN(3) == 0 {
		return g.pick("(cb >= -5)", "(ci BETWEEN -10 AND 10)", "(cd BETWEEN -100 AND 150)", "(cd > 0)",
			"(cd >= 0)", "(cd < 0.5)", "(cd <= 0)", "(cd = 0)", "(cd <> 0)", "(cd < CAST('NaN' AS DOUBLE))",
			"(cd = CAST('NaN' AS DOUBLE))", "(octet_length(cs) BETWEEN 1 AND 3)", "(length(cs) < 3)",
			"(octet_length(cs) > 0)", "(length(cs) >= 2)", "(octet_length(cs) <> 2)", "(length(cs) <= -1)",
			"(cs RLIKE '[a-b]')", "(NOT cs RLIKE '[\\\\x00-\\\\x1f\\\\x7f]')", "(cs RLIKE 'b')", "(cs RLIKE 'a.b')",
			"(cb <= unix_millis(current_timestamp()) + 100)", "(cb > unix_millis(current_timestamp()) - 1000000000)",
			"(cs >= 'ab')", "(cs <> 'a')", "('b' > cs)", "(5 > ci)", "(ci < NULL)", "(cs = cs)", "cz", "(NOT cz)",
			"(ci IS NULL)", "(cs IS NOT NULL)", "(cdt > DATE '2024-01-01')", "(cb = 0)", "(ci <> 3)",
			"(cm >= 1.5)", "true", "false", "CAST(NULL AS BOOLEAN)")
	}
	switch g.r.IntN(5) {
	case 0, 1:
		return "(" + g.check(d-1) + " AND " + g.check(d-1) + ")"
	case 2:
		return "(" + g.check(d-1) + " OR " + g.check(d-1) + ")"
	case 3:
		return "(NOT " + g.check(d-1) + ")"
	}
	return g.boolean(d - 1)
}

// A filter keeps exactly the selected rows whose value, as Eval computes
// it, is TRUE (or NULL, for a CHECK constraint), in order, on random
// batches with NULLs, random selections and random expressions, compiled
// with and without constant folding (which also computes expressions of
// current_timestamp() once per batch).
func TestPropertyFilterMatchesEval(t *testing.T) {
	r := rand.New(rand.NewPCG(propSeed, 3))
	g := &gen{r}
	scope := &Scope{Columns: propCols, Now: func() int64 { return filterNow }}
	for iter := uint64(0); iter < propIters; iter++ {
		b := randomBatch(r, 1+r.IntN(64))
		src := g.check(4)
		ast, err := sql.ParseExpr(src)
		if err != nil {
			t.Fatalf("parse %s: %v", src, err)
		}
		var vals [2]types.Vector
		var filters [2]*Filter
		for fold := range 2 {
			foldConstants = fold == 1
			e, err := Compile(ast, scope)
			foldConstants = true
			if err != nil {
				t.Fatalf("compile %s: %v", src, err)
			}
			e.Eval(b, &vals[fold])
			checkInvariants(t, src, &vals[fold], b.N)
			passNull := iter%2 == 0
			if filters[fold], err = NewFilter(e, passNull); err != nil {
				t.Fatal(err)
			}
		}
		for row := 0; row < b.N; row++ {
			if u, f := render(&vals[0], row), render(&vals[1], row); u != f {
				t.Fatalf("%s\nrow %d (%s): %s without folding, %s with", src, row, rowText(b, row), u, f)
			}
		}
		var sel []int32
		if r.IntN(3) > 0 {
			sel = []int32{}
			for i := range b.N {
				if r.IntN(10) < 7 {
					sel = append(sel, int32(i))
				}
			}
		}
		var want []int32
		for i := range b.N {
			if sel != nil && !slices.Contains(sel, int32(i)) {
				continue
			}
			if v := &vals[0]; v.IsNull(i) && iter%2 == 0 || !v.IsNull(i) && v.Bool[i] {
				want = append(want, int32(i))
			}
		}
		for fold, f := range filters {
			// Twice: the second run reuses the filter's scratch, into
			// the selection's own storage.
			for run := range 2 {
				in := slices.Clone(sel)
				var dst []int32
				if run == 1 {
					dst = in
				}
				got := f.Select(b, in, dst)
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Fatalf("%s (folding %v, NULL passes %v, run %d)\nselection %v\nkept %v\nwant %v\nbatch:\n%s",
						src, fold == 1, iter%2 == 0, run, sel, got, want, batchText(b))
				}
			}
		}
	}
}

func batchText(b *types.Batch) string {
	s := ""
	for row := range b.N {
		s += fmt.Sprintf("%d: %s\n", row, rowText(b, row))
	}
	return s
}

// NewFilter refuses an expression that is not a predicate.
func TestFilterNeedsBoolean(t *testing.T) {
	ast, err := sql.ParseExpr("ci + 1")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(ast, &Scope{Columns: propCols})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFilter(e, false); err == nil {
		t.Error("NewFilter(ci + 1) succeeded")
	}
}
