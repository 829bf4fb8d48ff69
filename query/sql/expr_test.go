package sql

import (
	"errors"
	"testing"
)

func TestParseExpr(t *testing.T) {
	cases := []struct{ in, want string }{
		// Literals.
		{"42", "42"},
		{"42L", "42"},
		{"7S", "7"},
		{"1.5", "dec:1.5"},
		{".5", "dec:.5"},
		{"1.5BD", "dec:1.5"},
		{"12bd", "dec:12"},
		{"1.5D", "float:1.5"},
		{"2d", "float:2"},
		{"1e3", "float:1e3"},
		{"1.5E-2", "float:1.5E-2"},
		{"1.5f", "float:1.5"},
		{"'it'", `"it"`},
		{`"dq"`, `"dq"`},
		{`'a\nb\t\\\'\"'`, `"a\nb\t\\'\""`},
		{`'a' 'b' "c"`, `"abc"`},
		{`'it''s'`, `"its"`}, // as in Spark: two adjacent literals
		{`'a\zb'`, `"azb"`},
		{`'\u00e9\101'`, `"éA"`},
		{`'50\%'`, `"50\\%"`},
		{`r'C:\dir'`, `"C:\\dir"`},
		{"TRUE", "true"},
		{"false", "false"},
		{"null", "NULL"},
		{"TIMESTAMP '2024-01-01 00:00:00'", `TIMESTAMP"2024-01-01 00:00:00"`},
		{"date '2024-01-01'", `DATE"2024-01-01"`},

		// Names and calls.
		{"a", "a"},
		{"t.a", "t.a"},
		{"a.b.c", "a.b.c"},
		{"`weird name`", "`weird name`"},
		{"`a``b`", "`a`b`"},
		{"window.start", "window.start"},
		{"window.end", "window.end"},
		{"session_window.end", "session_window.end"},
		{"t.`select`", "t.`select`"},
		{"end", "end"},
		{"window(ts, '10 seconds')", `window(ts "10 seconds")`},
		{"count(*)", "count(*)"},
		{"COUNT(DISTINCT user_id)", "COUNT(DISTINCT user_id)"},
		{"sum(ALL x)", "sum(x)"},
		{"now()", "now()"},
		{"sum(x) FILTER (WHERE x > 0)", "sum(x) FILTER (> x 0)"},
		{"count(*) filter (where ok)", "count(*) FILTER ok"},
		{"left(s, 3)", "left(s 3)"},
		{"timestamp(x)", "timestamp(x)"},
		{"date", "date"},
		{"timestamp", "timestamp"},

		// Precedence: OR < AND < NOT < predicates < comparison < + - || < * / % DIV < unary < ::.
		{"a OR b AND c", "(OR a (AND b c))"},
		{"a AND b OR c", "(OR (AND a b) c)"},
		{"NOT a AND b", "(AND (NOT a) b)"},
		{"NOT a = b", "(NOT (= a b))"},
		{"NOT NOT a", "(NOT (NOT a))"},
		{"a = b AND c <> d", "(AND (= a b) (<> c d))"},
		{"a == b", "(= a b)"},
		{"a != b", "(<> a b)"},
		{"a < b", "(< a b)"},
		{"a <= b", "(<= a b)"},
		{"a > b", "(> a b)"},
		{"a >= b", "(>= a b)"},
		{"a + b * c", "(+ a (* b c))"},
		{"a * b + c", "(+ (* a b) c)"},
		{"a - b - c", "(- (- a b) c)"},
		{"a / b % c", "(% (/ a b) c)"},
		{"a div b", "(DIV a b)"},
		{"a || b + c", "(+ (|| a b) c)"},
		{"a + b = c * d", "(= (+ a b) (* c d))"},
		{"-a * b", "(* (- a) b)"},
		{"- -a", "(- (- a))"},
		{"+a", "(+ a)"},
		{"-x::int", "(- (cast x int))"},
		{"a::DECIMAL(10,2) + 1", "(+ (cast a DECIMAL(10,2)) 1)"},
		{"(a + b) * c", "(* [(+ a b)] c)"},
		{"a IS NULL", "(isnull a)"},
		{"a IS NOT NULL AND b", "(AND (isnotnull a) b)"},
		{"a + 1 IS NULL", "(isnull (+ a 1))"},
		{"a IN (1, 2, 3)", "(in a 1 2 3)"},
		{"a NOT IN ('x')", `(notin a "x")`},
		{"a BETWEEN 1 AND 2", "(between a 1 2)"},
		{"a NOT BETWEEN -1 AND b + 1 AND c", "(AND (notbetween a (- 1) (+ b 1)) c)"},
		{"length(s) BETWEEN 1 AND 64", "(between length(s) 1 64)"},
		{"a LIKE 'x%'", `(like a "x%")`},
		{"a NOT LIKE 'x%' OR b", `(OR (notlike a "x%") b)`},
		{"a RLIKE '^x' AND b", `(AND rlike(a "^x") b)`},
		{"a NOT REGEXP '^x'", `(NOT rlike(a "^x"))`},
		{`NOT s RLIKE '[\\x00-\\x1f]'`, `(NOT rlike(s "[\\x00-\\x1f]"))`}, // \\ is one backslash, as in Spark
		{`'[\x00]'`, `"[x00]"`},
		{"current_timestamp", "current_timestamp()"},
		{"CURRENT_DATE + 1", "(+ CURRENT_DATE() 1)"},
		{"current_timestamp()", "current_timestamp()"},
		{"t.current_date", "t.current_date"},

		// CASE, CAST, intervals.
		{"CASE WHEN ok THEN 1 ELSE 0 END", "(case (when ok 1) (else 0))"},
		{"case x when 1 then 'a' when 2 then 'b' end", `(case x (when 1 "a") (when 2 "b"))`},
		{"CASE WHEN a THEN window.end END", "(case (when a window.end))"},
		{"CASE WHEN a THEN CASE WHEN b THEN 1 END END", "(case (when a (case (when b 1))))"},
		{"CAST(sum(amount) AS DECIMAL(10,2))", "(cast sum(amount) DECIMAL(10,2))"},
		{"cast(x as string)", "(cast x string)"},
		{"CAST(x AS DECIMAL(10))", "(cast x DECIMAL(10))"},
		{"INTERVAL '1' MINUTE", "(interval 60000000)"},
		{"INTERVAL 1 MINUTE", "(interval 60000000)"},
		{"INTERVAL '10' SECONDS", "(interval 10000000)"},
		{"INTERVAL '10 seconds'", "(interval 10000000)"},
		{"INTERVAL '1 minute 30 seconds'", "(interval 90000000)"},
		{"INTERVAL 2 HOURS 30 MINUTES", "(interval 9000000000)"},
		{"interval 1 day", "(interval 86400000000)"},
		{"INTERVAL 1 WEEK", "(interval 604800000000)"},
		{"INTERVAL 500 MILLISECONDS", "(interval 500000)"},
		{"INTERVAL 7 microsecond", "(interval 7)"},
		{"INTERVAL 1.5 SECONDS", "(interval 1500000)"},
		{"INTERVAL '-1' MINUTE", "(interval -60000000)"},
		{"INTERVAL -1 MINUTE", "(interval -60000000)"},
		{"event_time - INTERVAL '1' MINUTE", "(- event_time (interval 60000000))"},
		{"ts - INTERVAL 1 MINUTE - INTERVAL 1 SECOND", "(- (- ts (interval 60000000)) (interval 1000000))"},
		{"ts + INTERVAL 1 MINUTE + 5", "(+ (+ ts (interval 60000000)) 5)"},

		// Comments.
		{"a -- the answer\n + /* plus /* nested */ */ 1", "(+ a 1)"},
	}
	for _, c := range cases {
		x, err := ParseExpr(c.in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", c.in, err)
			continue
		}
		if got := sexpr(x); got != c.want {
			t.Errorf("ParseExpr(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestIntervalText(t *testing.T) {
	for in, want := range map[string]string{
		"INTERVAL '1' MINUTE":            "INTERVAL '1' MINUTE",
		"interval 2 hours 30 minutes":    "interval 2 hours 30 minutes",
		"INTERVAL '10 seconds' + 1":      "INTERVAL '10 seconds'",
		"INTERVAL '10 ' 'seconds' * 2":   "INTERVAL '10 ' 'seconds'",
		"INTERVAL -1 MINUTE -30 SECONDS": "INTERVAL -1 MINUTE -30 SECONDS",
	} {
		x, err := ParseExpr(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var iv *Interval
		switch x := x.(type) {
		case *Interval:
			iv = x
		case *Binary:
			iv = x.L.(*Interval)
		}
		if iv.Text != want {
			t.Errorf("%q: Text = %q, want %q", in, iv.Text, want)
		}
	}
	x, _ := ParseExpr("INTERVAL -1 MINUTE -30 SECONDS")
	if got := x.(*Interval).Micros; got != -90_000_000 {
		t.Errorf("INTERVAL -1 MINUTE -30 SECONDS = %d µs, want -90000000", got)
	}
}

func TestExprPositions(t *testing.T) {
	// Every node carries the line and column (1-based, in bytes) it starts at.
	x, err := ParseExpr("a +\n\t-b * f(c, 'x')\n  BETWEEN 1 AND CAST(d AS INT)")
	if err != nil {
		t.Fatal(err)
	}
	bt := x.(*Between)
	add := bt.X.(*Binary)
	mul := add.R.(*Binary)
	neg := mul.L.(*Unary)
	call := mul.R.(*Call)
	cast := bt.Hi.(*Cast)
	for _, c := range []struct {
		what string
		got  Pos
		want Pos
	}{
		{"between", bt.At, Pos{1, 1}},
		{"a + …", add.At, Pos{1, 1}},
		{"-b * …", mul.At, Pos{2, 2}},
		{"-b", neg.At, Pos{2, 2}},
		{"b", neg.X.Start(), Pos{2, 3}},
		{"f(…)", call.At, Pos{2, 7}},
		{"f's name", call.Name.At, Pos{2, 7}},
		{"c", call.Args[0].Start(), Pos{2, 9}},
		{"'x'", call.Args[1].Start(), Pos{2, 12}},
		{"1", bt.Lo.Start(), Pos{3, 11}},
		{"CAST", cast.At, Pos{3, 17}},
		{"INT", cast.To.At, Pos{3, 27}},
	} {
		if c.got != c.want {
			t.Errorf("%s at %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestExprErrors(t *testing.T) {
	cases := []struct {
		in        string
		line, col int
		msg       string
	}{
		{"a +", 1, 4, "expected an expression but found end of input"},
		{"f(a", 1, 4, "expected ')' but found end of input"},
		{"(a", 1, 3, "expected ')' but found end of input"},
		{"a b", 1, 3, "expected end of the expression but found 'b'"},
		{"'abc", 1, 1, "unterminated string literal"},
		{"x + 'ab\\'", 1, 5, "unterminated string literal"},
		{"`abc", 1, 1, "unterminated quoted identifier: '`' has no matching '`'"},
		{"a /* x", 1, 3, "unterminated comment: '/*' has no matching '*/'"},
		{"a # b", 1, 3, "unexpected character '#'"},
		{"12abc", 1, 1, "invalid number '12abc'"},
		{"INTERVAL '1' MONTH", 1, 14, "MONTH intervals are not supported in streaming queries: use days, hours, minutes or seconds"},
		{"INTERVAL 2 YEARS", 1, 12, "YEAR intervals are not supported in streaming queries: use days, hours, minutes or seconds"},
		{"INTERVAL '1 month'", 1, 10, "invalid interval '1 month': MONTH intervals are not supported in streaming queries: use days, hours, minutes or seconds"},
		{"INTERVAL '10 secs'", 1, 10, "invalid interval '10 secs': unknown unit 'secs'; use microseconds, milliseconds, seconds, minutes, hours, days or weeks"},
		{"INTERVAL 10", 1, 12, "expected a unit (SECONDS, MINUTES, HOURS, DAYS…) after '10' but found end of input"},
		{"INTERVAL 1.5 MINUTES", 1, 10, "invalid interval: '1.5 MINUTES' has a fractional part: only seconds may have one"},
		{"INTERVAL 1e3 SECONDS", 1, 10, "invalid interval value '1e3': write digits with an optional fraction"},
		{"INTERVAL '1' HOUR TO MINUTE", 1, 19, "INTERVAL … TO … is not supported: write e.g. INTERVAL '1 minute 30 seconds'"},
		{"INTERVAL x", 1, 10, "expected an interval value such as '10 seconds' or 10 SECONDS but found 'x'"},
		{"a <=> b", 1, 3, "'<=>' (null-safe equality) is not supported: use equal_null(a, b)"},
		{"a NOT b", 1, 7, "expected BETWEEN, IN or LIKE after NOT but found 'b'"},
		{"a IS TRUE", 1, 6, "expected NULL after IS but found 'TRUE'"},
		{"a BETWEEN 1 OR 2", 1, 13, "expected AND but found 'OR'"},
		{"a IN (SELECT 1)", 1, 7, "IN (subquery) is not supported"},
		{"(SELECT 1)", 1, 2, "subqueries in expressions are not supported"},
		{"CASE END", 1, 6, "expected WHEN but found 'END'"},
		{"CASE WHEN a THEN 1", 1, 19, "expected WHEN, ELSE or END but found end of input"},
		{"CASE WHEN a THEN 1 ELSE 2", 1, 26, "expected END but found end of input"},
		{"CAST(a, INT)", 1, 7, "expected AS but found ','"},
		{"CAST(a AS DECIMAL(10,x))", 1, 22, "expected an integer type parameter but found 'x'"},
		{"CAST(a AS ARRAY<INT>)", 1, 16, "complex types (ARRAY<…>) are not supported"},
		{"a[0]", 1, 2, "array subscripts are not supported: use element_at(array, index)"},
		{"f(x).y", 1, 5, "field access on an expression is not supported: '.' may only follow a name"},
		{"t.*", 1, 1, "'t.*' is only allowed as a select item"},
		{"a.", 1, 3, "expected a field name after '.' but found end of input"},
		{"db.f(x)", 1, 1, "qualified function names are not supported"},
		{"sum(x) OVER (PARTITION BY y)", 1, 8, "window functions (OVER …) are not supported"},
		{"a ILIKE 'x'", 1, 3, "ILIKE is not supported"},
		{"(a, b)", 1, 1, "row values (a, b, …) are not supported"},
		{"*", 1, 1, "'*' is only allowed as a select item or in count(*)"},
		{"FROM", 1, 1, "expected an expression but found 'FROM'"},
		{"sum(x) FILTER (x > 1)", 1, 16, "expected WHERE but found 'x'"},
		{"f(\n  a,\n  b\n  FROM t)", 4, 3, "expected ')' but found 'FROM'"},
		{"EXISTS (SELECT 1)", 1, 1, "EXISTS (subquery) is not supported"},
	}
	for _, c := range cases {
		_, err := ParseExpr(c.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("ParseExpr(%q): error %v (%T), want an *Error", c.in, err, err)
			continue
		}
		if e.Pos.Line != c.line || e.Pos.Col != c.col || e.Msg != c.msg {
			t.Errorf("ParseExpr(%q):\n got %d:%d: %s\nwant %d:%d: %s", c.in, e.Pos.Line, e.Pos.Col, e.Msg, c.line, c.col, c.msg)
		}
	}
}

func TestDeepNestingIsRefused(t *testing.T) {
	for _, in := range []string{
		repeat("(", 10000) + "1" + repeat(")", 10000),
		repeat("- ", 10000) + "1",
		repeat("NOT ", 10000) + "a",
		repeat("f(", 10000) + "1" + repeat(")", 10000),
	} {
		_, err := ParseExpr(in)
		var e *Error
		if !errors.As(err, &e) || e.Msg != "query is nested too deeply (more than 200 levels)" {
			t.Errorf("deep nesting %q…: error %v", in[:20], err)
		}
	}
	// Moderate nesting is fine.
	if _, err := ParseExpr(repeat("(", 50) + "1" + repeat(")", 50)); err != nil {
		t.Errorf("50 parentheses: %v", err)
	}
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for i := 0; i < n; i++ {
		b = append(b, s...)
	}
	return string(b)
}

func TestPositionsAfterMultiLineTokens(t *testing.T) {
	// Newlines inside comments, strings and quoted names still count as lines.
	for in, want := range map[string]Pos{
		"1 + /* a\n bc */ x":  {2, 8},
		"1 + -- a\n\n  x":     {3, 3},
		"'a\nbc' || x":        {2, 8},
		"`a\nbc` + x":         {2, 7},
		"r'a\n\nb' || x":      {3, 7},
		"1 /* x /* y\n*/*/+x": {2, 6},
	} {
		x, err := ParseExpr(in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", in, err)
			continue
		}
		if got := x.(*Binary).R.Start(); got != want {
			t.Errorf("ParseExpr(%q): x at %v, want %v", in, got, want)
		}
	}
	// A long token is shortened in messages.
	_, err := ParseExpr("a " + repeat("b", 100))
	var e *Error
	if !errors.As(err, &e) || e.Msg != "expected end of the expression but found '"+repeat("b", 37)+"...'" {
		t.Errorf("long token: %v", err)
	}
}
