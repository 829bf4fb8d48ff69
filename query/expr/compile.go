package expr

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// Column is an input column of the batches an expression is evaluated
// over, in batch order. Qualifier is the table name or alias the column
// can be named with (t in t.a); it may be empty.
type Column struct {
	Qualifier, Name string
	Type            types.Type
}

// Scope is what an expression can refer to.
type Scope struct {
	// Columns are the batch's columns, in order.
	Columns []Column
	// Replace, when set, is asked first about every node: when it answers
	// ok, the node stands for input column col (the planner uses it for
	// aggregates, window(…) and GROUP BY expressions it has computed).
	Replace func(e sql.Expr) (col int, ok bool)
	// Now gives current_timestamp() in microseconds; it is called once per
	// Eval, so every row of a batch sees the same value (Spark: the
	// micro-batch's timestamp). When nil, the wall clock is read instead.
	Now func() int64
}

// Expr is a compiled, typed expression.
type Expr interface {
	// Type is the type of the values Eval produces.
	Type() types.Type
	// Eval fills out with the expression's value for each of b's b.N rows.
	// It reuses out's capacity and never makes out share storage with b or
	// with the expression, so out stays valid after the next Eval.
	Eval(b *types.Batch, out *types.Vector)
}

// Compile type-checks e against s and returns its evaluator. Errors are
// *sql.Error at the position of the offending node.
func Compile(e sql.Expr, s *Scope) (Expr, error) {
	if s == nil {
		s = &Scope{}
	}
	c := &compiler{s: s}
	return c.expr(e)
}

// Const returns the value of an expression that does not depend on its
// input, and ok=false for any other. The value is nil for NULL, else by
// type: STRING string, BOOLEAN bool, DOUBLE float64, and int64 for INT,
// BIGINT, TIMESTAMP (microseconds), DATE (days since 1970-01-01) and
// DECIMAL (the unscaled value).
func Const(e Expr) (value any, ok bool) {
	k, ok := e.(*constant)
	if !ok {
		return nil, false
	}
	return k.value(), true
}

// ColumnIndex reports whether e is a bare reference to an input column,
// and which: a planner can then pass the column through without
// evaluating it.
func ColumnIndex(e Expr) (col int, ok bool) {
	c, ok := e.(*colRef)
	if !ok {
		return 0, false
	}
	return c.idx, true
}

// IsAggregate reports whether name (any case) is one of Spark's aggregate
// functions, which an expression compiled here may only contain when the
// scope's Replace stands in for them.
func IsAggregate(name string) bool {
	return aggregates[strings.ToLower(name)]
}

var aggregates = map[string]bool{
	"count": true, "sum": true, "avg": true, "mean": true, "min": true, "max": true,
	"count_if": true, "approx_count_distinct": true, "first": true, "first_value": true,
	"last": true, "last_value": true, "any_value": true, "collect_list": true,
	"collect_set": true, "stddev": true, "stddev_pop": true, "stddev_samp": true,
	"std": true, "variance": true, "var_pop": true, "var_samp": true, "bool_and": true,
	"bool_or": true, "every": true, "some": true, "any": true, "max_by": true,
	"min_by": true, "median": true, "percentile": true, "percentile_approx": true,
	"approx_percentile": true, "corr": true, "covar_pop": true, "covar_samp": true,
	"kurtosis": true, "skewness": true, "mode": true, "bit_and": true, "bit_or": true,
	"bit_xor": true,
}

type compiler struct{ s *Scope }

func errAt(e sql.Expr, format string, args ...any) error {
	return sql.Errorf(e.Start(), format, args...)
}

func (c *compiler) expr(e sql.Expr) (Expr, error) {
	if c.s.Replace != nil {
		if col, ok := c.s.Replace(e); ok {
			if col < 0 || col >= len(c.s.Columns) {
				return nil, errAt(e, "internal error: %q stands for input column %d of %d", exprSQL(e), col, len(c.s.Columns))
			}
			return &colRef{idx: col, t: c.s.Columns[col].Type}, nil
		}
	}
	switch e := e.(type) {
	case *sql.Paren:
		return c.expr(e.X)
	case *sql.ColumnRef:
		return c.column(e)
	case *sql.Literal:
		return literal(e)
	case *sql.TypedLiteral:
		return typedLiteral(e)
	case *sql.Interval:
		return nil, errAt(e, "an INTERVAL can only be added to or subtracted from a TIMESTAMP or a DATE")
	case *sql.Unary:
		return c.unary(e)
	case *sql.Binary:
		return c.binary(e)
	case *sql.Call:
		return c.call(e)
	case *sql.Case:
		return c.caseExpr(e)
	case *sql.Cast:
		return c.castExpr(e)
	case *sql.IsNull:
		x, err := c.expr(e.X)
		if err != nil {
			return nil, err
		}
		return fold(&isNull{x: x, not: e.Not}, x), nil
	case *sql.In:
		return c.in(e)
	case *sql.Between:
		return c.between(e)
	case *sql.Like:
		return c.like(e)
	case nil:
		return nil, errors.New("expr: nil expression")
	}
	return nil, errAt(e, "%s is not supported in an expression", exprSQL(e))
}

func (c *compiler) exprs(es []sql.Expr) ([]Expr, error) {
	out := make([]Expr, len(es))
	for i, e := range es {
		x, err := c.expr(e)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// column resolves a name against the scope, case-insensitively.
func (c *compiler) column(e *sql.ColumnRef) (Expr, error) {
	var qual, name string
	switch len(e.Parts) {
	case 1:
		name = e.Parts[0].Name
	case 2:
		qual, name = e.Parts[0].Name, e.Parts[1].Name
	default:
		return nil, errAt(e, "[UNRESOLVED_COLUMN] %s: nested fields are not supported", quoteParts(e.Parts))
	}
	var found []int
	for i, col := range c.s.Columns {
		if strings.EqualFold(col.Name, name) && (qual == "" || strings.EqualFold(col.Qualifier, qual)) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 1:
		return &colRef{idx: found[0], t: c.s.Columns[found[0]].Type}, nil
	case 0:
		if qual == "" && !e.Parts[0].Quoted {
			switch strings.ToLower(name) {
			case "current_timestamp":
				return &nowExpr{now: c.s.Now}, nil
			}
		}
		return nil, c.unresolved(e, quoteParts(e.Parts), qual+"."+name)
	}
	var cands []string
	for _, i := range found {
		cands = append(cands, c.colName(i))
	}
	return nil, errAt(e, "[AMBIGUOUS_REFERENCE] Reference %s is ambiguous, could be: [%s].", quoteParts(e.Parts), strings.Join(cands, ", "))
}

func (c *compiler) colName(i int) string {
	col := c.s.Columns[i]
	if col.Qualifier != "" {
		return "`" + col.Qualifier + "`.`" + col.Name + "`"
	}
	return "`" + col.Name + "`"
}

// unresolved is Spark's UNRESOLVED_COLUMN error, the candidates ordered by
// their similarity to the name (Spark's orderSuggestedIdentifiersBySimilarity).
func (c *compiler) unresolved(e sql.Expr, shown, want string) error {
	if len(c.s.Columns) == 0 {
		return errAt(e, "[UNRESOLVED_COLUMN.WITHOUT_SUGGESTION] A column or function parameter with name %s cannot be resolved.", shown)
	}
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	want = strings.ToLower(strings.TrimPrefix(want, "."))
	for i, col := range c.s.Columns {
		full := col.Name
		if strings.Contains(want, ".") && col.Qualifier != "" {
			full = col.Qualifier + "." + col.Name
		}
		cands = append(cands, cand{c.colName(i), levenshtein(want, strings.ToLower(full))})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].dist < cands[j].dist })
	names := make([]string, len(cands))
	for i, x := range cands {
		names[i] = x.name
	}
	return errAt(e, "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name %s cannot be resolved. Did you mean one of the following? [%s].", shown, strings.Join(names, ", "))
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func quoteParts(parts []sql.Ident) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString("`" + p.Name + "`")
	}
	return b.String()
}

// literal types a constant as Spark's parser does: an integer is INT when
// it fits, else BIGINT; 1.5 is DECIMAL(2,1) (precision = its digits,
// at least its scale); 1e3 and 1.5D are DOUBLE.
func literal(e *sql.Literal) (Expr, error) {
	switch e.Kind {
	case sql.LitInteger:
		text := strings.TrimRight(e.Text, "lLsSyY")
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, errAt(e, "[NUMERIC_OUT_OF_SUPPORTED_RANGE] The value %s cannot be interpreted as a numeric since it has more than 18 digits.", e.Text)
		}
		t := types.TBigint
		if v >= math.MinInt32 && v <= math.MaxInt32 && !strings.HasSuffix(strings.ToUpper(e.Text), "L") {
			t = types.TInt
		}
		k := constInt(t, v)
		k.lit = true
		return k, nil
	case sql.LitDecimal:
		text := strings.TrimSuffix(strings.TrimSuffix(e.Text, "BD"), "bd")
		mant, exp, ok := splitNumber(text)
		if !ok {
			return nil, errAt(e, "invalid decimal literal %s", e.Text)
		}
		mant = strings.TrimLeft(strings.TrimPrefix(mant, "-"), "0")
		scale := max(-exp, 0)
		p := max(len(mant)+max(exp, 0), scale, 1)
		if p > types.MaxDecimalPrecision {
			// Spark would type it DECIMAL(p,s) up to 38 digits; this engine
			// stores 18, so a longer literal is read as DOUBLE.
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, errAt(e, "invalid decimal literal %s", e.Text)
			}
			return constFloat(f), nil
		}
		t := types.DecimalOf(p, scale)
		v, ok := parseDecimal(text, p, scale)
		if !ok {
			return nil, errAt(e, "invalid decimal literal %s", e.Text)
		}
		return constInt(t, v), nil
	case sql.LitFloat:
		text := strings.TrimRight(e.Text, "dDfF")
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errAt(e, "invalid or out of range floating point literal %s", e.Text)
		}
		return constFloat(f), nil
	case sql.LitString:
		return constString(e.Text), nil
	case sql.LitBool:
		return constBool(strings.EqualFold(e.Text, "true")), nil
	case sql.LitNull:
		return constNull(types.TNull), nil
	}
	return nil, errAt(e, "unknown literal %q", e.Text)
}

func typedLiteral(e *sql.TypedLiteral) (Expr, error) {
	if strings.EqualFold(e.Type, "DATE") {
		days, ok := parseDate(e.Text)
		if !ok {
			return nil, errAt(e, "[INVALID_TYPED_LITERAL] The value of the typed literal \"DATE\" is invalid: '%s'.", e.Text)
		}
		return constInt(types.TDate, days), nil
	}
	if !strings.EqualFold(e.Type, "TIMESTAMP") {
		return nil, errAt(e, "%s literals are not supported: this engine has no %s type (use TIMESTAMP or DATE)", strings.ToUpper(e.Type), strings.ToUpper(e.Type))
	}
	us, ok := parseTimestamp(e.Text)
	if !ok {
		return nil, errAt(e, "[INVALID_TYPED_LITERAL] The value of the typed literal \"TIMESTAMP\" is invalid: '%s'.", e.Text)
	}
	return constInt(types.TTimestamp, us), nil
}

func (c *compiler) unary(e *sql.Unary) (Expr, error) {
	x, err := c.expr(e.X)
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(e.Op) {
	case "NOT":
		x, err = c.wantBool(e, x, e.X)
		if err != nil {
			return nil, err
		}
		return fold(&notExpr{x: x}, x), nil
	case "-", "+":
		if x.Type().Kind == types.String {
			x = castTo(x, types.TDouble)
		}
		if x.Type().Kind == types.Null {
			x = castTo(x, types.TDouble)
		}
		if !x.Type().IsNumeric() {
			return nil, errAt(e, "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: Parameter 1 requires the \"NUMERIC\" type, however %q has the type %q.", exprSQL(e), exprSQL(e.X), x.Type().String())
		}
		if e.Op == "+" {
			return notLiteral(x), nil
		}
		n := &negExpr{x: x}
		if k, ok := x.(*constant); ok && !k.isNull() {
			// -2 is a literal to Spark's parser: always folded.
			var v types.Vector
			n.Eval(&types.Batch{N: 1}, &v)
			return &constant{one: v, t: n.Type(), lit: k.lit}, nil
		}
		return fold(n, x), nil
	}
	return nil, errAt(e, "unknown unary operator %s", e.Op)
}

// wantBool checks that x (compiled from src) is a BOOLEAN, reading NULL as
// a BOOLEAN NULL.
func (c *compiler) wantBool(parent sql.Expr, x Expr, src sql.Expr) (Expr, error) {
	switch x.Type().Kind {
	case types.Boolean:
		return x, nil
	case types.Null:
		return castTo(x, types.TBoolean), nil
	}
	return nil, errAt(src, "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: %q has the type %q, and a BOOLEAN is required.", exprSQL(parent), exprSQL(src), x.Type().String())
}

func (c *compiler) binary(e *sql.Binary) (Expr, error) {
	op := strings.ToUpper(e.Op)
	if op == "+" || op == "-" {
		if iv, ok := unparen(e.R).(*sql.Interval); ok {
			return c.tsInterval(e, e.L, iv, op == "-")
		}
		if iv, ok := unparen(e.L).(*sql.Interval); ok && op == "+" {
			return c.tsInterval(e, e.R, iv, false)
		}
	}
	l, err := c.expr(e.L)
	if err != nil {
		return nil, err
	}
	r, err := c.expr(e.R)
	if err != nil {
		return nil, err
	}
	switch op {
	case "+", "-", "*", "/", "%":
		return c.arith(e, op, l, r)
	case "=", "==", "<>", "!=", "<", "<=", ">", ">=":
		return c.compare(e, op, l, r)
	case "AND", "OR":
		if l, err = c.wantBool(e, l, e.L); err != nil {
			return nil, err
		}
		if r, err = c.wantBool(e, r, e.R); err != nil {
			return nil, err
		}
		return fold(&logicExpr{or: op == "OR", l: l, r: r}, l, r), nil
	case "||":
		return c.concat(e, []Expr{l, r})
	}
	return nil, errAt(e, "unknown operator %s", e.Op)
}

func unparen(e sql.Expr) sql.Expr {
	for {
		p, ok := e.(*sql.Paren)
		if !ok {
			return e
		}
		e = p.X
	}
}

func (c *compiler) tsInterval(e *sql.Binary, tsSrc sql.Expr, iv *sql.Interval, sub bool) (Expr, error) {
	ts, err := c.expr(tsSrc)
	if err != nil {
		return nil, err
	}
	switch ts.Type().Kind {
	case types.Date:
		return c.dateInterval(e, ts, iv, sub)
	case types.Timestamp:
	case types.String, types.Null:
		ts = castTo(ts, types.TTimestamp)
	default:
		return nil, errAt(e, "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: an INTERVAL can only be added to a TIMESTAMP or a DATE, however %q has the type %q.", exprSQL(e), exprSQL(tsSrc), ts.Type().String())
	}
	d := iv.Micros
	if sub {
		d = -d
	}
	return fold(&addMicros{x: ts, d: d}, ts), nil
}

func mismatch(e sql.Expr, l, r Expr) error {
	return errAt(e, "[DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES] Cannot resolve %q due to data type mismatch: the left and right operands of the binary operator have incompatible types (%q and %q).", exprSQL(e), l.Type().String(), r.Type().String())
}

func (c *compiler) compare(e sql.Expr, op string, l, r Expr) (Expr, error) {
	lt, rt, ok := cmpType(l.Type(), r.Type())
	if !ok {
		return nil, mismatch(e, l, r)
	}
	l, r = castTo(l, lt), castTo(r, rt)
	switch op {
	case "==":
		op = "="
	case "!=":
		op = "<>"
	}
	return fold(newCompare(op, l, r), l, r), nil
}

func (c *compiler) in(e *sql.In) (Expr, error) {
	x, err := c.expr(e.X)
	if err != nil {
		return nil, err
	}
	list, err := c.exprs(e.List)
	if err != nil {
		return nil, err
	}
	if exact := isExact(x.Type()); exact {
		for _, y := range list {
			exact = exact && (isExact(y.Type()) || y.Type().Kind == types.Null)
		}
		if exact {
			// INT, BIGINT and DECIMAL are compared exactly, without the
			// common DECIMAL type Spark casts to (which can need more than
			// this engine's 18 digits).
			return fold(newExactIn(x, list, e.Not), append([]Expr{x}, list...)...), nil
		}
	}
	t, err := commonType(e, "in", append([]Expr{x}, list...))
	if err != nil {
		return nil, err
	}
	if t.Kind == types.Null {
		t = types.TBoolean
	}
	x = castTo(x, t)
	for i := range list {
		list[i] = castTo(list[i], t)
	}
	return fold(newIn(x, list, e.Not), append([]Expr{x}, list...)...), nil
}

func typeList(es []Expr) string {
	var s []string
	for _, e := range es {
		s = append(s, `"`+e.Type().String()+`"`)
	}
	return strings.Join(s, ", ")
}

// between is x >= lo AND x <= hi, as Spark 3.5 rewrites it.
func (c *compiler) between(e *sql.Between) (Expr, error) {
	x, err := c.expr(e.X)
	if err != nil {
		return nil, err
	}
	lo, err := c.expr(e.Lo)
	if err != nil {
		return nil, err
	}
	hi, err := c.expr(e.Hi)
	if err != nil {
		return nil, err
	}
	ge, err := c.compare(e, ">=", x, lo)
	if err != nil {
		return nil, err
	}
	le, err := c.compare(e, "<=", x, hi)
	if err != nil {
		return nil, err
	}
	var out Expr = fold(&logicExpr{l: ge, r: le}, ge, le)
	if e.Not {
		out = fold(&notExpr{x: out}, out)
	}
	return out, nil
}

func (c *compiler) castExpr(e *sql.Cast) (Expr, error) {
	x, err := c.expr(e.X)
	if err != nil {
		return nil, err
	}
	to, err := typeOf(e.To)
	if err != nil {
		return nil, err
	}
	if from := x.Type(); from.IsNumeric() && to.Kind == types.Date {
		return nil, errAt(e, "[DATATYPE_MISMATCH.CAST_WITH_FUNC_SUGGESTION] Cannot resolve %q due to data type mismatch: cannot cast %q to %q. To convert values from %q to %q, you can use the functions `DATE_FROM_UNIX_DATE` instead.", exprSQL(e), from.String(), to.String(), from.String(), to.String())
	}
	if !castable(x.Type(), to) {
		return nil, errAt(e, "[DATATYPE_MISMATCH.CAST_WITHOUT_SUGGESTION] Cannot resolve %q due to data type mismatch: cannot cast %q to %q.", exprSQL(e), x.Type().String(), to.String())
	}
	return notLiteral(castTo(x, to)), nil
}

// typeOf maps a written type to a type; DECIMAL alone is DECIMAL(10,0) as
// in Spark.
func typeOf(tn *sql.TypeName) (types.Type, error) {
	name := strings.ToUpper(tn.Name)
	switch name {
	case "DECIMAL", "DEC", "NUMERIC":
		p, s := 10, 0
		switch len(tn.Args) {
		case 0:
		case 1:
			p, s = tn.Args[0], 0
		case 2:
			p, s = tn.Args[0], tn.Args[1]
		default:
			return types.Type{}, sql.Errorf(tn.At, "DECIMAL takes a precision and a scale")
		}
		if err := types.CheckDecimal(p, s); err != nil {
			return types.Type{}, sql.Errorf(tn.At, "%v", err)
		}
		return types.DecimalOf(p, s), nil
	}
	t, ok := types.ParseTypeName(name)
	if !ok {
		return types.Type{}, sql.Errorf(tn.At, "[UNSUPPORTED_DATATYPE] Unsupported data type %q: this engine has STRING, BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL(p,s), TIMESTAMP and DATE", name)
	}
	if len(tn.Args) > 0 && t.Kind != types.String {
		return types.Type{}, sql.Errorf(tn.At, "%s takes no parameters", name)
	}
	return t, nil
}

func (c *compiler) caseExpr(e *sql.Case) (Expr, error) {
	var operand Expr
	if e.Operand != nil {
		var err error
		if operand, err = c.expr(e.Operand); err != nil {
			return nil, err
		}
	}
	conds := make([]Expr, len(e.Whens))
	vals := make([]Expr, 0, len(e.Whens)+1)
	for i, w := range e.Whens {
		cond, err := c.expr(w.Cond)
		if err != nil {
			return nil, err
		}
		if operand != nil {
			if cond, err = c.compare(w.Cond, "=", operand, cond); err != nil {
				return nil, err
			}
		} else if cond, err = c.wantBool(e, cond, w.Cond); err != nil {
			return nil, err
		}
		conds[i] = cond
		v, err := c.expr(w.Then)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	var elseX Expr = constNull(types.TNull)
	if e.Else != nil {
		var err error
		if elseX, err = c.expr(e.Else); err != nil {
			return nil, err
		}
	}
	vals = append(vals, elseX)
	t, err := commonType(e, "CASE", vals)
	if err != nil {
		return nil, err
	}
	for i := range vals {
		vals[i] = castTo(vals[i], t)
	}
	return newCase(t, conds, vals[:len(conds)], vals[len(conds)]), nil
}

// commonType is the wider type of es, or Spark's DATA_DIFF_TYPES error.
func commonType(e sql.Expr, what string, es []Expr) (types.Type, error) {
	// STRING first, as Spark's findWiderCommonType does, so that e.g.
	// (TIMESTAMP, INT, STRING) is STRING rather than an error.
	ordered := make([]types.Type, 0, len(es))
	for _, x := range es {
		if x.Type().Kind == types.String {
			ordered = append(ordered, x.Type())
		}
	}
	for _, x := range es {
		if x.Type().Kind != types.String {
			ordered = append(ordered, x.Type())
		}
	}
	t := types.TNull
	for _, xt := range ordered {
		w, ok := widerType(t, xt)
		if !ok {
			return t, errAt(e, "[DATATYPE_MISMATCH.DATA_DIFF_TYPES] Cannot resolve %q due to data type mismatch: Input to `%s` should all be the same type, but it's [%s].", exprSQL(e), what, typeList(es))
		}
		t = w
	}
	return t, nil
}

func (c *compiler) like(e *sql.Like) (Expr, error) {
	x, err := c.expr(e.X)
	if err != nil {
		return nil, err
	}
	p, err := c.expr(e.Pattern)
	if err != nil {
		return nil, err
	}
	x, p = castTo(x, types.TString), castTo(p, types.TString)
	out, err := newLike(e, x, p)
	if err != nil {
		return nil, err
	}
	if e.Not {
		out = &notExpr{x: out}
	}
	return fold(out, x, p), nil
}

// fold replaces e by its value when all of kids are constants (e is then
// a deterministic function of constants), and wraps it in a batchConst
// when they are constants and values fixed for a batch (current_timestamp()).
func fold(e Expr, kids ...Expr) Expr {
	if !foldConstants {
		return e
	}
	perBatch := false
	for _, k := range kids {
		switch k.(type) {
		case *constant:
		case *batchConst, *nowExpr:
			perBatch = true
		default:
			return e
		}
	}
	switch e.(type) {
	case *constant, *batchConst:
		return e
	}
	if perBatch {
		return &batchConst{x: e}
	}
	var v types.Vector
	e.Eval(&types.Batch{N: 1}, &v)
	return &constant{one: v, t: e.Type()}
}

// foldConstants is switched off by tests, to run the kernels on constant
// operands too.
var foldConstants = true

// nowFunc returns the clock current_timestamp() reads.
func nowFunc(now func() int64) func() int64 {
	if now != nil {
		return now
	}
	return func() int64 { return time.Now().UnixMicro() }
}

// exprSQL prints e for messages, as Spark prints expressions in its own.
func exprSQL(e sql.Expr) string {
	switch e := e.(type) {
	case *sql.Paren:
		return exprSQL(e.X)
	case *sql.ColumnRef:
		var parts []string
		for _, p := range e.Parts {
			parts = append(parts, p.Name)
		}
		return strings.Join(parts, ".")
	case *sql.Literal:
		if e.Kind == sql.LitString {
			return "'" + e.Text + "'"
		}
		if e.Kind == sql.LitNull {
			return "NULL"
		}
		return e.Text
	case *sql.TypedLiteral:
		return e.Type + " '" + e.Text + "'"
	case *sql.Interval:
		return e.Text
	case *sql.Unary:
		if strings.EqualFold(e.Op, "NOT") {
			return "(NOT " + exprSQL(e.X) + ")"
		}
		return "(" + e.Op + exprSQL(e.X) + ")"
	case *sql.Binary:
		return "(" + exprSQL(e.L) + " " + e.Op + " " + exprSQL(e.R) + ")"
	case *sql.Call:
		var args []string
		if e.Star {
			args = []string{"*"}
		}
		for _, a := range e.Args {
			args = append(args, exprSQL(a))
		}
		d := ""
		if e.Distinct {
			d = "DISTINCT "
		}
		return e.Name.Name + "(" + d + strings.Join(args, ", ") + ")"
	case *sql.Case:
		var b strings.Builder
		b.WriteString("CASE")
		if e.Operand != nil {
			b.WriteString(" " + exprSQL(e.Operand))
		}
		for _, w := range e.Whens {
			b.WriteString(" WHEN " + exprSQL(w.Cond) + " THEN " + exprSQL(w.Then))
		}
		if e.Else != nil {
			b.WriteString(" ELSE " + exprSQL(e.Else))
		}
		return b.String() + " END"
	case *sql.Cast:
		t := strings.ToUpper(e.To.Name)
		if len(e.To.Args) > 0 {
			var a []string
			for _, x := range e.To.Args {
				a = append(a, strconv.Itoa(x))
			}
			t += "(" + strings.Join(a, ",") + ")"
		}
		return "CAST(" + exprSQL(e.X) + " AS " + t + ")"
	case *sql.IsNull:
		if e.Not {
			return "(" + exprSQL(e.X) + " IS NOT NULL)"
		}
		return "(" + exprSQL(e.X) + " IS NULL)"
	case *sql.In:
		var items []string
		for _, x := range e.List {
			items = append(items, exprSQL(x))
		}
		not := ""
		if e.Not {
			not = "NOT "
		}
		return "(" + exprSQL(e.X) + " " + not + "IN (" + strings.Join(items, ", ") + "))"
	case *sql.Between:
		not := ""
		if e.Not {
			not = "NOT "
		}
		return "(" + exprSQL(e.X) + " " + not + "BETWEEN " + exprSQL(e.Lo) + " AND " + exprSQL(e.Hi) + ")"
	case *sql.Like:
		not := ""
		if e.Not {
			not = "NOT "
		}
		return "(" + exprSQL(e.X) + " " + not + "LIKE " + exprSQL(e.Pattern) + ")"
	}
	return fmt.Sprintf("%T", e)
}
