package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/sql"
)

// dt is DATE '2024-03-05' (day 19787, a Tuesday), ts is 2024-03-05
// 06:07:08.123456, Now is 2023-11-14 22:13:20 (see testCols).

func TestDateLiteralsAndCasts(t *testing.T) {
	runCases(t, []evalCase{
		{"DATE '2026-12-03'", "2026-12-03", "DATE"},
		{"DATE '2026-1-3'", "2026-01-03", "DATE"},
		{"dt", "2024-03-05", "DATE"},
		{"CAST(ts AS DATE)", "2024-03-05", "DATE"},
		{"CAST(TIMESTAMP '1969-12-31 23:59:59.999999' AS DATE)", "1969-12-31", "DATE"}, // the day, rounded down
		{"CAST(TIMESTAMP '2024-03-05 12:00:00+14:00' AS DATE)", "2024-03-04", "DATE"},  // the UTC day
		{"CAST(dt AS TIMESTAMP)", "2024-03-05 00:00:00", "TIMESTAMP"},
		{"CAST(DATE '1969-12-31' AS TIMESTAMP)", "1969-12-31 00:00:00", "TIMESTAMP"},
		{"CAST(dt AS STRING)", "2024-03-05", "STRING"},
		{"CAST(DATE '0900-01-01' AS STRING)", "0900-01-01", "STRING"},
		{"CAST(dt AS INT)", "NULL", "INT"}, // Spark's non-ANSI cast (as Hive): NULL
		{"CAST(dt AS BIGINT)", "NULL", "BIGINT"},
		{"CAST(dt AS DOUBLE)", "NULL", "DOUBLE"},
		{"CAST(dt AS DECIMAL(10,2))", "NULL", "DECIMAL(10,2)"},
		{"CAST(dt AS BOOLEAN)", "NULL", "BOOLEAN"},
		{"CAST(date_from_unix_date(2147483647) AS TIMESTAMP)", "NULL", "TIMESTAMP"}, // beyond the TIMESTAMP range
		// Spark's stringToDate.
		{"CAST('2024-03-05' AS DATE)", "2024-03-05", "DATE"},
		{"CAST(' 2024-3-5 ' AS DATE)", "2024-03-05", "DATE"},
		{"CAST('2024-03-05T25:99:zz' AS DATE)", "2024-03-05", "DATE"}, // after 'T': ignored
		{"CAST('2024-03-05 anything' AS DATE)", "2024-03-05", "DATE"},
		{"CAST('2024' AS DATE)", "2024-01-01", "DATE"},
		{"CAST('2024-02' AS DATE)", "2024-02-01", "DATE"},
		{"CAST('+2024-02-29' AS DATE)", "2024-02-29", "DATE"},
		{"CAST('2024-02T' AS DATE)", "NULL", "DATE"}, // yyyy-[m]m must end the string
		{"CAST('2024 x' AS DATE)", "NULL", "DATE"},
		{"CAST('2023-02-29' AS DATE)", "NULL", "DATE"},
		{"CAST('2024-13-01' AS DATE)", "NULL", "DATE"},
		{"CAST('24-01-01' AS DATE)", "NULL", "DATE"},
		{"CAST('2024-001-01' AS DATE)", "NULL", "DATE"},
		{"CAST('2024-01-01-' AS DATE)", "NULL", "DATE"},
		{"CAST('2024/01/01' AS DATE)", "NULL", "DATE"},
		{"CAST('' AS DATE)", "NULL", "DATE"},
		{"CAST('9999999-12-31' AS DATE)", "NULL", "DATE"}, // its day number does not fit an INT
		{"CAST(s AS DATE)", "NULL", "DATE"},
	})
}

func TestDateFunctions(t *testing.T) {
	runCases(t, []evalCase{
		{"to_date('2026-12-03 10:11:12')", "2026-12-03", "DATE"},
		{"to_date(ts)", "2024-03-05", "DATE"},
		{"to_date(dt)", "2024-03-05", "DATE"},
		{"to_date('03/12/2026', 'dd/MM/yyyy')", "2026-12-03", "DATE"},
		{"to_date('2026-12-03', 'dd/MM/yyyy')", "NULL", "DATE"},
		{"to_date(ts, 'yyyy')", "2024-03-05", "DATE"}, // a TIMESTAMP ignores the format
		{"to_date(2026)", "2026-01-01", "DATE"},       // read through its STRING form
		{"current_date()", "2023-11-14", "DATE"},
		{"current_date", "2023-11-14", "DATE"},
		{"date_add(dt, 1)", "2024-03-06", "DATE"},
		{"date_add(dt, -5)", "2024-02-29", "DATE"},
		{"date_sub(dt, 5)", "2024-02-29", "DATE"},
		{"date_add('2024-12-31', 1)", "2025-01-01", "DATE"},
		{"date_add(ts, 1)", "2024-03-06", "DATE"},
		{"date_add(dt, '2')", "2024-03-07", "DATE"},
		{"date_add(dt, 1.9)", "2024-03-06", "DATE"},
		{"date_add(dt, z)", "2024-03-05", "DATE"},
		{"dateadd(dt, 30)", "2024-04-04", "DATE"},
		{"dt + 1", "2024-03-06", "DATE"},
		{"1 + dt", "2024-03-06", "DATE"},
		{"dt - 1", "2024-03-04", "DATE"},
		{"dt + INTERVAL '2' DAY", "2024-03-07", "DATE"},
		{"dt - INTERVAL 1 WEEK", "2024-02-27", "DATE"},
		{"INTERVAL 1 DAY + dt", "2024-03-06", "DATE"},
		{"dt + INTERVAL 1 HOUR", "2024-03-05 01:00:00", "TIMESTAMP"},
		{"dt - INTERVAL '1 day 1 second'", "2024-03-03 23:59:59", "TIMESTAMP"},
		{"datediff(dt, DATE '2024-01-01')", "64", "INT"},
		{"datediff('2024-01-01', dt)", "-64", "INT"},
		{"datediff(ts, '2024-03-01 23:00')", "4", "INT"},
		{"year(dt)", "2024", "INT"},
		{"quarter(dt)", "1", "INT"},
		{"month(dt)", "3", "INT"},
		{"dayofmonth(dt)", "5", "INT"},
		{"day(dt)", "5", "INT"},
		{"dayofweek(dt)", "3", "INT"},
		{"dayofyear(dt)", "65", "INT"},
		{"hour(dt)", "0", "INT"},
		{"year(DATE '1969-12-31')", "1969", "INT"},
		{"dayofweek(DATE '1969-12-28')", "1", "INT"},
		{"year('2024-03-05T99')", "2024", "INT"}, // read as a DATE, as Spark's year()
		{"month(ts)", "3", "INT"},
		{"date_format(dt, 'yyyy/MM/dd HH:mm')", "2024/03/05 00:00", "STRING"},
		{"unix_date(dt)", "19787", "INT"},
		{"unix_date(DATE '1969-12-31')", "-1", "INT"},
		{"date_from_unix_date(0)", "1970-01-01", "DATE"},
		{"date_from_unix_date(19787)", "2024-03-05", "DATE"},
		{"unix_seconds(dt)", "1709596800", "BIGINT"},
		{"to_timestamp(dt)", "2024-03-05 00:00:00", "TIMESTAMP"},
		{"unix_timestamp(dt)", "1709596800", "BIGINT"},
		{"unix_date(date_add(date_from_unix_date(2147483647), 1))", "-2147483648", "INT"}, // Int addition wraps
	})
}

func TestDateComparisonsAndConditionals(t *testing.T) {
	runCases(t, []evalCase{
		{"dt = '2024-03-05'", "true", "BOOLEAN"},
		{"dt = '2024-03-05 23:00'", "true", "BOOLEAN"}, // the STRING is read as a DATE
		{"dt < '2024-3-6'", "true", "BOOLEAN"},
		{"dt < ts", "true", "BOOLEAN"}, // compared as TIMESTAMPs: midnight before 06:07
		{"dt = CAST(ts AS DATE)", "true", "BOOLEAN"},
		{"dt >= DATE '2024-03-06'", "false", "BOOLEAN"},
		{"dt IN (DATE '2024-01-01', DATE '2024-03-05')", "true", "BOOLEAN"},
		{"dt IN (DATE '2024-01-01', NULL)", "NULL", "BOOLEAN"},
		{"dt IN ('2024-03-05')", "true", "BOOLEAN"},
		{"dt NOT IN (ts)", "true", "BOOLEAN"},
		{"dt BETWEEN '2024-03-01' AND '2024-03-31'", "true", "BOOLEAN"},
		{"dt BETWEEN DATE '2024-03-06' AND ts", "false", "BOOLEAN"},
		{"CASE WHEN ok THEN dt ELSE ts END", "2024-03-05 00:00:00", "TIMESTAMP"},
		{"CASE WHEN ok THEN dt END", "2024-03-05", "DATE"},
		{"CASE WHEN ok THEN dt ELSE 'x' END", "2024-03-05", "STRING"},
		{"coalesce(ndt, dt)", "2024-03-05", "DATE"},
		{"coalesce(ndt, ts)", "2024-03-05 06:07:08.123456", "TIMESTAMP"},
		{"nvl(ndt, DATE '2000-01-01')", "2000-01-01", "DATE"},
		{"if(ok, dt, NULL)", "2024-03-05", "DATE"},
		{"greatest(dt, DATE '2025-01-01', ndt)", "2025-01-01", "DATE"},
		{"least(dt, DATE '2025-01-01')", "2024-03-05", "DATE"},
		{"nullif(dt, dt)", "NULL", "DATE"},
		{"ndt IS NULL", "true", "BOOLEAN"},
	})
}

func TestDateErrors(t *testing.T) {
	for _, c := range []struct {
		src       string
		line, col int
		msg       string
	}{
		{"CAST(i AS DATE)", 1, 1, "[DATATYPE_MISMATCH.CAST_WITH_FUNC_SUGGESTION] Cannot resolve \"CAST(i AS DATE)\" due to data type mismatch: cannot cast \"INT\" to \"DATE\". To convert values from \"INT\" to \"DATE\", you can use the functions `DATE_FROM_UNIX_DATE` instead."},
		{"1 +\n CAST(d AS DATE)", 2, 2, "cannot cast \"DOUBLE\" to \"DATE\""},
		{"CAST(ok AS DATE)", 1, 1, "[DATATYPE_MISMATCH.CAST_WITHOUT_SUGGESTION] Cannot resolve \"CAST(ok AS DATE)\" due to data type mismatch: cannot cast \"BOOLEAN\" to \"DATE\"."},
		{"i = DATE '2024-13-01'", 1, 5, "[INVALID_TYPED_LITERAL] The value of the typed literal \"DATE\" is invalid: '2024-13-01'."},
		{"dt - dt", 1, 1, "subtracting dates gives an INTERVAL"},
		{"ts - dt", 1, 1, "subtracting dates gives an INTERVAL"},
		{"dt > 1", 1, 1, "BINARY_OP_DIFF_TYPES"},
		{"dt = ok", 1, 1, "BINARY_OP_DIFF_TYPES"},
		{"dt * 2", 1, 1, "BINARY_OP_DIFF_TYPES"},
		{"1 - dt", 1, 1, "BINARY_OP_DIFF_TYPES"},
		{"dt + ok", 1, 6, `Parameter 2 requires the ("INT" or "SMALLINT" or "TINYINT") type, however "ok" has the type "BOOLEAN"`},
		{"date_add(dt, ts)", 1, 14, `Parameter 2 requires the ("INT" or "SMALLINT" or "TINYINT") type, however "ts" has the type "TIMESTAMP"`},
		{"date_add(i, 1)", 1, 10, `Parameter 1 requires the "DATE" type, however "i" has the type "INT"`},
		{"datediff(dt, m)", 1, 14, `Parameter 2 requires the "DATE" type, however "m" has the type "DECIMAL(10,2)"`},
		{"year(i)", 1, 6, `Parameter 1 requires the "DATE" type, however "i" has the type "INT"`},
		{"unix_date(ok)", 1, 11, `requires the "DATE" type`},
		{"date_from_unix_date(ts)", 1, 21, `requires the "INT" type`},
		{"CASE WHEN ok THEN dt ELSE 1 END", 1, 1, "DATA_DIFF_TYPES"},
		{"current_date(1)", 1, 1, "WRONG_NUM_ARGS"},
	} {
		ast, err := sql.ParseExpr(c.src)
		if err != nil {
			t.Fatalf("parse %q: %v", c.src, err)
		}
		s, _ := testScope()
		_, err = Compile(ast, s)
		var se *sql.Error
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v (%T), want a *sql.Error", c.src, err, err)
			continue
		}
		if se.Pos.Line != c.line || se.Pos.Col != c.col || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("%q: got %d:%d %s\nwant %d:%d …%s…", c.src, se.Pos.Line, se.Pos.Col, se.Msg, c.line, c.col, c.msg)
		}
	}
}
