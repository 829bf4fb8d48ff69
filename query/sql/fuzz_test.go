package sql

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse and ParseExpr never panic, that every error
// is an *Error pointing inside the text (or just after its last byte), and
// that every node of a parsed script starts inside the text.
func FuzzParse(f *testing.F) {
	f.Add(seedLab)
	for _, s := range []string{
		"SELECT a FROM t WHERE (a > 1",
		"SELECT `a``b` FROM t LATERAL VIEW OUTER explode(x) e AS v",
		"SELECT CASE WHEN a THEN window.end END, INTERVAL 2 HOURS 30 MINUTES, 1.5BD, 1e3, 'a\\'b' 'c' FROM t",
		"CREATE SOURCE s (a INT METADATA FROM 'key', CONSTRAINT c CHECK (a IN (1, 2)), WATERMARK FOR a AS a) WITH ('k.x' = -1)",
		"CREATE SINK k FROM s WITH (a = TRUE);; /* c /* n */ */ -- x",
		"SELECT * FROM a x JOIN (SELECT 1) y ON x.k = y.k, c ORDER BY 1 DESC NULLS LAST LIMIT 5",
		"SELECT a::DECIMAL(10,2), count(*) FILTER (WHERE b NOT LIKE 'x%') FROM t GROUP BY 1 HAVING NOT a IS NULL",
		"SELECT r'raw' FROM t TIMESTAMP AS OF '2024-01-01'",
		"é\n\t'\\u00e9'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse("fuzz.sql", text)
		checkErr(t, text, err)
		if err == nil {
			for _, st := range s.Statements {
				walkStatement(st, func(p Pos) { checkPos(t, text, p, "node") })
			}
		}
		x, err := ParseExpr(text)
		checkErr(t, text, err)
		if err == nil {
			walkExpr(x, func(p Pos) { checkPos(t, text, p, "node") })
		}
	})
}

func checkErr(t *testing.T, text string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if e.Msg == "" {
		t.Fatalf("error without a message at %v", e.Pos)
	}
	checkPos(t, text, e.Pos, "error "+e.Msg)
}

// checkPos fails unless p is a byte of text or the position just after the
// last byte of a line.
func checkPos(t *testing.T, text string, p Pos, what string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	if p.Line < 1 || p.Line > len(lines) || p.Col < 1 || p.Col > len(lines[p.Line-1])+1 {
		t.Fatalf("%s at %v: outside the text %q", what, p, text)
	}
}

// walkStatement calls fn with the position of every node of st.
func walkStatement(st Statement, fn func(Pos)) {
	fn(st.Start())
	switch st := st.(type) {
	case *CreateSource:
		fn(st.Name.At)
		for _, c := range st.Columns {
			fn(c.At)
			fn(c.Name.At)
			if c.Type != nil {
				fn(c.Type.At)
			}
			if c.Computed != nil {
				walkExpr(c.Computed, fn)
			}
		}
		for _, c := range st.Checks {
			fn(c.At)
			walkExpr(c.Expr, fn)
		}
		if st.Watermark != nil {
			fn(st.Watermark.At)
			walkExpr(st.Watermark.Expr, fn)
		}
		for _, o := range st.With {
			fn(o.At)
			fn(o.ValAt)
		}
	case *CreateSink:
		for _, o := range st.With {
			fn(o.At)
			fn(o.ValAt)
		}
		walkStatement(st.Query, fn)
	case *Select:
		for _, it := range st.Items {
			fn(it.At)
			if it.Expr != nil {
				walkExpr(it.Expr, fn)
			}
			if it.Alias != nil {
				fn(it.Alias.At)
			}
		}
		if st.From != nil {
			walkTable(st.From, fn)
		}
		for _, x := range []Expr{st.Where, st.Having, st.Limit} {
			if x != nil {
				walkExpr(x, fn)
			}
		}
		for _, g := range st.GroupBy {
			walkExpr(g, fn)
		}
		for _, o := range st.OrderBy {
			fn(o.At)
			walkExpr(o.Expr, fn)
		}
	}
}

func walkTable(t TableExpr, fn func(Pos)) {
	fn(t.Start())
	switch t := t.(type) {
	case *SubqueryRef:
		walkStatement(t.Query, fn)
	case *Join:
		walkTable(t.Left, fn)
		walkTable(t.Right, fn)
		if t.On != nil {
			walkExpr(t.On, fn)
		}
	case *LateralView:
		walkTable(t.From, fn)
		walkExpr(t.Gen, fn)
	}
}

func walkExpr(x Expr, fn func(Pos)) {
	fn(x.Start())
	var kids []Expr
	switch x := x.(type) {
	case *Binary:
		kids = []Expr{x.L, x.R}
	case *Unary:
		kids = []Expr{x.X}
	case *Call:
		kids = append(kids, x.Args...)
		if x.Filter != nil {
			kids = append(kids, x.Filter)
		}
	case *Case:
		if x.Operand != nil {
			kids = append(kids, x.Operand)
		}
		for _, w := range x.Whens {
			fn(w.At)
			kids = append(kids, w.Cond, w.Then)
		}
		if x.Else != nil {
			kids = append(kids, x.Else)
		}
	case *Cast:
		fn(x.To.At)
		kids = []Expr{x.X}
	case *IsNull:
		kids = []Expr{x.X}
	case *In:
		kids = append([]Expr{x.X}, x.List...)
	case *Between:
		kids = []Expr{x.X, x.Lo, x.Hi}
	case *Like:
		kids = []Expr{x.X, x.Pattern}
	case *Paren:
		kids = []Expr{x.X}
	}
	for _, k := range kids {
		walkExpr(k, fn)
	}
}
