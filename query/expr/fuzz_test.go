package expr

import (
	"testing"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// FuzzCompileEval checks that no expression text makes Compile or Eval
// panic, and that every result keeps the vector invariants.
func FuzzCompileEval(f *testing.F) {
	for _, s := range []string{
		"i + 1", "m / 3", "CAST(s AS DECIMAL(5,2))", "substr(u, -2, 5)", "s LIKE '%a_%'",
		"to_timestamp(s, 'yyyy-MM-dd[ HH:mm]')", "date_format(ts, 'EEE MMM d y')",
		"CASE WHEN ok THEN m ELSE b END", "round(d, -3)", "i IN (1, 2.5, NULL)",
		"greatest(m, i, b)", "coalesce(ni, m, d)", "regexp_like(s, '^[a-z]+$')",
		"timestamp_seconds(m) + INTERVAL '1' MINUTE", "CAST(bad AS TIMESTAMP)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		ast, err := sql.ParseExpr(src)
		if err != nil {
			return
		}
		s, b := testScope()
		e, err := Compile(ast, s)
		if err != nil {
			if _, ok := err.(*sql.Error); !ok {
				t.Fatalf("%q: error %T %v, want *sql.Error", src, err, err)
			}
			return
		}
		var out types.Vector
		e.Eval(b, &out)
		checkInvariants(t, src, &out, b.N)
	})
}
