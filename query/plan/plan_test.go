package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/sql"
)

const sensorsDDL = `CREATE SOURCE sensors (
  sensor_id STRING NOT NULL, ts BIGINT NOT NULL, temp DOUBLE NOT NULL, hum DOUBLE NOT NULL, ok BOOLEAN NOT NULL,
  event_time AS timestamp_millis(ts),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' MINUTE
) WITH (topic = 'eventos_sensores');
CREATE SOURCE raw (sensor_id STRING, temp DOUBLE, ts TIMESTAMP) WITH (topic = 'raw');
`

func compile(t *testing.T, text string, mode ExecMode) (*Program, error) {
	t.Helper()
	s, err := sql.Parse("q.sql", text)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Compile(s, mode)
}

// Every query file in the repository compiles in its mode.
func TestQueryFilesCompile(t *testing.T) {
	files, _ := filepath.Glob("../../queries/*/*.sql")
	if len(files) < 7 {
		t.Fatalf("found %d query files, want the seed's two and the five examples", len(files))
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mode := Streaming
		if strings.HasSuffix(f, "batch.sql") {
			mode = Batch
		}
		s, err := sql.Parse(f, string(text))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		p, err := Compile(s, mode)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, q := range p.Queries {
			if len(q.Output) == 0 {
				t.Errorf("%s: query %s has no output columns", f, q.Name)
			}
		}
	}
}

// seedProgram compiles the seed's streaming query file.
func seedProgram(tb testing.TB) *Program {
	tb.Helper()
	text, err := os.ReadFile("../../queries/seed/streaming.sql")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := sql.Parse("streaming.sql", string(text))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := Compile(s, Streaming)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// The seed query's output schema is the stream table's.
func TestSeedQuerySchema(t *testing.T) {
	p := seedProgram(t)
	got := p.Queries[0].Output.String()
	want := "win_start TIMESTAMP NOT NULL, win_end TIMESTAMP NOT NULL, sensor_id STRING NOT NULL, eventos BIGINT NOT NULL, avg_temp DOUBLE NOT NULL, avg_hum DOUBLE NOT NULL, ok_count BIGINT NOT NULL, min_temp DOUBLE NOT NULL, max_temp DOUBLE NOT NULL, date DATE NOT NULL"
	if got != want {
		t.Errorf("stream query schema\n got %s\nwant %s", got, want)
	}
	if !p.Queries[0].Stateful || p.Queries[0].Sink.Mode != "append" || p.Queries[0].Sink.Connector != "delta" {
		t.Errorf("stream query: stateful=%v sink=%+v", p.Queries[0].Stateful, p.Queries[0].Sink)
	}
}

// Queries Spark refuses to stream are refused at start with Spark's reason,
// at the position the reason is about.
func TestStreamingRefusals(t *testing.T) {
	cases := []struct {
		name, query string
		line, col   int
		msg         string
	}{
		{"append without watermark", "CREATE SINK s WITH (connector='console', mode='append') AS\nSELECT sensor_id, count(*) FROM raw GROUP BY sensor_id",
			1, 1, "Append output mode not supported when there are streaming aggregations"},
		{"append over a non-watermarked window", "CREATE SINK s WITH (mode='append') AS\nSELECT window.start, count(*) FROM raw GROUP BY window(ts, '10 seconds')",
			1, 1, "without watermark"},
		{"complete without aggregation", "CREATE SINK s WITH (mode='complete') AS SELECT sensor_id FROM raw",
			1, 1, "Complete output mode not supported when there are no streaming aggregations"},
		{"sorting a stream", "CREATE SINK s WITH (mode='update') AS SELECT sensor_id, count(*) AS n FROM sensors GROUP BY sensor_id\nORDER BY n",
			2, 10, "Sorting is not supported on streaming DataFrames/Datasets"},
		{"count distinct", "CREATE SINK s WITH (mode='update') AS SELECT sensor_id,\n  count(DISTINCT temp) FROM sensors GROUP BY sensor_id",
			2, 3, "Distinct aggregations are not supported on streaming DataFrames/Datasets"},
		{"update to delta", "CREATE SINK s WITH (connector='delta', path='p', mode='update') AS SELECT sensor_id, count(*) FROM sensors GROUP BY sensor_id",
			1, 1, "does not support Update output mode"},
		{"missing aggregation", "SELECT sensor_id, temp, count(*) FROM sensors\nGROUP BY sensor_id",
			1, 19, "MISSING_AGGREGATION"},
		{"unknown table", "SELECT a FROM\n  nowhere",
			2, 3, "TABLE_OR_VIEW_NOT_FOUND"},
		{"two aggregations", "CREATE SINK s WITH (mode='complete') AS SELECT count(*) FROM (SELECT sensor_id, count(*) AS n FROM sensors GROUP BY sensor_id) t",
			1, 41, "Multiple streaming aggregations"},
		{"table in a stream", "CREATE TABLE t WITH (path='x');\nSELECT * FROM t", 2, 15, "is a table"},
		{"bad option", "CREATE SINK s WITH (connector='delta', path='p', colour='red') AS SELECT * FROM sensors", 1, 50, `option "colour" is not known`},
		{"late topic without a watermark", "CREATE SOURCE l (v STRING) WITH (topic='in', late_topic='in.late');\nSELECT v FROM l", 1, 1, "late_topic receives the records dropped as late: it needs a WATERMARK"},
		{"late topic is the source's", "CREATE SOURCE l (ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) WITH (topic='in', late_topic='in');\nSELECT ts FROM l", 1, 1, "name a topic other than the source's"},
		{"key of no column", "CREATE SOURCE k (v STRING) WITH (topic='in', key='device');\nSELECT v FROM k", 1, 1, `key "device": no such column`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := compile(t, sensorsDDL+c.query, Streaming)
			var se *sql.Error
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want an *sql.Error", err)
			}
			line := c.line + strings.Count(sensorsDDL, "\n")
			if se.Pos.Line != line || se.Pos.Col != c.col || !strings.Contains(se.Msg, c.msg) || se.File != "q.sql" {
				t.Errorf("got %v\nwant q.sql:%d:%d: …%s…", err, line, c.col, c.msg)
			}
		})
	}
}

// The same aggregations Spark streams are accepted.
func TestStreamingAccepted(t *testing.T) {
	for _, q := range []string{
		"CREATE SINK s WITH (mode='update') AS SELECT sensor_id, count(*) FROM raw GROUP BY sensor_id",
		"CREATE SINK s WITH (mode='complete') AS SELECT sensor_id, count(*) AS n FROM raw GROUP BY sensor_id ORDER BY n DESC LIMIT 3",
		"CREATE SINK s WITH (mode='append') AS SELECT sensor_id, temp * 1.8 + 32 AS f FROM raw WHERE temp > 30",
		"SELECT window.start, window.end, sensor_id, approx_count_distinct(temp) FROM sensors GROUP BY window(event_time, '1 minute', '10 seconds'), sensor_id",
		"SELECT session_window.start, sensor_id, count(*) FROM sensors GROUP BY session_window(event_time, INTERVAL '5' MINUTES), sensor_id",
		"SELECT sensor_id, count(*) FILTER (WHERE ok), sum(temp) FILTER (WHERE temp > 30) FROM sensors GROUP BY window(event_time, '10 seconds'), 1",
	} {
		if _, err := compile(t, sensorsDDL+q, Streaming); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// Sink options that name output columns are checked against the output.
func TestSinkColumnOptions(t *testing.T) {
	for _, c := range []struct{ query, msg string }{
		{"CREATE SINK s WITH (connector='kafka', topic='t', key='nope') AS SELECT sensor_id FROM raw", "key column nope is not an output column"},
		{"CREATE SINK s WITH (connector='delta', path='p', partitioned_by='day') AS SELECT sensor_id, temp FROM raw", "partitioned_by column day is not an output column"},
		{"CREATE SINK s WITH (connector='delta', path='p', compression='lzo') AS SELECT sensor_id, temp FROM raw", "compression \"lzo\" is not a Parquet codec: use zstd, snappy"},
		{"CREATE SINK s WITH (connector='delta', path='p') AS SELECT sensor_id, temp AS sensor_id FROM raw", "two output columns are named sensor_id"},
	} {
		_, err := compile(t, sensorsDDL+c.query, Streaming)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want …%s…", c.query, err, c.msg)
		}
	}
	if _, err := compile(t, sensorsDDL+"CREATE SINK s WITH (connector='kafka', topic='t', key='SENSOR_ID') AS SELECT sensor_id FROM raw", Streaming); err != nil {
		t.Errorf("key matched without regard to case: %v", err)
	}
}

// A restart is refused when the state's shape changed: the fingerprint
// changes with the window's length, the keys, the aggregates and the
// output, and stays for a change that keeps them.
func TestFingerprint(t *testing.T) {
	fp := func(q string) string {
		p, err := compile(t, sensorsDDL+q, Streaming)
		if err != nil {
			t.Fatal(err)
		}
		return p.Queries[0].Fingerprint()
	}
	base := fp("SELECT sensor_id, count(*) AS n FROM sensors GROUP BY window(event_time, '10 seconds'), sensor_id")
	for _, q := range []string{
		"SELECT sensor_id, count(*) AS n FROM sensors GROUP BY window(event_time, '20 seconds'), sensor_id",
		"SELECT sensor_id, count(*) AS n FROM sensors GROUP BY window(event_time, '10 seconds', '5 seconds'), sensor_id",
		"SELECT sensor_id, sum(temp) AS n FROM sensors GROUP BY window(event_time, '10 seconds'), sensor_id",
		"SELECT sensor_id, count(*) AS m FROM sensors GROUP BY window(event_time, '10 seconds'), sensor_id",
	} {
		if fp(q) == base {
			t.Errorf("same fingerprint as the base query: %s", q)
		}
	}
	if fp("SELECT  sensor_id , COUNT(*) AS n FROM sensors GROUP BY window(event_time, INTERVAL '10' SECONDS), sensor_id") != base {
		t.Errorf("spacing, case and the way the duration is written changed the fingerprint")
	}
}

// Output columns are NOT NULL exactly where no row can make them NULL, so
// that the tables they create declare what their data guarantees.
func TestOutputNullability(t *testing.T) {
	p, err := compile(t, sensorsDDL+`SELECT sensor_id, temp / hum AS ratio, temp * 2 AS twice,
  CASE WHEN ok THEN 1 END AS no_else, CASE WHEN ok THEN 1 ELSE 0 END AS with_else,
  CAST(sensor_id AS BIGINT) AS parsed, coalesce(NULL, temp) AS c, event_time FROM sensors;
CREATE SINK u WITH (mode = 'update') AS SELECT sensor_id, count(*) AS n, sum(temp) AS s, max(temp) FILTER (WHERE temp > 0) AS f
FROM raw GROUP BY sensor_id;
SELECT word FROM (SELECT explode(split(sensor_id, ',')) AS word FROM sensors) t`, Streaming)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{
		"sensor_id STRING NOT NULL, ratio DOUBLE, twice DOUBLE NOT NULL, no_else INT, with_else INT NOT NULL, parsed BIGINT, c DOUBLE NOT NULL, event_time TIMESTAMP NOT NULL",
		"sensor_id STRING, n BIGINT NOT NULL, s DOUBLE, f DOUBLE",
		"word STRING NOT NULL",
	} {
		if got := p.Queries[i].Output.String(); got != want {
			t.Errorf("query %d\n got %s\nwant %s", i, got, want)
		}
	}
}

// A query groups by its source's key column when one of its group keys is
// that column unchanged: not through an expression, a subquery or a
// column of another name.
func TestGroupedByTheSourceColumn(t *testing.T) {
	ddl := "CREATE SOURCE k (device STRING, site STRING, v DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) WITH (topic='in', key='DEVICE');\n"
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"SELECT device, count(*) FROM k GROUP BY device", true},
		{"SELECT window.start, k.device, site, sum(v) FROM k GROUP BY window(ts, '10 seconds'), site, k.device", true},
		{"SELECT x.Device, count(*) FROM k x GROUP BY x.Device", true},
		{"SELECT site, count(*) FROM k GROUP BY site", false},
		{"SELECT lower(device), count(*) FROM k GROUP BY lower(device)", false},
		{"SELECT device, count(*) FROM (SELECT site AS device FROM k) t GROUP BY device", false},
		{"SELECT word, count(*) FROM k LATERAL VIEW explode(split(site, ' ')) w AS word GROUP BY word", false},
		{"SELECT word, device, count(*) FROM k LATERAL VIEW explode(split(site, ' ')) w AS word GROUP BY word, device", true},
		{"SELECT device, v FROM k", false},
	} {
		prog, err := compile(t, ddl+"CREATE SINK s WITH (connector = 'console', mode = 'update') AS "+c.query, Streaming)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		q := prog.Queries[0]
		if q.Source.Key != "device" {
			t.Fatalf("source key %q, want the column's declared name device", q.Source.Key)
		}
		if got := q.GroupedBy(q.Source.Key); got != c.want {
			t.Errorf("%s: GroupedBy(device) = %v, want %v", c.query, got, c.want)
		}
	}
}
