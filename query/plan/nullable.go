package plan

import (
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// notNull reports whether e can never be NULL over rows of r, so that the
// column it computes is declared NOT NULL (a Delta table's schema, a
// Parquet column's repetition). It is conservative: an expression it does
// not know is nullable. replace, when not nil, maps nodes standing for
// columns of r (aggregates and grouping expressions after an aggregation).
// Like Spark it knows that count is never null and that a column, a literal
// and arithmetic over non-null values are not; unlike Spark it also knows
// that sum, avg, min and max over a non-null argument are never null,
// because every group holds at least one row.
func notNull(e sql.Expr, r *relation, replace func(sql.Expr) (int, bool)) bool {
	if replace != nil {
		if col, ok := replace(e); ok {
			return r.notNull[col]
		}
	}
	all := func(es ...sql.Expr) bool {
		for _, x := range es {
			if x == nil || !notNull(x, r, replace) {
				return false
			}
		}
		return true
	}
	switch n := e.(type) {
	case *sql.Paren:
		return all(n.X)
	case *sql.ColumnRef:
		i := resolveRef(r, n)
		return i >= 0 && r.notNull[i]
	case *sql.Literal:
		return n.Kind != sql.LitNull
	case *sql.TypedLiteral, *sql.Interval:
		return true
	case *sql.Unary:
		return all(n.X)
	case *sql.Binary:
		switch n.Op {
		case "/", "%", "DIV": // division by zero is NULL
			return false
		}
		return all(n.L, n.R)
	case *sql.IsNull:
		return true
	case *sql.Between:
		return all(n.X, n.Lo, n.Hi)
	case *sql.In:
		return all(n.X) && all(n.List...)
	case *sql.Like:
		return all(n.X, n.Pattern)
	case *sql.Case:
		if n.Else == nil || !all(n.Else) {
			return false
		}
		for _, w := range n.Whens {
			if !all(w.Then) {
				return false
			}
		}
		return true
	case *sql.Cast:
		// A string may not parse, a number may not fit a DECIMAL.
		tn, err := bindType(n.To)
		if err != nil || tn.Kind == types.Decimal {
			return false
		}
		if ref, ok := unparen(n.X).(*sql.ColumnRef); ok {
			if i := resolveRef(r, ref); i >= 0 && r.cols[i].Type.Kind == types.String && tn.Kind != types.String {
				return false
			}
		}
		if _, ok := unparen(n.X).(*sql.Literal); ok && tn.Kind != types.String {
			return false
		}
		return all(n.X)
	case *sql.Call:
		switch callName(n) {
		case "count", "count_if", "approx_count_distinct":
			return true
		case "sum", "avg", "mean", "min", "max":
			return n.Filter == nil && !n.Star && len(n.Args) == 1 && all(n.Args[0])
		case "coalesce", "nvl", "ifnull":
			for _, a := range n.Args {
				if all(a) {
					return true
				}
			}
			return false
		case "lower", "lcase", "upper", "ucase", "trim", "ltrim", "rtrim", "length", "char_length",
			"character_length", "octet_length", "concat", "abs", "greatest", "least",
			"timestamp_millis", "timestamp_micros", "timestamp_seconds", "unix_millis", "unix_micros",
			"unix_seconds", "hour", "minute", "second", "year", "quarter", "month", "day", "dayofmonth",
			"dayofweek", "dayofyear", "isnull", "isnotnull", "current_timestamp", "now", "current_date":
			return all(n.Args...)
		}
	}
	return false
}
