package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// testCols is a one-row batch with a column of each kind, and nulls.
var testCols = []struct {
	col Column
	val any // nil: NULL; strings are parsed for DECIMAL, TIMESTAMP and DATE
}{
	{Column{"t", "i", types.TInt}, int64(7)},
	{Column{"t", "b", types.TBigint}, int64(9_000_000_000)},
	{Column{"t", "d", types.TDouble}, 2.5},
	{Column{"t", "m", types.DecimalOf(10, 2)}, "12.34"},
	{Column{"t", "s", types.TString}, "Hello"},
	{Column{"t", "ok", types.TBoolean}, true},
	{Column{"t", "ts", types.TTimestamp}, "2024-03-05 06:07:08.123456"},
	{Column{"t", "ni", types.TInt}, nil},
	{Column{"t", "ns", types.TString}, nil},
	{Column{"t", "nd", types.TDouble}, nil},
	{Column{"t", "nb", types.TBoolean}, nil},
	{Column{"t", "imax", types.TInt}, int64(2147483647)},
	{Column{"t", "bmax", types.TBigint}, int64(9223372036854775807)},
	{Column{"t", "z", types.TInt}, int64(0)},
	{Column{"t", "u", types.TString}, "Ünïcödé"},
	{Column{"t", "big", types.DecimalOf(18, 0)}, "999999999999999999"},
	{Column{"t", "ms", types.TBigint}, int64(1700000000123)},
	{Column{"t", "bad", types.TString}, " 12x"},
	{Column{"t", "num", types.TString}, " 42 "},
	{Column{"t", "dt", types.TDate}, "2024-03-05"},
	{Column{"t", "ndt", types.TDate}, nil},
}

func testScope() (*Scope, *types.Batch) {
	s := &Scope{Now: func() int64 { return 1_700_000_000_000_000 }}
	var schema types.Schema
	for _, c := range testCols {
		s.Columns = append(s.Columns, c.col)
		schema = append(schema, types.Field{Name: c.col.Name, Type: c.col.Type, Nullable: true})
	}
	b := types.NewBatch(schema, 1)
	for i, c := range testCols {
		v := b.Cols[i]
		switch x := c.val.(type) {
		case nil:
			v.AppendNull()
		case int64:
			v.AppendInt(x)
		case float64:
			v.AppendFloat(x)
		case bool:
			v.AppendBool(x)
		case string:
			switch c.col.Type.Kind {
			case types.Decimal:
				u, ok := parseDecimal(x, int(c.col.Type.Precision), int(c.col.Type.Scale))
				if !ok {
					panic(x)
				}
				v.AppendInt(u)
			case types.Timestamp:
				us, ok := parseTimestamp(x)
				if !ok {
					panic(x)
				}
				v.AppendInt(us)
			case types.Date:
				days, ok := parseDate(x)
				if !ok {
					panic(x)
				}
				v.AppendInt(days)
			default:
				v.AppendString(x)
			}
		}
	}
	b.N = 1
	return s, b
}

// render prints row i of v as Spark's CAST(v AS STRING) would, NULL as NULL.
func render(v *types.Vector, i int) string {
	if v.IsNull(i) {
		return "NULL"
	}
	switch v.Type.Kind {
	case types.String:
		return v.Str[i]
	case types.Boolean:
		if v.Bool[i] {
			return "true"
		}
		return "false"
	case types.Double:
		return javaDouble(v.F64[i])
	case types.Decimal:
		return formatDecimal(v.I64[i], int(v.Type.Scale))
	case types.Timestamp:
		return formatTimestamp(v.I64[i])
	case types.Date:
		return formatDate(v.I64[i])
	case types.Null:
		return "NULL"
	}
	return strings.TrimSpace(strings.Repeat(" ", 0)) + itoa64(v.I64[i])
}

func itoa64(x int64) string { return formatDecimal(x, 0) }

// evalOne compiles src over the test batch and returns its one value and type.
func evalOne(t *testing.T, src string) (string, types.Type) {
	t.Helper()
	ast, err := sql.ParseExpr(src)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	s, b := testScope()
	e, err := Compile(ast, s)
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	var out types.Vector
	e.Eval(b, &out)
	if out.Type != e.Type() {
		t.Fatalf("%q: vector type %v, Type() %v", src, out.Type, e.Type())
	}
	checkInvariants(t, src, &out, b.N)
	return render(&out, 0), e.Type()
}

func checkInvariants(t *testing.T, src string, v *types.Vector, n int) {
	t.Helper()
	if v.Type.Kind != types.Null && v.Len() != n {
		t.Fatalf("%q: %d rows, want %d", src, v.Len(), n)
	}
	if v.Null != nil {
		if len(v.Null) != n {
			t.Fatalf("%q: %d null flags, want %d", src, len(v.Null), n)
		}
		some := false
		for i, isNull := range v.Null {
			if !isNull {
				continue
			}
			some = true
			switch physOf(v.Type) {
			case pStr:
				if v.Str[i] != "" {
					t.Fatalf("%q: null row %d holds %q", src, i, v.Str[i])
				}
			case pBool:
				if v.Bool[i] {
					t.Fatalf("%q: null row %d holds true", src, i)
				}
			case pI64:
				if v.I64[i] != 0 {
					t.Fatalf("%q: null row %d holds %d", src, i, v.I64[i])
				}
			case pF64:
				if v.F64[i] != 0 {
					t.Fatalf("%q: null row %d holds %v", src, i, v.F64[i])
				}
			}
		}
		if !some && v.Type.Kind != types.Null {
			t.Fatalf("%q: a null slice without a null", src)
		}
	}
	if v.Type.Kind == types.Int {
		for i, x := range v.I64 {
			if x != int64(int32(x)) {
				t.Fatalf("%q: INT row %d holds %d", src, i, x)
			}
		}
	}
}

type evalCase struct {
	src  string
	want string
	typ  string // "" : not checked
}

// runCases checks every case with constant folding on and off, so that
// the kernels run on constant operands as well as folded values.
func runCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, fold := range []bool{true, false} {
		foldConstants = fold
		for _, c := range cases {
			got, typ := evalOne(t, c.src)
			if got != c.want {
				t.Errorf("fold=%v: %s = %s, want %s", fold, c.src, got, c.want)
			}
			if c.typ != "" && typ.String() != c.typ {
				t.Errorf("fold=%v: %s has type %s, want %s", fold, c.src, typ, c.typ)
			}
		}
	}
	foldConstants = true
}

func TestLiteralsAndColumns(t *testing.T) {
	runCases(t, []evalCase{
		{"1", "1", "INT"},
		{"2147483648", "2147483648", "BIGINT"},
		{"1.50", "1.50", "DECIMAL(3,2)"},
		{"0.05", "0.05", "DECIMAL(2,2)"},
		{"1e3", "1000.0", "DOUBLE"},
		{"'x'", "x", "STRING"},
		{"true", "true", "BOOLEAN"},
		{"NULL", "NULL", "VOID"},
		{"TIMESTAMP '2024-01-02 03:04:05.5'", "2024-01-02 03:04:05.5", "TIMESTAMP"},
		{"I", "7", "INT"},
		{"t.I", "7", "INT"},
		{"`s`", "Hello", "STRING"},
		{"ni", "NULL", "INT"},
		{"current_timestamp()", "2023-11-14 22:13:20", "TIMESTAMP"},
		{"current_timestamp", "2023-11-14 22:13:20", "TIMESTAMP"},
	})
}

func TestArithmetic(t *testing.T) {
	runCases(t, []evalCase{
		{"i + 1", "8", "INT"},
		{"i + b", "9000000007", "BIGINT"},
		{"imax + 1", "-2147483648", "INT"}, // wraps, non-ANSI
		{"bmax + 1", "-9223372036854775808", "BIGINT"},
		{"-imax - 2", "2147483647", "INT"},
		{"i / 2", "3.5", "DOUBLE"},
		{"i / z", "NULL", "DOUBLE"},
		{"d / 0", "NULL", "DOUBLE"},
		{"i % 4", "3", "INT"},
		{"-i % 4", "-3", "INT"},
		{"i % z", "NULL", "INT"},
		{"d % 1", "0.5", "DOUBLE"},
		{"d * 2", "5.0", "DOUBLE"},
		{"i + d", "9.5", "DOUBLE"},
		{"d * 1.8 + 32", "36.5", "DOUBLE"},
		{"'3' + 1", "4.0", "DOUBLE"},
		{"'x' + 1", "NULL", "DOUBLE"},
		{"ni + 1", "NULL", "INT"},
		{"NULL + 1", "NULL", "INT"},
		{"-m", "-12.34", "DECIMAL(10,2)"},
		{"-(-i)", "7", "INT"},
		// Decimal result types: Spark's rules.
		{"m + 1", "13.34", "DECIMAL(11,2)"},
		{"m + m", "24.68", "DECIMAL(11,2)"},
		{"m - 0.001", "12.339", "DECIMAL(12,3)"},
		{"m * 2", "24.68", "DECIMAL(12,2)"},
		{"m * m", "152.2756", "DECIMAL(18,4)"}, // Spark: DECIMAL(21,4); capped at 18 digits
		{"m / 3", "4.113333", "DECIMAL(14,6)"},
		{"m / 7.0", "1.762857", "DECIMAL(15,6)"},
		{"m / m", "1.00000000", "DECIMAL(18,8)"}, // Spark: DECIMAL(23,13), reduced to 18 digits
		{"m % 5", "2.34", "DECIMAL(3,2)"},
		{"m / 0", "NULL", ""},
		{"m + d", "14.84", "DOUBLE"},
		{"m + i", "19.34", "DECIMAL(13,2)"},
		{"m + b", "9000000012.34", "DECIMAL(18,2)"},
		{"big + big", "NULL", "DECIMAL(18,0)"}, // 19 digits: overflow is NULL
		{"big * 10", "NULL", ""},
		{"1.5 * 1.5", "2.25", "DECIMAL(5,2)"},
		{"0.1 + 0.2", "0.3", "DECIMAL(2,1)"},
		{"ts + INTERVAL '1' MINUTE", "2024-03-05 06:08:08.123456", "TIMESTAMP"},
		{"ts - INTERVAL 10 SECONDS", "2024-03-05 06:06:58.123456", "TIMESTAMP"},
		{"'2024-01-01' + INTERVAL '1' HOUR", "2024-01-01 01:00:00", "TIMESTAMP"},
	})
}

func TestComparisonsAndLogic(t *testing.T) {
	runCases(t, []evalCase{
		{"i = 7", "true", "BOOLEAN"},
		{"i <> 7", "false", ""},
		{"i < b", "true", ""},
		{"i >= 7.0", "true", ""},
		{"m > 12.3", "true", ""},
		{"m = 12.340", "true", ""},
		{"m < i", "false", ""},
		{"d > 2", "true", ""},
		{"d = 2.5", "true", ""},
		{"s = 'Hello'", "true", ""},
		{"s < 'Help'", "true", ""},
		{"s > 'hello'", "false", ""}, // bytewise: 'H' < 'h'
		{"num = 42", "true", ""},     // string read as the number's type
		{"'1.5' = 1", "true", ""},    // '1.5' as INT is 1 (non-ANSI cast)
		{"'12.34' = m", "true", ""},  // string vs decimal: as DOUBLE
		{"ts > '2024-01-01'", "true", ""},
		{"ts = TIMESTAMP '2024-03-05 06:07:08.123456'", "true", ""},
		{"ok = true", "true", ""},
		{"ok > false", "true", ""},
		{"ok = 'yes'", "true", ""},
		{"ni = 1", "NULL", "BOOLEAN"},
		{"NULL = NULL", "NULL", ""},
		{"d / 0 = d / 0", "NULL", ""},
		{"CAST('NaN' AS DOUBLE) = CAST('nan' AS DOUBLE)", "true", ""},
		{"CAST('NaN' AS DOUBLE) > 1e308", "true", ""},
		{"ok AND nb", "NULL", ""},
		{"NOT ok AND nb", "false", ""},
		{"ok OR nb", "true", ""},
		{"NOT ok OR nb", "NULL", ""},
		{"NOT nb", "NULL", ""},
		{"nb IS NULL", "true", ""},
		{"s IS NOT NULL", "true", ""},
		{"ni IS NOT NULL", "false", ""},
		{"i IN (1, 7)", "true", ""},
		{"i IN (1, 2)", "false", ""},
		{"i IN (1, NULL)", "NULL", ""},
		{"i IN (7, NULL)", "true", ""},
		{"i NOT IN (1, NULL)", "NULL", ""},
		{"i NOT IN (1, 2)", "true", ""},
		{"ni IN (1, 2)", "NULL", ""},
		{"i IN (b, 7)", "true", ""},
		{"s IN ('a', 'Hello')", "true", ""},
		{"i IN ('7', 8)", "true", ""}, // common type STRING
		{"i BETWEEN 1 AND 7", "true", ""},
		{"i NOT BETWEEN 1 AND 7", "false", ""},
		{"i BETWEEN 8 AND ni", "false", ""},
		{"i BETWEEN 1 AND ni", "NULL", ""},
		{"d BETWEEN 2 AND 3", "true", ""},
	})
}

func TestLike(t *testing.T) {
	runCases(t, []evalCase{
		{"s LIKE 'Hello'", "true", ""},
		{"s LIKE 'hello'", "false", ""},
		{"s LIKE 'He%'", "true", ""},
		{"s LIKE '%lo'", "true", ""},
		{"s LIKE '%ell%'", "true", ""},
		{"s LIKE '%'", "true", ""},
		{"s LIKE 'H_llo'", "true", ""},
		{"s LIKE 'H_lo'", "false", ""},
		{"s LIKE 'H%l%o'", "true", ""},
		{"s LIKE 'H%x%o'", "false", ""},
		{"s LIKE '%l_'", "true", ""},
		{"s LIKE '_____'", "true", ""},
		{"s LIKE '______'", "false", ""},
		{"u LIKE 'Ü_ï%é'", "true", ""}, // _ is one character, not one byte
		{"u LIKE '_______'", "true", ""},
		{"'50%' LIKE '50\\%'", "true", ""},
		{"'50x' LIKE '50\\%'", "false", ""},
		{"'a_b' LIKE 'a\\_b'", "true", ""},
		{"'' LIKE ''", "true", ""},
		{"'' LIKE '%'", "true", ""},
		{"'ab' LIKE 'a%b%'", "true", ""},
		{"'aXbYb' LIKE 'a%b'", "true", ""},
		{"'aa' LIKE 'a%a'", "true", ""},
		{"'a' LIKE 'a%a'", "false", ""},
		{"s NOT LIKE 'He%'", "false", ""},
		{"ns LIKE 'a%'", "NULL", ""},
		{"s LIKE ns", "NULL", ""},
		{"i LIKE '7'", "true", ""},
		{"s LIKE s", "true", ""},
		{"regexp_like(s, '^H.l+o$')", "true", ""},
		{"s RLIKE 'ell'", "true", ""},
		{"s NOT RLIKE 'ell'", "false", ""},
		{"regexp_like(s, 'x')", "false", ""},
	})
}

func TestStringFunctions(t *testing.T) {
	runCases(t, []evalCase{
		{"lower(s)", "hello", "STRING"},
		{"UPPER(s)", "HELLO", ""},
		{"upper(u)", "ÜNÏCÖDÉ", ""},
		{"lower('ÀB')", "àb", ""},
		{"lower(ns)", "NULL", ""},
		{"upper(ts)", "2024-03-05 06:07:08.123456", ""}, // implicit cast to STRING
		{"length(s)", "5", "INT"},
		{"length(u)", "7", ""},
		{"length('')", "0", ""},
		{"trim('  a b  ')", "a b", ""},
		{"ltrim('  a ')", "a ", ""},
		{"rtrim('  a ')", "  a", ""},
		{"trim('\ta ')", "\ta", ""}, // Spark trims spaces only
		{"concat(s, '-', i)", "Hello-7", "STRING"},
		{"concat(s, ns)", "NULL", ""},
		{"s || '!' || d", "Hello!2.5", ""},
		{"concat(ok, m, ts)", "true12.342024-03-05 06:07:08.123456", ""},
		{"substring(s, 2)", "ello", ""},
		{"substring(s, 2, 3)", "ell", ""},
		{"substr(s, 0, 2)", "He", ""},
		{"substr(s, -3)", "llo", ""},
		{"substr(s, -3, 2)", "ll", ""},
		{"substr(s, -10, 7)", "He", ""}, // start before the beginning eats length
		{"substr(s, 10)", "", ""},
		{"substr(s, 2, -1)", "", ""},
		{"substr(u, 2, 3)", "nïc", ""},
		{"substr(u, -2)", "dé", ""},
		{"substr(s, ni)", "NULL", ""},
		{"substring(s, '2', 2.9)", "el", ""}, // implicit casts to INT
	})
}

func TestConditionals(t *testing.T) {
	runCases(t, []evalCase{
		{"CASE WHEN ok THEN 1 ELSE 0 END", "1", "INT"},
		{"CASE WHEN nb THEN 1 ELSE 0 END", "0", ""},
		{"CASE WHEN nb THEN 1 END", "NULL", "INT"},
		{"CASE WHEN i > 5 THEN 'big' WHEN i > 1 THEN 'mid' END", "big", "STRING"},
		{"CASE WHEN i > 50 THEN 'big' WHEN i > 1 THEN 'mid' END", "mid", ""},
		{"CASE WHEN i > 1 THEN 1 ELSE 2.5 END", "1.0", "DECIMAL(11,1)"},
		{"CASE WHEN ok THEN b ELSE d END", "9.0E9", "DOUBLE"},
		{"CASE WHEN ok THEN i ELSE 'x' END", "7", "STRING"},
		{"CASE i WHEN 1 THEN 'one' WHEN 7 THEN 'seven' ELSE 'other' END", "seven", ""},
		{"CASE ni WHEN 1 THEN 'one' ELSE 'other' END", "other", ""},
		{"CASE WHEN false THEN 1 WHEN true THEN 2 ELSE 3 END", "2", ""},
		{"CASE WHEN ok THEN ni ELSE 1 END", "NULL", ""},
		{"coalesce(ni, i)", "7", "INT"},
		{"coalesce(ni, NULL, b)", "9000000000", "BIGINT"},
		{"coalesce(ns, 'x')", "x", ""},
		{"coalesce(ni, ni)", "NULL", ""},
		{"nvl(nd, 1)", "1.0", "DOUBLE"},
		{"if(ok, 'y', 'n')", "y", ""},
		{"if(nb, 'y', 'n')", "n", ""},
		{"nullif(i, 7)", "NULL", "INT"},
		{"nullif(i, 8)", "7", ""},
		{"greatest(i, 3, 9)", "9", "INT"},
		{"greatest(i, ni, 3)", "7", ""},
		{"least(i, b, d)", "2.5", "DOUBLE"},
		{"least(ni, ni)", "NULL", ""},
		{"greatest('a', s)", "a", "STRING"},
		{"coalesce(ts, i, 'x')", "2024-03-05 06:07:08.123456", "STRING"}, // strings first, as Spark
	})
}

func TestMath(t *testing.T) {
	runCases(t, []evalCase{
		{"abs(-i)", "7", "INT"},
		{"abs(-imax - 1)", "-2147483648", "INT"}, // wraps, non-ANSI
		{"abs(-m)", "12.34", "DECIMAL(10,2)"},
		{"abs(-2.5e0)", "2.5", ""},
		{"round(2.675e0, 2)", "2.68", "DOUBLE"}, // HALF_UP on the decimal text, as Spark
		{"round(d)", "3.0", ""},
		{"round(-d)", "-3.0", ""},
		{"round(1234.5678e0, -2)", "1200.0", ""},
		{"round(m, 1)", "12.3", "DECIMAL(10,1)"},
		{"round(12.35, 1)", "12.4", "DECIMAL(4,1)"},
		{"round(m, -1)", "10", "DECIMAL(9,0)"},
		{"round(m, 5)", "12.34", "DECIMAL(11,2)"},
		{"round(15, -1)", "20", "INT"},
		{"round(-15, -1)", "-20", ""},
		{"round(i)", "7", "INT"},
		{"floor(d)", "2", "BIGINT"},
		{"ceil(d)", "3", "BIGINT"},
		{"floor(-d)", "-3", ""},
		{"ceil(-m)", "-12", "DECIMAL(9,0)"},
		{"floor(-m)", "-13", ""},
		{"ceil(m)", "13", ""},
		{"floor(i)", "7", "BIGINT"},
		{"floor(1e300)", "9223372036854775807", ""},
	})
}

func TestCasts(t *testing.T) {
	runCases(t, []evalCase{
		{"CAST(num AS INT)", "42", "INT"},
		{"CAST(bad AS INT)", "NULL", ""},
		{"CAST('1.9' AS INT)", "1", ""},
		{"CAST('-1.9' AS BIGINT)", "-1", ""},
		{"CAST('2147483648' AS INT)", "NULL", ""},
		{"CAST('9223372036854775807' AS BIGINT)", "9223372036854775807", ""},
		{"CAST('9223372036854775808' AS BIGINT)", "NULL", ""},
		{"CAST('1e3' AS INT)", "NULL", ""},
		{"CAST('' AS INT)", "NULL", ""},
		{"CAST(' 1.5 ' AS DOUBLE)", "1.5", "DOUBLE"},
		{"CAST('1e3' AS DOUBLE)", "1000.0", ""},
		{"CAST('1.5d' AS DOUBLE)", "1.5", ""},
		{"CAST('-Infinity' AS DOUBLE)", "-Infinity", ""},
		{"CAST('inf' AS DOUBLE)", "Infinity", ""},
		{"CAST('abc' AS DOUBLE)", "NULL", ""},
		{"CAST('12.345' AS DECIMAL(10,2))", "12.35", "DECIMAL(10,2)"},
		{"CAST('-12.345' AS DECIMAL(10,2))", "-12.35", ""},
		{"CAST('1e2' AS DECIMAL(5,1))", "100.0", ""},
		{"CAST('123456' AS DECIMAL(5,1))", "NULL", ""},
		{"CAST('x' AS DECIMAL(5,1))", "NULL", ""},
		{"CAST('yes' AS BOOLEAN)", "true", "BOOLEAN"},
		{"CAST('F' AS BOOLEAN)", "false", ""},
		{"CAST('maybe' AS BOOLEAN)", "NULL", ""},
		{"CAST('2024-03-05T06:07:08Z' AS TIMESTAMP)", "2024-03-05 06:07:08", "TIMESTAMP"},
		{"CAST('2024-03-05 06:07:08.5+01:00' AS TIMESTAMP)", "2024-03-05 05:07:08.5", ""},
		{"CAST('2024-3-5' AS TIMESTAMP)", "2024-03-05 00:00:00", ""},
		{"CAST('2024-02-30' AS TIMESTAMP)", "NULL", ""},
		{"CAST('yesterday' AS TIMESTAMP)", "NULL", ""},
		{"CAST(d AS INT)", "2", ""},
		{"CAST(-d AS BIGINT)", "-2", ""},
		{"CAST(1e20 AS BIGINT)", "9223372036854775807", ""},
		{"CAST(1e20 AS INT)", "2147483647", ""},
		{"CAST(CAST('NaN' AS DOUBLE) AS INT)", "0", ""},
		{"CAST(b AS INT)", "410065408", ""}, // wraps to 32 bits
		{"CAST(2.675e0 AS DECIMAL(5,2))", "2.68", ""},
		{"CAST(1e10 AS DECIMAL(5,2))", "NULL", ""},
		{"CAST(m AS INT)", "12", ""},
		{"CAST(-m AS BIGINT)", "-12", ""},
		{"CAST(m AS DOUBLE)", "12.34", ""},
		{"CAST(m AS DECIMAL(4,1))", "12.3", ""},
		{"CAST(m AS DECIMAL(3,1))", "12.3", ""},
		{"CAST(m AS DECIMAL(2,1))", "NULL", ""},
		{"CAST(i AS DECIMAL(3,1))", "7.0", ""},
		{"CAST(ts AS BIGINT)", "1709618828", ""},
		{"CAST(ts AS DOUBLE)", "1.709618828123456E9", ""},
		{"CAST(1709618828 AS TIMESTAMP)", "2024-03-05 06:07:08", ""},
		{"CAST(1.5e0 AS TIMESTAMP)", "1970-01-01 00:00:01.5", ""},
		{"CAST(d AS STRING)", "2.5", "STRING"},
		{"CAST(1e7 AS STRING)", "1.0E7", ""},
		{"CAST(0.001e0 AS STRING)", "0.001", ""},
		{"CAST(0.0001e0 AS STRING)", "1.0E-4", ""},
		{"CAST(m AS STRING)", "12.34", ""},
		{"CAST(ok AS STRING)", "true", ""},
		{"CAST(ok AS INT)", "1", ""},
		{"CAST(i AS BOOLEAN)", "true", ""},
		{"CAST(z AS BOOLEAN)", "false", ""},
		{"CAST(ns AS INT)", "NULL", ""},
		{"CAST(NULL AS TIMESTAMP)", "NULL", "TIMESTAMP"},
		{"CAST(m AS DECIMAL)", "12", "DECIMAL(10,0)"},
	})
}

func TestTimeFunctions(t *testing.T) {
	runCases(t, []evalCase{
		{"timestamp_millis(ms)", "2023-11-14 22:13:20.123", "TIMESTAMP"},
		{"timestamp_millis(1)", "1970-01-01 00:00:00.001", ""},
		{"timestamp_millis(bmax)", "NULL", ""}, // Spark: overflow error
		{"timestamp_micros(1500000)", "1970-01-01 00:00:01.5", ""},
		{"timestamp_seconds(1.5)", "1970-01-01 00:00:01.5", ""},
		{"timestamp_seconds(1.25e0)", "1970-01-01 00:00:01.25", ""},
		{"timestamp_seconds(-1)", "1969-12-31 23:59:59", ""},
		{"unix_millis(ts)", "1709618828123", "BIGINT"},
		{"unix_micros(ts)", "1709618828123456", ""},
		{"unix_seconds(ts)", "1709618828", ""},
		{"unix_seconds(TIMESTAMP '1969-12-31 23:59:59.5')", "-1", ""}, // floor
		{"unix_timestamp('2024-01-01 00:00:01', 'yyyy-MM-dd HH:mm:ss')", "1704067201", ""},
		{"hour(ts)", "6", "INT"},
		{"minute(ts)", "7", ""},
		{"second(ts)", "8", ""},
		{"year(ts)", "2024", ""},
		{"month(ts)", "3", ""},
		{"dayofmonth(ts)", "5", ""},
		{"day(ts)", "5", ""},
		{"dayofweek(ts)", "3", ""}, // a Tuesday: Sunday is 1
		{"dayofyear(ts)", "65", ""},
		{"quarter(ts)", "1", ""},
		{"hour(TIMESTAMP '1969-12-31 23:30:00')", "23", ""},
		{"hour('2024-01-01 05:00:00')", "5", ""},
		{"to_timestamp('2024-03-05 06:07:08')", "2024-03-05 06:07:08", "TIMESTAMP"},
		{"to_timestamp('2024-03-05T06:07:08.123Z')", "2024-03-05 06:07:08.123", ""},
		{"to_timestamp('2024-03-05 06:07:08.123+02:00')", "2024-03-05 04:07:08.123", ""},
		{"to_timestamp('nonsense')", "NULL", ""},
		{"to_timestamp('05/03/2024 06:07', 'dd/MM/yyyy HH:mm')", "2024-03-05 06:07:00", ""},
		{"to_timestamp('2024-03-05 06:07:08.1', 'yyyy-MM-dd HH:mm:ss.SSS')", "2024-03-05 06:07:08.1", ""},
		{"to_timestamp('2024-03-05 06:07:08', 'yyyy-MM-dd HH:mm:ss[.SSS]')", "2024-03-05 06:07:08", ""},
		{"to_timestamp('2024-03-05 06:07:08.25', 'yyyy-MM-dd HH:mm:ss[.SSS]')", "2024-03-05 06:07:08.25", ""},
		{"to_timestamp('2024-03-05T06:07:08+01:00', \"yyyy-MM-dd'T'HH:mm:ssXXX\")", "2024-03-05 05:07:08", ""},
		{"to_timestamp('2024-03-05T06:07:08Z', \"yyyy-MM-dd'T'HH:mm:ssXXX\")", "2024-03-05 06:07:08", ""},
		{"to_timestamp('5 Mar 2024 6:07 PM', 'd MMM yyyy h:mm a')", "2024-03-05 18:07:00", ""},
		{"to_timestamp('2024-03-05', 'yyyy-MM-dd HH')", "NULL", ""},
		{"to_timestamp('2024-02-30', 'yyyy-MM-dd')", "NULL", ""},
		{"to_timestamp('2024-03-05 x', 'yyyy-MM-dd')", "NULL", ""},
		{"to_timestamp(ns, 'yyyy')", "NULL", ""},
		{"date_format(ts, 'yyyy-MM-dd HH:mm:ss.SSS')", "2024-03-05 06:07:08.123", "STRING"},
		{"date_format(ts, \"yyyy-MM-dd'T'HH:mm:ssXXX\")", "2024-03-05T06:07:08Z", ""},
		{"date_format(ts, 'EEE, d MMM yy h a')", "Tue, 5 Mar 24 6 AM", ""},
		{`date_format(ts, "EEEE MMMM dd 'q'''")`, "Tuesday March 05 q'", ""},
		{"date_format(ts, 'SSSSSS')", "123456", ""},
		{"date_format('2024-01-02', 'dd.MM.yyyy')", "02.01.2024", ""},
	})
}

func TestConst(t *testing.T) {
	for src, want := range map[string]any{
		"'10 seconds'":                    "10 seconds",
		"concat('10', ' seconds')":        "10 seconds",
		"1 + 2 * 3":                       int64(7),
		"1.5 * 2":                         int64(30), // DECIMAL(4,1) unscaled
		"CAST('x' AS INT)":                nil,
		"2.5e0":                           2.5,
		"NOT true":                        false,
		"TIMESTAMP '1970-01-01 00:00:01'": int64(1_000_000),
	} {
		ast, err := sql.ParseExpr(src)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Compile(ast, &Scope{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, ok := Const(e)
		if !ok || got != want {
			t.Errorf("Const(%s) = %v, %v; want %v", src, got, ok, want)
		}
	}
	s, _ := testScope()
	for _, src := range []string{"i + 1", "current_timestamp()", "coalesce(ni, 1)"} {
		ast, _ := sql.ParseExpr(src)
		e, err := Compile(ast, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := Const(e); ok {
			t.Errorf("Const(%s) is a constant; it reads the input or the clock", src)
		}
	}
}

func TestReplace(t *testing.T) {
	s, b := testScope()
	// The planner stands column 2 (d) in for count(*) and column 0 (i) for
	// window(ts, '10 seconds').
	s.Replace = func(e sql.Expr) (int, bool) {
		if c, ok := e.(*sql.Call); ok {
			switch strings.ToLower(c.Name.Name) {
			case "count":
				return 2, true
			case "window":
				return 0, true
			}
		}
		return 0, false
	}
	ast, _ := sql.ParseExpr("count(*) * 2 + window(ts, '10 seconds')")
	e, err := Compile(ast, s)
	if err != nil {
		t.Fatal(err)
	}
	var out types.Vector
	e.Eval(b, &out)
	if got := render(&out, 0); got != "12.0" {
		t.Errorf("count(*) * 2 + window(…) = %s, want 12.0 (2.5*2 + 7)", got)
	}
	ast, _ = sql.ParseExpr("(count(*))")
	if e, err = Compile(ast, s); err != nil {
		t.Fatal(err)
	}
	if col, ok := ColumnIndex(e); !ok || col != 2 {
		t.Errorf("ColumnIndex((count(*))) = %d, %v; want 2, true", col, ok)
	}
	s.Replace = nil
	ast, _ = sql.ParseExpr("count(*) * 2 + window(ts, '10 seconds')")
	if _, err := Compile(ast, s); err == nil || !strings.Contains(err.Error(), "aggregate function count is not allowed here") {
		t.Errorf("count(*) without Replace: %v", err)
	}
	for _, name := range []string{"COUNT", "sum", "avg", "min", "max", "count_if", "approx_count_distinct"} {
		if !IsAggregate(name) {
			t.Errorf("IsAggregate(%s) = false", name)
		}
	}
	if IsAggregate("lower") {
		t.Error("IsAggregate(lower) = true")
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		src       string
		line, col int
		msg       string
	}{
		{"x + 1", 1, 1, "A column or function parameter with name `x` cannot be resolved. Did you mean one of the following? [`t`.`i`,"},
		{"1 +\n  tz", 2, 3, "name `tz` cannot be resolved. Did you mean one of the following? [`t`.`ts`, `t`.`z`, `t`.`i`"},
		{"q.i", 1, 1, "name `q`.`i` cannot be resolved"},
		{"upper(ok) = 'x'", 1, 7, ""}, // BOOLEAN to STRING is implicit: no error (checked below)
		{"hour(ok)", 1, 6, `Cannot resolve "hour(ok)" due to data type mismatch: Parameter 1 requires the "TIMESTAMP" type, however "ok" has the type "BOOLEAN"`},
		{"ok + 1", 1, 1, `the left and right operands of the binary operator have incompatible types ("BOOLEAN" and "INT")`},
		{"z AND ok", 1, 1, `"z" has the type "INT", and a BOOLEAN is required`},
		{"ts > 1", 1, 1, "BINARY_OP_DIFF_TYPES"},
		{"nosuch(i)", 1, 1, "Cannot resolve function `nosuch`"},
		{"count(i) + 1", 1, 1, "aggregate function count is not allowed here"},
		{"lower(s, s)", 1, 1, "The `lower` requires 1 parameter, but the actual number is 2"},
		{"CASE WHEN ok THEN 1 ELSE ok END", 1, 1, "DATA_DIFF_TYPES"},
		{"CAST(s AS BINARY)", 1, 11, "Unsupported data type \"BINARY\""},
		{"s LIKE 'a\\\\b'", 1, 1, "the escape character is not allowed to precede 'b'"},
		{"regexp_like(s, '(?<=a)b')", 1, 16, "invalid"},
		{"date_format(ts, 'yyyy-qq')", 1, 17, "unsupported datetime pattern letter 'q'"},
		{"round(d, z)", 1, 10, "foldable"},
		{"split(s, ',')", 1, 1, "explode(split(text, pattern))"},
		{"99999999999999999999", 1, 1, "more than 18 digits"},
	} {
		ast, err := sql.ParseExpr(c.src)
		if err != nil {
			t.Fatalf("parse %q: %v", c.src, err)
		}
		s, _ := testScope()
		s.Columns = append(s.Columns, Column{"u", "i", types.TInt})
		_, err = Compile(ast, s)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%q: %v", c.src, err)
			}
			continue
		}
		var se *sql.Error
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v (%T), want a *sql.Error", c.src, err, err)
			continue
		}
		if se.Pos.Line != c.line || se.Pos.Col != c.col || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("%q: got %d:%d %s\nwant %d:%d …%s…", c.src, se.Pos.Line, se.Pos.Col, se.Msg, c.line, c.col, c.msg)
		}
	}
	// Ambiguous: i is both t.i and u.i.
	s, _ := testScope()
	s.Columns = append(s.Columns, Column{"u", "i", types.TInt})
	ast, _ := sql.ParseExpr("i + 1")
	if _, err := Compile(ast, s); err == nil || !strings.Contains(err.Error(), "[AMBIGUOUS_REFERENCE] Reference `i` is ambiguous, could be: [`t`.`i`, `u`.`i`]") {
		t.Errorf("ambiguous i: %v", err)
	}
	ast, _ = sql.ParseExpr("u.i + t.i")
	if _, err := Compile(ast, s); err != nil {
		t.Errorf("qualified names: %v", err)
	}
}

func TestNullEverywhere(t *testing.T) {
	var cases []evalCase
	for _, src := range []string{
		"CASE WHEN ok THEN NULL END", "coalesce(NULL, NULL)", "NULL IN (NULL)", "NULL IN (1, 2)",
		"greatest(NULL, NULL)", "- NULL", "NULL AND NULL", "NOT NULL", "concat(NULL)", "NULL LIKE 'a'",
		"length(NULL)", "abs(NULL)", "round(NULL)", "floor(NULL)", "hour(NULL)", "date_format(NULL, NULL)",
		"to_timestamp(NULL, 'yyyy')", "NULL || NULL", "CAST(NULL AS STRING)", "NULL BETWEEN 1 AND 2",
		"NULL = 1", "NULL + NULL", "NULL / NULL", "nullif(NULL, 1)", "timestamp_seconds(NULL)",
		"NULL % 0", "substring(NULL, 1)", "upper(NULL)", "NULL RLIKE 'a'", "unix_millis(NULL)",
		"timestamp_millis(NULL)", "ni * 2", "nd / 2", "ns || 'x'", "-ni", "CASE ni WHEN 1 THEN 2 END",
		"CAST(ni AS DECIMAL(5,2))", "m + ni", "if(NULL, 1, NULL)",
		"CAST(NULL AS DATE)", "to_date(NULL)", "to_date(NULL, 'yyyy')", "to_date(ns)", "date_add(NULL, 1)",
		"date_add(dt, ni)", "date_sub(ndt, 1)", "datediff(NULL, dt)", "datediff(dt, ndt)", "year(ndt)",
		"dayofweek(ndt)", "unix_date(NULL)", "date_from_unix_date(NULL)", "ndt + 1", "ndt - INTERVAL 1 DAY",
		"ndt + INTERVAL 1 HOUR", "CAST(ndt AS STRING)", "CAST(ndt AS TIMESTAMP)", "date_format(ndt, 'yyyy')",
		"ndt = dt", "coalesce(ndt, NULL)",
	} {
		want := "NULL"
		cases = append(cases, evalCase{src, want, ""})
	}
	cases = append(cases,
		evalCase{"NULL IS NULL", "true", ""},
		evalCase{"if(NULL, 1, 2)", "2", ""},
		evalCase{"NULL OR true", "true", ""},
		evalCase{"NULL AND false", "false", ""},
	)
	runCases(t, cases)
}
