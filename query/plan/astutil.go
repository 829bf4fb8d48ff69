package plan

import (
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/query/sql"
)

// walk calls f on e and, while f returns true, on its children, in order.
func walk(e sql.Expr, f func(sql.Expr) bool) {
	if e == nil || !f(e) {
		return
	}
	switch n := e.(type) {
	case *sql.Binary:
		walk(n.L, f)
		walk(n.R, f)
	case *sql.Unary:
		walk(n.X, f)
	case *sql.Call:
		for _, a := range n.Args {
			walk(a, f)
		}
		walk(n.Filter, f)
	case *sql.Case:
		walk(n.Operand, f)
		for _, w := range n.Whens {
			walk(w.Cond, f)
			walk(w.Then, f)
		}
		walk(n.Else, f)
	case *sql.Cast:
		walk(n.X, f)
	case *sql.IsNull:
		walk(n.X, f)
	case *sql.In:
		walk(n.X, f)
		for _, a := range n.List {
			walk(a, f)
		}
	case *sql.Between:
		walk(n.X, f)
		walk(n.Lo, f)
		walk(n.Hi, f)
	case *sql.Like:
		walk(n.X, f)
		walk(n.Pattern, f)
	case *sql.Paren:
		walk(n.X, f)
	}
}

// render writes e as Spark names an unaliased column (`count(1)`,
// `avg(temp)`, `(a + b)`), and is also the canonical form two expressions
// are compared by: names resolve through canonCol when it is not nil.
func render(e sql.Expr, canonCol func(*sql.ColumnRef) string) string {
	var b strings.Builder
	renderTo(&b, e, canonCol)
	return b.String()
}

func renderTo(b *strings.Builder, e sql.Expr, cc func(*sql.ColumnRef) string) {
	switch n := e.(type) {
	case nil:
		b.WriteString("NULL")
	case *sql.ColumnRef:
		if cc != nil {
			if s := cc(n); s != "" {
				b.WriteString(s)
				return
			}
		}
		for i, p := range n.Parts {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p.Name)
		}
	case *sql.Literal:
		switch n.Kind {
		case sql.LitString:
			b.WriteString(n.Text)
		case sql.LitNull:
			b.WriteString("NULL")
		case sql.LitBool:
			b.WriteString(strings.ToLower(n.Text))
		default:
			b.WriteString(n.Text)
		}
	case *sql.TypedLiteral:
		b.WriteString(n.Type + " '" + n.Text + "'")
	case *sql.Interval:
		b.WriteString("INTERVAL '" + n.Text + "'")
	case *sql.Binary:
		b.WriteByte('(')
		renderTo(b, n.L, cc)
		b.WriteString(" " + n.Op + " ")
		renderTo(b, n.R, cc)
		b.WriteByte(')')
	case *sql.Unary:
		if n.Op == "NOT" {
			b.WriteString("(NOT ")
		} else {
			b.WriteString("(" + n.Op)
		}
		renderTo(b, n.X, cc)
		b.WriteByte(')')
	case *sql.Call:
		b.WriteString(strings.ToLower(n.Name.Name))
		b.WriteByte('(')
		if n.Distinct {
			b.WriteString("DISTINCT ")
		}
		if n.Star {
			b.WriteString("1") // Spark names count(*) count(1)
		}
		for i, a := range n.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			renderTo(b, a, cc)
		}
		b.WriteByte(')')
		if n.Filter != nil {
			b.WriteString(" FILTER (WHERE ")
			renderTo(b, n.Filter, cc)
			b.WriteByte(')')
		}
	case *sql.Case:
		b.WriteString("CASE")
		if n.Operand != nil {
			b.WriteByte(' ')
			renderTo(b, n.Operand, cc)
		}
		for _, w := range n.Whens {
			b.WriteString(" WHEN ")
			renderTo(b, w.Cond, cc)
			b.WriteString(" THEN ")
			renderTo(b, w.Then, cc)
		}
		if n.Else != nil {
			b.WriteString(" ELSE ")
			renderTo(b, n.Else, cc)
		}
		b.WriteString(" END")
	case *sql.Cast:
		b.WriteString("CAST(")
		renderTo(b, n.X, cc)
		b.WriteString(" AS " + strings.ToUpper(n.To.Name))
		if len(n.To.Args) > 0 {
			b.WriteByte('(')
			for i, a := range n.To.Args {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(a))
			}
			b.WriteByte(')')
		}
		b.WriteByte(')')
	case *sql.IsNull:
		b.WriteByte('(')
		renderTo(b, n.X, cc)
		if n.Not {
			b.WriteString(" IS NOT NULL)")
		} else {
			b.WriteString(" IS NULL)")
		}
	case *sql.In:
		b.WriteByte('(')
		renderTo(b, n.X, cc)
		if n.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" IN (")
		for i, a := range n.List {
			if i > 0 {
				b.WriteString(", ")
			}
			renderTo(b, a, cc)
		}
		b.WriteString("))")
	case *sql.Between:
		b.WriteByte('(')
		renderTo(b, n.X, cc)
		if n.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" BETWEEN ")
		renderTo(b, n.Lo, cc)
		b.WriteString(" AND ")
		renderTo(b, n.Hi, cc)
		b.WriteByte(')')
	case *sql.Like:
		b.WriteByte('(')
		renderTo(b, n.X, cc)
		if n.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" LIKE ")
		renderTo(b, n.Pattern, cc)
		b.WriteByte(')')
	case *sql.Paren:
		renderTo(b, n.X, cc)
	default:
		b.WriteString("?")
	}
}

// callName is a call's function name in lower case.
func callName(c *sql.Call) string { return strings.ToLower(c.Name.Name) }

// isCall reports whether e is a call of one of names (lower case).
func isCall(e sql.Expr, names ...string) (*sql.Call, bool) {
	c, ok := unparen(e).(*sql.Call)
	if !ok {
		return nil, false
	}
	n := callName(c)
	for _, want := range names {
		if n == want {
			return c, true
		}
	}
	return nil, false
}
