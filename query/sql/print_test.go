package sql

import (
	"fmt"
	"strconv"
	"strings"
)

// sexpr renders an expression as a compact S-expression, so that tests can
// state a tree's whole shape in one line: (+ a (* b 2)).
func sexpr(x Expr) string {
	switch x := x.(type) {
	case nil:
		return "<nil>"
	case *ColumnRef:
		parts := make([]string, len(x.Parts))
		for i, p := range x.Parts {
			parts[i] = identStr(p)
		}
		return strings.Join(parts, ".")
	case *Literal:
		switch x.Kind {
		case LitInteger:
			return x.Text
		case LitDecimal:
			return "dec:" + x.Text
		case LitFloat:
			return "float:" + x.Text
		case LitString:
			return strconv.Quote(x.Text)
		case LitBool:
			return x.Text
		case LitNull:
			return "NULL"
		}
		return fmt.Sprintf("lit?%d:%s", x.Kind, x.Text)
	case *TypedLiteral:
		return x.Type + strconv.Quote(x.Text)
	case *Interval:
		return fmt.Sprintf("(interval %d)", x.Micros)
	case *Binary:
		return fmt.Sprintf("(%s %s %s)", x.Op, sexpr(x.L), sexpr(x.R))
	case *Unary:
		return fmt.Sprintf("(%s %s)", x.Op, sexpr(x.X))
	case *Call:
		var b strings.Builder
		b.WriteString(identStr(x.Name) + "(")
		if x.Distinct {
			b.WriteString("DISTINCT ")
		}
		if x.Star {
			b.WriteString("*")
		}
		for i, a := range x.Args {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(sexpr(a))
		}
		b.WriteString(")")
		if x.Filter != nil {
			b.WriteString(" FILTER " + sexpr(x.Filter))
		}
		return b.String()
	case *Case:
		var b strings.Builder
		b.WriteString("(case")
		if x.Operand != nil {
			b.WriteString(" " + sexpr(x.Operand))
		}
		for _, w := range x.Whens {
			fmt.Fprintf(&b, " (when %s %s)", sexpr(w.Cond), sexpr(w.Then))
		}
		if x.Else != nil {
			b.WriteString(" (else " + sexpr(x.Else) + ")")
		}
		return b.String() + ")"
	case *Cast:
		return fmt.Sprintf("(cast %s %s)", sexpr(x.X), typeStr(x.To))
	case *IsNull:
		if x.Not {
			return "(isnotnull " + sexpr(x.X) + ")"
		}
		return "(isnull " + sexpr(x.X) + ")"
	case *In:
		op := "in"
		if x.Not {
			op = "notin"
		}
		parts := []string{op, sexpr(x.X)}
		for _, e := range x.List {
			parts = append(parts, sexpr(e))
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *Between:
		op := "between"
		if x.Not {
			op = "notbetween"
		}
		return fmt.Sprintf("(%s %s %s %s)", op, sexpr(x.X), sexpr(x.Lo), sexpr(x.Hi))
	case *Like:
		op := "like"
		if x.Not {
			op = "notlike"
		}
		return fmt.Sprintf("(%s %s %s)", op, sexpr(x.X), sexpr(x.Pattern))
	case *Paren:
		return "[" + sexpr(x.X) + "]"
	}
	return fmt.Sprintf("%T?", x)
}

func identStr(id Ident) string {
	if id.Quoted {
		return "`" + id.Name + "`"
	}
	return id.Name
}

func typeStr(t *TypeName) string {
	if t == nil {
		return "<nil>"
	}
	if len(t.Args) == 0 {
		return t.Name
	}
	args := make([]string, len(t.Args))
	for i, a := range t.Args {
		args[i] = strconv.Itoa(a)
	}
	return t.Name + "(" + strings.Join(args, ",") + ")"
}

// tableStr renders a FROM tree: t, t AS x, (join KIND l r ON cond), (sub q AS x), (lateral …).
func tableStr(t TableExpr) string {
	switch t := t.(type) {
	case nil:
		return "<nil>"
	case *TableRef:
		s := identStr(t.Name)
		if t.VersionAsOf != nil {
			s += fmt.Sprintf("@v%d", *t.VersionAsOf)
		}
		if t.TimestampAs != "" {
			s += "@" + strconv.Quote(t.TimestampAs)
		}
		if t.Alias != nil {
			s += " AS " + identStr(*t.Alias)
		}
		return s
	case *SubqueryRef:
		s := "(sub " + selectStr(t.Query) + ")"
		if t.Alias != nil {
			s += " AS " + identStr(*t.Alias)
		}
		return s
	case *Join:
		s := fmt.Sprintf("(join %s %s %s", t.Kind, tableStr(t.Left), tableStr(t.Right))
		if t.On != nil {
			s += " ON " + sexpr(t.On)
		}
		return s + ")"
	case *LateralView:
		s := "(lateral " + tableStr(t.From)
		if t.Outer {
			s += " OUTER"
		}
		s += " " + sexpr(t.Gen)
		if t.Alias != nil {
			s += " " + identStr(*t.Alias)
		}
		for _, c := range t.Columns {
			s += " " + identStr(*c)
		}
		return s + ")"
	}
	return fmt.Sprintf("%T?", t)
}

// selectStr renders a query block on one line.
func selectStr(s *Select) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if s.Distinct {
		b.WriteString("DISTINCT ")
	}
	for i, it := range s.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case it.Star && it.Of != nil:
			b.WriteString(identStr(*it.Of) + ".*")
		case it.Star:
			b.WriteString("*")
		default:
			b.WriteString(sexpr(it.Expr))
		}
		if it.Alias != nil {
			b.WriteString(" AS " + identStr(*it.Alias))
		}
	}
	if s.From != nil {
		b.WriteString(" FROM " + tableStr(s.From))
	}
	if s.Where != nil {
		b.WriteString(" WHERE " + sexpr(s.Where))
	}
	if len(s.GroupBy) > 0 {
		parts := make([]string, len(s.GroupBy))
		for i, g := range s.GroupBy {
			parts[i] = sexpr(g)
		}
		b.WriteString(" GROUP BY " + strings.Join(parts, ", "))
	}
	if s.Having != nil {
		b.WriteString(" HAVING " + sexpr(s.Having))
	}
	if len(s.OrderBy) > 0 {
		parts := make([]string, len(s.OrderBy))
		for i, o := range s.OrderBy {
			parts[i] = sexpr(o.Expr)
			if o.Desc {
				parts[i] += " DESC"
			}
			if o.NullsFirst != nil {
				if *o.NullsFirst {
					parts[i] += " NULLS FIRST"
				} else {
					parts[i] += " NULLS LAST"
				}
			}
		}
		b.WriteString(" ORDER BY " + strings.Join(parts, ", "))
	}
	if s.Limit != nil {
		b.WriteString(" LIMIT " + sexpr(s.Limit))
	}
	return b.String()
}
