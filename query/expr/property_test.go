package expr

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// The property test compares the vectorised evaluator with refEval, a
// row-at-a-time interpreter of the AST written here from Spark's rules
// directly (exact big.Rat arithmetic for DECIMAL, regexp for LIKE), over
// random batches and random expression trees.

var propCols = []Column{
	{"", "ci", types.TInt},
	{"", "cb", types.TBigint},
	{"", "cd", types.TDouble},
	{"", "cm", types.DecimalOf(9, 2)},
	{"", "cs", types.TString},
	{"", "cz", types.TBoolean},
	{"", "cdt", types.TDate},
}

func randomBatch(r *rand.Rand, n int) *types.Batch {
	var schema types.Schema
	for _, c := range propCols {
		schema = append(schema, types.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	b := types.NewBatch(schema, n)
	words := []string{"", "a", "ab", "abc", "Abc", "b%", "a_b", "été", "ÉTÉ", "日本語", "x y", "aXbYb"}
	for i := 0; i < n; i++ {
		for k, v := range b.Cols {
			if r.IntN(7) == 0 {
				v.AppendNull()
				continue
			}
			switch k {
			case 0:
				switch r.IntN(8) {
				case 0:
					v.AppendInt(math.MaxInt32 - int64(r.IntN(3)))
				case 1:
					v.AppendInt(math.MinInt32 + int64(r.IntN(3)))
				case 2:
					v.AppendInt(0)
				default:
					v.AppendInt(int64(r.IntN(201) - 100))
				}
			case 1:
				switch r.IntN(8) {
				case 0:
					v.AppendInt(math.MaxInt64 - int64(r.IntN(3)))
				case 1:
					v.AppendInt(0)
				default:
					v.AppendInt(r.Int64N(2_000_000_001) - 1_000_000_000)
				}
			case 2:
				switch r.IntN(10) {
				case 0:
					v.AppendFloat(0)
				case 1:
					v.AppendFloat(math.NaN())
				case 2:
					v.AppendFloat(math.Inf(1))
				default:
					v.AppendFloat(math.Round((r.Float64()*200-100)*8) / 8)
				}
			case 3:
				if r.IntN(8) == 0 {
					v.AppendInt(999_999_999 - int64(r.IntN(2))) // 9999999.99: near the precision
				} else {
					v.AppendInt(r.Int64N(200_001) - 100_000)
				}
			case 4:
				v.AppendString(words[r.IntN(len(words))])
			case 5:
				v.AppendBool(r.IntN(2) == 0)
			case 6:
				v.AppendInt(r.Int64N(1_400_001) - 700_000) // years 53 to 5803
			}
		}
	}
	b.N = n
	return b
}

type gen struct{ r *rand.Rand }

func (g *gen) pick(options ...string) string { return options[g.r.IntN(len(options))] }

func (g *gen) num(d int) string {
	if d <= 0 || g.r.IntN(4) == 0 {
		return g.pick("ci", "cb", "cd", "cm", "3", "-7", "0", "2147483647", "5000000000", "1.5", "0.25", "2.5e0", "100.125")
	}
	switch g.r.IntN(11) {
	case 0, 1, 2, 3:
		return "(" + g.num(d-1) + " " + g.pick("+", "-", "*", "/", "%") + " " + g.num(d-1) + ")"
	case 4:
		return "(- " + g.num(d-1) + ")"
	case 5:
		return "abs(" + g.num(d-1) + ")"
	case 6:
		return "CASE WHEN " + g.boolean(d-1) + " THEN " + g.num(d-1) + " ELSE " + g.num(d-1) + " END"
	case 7:
		return "coalesce(" + g.num(d-1) + ", " + g.num(d-1) + ")"
	case 8:
		return "length(" + g.str(d-1) + ")"
	case 9:
		if g.r.IntN(2) == 0 {
			return "datediff(" + g.date(d-1) + ", " + g.date(d-1) + ")"
		}
		return g.pick("year", "quarter", "month", "dayofmonth", "dayofweek", "dayofyear", "unix_date") + "(" + g.date(d-1) + ")"
	}
	return "CAST(" + g.num(d-1) + " AS " + g.pick("DOUBLE", "BIGINT", "DECIMAL(12,3)") + ")"
}

func (g *gen) boolean(d int) string {
	if d <= 0 || g.r.IntN(5) == 0 {
		return g.pick("cz", "true", "false", "(ci > 0)", "(cs = 'a')")
	}
	switch g.r.IntN(10) {
	case 0, 1:
		return "(" + g.num(d-1) + " " + g.pick("=", "<>", "<", "<=", ">", ">=") + " " + g.num(d-1) + ")"
	case 8:
		rhs := g.date(d - 1)
		if g.r.IntN(3) == 0 {
			rhs = g.pick("'2024-02-29'", "'1999-1-2 junk'", "'bad'", "(cdt IN (DATE '2024-02-29', NULL))")
			if rhs[0] == '(' {
				return rhs
			}
		}
		return "(" + g.date(d-1) + " " + g.pick("=", "<>", "<", "<=", ">", ">=") + " " + rhs + ")"
	case 2:
		return "(" + g.str(d-1) + " " + g.pick("=", "<>", "<", ">=") + " " + g.str(d-1) + ")"
	case 3:
		return "(" + g.boolean(d-1) + " " + g.pick("AND", "OR") + " " + g.boolean(d-1) + ")"
	case 4:
		return "(NOT " + g.boolean(d-1) + ")"
	case 5:
		return "(" + g.pick("ci", "cb", "cd", "cm", "cs", "cz") + g.pick(" IS NULL)", " IS NOT NULL)")
	case 6:
		return "(" + g.pick("ci", "cb", "cm", "cd") + g.pick(" IN ", " NOT IN ") + g.pick("(1, 2, -7)", "(0, NULL)", "(3)", "(1.5, 100)") + ")"
	case 7:
		return "(" + g.num(d-1) + g.pick(" BETWEEN ", " NOT BETWEEN ") + g.num(0) + " AND " + g.num(0) + ")"
	}
	return "(" + g.str(d-1) + g.pick(" LIKE ", " NOT LIKE ") + g.pick("'a%'", "'%b'", "'%b%'", "'a_b'", "'_'", "'%'", "'a%b'", "'%t_'", "'ab'", "'b\\%'") + ")"
}

func (g *gen) str(d int) string {
	if d <= 0 || g.r.IntN(4) == 0 {
		return g.pick("cs", "'a'", "'xé'", "''")
	}
	switch g.r.IntN(6) {
	case 5:
		return "CAST(" + g.date(d-1) + " AS STRING)"
	case 0:
		return g.pick("lower(", "upper(") + g.str(d-1) + ")"
	case 1:
		return "concat(" + g.str(d-1) + ", " + g.str(d-1) + ")"
	case 2:
		return "substring(" + g.str(d-1) + ", " + g.pick("1", "2", "0", "-1", "-5") + ", " + g.pick("1", "2", "10", "0") + ")"
	case 3:
		return "CAST(" + g.pick("ci", "cb", "cz", "cm") + " AS STRING)"
	}
	return "CASE WHEN " + g.boolean(d-1) + " THEN " + g.str(d-1) + " ELSE " + g.str(d-1) + " END"
}

func (g *gen) date(d int) string {
	if d <= 0 || g.r.IntN(3) == 0 {
		return g.pick("cdt", "cdt", "DATE '2024-02-29'", "DATE '1969-12-31'", "CAST('2024-2-3 x' AS DATE)", "CAST('bad' AS DATE)", "to_date('1999')")
	}
	switch g.r.IntN(6) {
	case 0:
		return g.pick("date_add(", "date_sub(") + g.date(d-1) + ", " + g.pick("ci", "3", "-40", "0") + ")"
	case 1:
		return "(" + g.date(d-1) + g.pick(" + ", " - ") + g.pick("ci", "7", "-1") + ")"
	case 2:
		return "CASE WHEN " + g.boolean(d-1) + " THEN " + g.date(d-1) + " ELSE " + g.date(d-1) + " END"
	case 3:
		return "coalesce(" + g.date(d-1) + ", " + g.date(d-1) + ")"
	case 4:
		return "date_from_unix_date(" + g.pick("ci", "0", "-1", "19000") + ")"
	}
	return "(" + g.date(d-1) + g.pick(" + ", " - ") + g.pick("INTERVAL 1 DAY", "INTERVAL '2' WEEK") + ")"
}

func TestPropertyVectorisedMatchesRowByRow(t *testing.T) {
	r := rand.New(rand.NewPCG(propSeed, 2))
	g := &gen{r}
	scope := &Scope{Columns: propCols}
	for iter := uint64(0); iter < propIters; iter++ {
		b := randomBatch(r, 1+r.IntN(64))
		var src string
		switch iter % 3 {
		case 0:
			src = g.num(4)
		case 1:
			src = g.boolean(4)
		default:
			src = g.str(4)
		}
		ast, err := sql.ParseExpr(src)
		if err != nil {
			t.Fatalf("parse %s: %v", src, err)
		}
		// Every other tree is compiled without constant folding, so that
		// the kernels also meet constant operands.
		foldConstants = iter%2 == 0
		e, err := Compile(ast, scope)
		foldConstants = true
		if err != nil {
			t.Fatalf("compile %s: %v", src, err)
		}
		var out types.Vector
		e.Eval(b, &out)
		checkInvariants(t, src, &out, b.N)
		for row := 0; row < b.N; row++ {
			want := refEval(ast, b, row)
			if want.t != e.Type() && !(want.t.Kind == types.Null) {
				t.Fatalf("%s: type %v, reference %v", src, e.Type(), want.t)
			}
			got := render(&out, row)
			if w := want.render(); got != w {
				t.Fatalf("%s\nrow %d (%s): vectorised %s, reference %s", src, row, rowText(b, row), got, w)
			}
		}
	}
}

func rowText(b *types.Batch, row int) string {
	var parts []string
	for i, c := range b.Cols {
		parts = append(parts, b.Schema[i].Name+"="+render(c, row))
	}
	return strings.Join(parts, " ")
}

// rv is a reference value.
type rv struct {
	t    types.Type
	null bool
	i    int64    // INT, BIGINT
	f    float64  // DOUBLE
	d    *big.Rat // DECIMAL
	s    string
	b    bool
	lit  bool // an integer literal
}

func (v rv) render() string {
	if v.null {
		return "NULL"
	}
	switch v.t.Kind {
	case types.Int, types.Bigint:
		return strconv.FormatInt(v.i, 10)
	case types.Double:
		return javaDouble(v.f)
	case types.Decimal:
		return v.d.FloatString(int(v.t.Scale))
	case types.String:
		return v.s
	case types.Boolean:
		return strconv.FormatBool(v.b)
	case types.Date:
		tm := refDay(v.i)
		if tm.Year() < 0 || tm.Year() > 9999 {
			return fmt.Sprintf("%d-%02d-%02d", tm.Year(), tm.Month(), tm.Day())
		}
		return fmt.Sprintf("%04d-%02d-%02d", tm.Year(), tm.Month(), tm.Day())
	}
	return "NULL"
}

// refDay is day n since 1970-01-01 as Go's (proleptic Gregorian) time.
func refDay(n int64) time.Time { return time.Unix(n*86400, 0).UTC() }

func refDayOf(tm time.Time) int64 { return floorDiv(tm.Unix(), 86400) }

// refStringToDate reads s as Spark's stringToDate does, by a regexp.
var refDateRE = regexp.MustCompile(`^([+-]?)(\d{4,7})(?:-(\d{1,2})(?:-(\d{1,2})(?:[ T].*)?)?)?$`)

func refStringToDate(s string) rv {
	m := refDateRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return rv{t: types.TDate, null: true}
	}
	y, _ := strconv.Atoi(m[2])
	if m[1] == "-" {
		y = -y
	}
	mo, d := 1, 1
	if m[3] != "" {
		mo, _ = strconv.Atoi(m[3])
	}
	if m[4] != "" {
		d, _ = strconv.Atoi(m[4])
	}
	tm := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if tm.Year() != y || int(tm.Month()) != mo || tm.Day() != d {
		return rv{t: types.TDate, null: true}
	}
	return rv{t: types.TDate, i: refDayOf(tm)}
}

func refCol(b *types.Batch, i, row int) rv {
	c := b.Cols[i]
	v := rv{t: c.Type, null: c.IsNull(row)}
	if v.null {
		return v
	}
	switch c.Type.Kind {
	case types.Int, types.Bigint:
		v.i = c.I64[row]
	case types.Double:
		v.f = c.F64[row]
	case types.Decimal:
		v.d = new(big.Rat).SetFrac(big.NewInt(c.I64[row]), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Type.Scale)), nil))
	case types.String:
		v.s = c.Str[row]
	case types.Boolean:
		v.b = c.Bool[row]
	case types.Date:
		v.i = c.I64[row]
	}
	return v
}

func refEval(e sql.Expr, b *types.Batch, row int) rv {
	v := refEval0(e, b, row)
	switch e.(type) {
	case *sql.Literal, *sql.Unary, *sql.Paren:
	default:
		v.lit = false // only a literal as written is typed by its digits
	}
	return v
}

func refEval0(e sql.Expr, b *types.Batch, row int) rv {
	switch e := e.(type) {
	case *sql.Paren:
		return refEval(e.X, b, row)
	case *sql.ColumnRef:
		for i, c := range propCols {
			if strings.EqualFold(c.Name, e.Parts[0].Name) {
				return refCol(b, i, row)
			}
		}
		panic("no column " + e.Parts[0].Name)
	case *sql.Literal:
		switch e.Kind {
		case sql.LitInteger:
			x, _ := strconv.ParseInt(e.Text, 10, 64)
			if x == int64(int32(x)) {
				return rv{t: types.TInt, i: x, lit: true}
			}
			return rv{t: types.TBigint, i: x, lit: true}
		case sql.LitDecimal:
			d, _ := new(big.Rat).SetString(e.Text)
			frac := 0
			if k := strings.IndexByte(e.Text, '.'); k >= 0 {
				frac = len(e.Text) - k - 1
			}
			digits := len(strings.TrimLeft(strings.Replace(e.Text, ".", "", 1), "0"))
			return rv{t: types.DecimalOf(max(digits, frac, 1), frac), d: d}
		case sql.LitFloat:
			f, _ := strconv.ParseFloat(e.Text, 64)
			return rv{t: types.TDouble, f: f}
		case sql.LitString:
			return rv{t: types.TString, s: e.Text}
		case sql.LitBool:
			return rv{t: types.TBoolean, b: e.Text == "true" || e.Text == "TRUE"}
		}
		return rv{t: types.TNull, null: true}
	case *sql.TypedLiteral:
		return refStringToDate(e.Text)
	case *sql.Unary:
		x := refEval(e.X, b, row)
		if strings.EqualFold(e.Op, "NOT") {
			return rv{t: types.TBoolean, null: x.null, b: !x.null && !x.b}
		}
		if x.lit { // -7 is a literal
			x.i = -x.i
			return x
		}
		zero := rv{t: types.TInt}
		if x.t.Kind == types.Decimal {
			// Spark's -x keeps the type.
			if x.null {
				return x
			}
			return rv{t: x.t, d: new(big.Rat).Neg(x.d)}
		}
		return refArith("-", zero, x, true)
	case *sql.Binary:
		if iv, ok := e.R.(*sql.Interval); ok {
			l := refEval(e.L, b, row)
			n := iv.Micros / 86400_000_000
			if e.Op == "-" {
				n = -n
			}
			return rv{t: types.TDate, null: l.null, i: refIf(l.null, 0, int64(int32(l.i+n)))}
		}
		l, r := refEval(e.L, b, row), refEval(e.R, b, row)
		if l.t.Kind == types.Date && (e.Op == "+" || e.Op == "-") {
			if e.Op == "-" {
				r.i = -r.i
			}
			return rv{t: types.TDate, null: l.null || r.null, i: refIf(l.null || r.null, 0, int64(int32(l.i+r.i)))}
		}
		switch e.Op {
		case "+", "-", "*", "/", "%":
			return refArith(e.Op, l, r, false)
		case "AND", "OR":
			return ref3VL(e.Op == "OR", l, r)
		}
		return refCompare(e.Op, l, r)
	case *sql.IsNull:
		x := refEval(e.X, b, row)
		return rv{t: types.TBoolean, b: x.null != e.Not}
	case *sql.In:
		x := refEval(e.X, b, row)
		res := rv{t: types.TBoolean, b: false}
		for _, it := range e.List {
			res = ref3VL(true, res, refCompare("=", x, refEval(it, b, row)))
		}
		if e.Not {
			res.b = !res.null && !res.b
		}
		return res
	case *sql.Between:
		x := refEval(e.X, b, row)
		res := ref3VL(false, refCompare(">=", x, refEval(e.Lo, b, row)), refCompare("<=", x, refEval(e.Hi, b, row)))
		if e.Not {
			res.b = !res.null && !res.b
		}
		return res
	case *sql.Like:
		x, p := refEval(e.X, b, row), refEval(e.Pattern, b, row)
		if x.null || p.null {
			return rv{t: types.TBoolean, null: true}
		}
		var re strings.Builder
		re.WriteString("(?s)^")
		pr := []rune(p.s)
		for i := 0; i < len(pr); i++ {
			switch c := pr[i]; c {
			case '%':
				re.WriteString(".*")
			case '_':
				re.WriteString(".")
			case '\\':
				i++
				re.WriteString(regexp.QuoteMeta(string(pr[i])))
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		m := regexp.MustCompile(re.String() + "$").MatchString(x.s)
		return rv{t: types.TBoolean, b: m != e.Not}
	case *sql.Case:
		var vals []rv
		chosen := -1
		for i, w := range e.Whens {
			c := refEval(w.Cond, b, row)
			vals = append(vals, refEval(w.Then, b, row))
			if chosen < 0 && !c.null && c.b {
				chosen = i
			}
		}
		vals = append(vals, refEval(e.Else, b, row))
		if chosen < 0 {
			chosen = len(vals) - 1
		}
		return refConvert(vals[chosen], refWider(vals))
	case *sql.Call:
		var args []rv
		for _, a := range e.Args {
			args = append(args, refEval(a, b, row))
		}
		day := func(v rv) time.Time { return refDay(v.i) }
		anyNull := args[0].null || (len(args) > 1 && args[1].null)
		switch name := strings.ToLower(e.Name.Name); name {
		case "date_add", "date_sub":
			n := int64(int32(args[1].i))
			if name == "date_sub" {
				n = -n
			}
			return rv{t: types.TDate, null: anyNull, i: refIf(anyNull, 0, int64(int32(args[0].i+n)))}
		case "datediff":
			return rv{t: types.TInt, null: anyNull, i: refIf(anyNull, 0, int64(int32(args[0].i-args[1].i)))}
		case "unix_date":
			return rv{t: types.TInt, null: anyNull, i: args[0].i}
		case "date_from_unix_date":
			return rv{t: types.TDate, null: anyNull, i: args[0].i}
		case "to_date":
			return refStringToDate(args[0].s)
		case "year", "quarter", "month", "dayofmonth", "dayofweek", "dayofyear":
			if anyNull {
				return rv{t: types.TInt, null: true}
			}
			tm := day(args[0])
			f := map[string]int{"year": tm.Year(), "quarter": (int(tm.Month()) + 2) / 3, "month": int(tm.Month()),
				"dayofmonth": tm.Day(), "dayofweek": int(tm.Weekday()) + 1, "dayofyear": tm.YearDay()}[name]
			return rv{t: types.TInt, i: int64(f)}
		}
		switch strings.ToLower(e.Name.Name) {
		case "coalesce":
			t := refWider(args)
			for _, a := range args {
				// Spark casts every argument to the common type first: one
				// that overflows the capped DECIMAL is NULL and skipped.
				if a = refConvert(a, t); !a.null {
					return a
				}
			}
			return rv{t: t, null: true}
		case "abs":
			x := args[0]
			if x.null {
				return x
			}
			switch x.t.Kind {
			case types.Int:
				if x.i < 0 {
					x.i = int64(int32(-x.i))
				}
			case types.Bigint:
				if x.i < 0 {
					x.i = -x.i
				}
			case types.Double:
				x.f = math.Abs(x.f)
			case types.Decimal:
				x.d = new(big.Rat).Abs(x.d)
			}
			return x
		case "length":
			return rv{t: types.TInt, null: args[0].null, i: int64(utf8.RuneCountInString(args[0].s))}
		case "lower":
			return rv{t: types.TString, null: args[0].null, s: strings.ToLower(args[0].s)}
		case "upper":
			return rv{t: types.TString, null: args[0].null, s: strings.ToUpper(args[0].s)}
		case "concat":
			return rv{t: types.TString, null: args[0].null || args[1].null, s: args[0].s + args[1].s}
		case "substring":
			if args[0].null {
				return rv{t: types.TString, null: true}
			}
			rs := []rune(args[0].s)
			pos, n := args[1].i, args[2].i
			// 1-based; 0 is 1; negative counts from the end; the span
			// [start, start+len) is clipped to the string.
			start := pos - 1
			if pos == 0 {
				start = 0
			} else if pos < 0 {
				start = int64(len(rs)) + pos
			}
			end := min(start+n, int64(len(rs)))
			start = max(start, 0)
			if start >= end {
				return rv{t: types.TString}
			}
			return rv{t: types.TString, s: string(rs[start:end])}
		}
		panic("no reference for " + e.Name.Name)
	case *sql.Cast:
		x := refEval(e.X, b, row)
		to, err := typeOf(e.To)
		if err != nil {
			panic(err)
		}
		if to.Kind == types.Date {
			if x.null {
				return rv{t: to, null: true}
			}
			return refStringToDate(x.s)
		}
		if to.Kind == types.String {
			if x.null {
				return rv{t: to, null: true}
			}
			x.t, x.s = to, x.render()
			return x
		}
		if to.Kind == types.Bigint && x.t.Kind == types.Double {
			if x.null {
				return rv{t: to, null: true}
			}
			switch {
			case x.f != x.f:
				return rv{t: to}
			case x.f >= math.MaxInt64:
				return rv{t: to, i: math.MaxInt64}
			case x.f <= math.MinInt64:
				return rv{t: to, i: math.MinInt64}
			}
			return rv{t: to, i: int64(x.f)}
		}
		if to.Kind == types.Bigint && x.t.Kind == types.Decimal {
			if x.null {
				return rv{t: to, null: true}
			}
			q := new(big.Int).Quo(x.d.Num(), x.d.Denom()) // toward zero
			return rv{t: to, i: q.Int64()}
		}
		return refConvert(x, to)
	}
	panic(fmt.Sprintf("no reference for %T", e))
}

func ref3VL(or bool, l, r rv) rv {
	dom := or
	if (!l.null && l.b == dom) || (!r.null && r.b == dom) {
		return rv{t: types.TBoolean, b: dom}
	}
	if l.null || r.null {
		return rv{t: types.TBoolean, null: true}
	}
	return rv{t: types.TBoolean, b: !dom}
}

func refIsExact(t types.Type) bool {
	return t.Kind == types.Int || t.Kind == types.Bigint || t.Kind == types.Decimal
}

func refRat(v rv) *big.Rat {
	if v.t.Kind == types.Decimal {
		return v.d
	}
	return new(big.Rat).SetInt64(v.i)
}

func refFloat(v rv) float64 {
	switch v.t.Kind {
	case types.Double:
		return v.f
	case types.Decimal:
		f, _ := v.d.Float64()
		return f
	}
	return float64(v.i)
}

func refCompare(op string, l, r rv) rv {
	if l.null || r.null {
		return rv{t: types.TBoolean, null: true}
	}
	if l.t.Kind == types.Date && r.t.Kind == types.String {
		if r = refStringToDate(r.s); r.null {
			return rv{t: types.TBoolean, null: true}
		}
	}
	var c int
	switch {
	case l.t.Kind == types.Date:
		c = int(l.i - r.i)
	case l.t.Kind == types.String && r.t.Kind == types.String:
		c = strings.Compare(l.s, r.s)
	case l.t.Kind == types.Boolean:
		c = int(b2i(l.b) - b2i(r.b))
	case refIsExact(l.t) && refIsExact(r.t):
		c = refRat(l).Cmp(refRat(r))
	default: // DOUBLE: NaN equals NaN and is above everything
		x, y := refFloat(l), refFloat(r)
		switch {
		case math.IsNaN(x) && math.IsNaN(y):
			c = 0
		case math.IsNaN(x):
			c = 1
		case math.IsNaN(y):
			c = -1
		case x < y:
			c = -1
		case x > y:
			c = 1
		}
	}
	var res bool
	switch op {
	case "=":
		res = c == 0
	case "<>":
		res = c != 0
	case "<":
		res = c < 0
	case "<=":
		res = c <= 0
	case ">":
		res = c > 0
	case ">=":
		res = c >= 0
	}
	return rv{t: types.TBoolean, b: res}
}

// refDec is the precision and scale a number counts with in decimal
// arithmetic; isConst marks a literal, whose precision is its digits.
func refDec(v rv, lit bool) (int, int) {
	switch v.t.Kind {
	case types.Decimal:
		return int(v.t.Precision), int(v.t.Scale)
	case types.Int:
		if lit {
			return len(strconv.FormatInt(max(v.i, -v.i), 10)), 0
		}
		return 10, 0
	}
	if lit {
		return len(strconv.FormatInt(max(v.i, -v.i), 10)), 0
	}
	return 20, 0
}

// refArith: negate marks unary minus (0 - x with x's type).
func refArith(op string, l, r rv, negate bool) rv {
	switch {
	case negate:
		if r.null {
			return r
		}
		switch r.t.Kind {
		case types.Int:
			return rv{t: r.t, i: int64(int32(-r.i))}
		case types.Bigint:
			return rv{t: r.t, i: -r.i}
		case types.Double:
			return rv{t: r.t, f: -r.f}
		}
	}
	isDouble := l.t.Kind == types.Double || r.t.Kind == types.Double ||
		(op == "/" && l.t.Kind != types.Decimal && r.t.Kind != types.Decimal)
	if isDouble {
		if l.null || r.null {
			return rv{t: types.TDouble, null: true}
		}
		x, y := refFloat(l), refFloat(r)
		if (op == "/" || op == "%") && y == 0 {
			return rv{t: types.TDouble, null: true}
		}
		var f float64
		switch op {
		case "+":
			f = x + y
		case "-":
			f = x - y
		case "*":
			f = x * y
		case "/":
			f = x / y
		case "%":
			f = math.Mod(x, y)
		}
		return rv{t: types.TDouble, f: f}
	}
	if l.t.Kind == types.Decimal || r.t.Kind == types.Decimal {
		p1, s1 := refDec(l, false)
		p2, s2 := refDec(r, false)
		if l.t.Kind != types.Decimal && litInt(l) {
			p1, s1 = refDec(l, true)
		}
		if r.t.Kind != types.Decimal && litInt(r) {
			p2, s2 = refDec(r, true)
		}
		var p, s int
		switch op {
		case "+", "-":
			s = max(s1, s2)
			p = max(p1-s1, p2-s2) + s + 1
		case "*":
			p, s = p1+p2+1, s1+s2
		case "/":
			s = max(6, s1+p2+1)
			p = p1 - s1 + s2 + s
		case "%":
			s = max(s1, s2)
			p = min(p1-s1, p2-s2) + s
		}
		if p > 18 { // Spark's adjustPrecisionScale, at 18 digits
			s = max(18-(p-s), min(s, 6))
			p = 18
		}
		t := types.DecimalOf(max(p, 1), s)
		if l.null || r.null {
			return rv{t: t, null: true}
		}
		x, y := refRat(l), refRat(r)
		var z *big.Rat
		switch op {
		case "+":
			z = new(big.Rat).Add(x, y)
		case "-":
			z = new(big.Rat).Sub(x, y)
		case "*":
			z = new(big.Rat).Mul(x, y)
		case "/", "%":
			if y.Sign() == 0 {
				return rv{t: t, null: true}
			}
			z = new(big.Rat).Quo(x, y)
			if op == "%" { // x - y·trunc(x/y)
				q := new(big.Int).Quo(z.Num(), z.Denom())
				z = new(big.Rat).Sub(x, new(big.Rat).Mul(y, new(big.Rat).SetInt(q)))
			}
		}
		return refToDecimal(z, t)
	}
	t := types.TInt
	if l.t.Kind == types.Bigint || r.t.Kind == types.Bigint {
		t = types.TBigint
	}
	if l.null || r.null {
		return rv{t: t, null: true}
	}
	x, y := big.NewInt(l.i), big.NewInt(r.i)
	z := new(big.Int)
	switch op {
	case "+":
		z.Add(x, y)
	case "-":
		z.Sub(x, y)
	case "*":
		z.Mul(x, y)
	case "%":
		if r.i == 0 {
			return rv{t: t, null: true}
		}
		z.Rem(x, y)
	}
	// Wrap to the type's width (two's complement).
	w := new(big.Int).And(z, new(big.Int).SetUint64(math.MaxUint64)).Uint64()
	if t.Kind == types.Int {
		return rv{t: t, i: int64(int32(uint32(w)))}
	}
	return rv{t: t, i: int64(w)}
}

// litInt reports an integer literal, whose precision in decimal
// arithmetic is its number of digits (Spark's pickMinimumPrecision).
func litInt(v rv) bool { return v.lit }

// refToDecimal rounds z HALF_UP to t's scale; NULL if it does not fit.
func refToDecimal(z *big.Rat, t types.Type) rv {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.Scale)), nil)
	num := new(big.Rat).Mul(z, new(big.Rat).SetInt(scale))
	q, rem := new(big.Int).QuoRem(num.Num(), num.Denom(), new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(rem), big.NewInt(2)).Cmp(num.Denom()) >= 0 {
		q.Add(q, big.NewInt(int64(num.Sign())))
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.Precision)), nil)
	if new(big.Int).Abs(q).Cmp(limit) >= 0 {
		return rv{t: t, null: true}
	}
	return rv{t: t, d: new(big.Rat).SetFrac(q, scale)}
}

// refWider is the type a CASE or coalesce over vals has.
func refWider(vals []rv) types.Type {
	t := types.TNull
	for _, v := range vals {
		u := v.t
		switch {
		case t.Kind == types.Null:
			t = u
		case u.Kind == types.Null || u == t:
		case t.Kind == types.String || u.Kind == types.String:
			t = types.TString
		case t.Kind == types.Double || u.Kind == types.Double:
			t = types.TDouble
		case t.Kind == types.Decimal || u.Kind == types.Decimal:
			p1, s1 := refDec(rv{t: t}, false)
			p2, s2 := refDec(rv{t: u}, false)
			s := max(s1, s2)
			t = types.DecimalOf(min(max(p1-s1, p2-s2)+s, 18), s)
		default:
			t = types.TBigint
		}
	}
	return t
}

func refConvert(v rv, t types.Type) rv {
	if v.t == t {
		return v
	}
	if v.null {
		return rv{t: t, null: true}
	}
	switch t.Kind {
	case types.String:
		return rv{t: t, s: v.render()}
	case types.Double:
		return rv{t: t, f: refFloat(v)}
	case types.Bigint:
		return rv{t: t, i: v.i}
	case types.Decimal:
		if v.t.Kind == types.Double {
			if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
				return rv{t: t, null: true}
			}
			z, _ := new(big.Rat).SetString(strconv.FormatFloat(v.f, 'e', -1, 64))
			return refToDecimal(z, t)
		}
		return refToDecimal(refRat(v), t)
	}
	panic(fmt.Sprintf("reference: no conversion %v to %v", v.t, t))
}

// Raise propIters (and vary propSeed) to search longer.
var propSeed, propIters uint64 = 1, 4000

func refIf(c bool, a, b int64) int64 {
	if c {
		return a
	}
	return b
}
