package expr

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// fn describes a scalar function: how many arguments it takes and how to
// build it from its compiled arguments.
type fn struct {
	min, max int // max < 0: any number
	build    func(c *compiler, e *sql.Call, args []Expr) (Expr, error)
}

var functions map[string]fn

func init() {
	str1 := func(op strOp) fn {
		return fn{1, 1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
			x, err := c.param(e, a, 0, types.TString)
			if err != nil {
				return nil, err
			}
			return fold(&strMap{op: op, x: x}, x), nil
		}}
	}
	length := fn{1, 1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		x, err := c.param(e, a, 0, types.TString)
		if err != nil {
			return nil, err
		}
		return fold(&lengthExpr{x: x}, x), nil
	}}
	octetLength := fn{1, 1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		x, err := c.param(e, a, 0, types.TString)
		if err != nil {
			return nil, err
		}
		return fold(&lengthExpr{x: x, bytes: true}, x), nil
	}}
	substr := fn{2, 3, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		x, err := c.param(e, a, 0, types.TString)
		if err != nil {
			return nil, err
		}
		pos, err := c.param(e, a, 1, types.TInt)
		if err != nil {
			return nil, err
		}
		s := &substrExpr{x: x, pos: pos}
		kids := []Expr{x, pos}
		if len(a) == 3 {
			if s.ln, err = c.param(e, a, 2, types.TInt); err != nil {
				return nil, err
			}
			kids = append(kids, s.ln)
		}
		return fold(s, kids...), nil
	}}
	coalesce := fn{1, -1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		t, err := commonType(e, strings.ToLower(e.Name.Name), a)
		if err != nil {
			return nil, err
		}
		for i := range a {
			a[i] = castTo(a[i], t)
		}
		return fold(&coalesceExpr{t: t, xs: a, s: make([]types.Vector, len(a))}, a...), nil
	}}
	regexpLike := fn{2, 2, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
		x, err := c.param(e, a, 0, types.TString)
		if err != nil {
			return nil, err
		}
		p, err := c.param(e, a, 1, types.TString)
		if err != nil {
			return nil, err
		}
		r := &regexpExpr{x: x, p: p}
		if v, ok := Const(p); ok && v != nil {
			re, err := regexp.Compile(v.(string))
			if err != nil {
				return nil, errAt(e.Args[1], "[INVALID_PARAMETER_VALUE.PATTERN] The value of parameter(s) `regexp` in `%s` is invalid: %v (patterns are RE2 syntax: no backreferences or lookaround)", strings.ToLower(e.Name.Name), err)
			}
			r.re, r.fast = re, fastMatcher(v.(string))
		}
		return fold(r, x, p), nil
	}}
	minmax := func(greatest bool) fn {
		return fn{2, -1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
			t, err := commonType(e, strings.ToLower(e.Name.Name), a)
			if err != nil {
				return nil, err
			}
			for i := range a {
				a[i] = castTo(a[i], t)
			}
			return fold(&extremeExpr{t: t, greatest: greatest, xs: a, s: make([]types.Vector, len(a))}, a...), nil
		}}
	}
	functions = map[string]fn{
		"lower": str1(sLower), "lcase": str1(sLower),
		"upper": str1(sUpper), "ucase": str1(sUpper),
		"trim": str1(sTrim), "ltrim": str1(sLTrim), "rtrim": str1(sRTrim),
		"length": length, "char_length": length, "character_length": length, "octet_length": octetLength,
		"substring": substr, "substr": substr,
		"concat":   {1, -1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) { return c.concat(e, a) }},
		"coalesce": coalesce,
		"nvl":      {2, 2, coalesce.build},
		"ifnull":   {2, 2, coalesce.build},
		"if":       {3, 3, buildIf},
		"nullif":   {2, 2, buildNullif},
		"isnull": {1, 1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
			return fold(&isNull{x: a[0]}, a[0]), nil
		}},
		"isnotnull": {1, 1, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
			return fold(&isNull{x: a[0], not: true}, a[0]), nil
		}},
		"greatest":    minmax(true),
		"least":       minmax(false),
		"abs":         {1, 1, buildAbs},
		"round":       {1, 2, buildRound},
		"floor":       {1, 1, buildFloorCeil(false)},
		"ceil":        {1, 1, buildFloorCeil(true)},
		"ceiling":     {1, 1, buildFloorCeil(true)},
		"regexp_like": regexpLike,
		"rlike":       regexpLike,
		"regexp":      regexpLike,
		"current_timestamp": {0, 0, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
			return &nowExpr{now: c.s.Now}, nil
		}},
		"now": {0, 0, func(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
			return &nowExpr{now: c.s.Now}, nil
		}},
		"timestamp_millis":    {1, 1, buildFromUnit(tMillis)},
		"timestamp_micros":    {1, 1, buildFromUnit(tMicros)},
		"timestamp_seconds":   {1, 1, buildFromUnit(tSeconds)},
		"unix_millis":         {1, 1, buildToUnit(1000)},
		"unix_micros":         {1, 1, buildToUnit(1)},
		"unix_seconds":        {1, 1, buildToUnit(microsPerSecond)},
		"unix_timestamp":      {1, 2, buildUnixTimestamp},
		"to_timestamp":        {1, 2, buildToTimestamp},
		"date_format":         {2, 2, buildDateFormat},
		"hour":                {1, 1, buildExtract(xHour)},
		"minute":              {1, 1, buildExtract(xMinute)},
		"second":              {1, 1, buildExtract(xSecond)},
		"year":                {1, 1, buildExtract(xYear)},
		"quarter":             {1, 1, buildExtract(xQuarter)},
		"month":               {1, 1, buildExtract(xMonth)},
		"day":                 {1, 1, buildExtract(xDay)},
		"dayofmonth":          {1, 1, buildExtract(xDay)},
		"dayofweek":           {1, 1, buildExtract(xDayOfWeek)},
		"dayofyear":           {1, 1, buildExtract(xDayOfYear)},
		"to_date":             {1, 2, buildToDate},
		"current_date":        {0, 0, buildCurrentDate},
		"curdate":             {0, 0, buildCurrentDate},
		"date_add":            {2, 2, buildDateAddCall(false)},
		"dateadd":             {2, 2, buildDateAddCall(false)},
		"date_sub":            {2, 2, buildDateAddCall(true)},
		"datediff":            {2, 2, buildDateDiff},
		"unix_date":           {1, 1, buildUnixDate},
		"date_from_unix_date": {1, 1, buildDateFromUnixDate},
	}
}

// FunctionNames lists the scalar functions Compile knows, sorted.
func FunctionNames() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *compiler) call(e *sql.Call) (Expr, error) {
	name := strings.ToLower(e.Name.Name)
	switch {
	case aggregates[name]:
		return nil, errAt(e, "aggregate function %s is not allowed here: aggregates may appear in the SELECT list and HAVING of an aggregating query, not in %s", name, "this clause")
	case name == "window" || name == "session_window":
		return nil, errAt(e, "%s(…) is only allowed as a GROUP BY key (and its window.start / window.end in the SELECT list)", name)
	case name == "explode" || name == "explode_outer" || name == "split":
		return nil, errAt(e, "%s is only supported as explode(split(text, pattern)) in the SELECT list or a LATERAL VIEW: this engine has no ARRAY type", name)
	}
	f, ok := functions[name]
	if !ok {
		return nil, errAt(e, "[UNRESOLVED_ROUTINE] Cannot resolve function `%s` on search path [`system`.`builtin`].", e.Name.Name)
	}
	switch {
	case e.Star:
		return nil, errAt(e, "%s(*) is not allowed: only count(*) takes a star", name)
	case e.Distinct:
		return nil, errAt(e, "DISTINCT is only allowed in aggregate functions, not in %s", name)
	case e.Filter != nil:
		return nil, errAt(e, "FILTER (WHERE …) is only allowed with aggregate functions, not with %s", name)
	}
	if len(e.Args) < f.min || (f.max >= 0 && len(e.Args) > f.max) {
		want := ""
		switch {
		case f.min == f.max:
			want = plural(f.min)
		case f.max < 0:
			want = "at least " + plural(f.min)
		default:
			want = "between " + strconv.Itoa(f.min) + " and " + plural(f.max)
		}
		return nil, errAt(e, "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `%s` requires %s, but the actual number is %d.", name, want, len(e.Args))
	}
	args, err := c.exprs(e.Args)
	if err != nil {
		return nil, err
	}
	return f.build(c, e, args)
}

func plural(n int) string {
	if n == 1 {
		return "1 parameter"
	}
	return strconv.Itoa(n) + " parameters"
}

// param converts argument i of call e to type t the way Spark's implicit
// casts do, or reports Spark's UNEXPECTED_INPUT_TYPE error at the argument.
func (c *compiler) param(e *sql.Call, args []Expr, i int, t types.Type) (Expr, error) {
	x := args[i]
	if !implicitOK(x.Type(), t) {
		return nil, errAt(e.Args[i], "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: Parameter %d requires the %q type, however %q has the type %q.", exprSQL(e), i+1, t.String(), exprSQL(e.Args[i]), x.Type().String())
	}
	return castTo(x, t), nil
}

// numParam checks that argument i is a number, reading STRING and NULL
// as DOUBLE.
func (c *compiler) numParam(e *sql.Call, args []Expr, i int) (Expr, error) {
	x := args[i]
	switch {
	case x.Type().IsNumeric():
		return x, nil
	case x.Type().Kind == types.String || x.Type().Kind == types.Null:
		return castTo(x, types.TDouble), nil
	}
	return nil, errAt(e.Args[i], "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve %q due to data type mismatch: Parameter %d requires the \"NUMERIC\" type, however %q has the type %q.", exprSQL(e), i+1, exprSQL(e.Args[i]), x.Type().String())
}

func buildIf(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	cond, err := c.wantBool(e, a[0], e.Args[0])
	if err != nil {
		return nil, err
	}
	t, err := commonType(e, "if", a[1:])
	if err != nil {
		return nil, err
	}
	return newCase(t, []Expr{cond}, []Expr{castTo(a[1], t)}, castTo(a[2], t)), nil
}

// buildNullif is nullif(a, b): CASE WHEN a = b THEN NULL ELSE a END.
func buildNullif(c *compiler, e *sql.Call, a []Expr) (Expr, error) {
	eq, err := c.compare(e, "=", a[0], a[1])
	if err != nil {
		return nil, err
	}
	t := a[0].Type()
	return newCase(t, []Expr{eq}, []Expr{constNull(t)}, a[0]), nil
}
