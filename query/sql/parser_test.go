package sql

import (
	"errors"
	"strings"
	"testing"
)

// seedLab is the seed lab and the course's examples as query text.
const seedLab = `CREATE SOURCE sensors (
  sensor_id STRING NOT NULL, ts BIGINT NOT NULL, temp DOUBLE NOT NULL, hum DOUBLE NOT NULL, ok BOOLEAN NOT NULL,
  event_time AS timestamp_millis(ts),
  CONSTRAINT invalid_sensor_id CHECK (length(sensor_id) BETWEEN 1 AND 64),
  CONSTRAINT out_of_range CHECK (temp BETWEEN -50 AND 150 AND hum BETWEEN 0 AND 100),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' MINUTE
) WITH (connector = 'kafka', topic = 'eventos_sensores', format = 'json', 'scan.startup.mode' = 'latest');

CREATE SINK stream WITH (connector = 'delta', path = 'stream', mode = 'append') AS
SELECT window.start AS win_start, window.end AS win_end, sensor_id, count(*) AS eventos,
       avg(temp) AS avg_temp, avg(hum) AS avg_hum, sum(CASE WHEN ok THEN 1 ELSE 0 END) AS ok_count,
       min(temp) AS min_temp, max(temp) AS max_temp
FROM sensors GROUP BY window(event_time, '10 seconds'), sensor_id;

SELECT word, count(*) AS n FROM (SELECT explode(split(lower(value), ' ')) AS word FROM lines) t GROUP BY word;
SELECT user_id, window.start, count(*) AS n FROM tx GROUP BY window(event_time, '10 minutes', '1 minute'), user_id HAVING count(*) > 5;
SELECT user_id, session_window.start, session_window.end, count(*) FROM clicks GROUP BY session_window(event_time, '30 minutes'), user_id;
SELECT customer, CAST(sum(amount) AS DECIMAL(10,2)) AS total, count_if(amount > 100.5) FROM orders GROUP BY window(ts, '5 minutes'), customer;
SELECT sensor_id, sum(total_eventos) FROM stream VERSION AS OF 12 GROUP BY sensor_id ORDER BY sensor_id;
`

func TestSeedLab(t *testing.T) {
	s, err := Parse("seed.sql", seedLab)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != "seed.sql" || len(s.Statements) != 7 {
		t.Fatalf("file %q, %d statements, want seed.sql and 7", s.File, len(s.Statements))
	}

	src := s.Statements[0].(*CreateSource)
	if src.Table || src.Name.Name != "sensors" || src.At != (Pos{1, 1}) || src.Name.At != (Pos{1, 15}) {
		t.Errorf("source: %+v", src)
	}
	var cols []string
	for _, c := range src.Columns {
		if c.Computed != nil {
			cols = append(cols, c.Name.Name+" AS "+sexpr(c.Computed))
			continue
		}
		d := c.Name.Name + " " + typeStr(c.Type)
		if c.NotNull {
			d += " NOT NULL"
		}
		cols = append(cols, d)
	}
	wantCols := "sensor_id STRING NOT NULL, ts BIGINT NOT NULL, temp DOUBLE NOT NULL, hum DOUBLE NOT NULL, ok BOOLEAN NOT NULL, event_time AS timestamp_millis(ts)"
	if got := strings.Join(cols, ", "); got != wantCols {
		t.Errorf("columns\n got %s\nwant %s", got, wantCols)
	}
	if c := src.Columns[5]; c.At != (Pos{3, 3}) || c.Type != nil {
		t.Errorf("event_time column: %+v", c)
	}
	if len(src.Checks) != 2 {
		t.Fatalf("%d checks, want 2", len(src.Checks))
	}
	if c := src.Checks[0]; c.Name.Name != "invalid_sensor_id" || c.At != (Pos{4, 3}) || sexpr(c.Expr) != "(between length(sensor_id) 1 64)" {
		t.Errorf("check 0: %s at %v: %s", c.Name.Name, c.At, sexpr(c.Expr))
	}
	if c := src.Checks[1]; c.Name.Name != "out_of_range" || sexpr(c.Expr) != "(AND (between temp (- 50) 150) (between hum 0 100))" {
		t.Errorf("check 1: %s: %s", c.Name.Name, sexpr(c.Expr))
	}
	w := src.Watermark
	if w == nil || w.Column.Name != "event_time" || w.At != (Pos{6, 3}) || sexpr(w.Expr) != "(- event_time (interval 60000000))" {
		t.Fatalf("watermark: %+v", w)
	}
	if iv := w.Expr.(*Binary).R.(*Interval); iv.Text != "INTERVAL '1' MINUTE" || iv.At != (Pos{6, 44}) {
		t.Errorf("watermark interval %q at %v", iv.Text, iv.At)
	}
	wantWith := []Option{
		{Key: "connector", Value: "kafka", At: Pos{7, 9}, ValAt: Pos{7, 21}},
		{Key: "topic", Value: "eventos_sensores"},
		{Key: "format", Value: "json"},
		{Key: "scan.startup.mode", Value: "latest"},
	}
	checkOptions(t, "source", src.With, wantWith)

	sink := s.Statements[1].(*CreateSink)
	if sink.Name.Name != "stream" || sink.At != (Pos{9, 1}) {
		t.Errorf("sink %s at %v", sink.Name.Name, sink.At)
	}
	checkOptions(t, "sink", sink.With, []Option{{Key: "connector", Value: "delta"}, {Key: "path", Value: "stream"}, {Key: "mode", Value: "append"}})
	wantSink := "SELECT window.start AS win_start, window.end AS win_end, sensor_id, count(*) AS eventos, avg(temp) AS avg_temp, avg(hum) AS avg_hum, " +
		"sum((case (when ok 1) (else 0))) AS ok_count, min(temp) AS min_temp, max(temp) AS max_temp " +
		`FROM sensors GROUP BY window(event_time "10 seconds"), sensor_id`
	if got := selectStr(sink.Query); got != wantSink {
		t.Errorf("sink query\n got %s\nwant %s", got, wantSink)
	}
	if q := sink.Query; q.At != (Pos{10, 1}) || q.Items[1].Expr.Start() != (Pos{10, 35}) || q.GroupBy[0].Start() != (Pos{13, 23}) {
		t.Errorf("sink query positions: select %v, window.end %v, group by %v", q.At, q.Items[1].Expr.Start(), q.GroupBy[0].Start())
	}

	wantQueries := []string{
		`SELECT word, count(*) AS n FROM (sub SELECT explode(split(lower(value) " ")) AS word FROM lines) AS t GROUP BY word`,
		`SELECT user_id, window.start, count(*) AS n FROM tx GROUP BY window(event_time "10 minutes" "1 minute"), user_id HAVING (> count(*) 5)`,
		`SELECT user_id, session_window.start, session_window.end, count(*) FROM clicks GROUP BY session_window(event_time "30 minutes"), user_id`,
		`SELECT customer, (cast sum(amount) DECIMAL(10,2)) AS total, count_if((> amount dec:100.5)) FROM orders GROUP BY window(ts "5 minutes"), customer`,
		`SELECT sensor_id, sum(total_eventos) FROM stream@v12 GROUP BY sensor_id ORDER BY sensor_id`,
	}
	for i, want := range wantQueries {
		q := s.Statements[2+i].(*Select)
		if got := selectStr(q); got != want {
			t.Errorf("query %d\n got %s\nwant %s", i+3, got, want)
		}
		if q.At != (Pos{15 + i, 1}) {
			t.Errorf("query %d at %v, want line %d", i+3, q.At, 15+i)
		}
	}
}

func checkOptions(t *testing.T, what string, got []*Option, want []Option) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d options, want %d", what, len(got), len(want))
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Key != w.Key || g.Value != w.Value {
			t.Errorf("%s option %d: %s = %q, want %s = %q", what, i, g.Key, g.Value, w.Key, w.Value)
		}
		if w.At != (Pos{}) && (g.At != w.At || g.ValAt != w.ValAt) {
			t.Errorf("%s option %s at %v, value at %v; want %v, %v", what, g.Key, g.At, g.ValAt, w.At, w.ValAt)
		}
	}
}

func TestSelects(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT key, value, partition, offset, timestamp FROM k", "SELECT key, value, partition, offset, timestamp FROM k"},
		{"select date, topic, count, source, sink, table, window, start, end from k", "SELECT date, topic, count, source, sink, table, window, start, end FROM k"},
		{"SELECT 1", "SELECT 1"},
		{"SELECT DISTINCT a, b FROM t", "SELECT DISTINCT a, b FROM t"},
		{"SELECT ALL a FROM t", "SELECT a FROM t"},
		{"SELECT *, t.*, `q t`.* FROM t", "SELECT *, t.*, `q t`.* FROM t"},
		{"SELECT a x, b AS y, c `z z` FROM t", "SELECT a AS x, b AS y, c AS `z z` FROM t"},
		{"SELECT a AS `select` FROM t", "SELECT a AS `select` FROM t"},
		{"SELECT session_window.end AS end, a AS case FROM t", "SELECT session_window.end AS end, a AS case FROM t"},
		{"SELECT a FROM t AS x", "SELECT a FROM t AS x"},
		{"SELECT a FROM t x WHERE x.a > 1", "SELECT a FROM t AS x WHERE (> x.a 1)"},
		{"SELECT a FROM t VERSION AS OF 3 AS old", "SELECT a FROM t@v3 AS old"},
		{"SELECT a FROM t TIMESTAMP AS OF '2024-01-01' o", `SELECT a FROM t@"2024-01-01" AS o`},
		{"SELECT a FROM t timestamp", "SELECT a FROM t AS timestamp"},
		{"SELECT a FROM (SELECT a FROM t)", "SELECT a FROM (sub SELECT a FROM t)"},
		{"SELECT a FROM ((SELECT a FROM t)) AS s", "SELECT a FROM (sub SELECT a FROM t) AS s"},
		{"SELECT * FROM a JOIN b ON a.id = b.id", "SELECT * FROM (join INNER a b ON (= a.id b.id))"},
		{"SELECT * FROM a INNER JOIN b ON x", "SELECT * FROM (join INNER a b ON x)"},
		{"SELECT * FROM a LEFT JOIN b ON x", "SELECT * FROM (join LEFT a b ON x)"},
		{"SELECT * FROM a left outer join b on x", "SELECT * FROM (join LEFT a b ON x)"},
		{"SELECT * FROM a RIGHT OUTER JOIN b ON x", "SELECT * FROM (join RIGHT a b ON x)"},
		{"SELECT * FROM a FULL JOIN b ON x FULL OUTER JOIN c ON y", "SELECT * FROM (join FULL (join FULL a b ON x) c ON y)"},
		{"SELECT * FROM a CROSS JOIN b", "SELECT * FROM (join CROSS a b)"},
		{"SELECT * FROM a, b, c", "SELECT * FROM (join CROSS (join CROSS a b) c)"},
		{"SELECT * FROM a, b JOIN c ON x", "SELECT * FROM (join CROSS a (join INNER b c ON x))"},
		{"SELECT * FROM (a JOIN b ON x) JOIN c ON y", "SELECT * FROM (join INNER (join INNER a b ON x) c ON y)"},
		{"SELECT * FROM a x JOIN b y ON x.k = y.k", "SELECT * FROM (join INNER a AS x b AS y ON (= x.k y.k))"},
		{"SELECT word FROM lines LATERAL VIEW explode(split(value, ' ')) t AS word",
			`SELECT word FROM (lateral lines explode(split(value " ")) t word)`},
		{"SELECT * FROM l LATERAL VIEW OUTER posexplode(xs) t pos, x LATERAL VIEW explode(ys) u",
			"SELECT * FROM (lateral (lateral l OUTER posexplode(xs) t pos x) explode(ys) u)"},
		{"SELECT a, count(*) FROM t WHERE b IS NOT NULL GROUP BY 1 HAVING count(*) > 1 ORDER BY 2 DESC, a ASC NULLS FIRST, b NULLS LAST LIMIT 10",
			"SELECT a, count(*) FROM t WHERE (isnotnull b) GROUP BY 1 HAVING (> count(*) 1) ORDER BY 2 DESC, a NULLS FIRST, b NULLS LAST LIMIT 10"},
		{"SELECT count(*) FILTER (WHERE ok) AS n_ok FROM t", "SELECT count(*) FILTER ok AS n_ok FROM t"},
		{"SELECT a filter FROM t", "SELECT a AS filter FROM t"},
		{"(SELECT a FROM t)", "SELECT a FROM t"},
		{"SELECT\ta\n,b FROM\n\tt;", "SELECT a, b FROM t"},
	}
	for _, c := range cases {
		s, err := Parse("", c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if len(s.Statements) != 1 {
			t.Errorf("Parse(%q): %d statements", c.in, len(s.Statements))
			continue
		}
		if got := selectStr(s.Statements[0].(*Select)); got != c.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestSelectPositions(t *testing.T) {
	s, err := Parse("", "SELECT a,\n  t.* , x AS y\nFROM t  JOIN (SELECT 1) q ON 1 = 1\nLATERAL VIEW explode(xs) e AS v")
	if err != nil {
		t.Fatal(err)
	}
	q := s.Statements[0].(*Select)
	lv := q.From.(*LateralView)
	j := lv.From.(*Join)
	sub := j.Right.(*SubqueryRef)
	for _, c := range []struct {
		what      string
		got, want Pos
	}{
		{"select", q.At, Pos{1, 1}},
		{"item a", q.Items[0].At, Pos{1, 8}},
		{"item t.*", q.Items[1].At, Pos{2, 3}},
		{"qualifier t", q.Items[1].Of.At, Pos{2, 3}},
		{"item x", q.Items[2].At, Pos{2, 9}},
		{"alias y", q.Items[2].Alias.At, Pos{2, 14}},
		{"join", j.At, Pos{3, 6}},
		{"table t", j.Left.Start(), Pos{3, 6}},
		{"subquery", sub.At, Pos{3, 14}},
		{"subquery's select", sub.Query.At, Pos{3, 15}},
		{"alias q", sub.Alias.At, Pos{3, 25}},
		{"ON", j.On.Start(), Pos{3, 30}},
		{"lateral view", lv.At, Pos{3, 6}},
		{"generator", lv.Gen.At, Pos{4, 14}},
		{"generator alias", lv.Alias.At, Pos{4, 26}},
		{"generator column", lv.Columns[0].At, Pos{4, 31}},
	} {
		if c.got != c.want {
			t.Errorf("%s at %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestDDL(t *testing.T) {
	s, err := Parse("ddl.sql", `
-- Kafka metadata columns and a text payload.
create source lines (
  value STRING,
  k BINARY METADATA FROM 'key',
  partition INT METADATA,
  ts TIMESTAMP NOT NULL METADATA FROM 'timestamp',
  price DECIMAL(10, 2),
  `+"`odd name`"+` DOUBLE
) with (kafka.bootstrap.servers = 'kafka:9092', topic = "lines", max.offsets = 1000, negative = -1.5, enabled = TRUE, "x" = 'a' 'b');;

CREATE TABLE consolidated WITH (path = 'lake/consolidated');
CREATE TABLE typed (a BIGINT) WITH (path = 'p');
CREATE SINK alerts FROM hot WITH (connector = 'kafka', topic = 'alerts');
CREATE SINK console WITH (connector = 'console', mode = 'update') AS (SELECT a FROM t)
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Statements) != 5 {
		t.Fatalf("%d statements, want 5", len(s.Statements))
	}
	src := s.Statements[0].(*CreateSource)
	type col struct {
		name, typ       string
		notNull, meta   bool
		from            string
		quoted          bool
		line, col, tcol int
	}
	want := []col{
		{"value", "STRING", false, false, "", false, 4, 3, 9},
		{"k", "BINARY", false, true, "key", false, 5, 3, 5},
		{"partition", "INT", false, true, "", false, 6, 3, 13},
		{"ts", "TIMESTAMP", true, true, "timestamp", false, 7, 3, 6},
		{"price", "DECIMAL(10,2)", false, false, "", false, 8, 3, 9},
		{"odd name", "DOUBLE", false, false, "", true, 9, 3, 14},
	}
	if len(src.Columns) != len(want) {
		t.Fatalf("%d columns, want %d", len(src.Columns), len(want))
	}
	for i, w := range want {
		c := src.Columns[i]
		got := col{c.Name.Name, typeStr(c.Type), c.NotNull, c.Metadata, c.From, c.Name.Quoted, c.At.Line, c.At.Col, c.Type.At.Col}
		if got != w {
			t.Errorf("column %d: got %+v, want %+v", i, got, w)
		}
	}
	if src.Watermark != nil || len(src.Checks) != 0 {
		t.Errorf("unexpected watermark or checks")
	}
	checkOptions(t, "lines", src.With, []Option{
		{Key: "kafka.bootstrap.servers", Value: "kafka:9092", At: Pos{10, 9}, ValAt: Pos{10, 35}},
		{Key: "topic", Value: "lines"},
		{Key: "max.offsets", Value: "1000"},
		{Key: "negative", Value: "-1.5"},
		{Key: "enabled", Value: "true"},
		{Key: "x", Value: "ab"},
	})

	tbl := s.Statements[1].(*CreateSource)
	if !tbl.Table || tbl.Name.Name != "consolidated" || tbl.Columns != nil || tbl.At != (Pos{12, 1}) {
		t.Errorf("table: %+v", tbl)
	}
	checkOptions(t, "table", tbl.With, []Option{{Key: "path", Value: "lake/consolidated"}})
	if typed := s.Statements[2].(*CreateSource); !typed.Table || len(typed.Columns) != 1 {
		t.Errorf("typed table: %+v", typed)
	}

	alerts := s.Statements[3].(*CreateSink)
	if got := selectStr(alerts.Query); got != "SELECT * FROM hot" {
		t.Errorf("CREATE SINK … FROM hot: query %s", got)
	}
	console := s.Statements[4].(*CreateSink)
	if got := selectStr(console.Query); got != "SELECT a FROM t" {
		t.Errorf("console sink query %s", got)
	}
}

func TestEmptyScripts(t *testing.T) {
	for _, in := range []string{"", "  ", ";", ";;\n;", "-- only a comment", "/* x */"} {
		s, err := Parse("f", in)
		if err != nil || len(s.Statements) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no statements", in, s, err)
		}
	}
	s, err := Parse("f", "SELECT 1; ; SELECT 2")
	if err != nil || len(s.Statements) != 2 {
		t.Errorf("two statements with an empty one between: %v, %v", s, err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in   string
		want string // line:col: message
	}{
		{"SELECT a FROM t WHERE", "1:22: expected an expression but found end of input"},
		{"SELECT count(a FROM t", "1:16: expected ')' but found 'FROM'"},
		{"SELECT a\nFROM t\nWHERE (a > 1", "3:13: expected ')' but found end of input"},
		{"SELECT a FROM t GROUP a", "1:23: expected BY but found 'a'"},
		{"SELECT a FROM t GROUP BY a WHERE a > 1", "1:28: WHERE is out of place: a query's clauses go in the order SELECT, FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT"},
		{"SELECT a LIMIT 1 FROM t", "1:18: FROM is out of place: a query's clauses go in the order SELECT, FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT"},
		{"SELECT a b c FROM t", "1:12: expected ';' or end of input but found 'c'"},
		{"SELECT 1 SELECT 2", "1:10: expected ';' or end of input but found 'SELECT'"},
		{"SELECT a FROM", "1:14: expected a table name or '(' but found end of input"},
		{"SELECT a FROM select", "1:15: expected a table name or '(' but found the keyword 'select' (write `select` to use it as a name)"},
		{"SELECT a AS FROM t", "1:13: expected a column alias but found the keyword 'FROM' (write `FROM` to use it as a name)"},
		{"SELECT a FROM db.t", "1:17: qualified table names (db.table) are not supported: name a source or table declared with CREATE"},
		{"SELECT a FROM range(10)", "1:15: table-valued functions are not supported: 'range' must name a source or table"},
		{"SELECT a FROM t VERSION AS OF 'x'", "1:31: expected a table version number but found string 'x'"},
		{"SELECT a FROM t UNION SELECT b FROM u", "1:17: UNION is not supported"},
		{"SELECT * FROM a LEFT SEMI JOIN b ON x", "1:22: LEFT SEMI JOIN is not supported"},
		{"SELECT * FROM a JOIN b USING (id)", "1:24: JOIN … USING is not supported: write ON a.col = b.col"},
		{"SELECT * FROM a NATURAL JOIN b", "1:17: NATURAL JOIN is not supported: write JOIN … ON"},
		{"SELECT * FROM a LEFT b", "1:22: expected JOIN but found 'b'"},
		{"SELECT * FROM l LATERAL VIEW explode(x)", "1:40: expected the lateral view's table alias but found end of input"},
		{"SELECT * FROM l LATERAL explode(x) t", "1:25: expected VIEW but found 'explode'"},
		{"SELECT a FROM t ORDER BY a NULLS", "1:33: expected FIRST or LAST after NULLS but found end of input"},
		{"SELECT a FROM t GROUP BY a WITH ROLLUP", "1:28: GROUP BY … WITH ROLLUP/CUBE is not supported"},
		{"SELECT f(x) AS (a, b) FROM t", "1:16: multiple aliases AS (a, b) are not supported"},
		{"INSERT INTO t SELECT 1", "1:1: INSERT is not supported: write CREATE SINK name WITH (…) AS SELECT …"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "1:1: WITH (common table expressions) is not supported: use a subquery in FROM"},
		{"DROP SOURCE x", "1:1: expected a statement (CREATE SOURCE, CREATE TABLE, CREATE SINK or SELECT) but found 'DROP'"},
		{"CREATE VIEW v AS SELECT 1", "1:8: expected SOURCE, TABLE or SINK after CREATE but found 'VIEW'"},
		{"CREATE SOURCE s WITH (topic = 't')", "1:17: expected '(' and the source's columns but found 'WITH'"},
		{"CREATE SOURCE s (a INT)", "1:24: expected WITH but found end of input"},
		{"CREATE SOURCE s (a INT b INT) WITH (topic = 't')", "1:24: expected ',' or ')' but found 'b'"},
		{"CREATE SOURCE s (a INT,) WITH (topic = 't')", "1:24: expected a column name, CONSTRAINT or WATERMARK FOR but found ')'"},
		{"CREATE SOURCE s (a) WITH (topic = 't')", "1:19: expected a type (STRING, BIGINT, DOUBLE, BOOLEAN, DECIMAL(p,s), TIMESTAMP…) but found ')'"},
		{"CREATE SOURCE s (a INT NOT NULL NOT NULL) WITH (topic = 't')", "1:33: NOT NULL is written twice"},
		{"CREATE SOURCE s (a INT NOT 1) WITH (topic = 't')", "1:28: expected NULL but found '1'"},
		{"CREATE SOURCE s (a INT METADATA FROM key) WITH (topic = 't')", "1:38: expected a metadata key in quotes (e.g. 'partition') but found 'key'"},
		{"CREATE SOURCE s (a INT, CHECK (a > 0)) WITH (topic = 't')", "1:25: a CHECK needs a name, the reason a failing record is sent to the dead-letter topic with: write CONSTRAINT reason CHECK (…)"},
		{"CREATE SOURCE s (a INT, CONSTRAINT c (a > 0)) WITH (topic = 't')", "1:38: expected CHECK but found '('"},
		{"CREATE SOURCE s (a INT, CONSTRAINT c CHECK a > 0) WITH (topic = 't')", "1:44: expected '(' but found 'a'"},
		{"CREATE SOURCE s (t TIMESTAMP, WATERMARK FOR t AS t, WATERMARK FOR t AS t) WITH (topic = 'x')", "1:53: a source has at most one WATERMARK (the first is at line 1, column 31)"},
		{"CREATE SOURCE s (t TIMESTAMP, WATERMARK FOR t t) WITH (topic = 'x')", "1:47: expected AS but found 't'"},
		{"CREATE SOURCE s (a INT) WITH (topic 't')", "1:37: expected '=' but found string 't'"},
		{"CREATE SOURCE s (a INT) WITH (topic = t)", "1:39: expected an option value (a 'string', a number, TRUE or FALSE) but found 't'"},
		{"CREATE SOURCE s (a INT) WITH (topic = 't', TOPIC = 'u')", "1:44: option 'TOPIC' is set twice (first at line 1, column 31)"},
		{"CREATE SOURCE s (a INT) WITH ()", "1:31: expected an option key (e.g. topic or 'scan.startup.mode') but found ')'"},
		{"CREATE SOURCE s (a INT) WITH (a.)", "1:33: expected the rest of the option key after '.' but found ')'"},
		{"CREATE SOURCE s (a INT) WITH (a.b = 1, a . b = 2)", "1:40: option 'a.b' is set twice (first at line 1, column 31)"},
		{"CREATE SOURCE s (a INT) WITH (a = 1 b = 2)", "1:37: expected ',' or ')' but found 'b'"},
		{"CREATE SINK k WITH (a = 'b') SELECT 1", "1:30: expected AS but found 'SELECT'"},
		{"CREATE SINK k FROM s WITH (a = 'b') AS SELECT 1", "1:37: CREATE SINK takes either FROM source or AS SELECT …, not both"},
		{"CREATE SINK k", "1:14: expected WITH but found end of input"},
		{"SELECT 'abc\n", "1:8: unterminated string literal"},
		{"SELECT a\n  FROM t\n  WHERE ts > INTERVAL 1 MONTH", "3:25: MONTH intervals are not supported in streaming queries: use days, hours, minutes or seconds"},
		{"SELECT a FROM t\n\tWHERE x = 1 +", "2:15: expected an expression but found end of input"},
		{"SELECT é FROM t WHERE ✓", "1:24: unexpected character '✓'"},
	}
	for _, c := range cases {
		_, err := Parse("q.sql", c.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q): error %v (%T), want an *Error", c.in, err, err)
			continue
		}
		if e.File != "q.sql" {
			t.Errorf("Parse(%q): File = %q", c.in, e.File)
		}
		if got := strings.TrimPrefix(e.Error(), "q.sql:"); got != c.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}
