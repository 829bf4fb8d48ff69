package querycheck

import (
	"database/sql"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runCase is one input configuration of a query file.
type runCase struct {
	name  string
	keys  int
	keyed bool // partition by key (else at random: one key in every partition)
	// noDataBetween runs the no-data batches the engine asks for between
	// data batches too, not only after the last one.
	noDataBetween bool
	seed          uint64
}

// cases are the configurations every query file runs with: a few keys,
// each in all partitions, and many keys, each in one partition.
var cases = []runCase{
	{name: "20keys", keys: 20, keyed: false, noDataBetween: true, seed: 1},
	{name: "5000keys", keys: 5000, keyed: true, seed: 2},
}

// sinkCheck is one sink of a query file and DuckDB's version of it.
type sinkCheck struct {
	sink string
	// schema is the output the sink's table or topic gets, as name TYPE.
	schema string
	// duck is DuckDB's query; $WM is the final watermark (micros): an
	// append-mode query keeps the windows whose end is at or before it.
	duck    string
	keyCols []int // update mode: the columns that identify a row
	// duckRow, when set, turns each of DuckDB's rows into the row the
	// engine must give.
	duckRow func(t *testing.T, r []any) []any
	opts    compareOpts
	// minRows is the least number of rows DuckDB must find for the
	// comparison to mean something.
	minRows int
}

// check runs the sink's query on the engine over in, as rc says, and
// compares its rows with DuckDB's. delayMs is the source's watermark delay
// (0: none).
func (c sinkCheck) check(t *testing.T, rc runCase, file string, in *input, db *sql.DB, delayMs int64) {
	q := compile(t, file, c.sink)
	var got []string
	for _, f := range q.Output {
		got = append(got, f.Name+" "+f.Type.String())
	}
	if g := strings.Join(got, ", "); g != c.schema {
		t.Errorf("sink %s: output schema\n got %s\nwant %s", c.sink, g, c.schema)
	}
	r := runEngine(t, q, in, in.now, c.keyCols, rc.noDataBetween)
	checkRejected(t, r, in)
	if delayMs > 0 {
		checkRun(t, r, in, delayMs)
	}
	want := duckRows(t, db, strings.ReplaceAll(c.duck, "$WM", strconv.FormatInt(in.maxT-delayMs*1000, 10)))
	if c.duckRow != nil {
		for i, w := range want {
			want[i] = c.duckRow(t, w)
		}
	}
	atLeast(t, c.sink, want, c.minRows)
	compareRows(t, q.Output, r.rows, want, c.opts)
	t.Logf("sink %s: %d records in %d batches (%d without data), %d rows", c.sink, len(in.events), r.batches, r.noData, len(r.rows))
}

// sensorsFrom reads the seed's readings in DuckDB.
const sensorsFrom = `read_json($FILE, format = 'newline_delimited',
	columns = {sensor_id: 'VARCHAR', ts: 'BIGINT', temp: 'DOUBLE', hum: 'DOUBLE', ok: 'BOOLEAN'})`

// seedWindows is the seed's 10-second windows in DuckDB, over src (the
// table of readings) with extra conditions where.
func seedWindows(where string) string {
	return `WITH w AS (SELECT sensor_id, temp, hum, ok, ts * 1000 - (ts * 1000) % 10000000 AS ws FROM src WHERE ` + where + `)`
}

// seedSinks are the streaming seed's sinks; where filters DuckDB's input.
func seedSinks(where string) []sinkCheck {
	w := seedWindows(where)
	return []sinkCheck{{
		sink:   "stream",
		schema: "win_start TIMESTAMP, win_end TIMESTAMP, sensor_id STRING, eventos BIGINT, avg_temp DOUBLE, avg_hum DOUBLE, ok_count BIGINT, min_temp DOUBLE, max_temp DOUBLE, date DATE",
		duck: w + `
SELECT ws, ws + 10000000, sensor_id, count(*)::BIGINT, avg(temp), avg(hum),
	sum(CASE WHEN ok THEN 1 ELSE 0 END)::BIGINT, min(temp), max(temp), (ws // 86400000000)::BIGINT
FROM w GROUP BY ws, sensor_id HAVING ws + 10000000 <= $WM`,
		minRows: 100,
	}, {
		sink:   "console",
		schema: "win_start TIMESTAMP, win_end TIMESTAMP, sensor_id STRING, eventos BIGINT, avg_temp DOUBLE, avg_hum DOUBLE, ok_count BIGINT",
		// Update mode: the last version of every window, closed or not.
		duck: w + `
SELECT ws, ws + 10000000, sensor_id, count(*)::BIGINT, avg(temp), avg(hum),
	sum(CASE WHEN ok THEN 1 ELSE 0 END)::BIGINT
FROM w GROUP BY ws, sensor_id`,
		keyCols: []int{0, 1, 2},
		minRows: 100,
	}, {
		sink:   "alerts",
		schema: "type STRING, sensor_id STRING, ts BIGINT, win_start BIGINT, win_end BIGINT, max_temp DOUBLE, threshold DOUBLE",
		duck: w + `
SELECT 'high_temp', sensor_id, (ws + 10000000) // 1000, ws // 1000, (ws + 10000000) // 1000, max(temp), 39.5::DOUBLE
FROM w GROUP BY ws, sensor_id HAVING max(temp) > 39.5 AND ws + 10000000 <= $WM`,
		minRows: 20,
	}}
}

// TestSeedStreaming compares the seed lab's streaming sinks (stream:
// 10-second windows per sensor in append mode; console: the same in update
// mode; alerts: the windows whose max_temp exceeds 39.5) with DuckDB.
func TestSeedStreaming(t *testing.T) {
	file := filepath.Join(queriesDir, "seed", "streaming.sql")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRand(c.seed)
			in := arrange(t, rng, sensorEvents(rng, size(30000), c.keys), 60_000, c.keyed, 1000, "eventos_sensores")
			db := duckDB(t, in.file, sensorsFrom)
			for _, s := range seedSinks("true") {
				t.Run(s.sink, func(t *testing.T) { s.check(t, c, file, in, db, 60_000) })
			}
		})
	}
}

// TestFraud compares the fraud example (sliding 10-minute windows every
// minute, users with more than 5 transactions) with DuckDB, which lists
// every window of a transaction with generate_series.
func TestFraud(t *testing.T) {
	file := filepath.Join(queriesDir, "examples", "fraud.sql")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRand(c.seed)
			in := arrange(t, rng, transactionEvents(rng, size(40000), c.keys), 30_000, c.keyed, 1000, "transactions")
			db := duckDB(t, in.file, `read_json($FILE, format = 'newline_delimited',
				columns = {user_id: 'VARCHAR', amount: 'DOUBLE', ts: 'BIGINT'})`)
			sinkCheck{
				sink:   "suspicious_users",
				schema: "user_id STRING, window_start TIMESTAMP, window_end TIMESTAMP, transactions BIGINT, total_amount DOUBLE",
				duck: `WITH w AS (
	SELECT user_id, amount,
		unnest(generate_series(ts * 1000 - (ts * 1000) % 60000000 - 540000000, ts * 1000 - (ts * 1000) % 60000000, 60000000)) AS ws
	FROM src)
SELECT user_id, ws, ws + 600000000, count(*)::BIGINT, sum(amount)
FROM w GROUP BY user_id, ws HAVING count(*) > 5 AND ws + 600000000 <= $WM`,
				minRows: 20,
			}.check(t, c, file, in, db, 30_000)
		})
	}
}

// TestSessions compares the sessions example (session windows with a
// 30-minute gap per user: clicks, and approx_count_distinct of the pages)
// with DuckDB, which starts a session at a user's first click and at every
// click more than 30 minutes after the previous one: Spark merges a click
// into the session whose end (last click + gap) is at or after it
// (MergingSessionsIterator: sessionStart <= currentSessionEnd). The
// generated clicks are never exactly 30 minutes apart, where query/agg
// differs from Spark (it opens a new session). DuckDB also lists each
// session's distinct pages: the engine's approx_count_distinct must be the
// estimate Spark's HyperLogLog++ gives for them (sparkApproxCountDistinct),
// and that estimate is checked against the exact count.
func TestSessions(t *testing.T) {
	file := filepath.Join(queriesDir, "examples", "sessions.sql")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRand(c.seed)
			span, clicks := int64(5*24*3600*1000), 15.0 // 20 users: 5 days of sessions
			if c.keys > 20 {
				span, clicks = 3*3600*1000, 4 // 5000 users: 3 hours
			}
			if testing.Short() {
				span /= 8
			}
			in := arrange(t, rng, clickEvents(rng, c.keys, span, clicks), 5*60_000, c.keyed, 1000, "clicks")
			db := duckDB(t, in.file, `read_json($FILE, format = 'newline_delimited',
				columns = {user_id: 'VARCHAR', page: 'VARCHAR', ts: 'BIGINT'})`)
			var n, off int
			var sqErr float64
			sinkCheck{
				sink:   "user_sessions",
				schema: "user_id STRING, session_start TIMESTAMP, session_end TIMESTAMP, clicks BIGINT, pages BIGINT",
				duck: `WITH r AS (SELECT user_id, page, ts * 1000 AS t FROM src),
g AS (SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY user_id ORDER BY t) <= 1800000000 THEN 0 ELSE 1 END AS brk FROM r),
s AS (SELECT *, sum(brk) OVER (PARTITION BY user_id ORDER BY t, brk DESC ROWS UNBOUNDED PRECEDING) AS sid FROM g)
SELECT user_id, min(t), max(t) + 1800000000, count(*)::BIGINT, count(DISTINCT page)::BIGINT,
	coalesce(list(DISTINCT page) FILTER (WHERE page IS NOT NULL), [])
FROM s GROUP BY user_id, sid HAVING max(t) + 1800000000 <= $WM`,
				duckRow: func(t *testing.T, r []any) []any {
					var pages []string
					for _, p := range r[5].([]any) {
						pages = append(pages, p.(string))
					}
					est, ok := sparkApproxCountDistinct(pages)
					if !ok {
						t.Fatalf("session %v has %d distinct pages, past linear counting", r[:3], len(pages))
					}
					exact := r[4].(int64)
					if int64(len(pages)) != exact {
						t.Fatalf("DuckDB: %d distinct pages listed, count(DISTINCT) %d", len(pages), exact)
					}
					n++
					if est != exact {
						off++
					}
					if exact > 0 {
						sqErr += math.Pow(float64(est-exact)/float64(exact), 2)
					}
					return append(r[:4:4], est)
				},
				minRows: 50,
			}.check(t, c, file, in, db, 5*60_000)
			// The estimates against the exact counts: the sketch's error
			// (1.04/sqrt(512), 4.6%) bounds their root mean square error.
			rms := math.Sqrt(sqErr / float64(n))
			t.Logf("approx_count_distinct: %d of %d sessions off the exact count, RMS relative error %.2f%%", off, n, 100*rms)
			if rms > 0.05 {
				t.Errorf("approx_count_distinct: RMS relative error %.2f%% over %d sessions, over Spark's rsd 5%%", 100*rms, n)
			}
		})
	}
}

// TestTelemetry compares the telemetry example's two sinks (5-minute
// average temperature per device; an alert for each window averaging over
// 75) with DuckDB.
func TestTelemetry(t *testing.T) {
	file := filepath.Join(queriesDir, "examples", "telemetry.sql")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRand(c.seed)
			in := arrange(t, rng, telemetryEvents(rng, size(30000), c.keys), 60_000, c.keyed, 1000, "telemetry")
			db := duckDB(t, in.file, `read_json($FILE, format = 'newline_delimited',
				columns = {device_id: 'VARCHAR', temperature: 'DOUBLE', event_time: 'BIGINT'})`)
			w := `WITH w AS (SELECT device_id, temperature, event_time * 1000 - (event_time * 1000) % 300000000 AS ws FROM src)`
			for _, s := range []sinkCheck{{
				sink:   "device_temps",
				schema: "window_start TIMESTAMP, window_end TIMESTAMP, device_id STRING, avg_temperature DOUBLE, readings BIGINT",
				duck: w + `
SELECT ws, ws + 300000000, device_id, avg(temperature), count(*)::BIGINT
FROM w GROUP BY ws, device_id HAVING ws + 300000000 <= $WM`,
				minRows: 100,
			}, {
				sink:   "device_alerts",
				schema: "device_id STRING, window_start TIMESTAMP, window_end TIMESTAMP, avg_temperature DOUBLE, alert STRING",
				duck: w + `
SELECT device_id, ws, ws + 300000000, avg(temperature), 'high_temperature'
FROM w GROUP BY ws, device_id HAVING avg(temperature) > 75.0 AND ws + 300000000 <= $WM`,
				minRows: 20,
			}} {
				t.Run(s.sink, func(t *testing.T) { s.check(t, c, file, in, db, 60_000) })
			}
		})
	}
}

// TestCustomers compares the customers example (5-minute windows per
// customer over ISO-8601 times, the DECIMAL(10,2) total) with DuckDB,
// which reads the times as TIMESTAMPTZ and sums the amounts as decimals:
// totals must be equal to the cent.
func TestCustomers(t *testing.T) {
	file := filepath.Join(queriesDir, "examples", "customers.sql")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRand(c.seed)
			in := arrange(t, rng, purchaseEvents(rng, size(30000), c.keys), 2*60_000, c.keyed, 1000, "purchases")
			db := duckDB(t, in.file, `(SELECT customer_id, amount, epoch_us(CAST(ts AS TIMESTAMPTZ)) AS t
				FROM read_json($FILE, format = 'newline_delimited',
					columns = {customer_id: 'VARCHAR', amount: 'DECIMAL(10,2)', ts: 'VARCHAR'}))`)
			sinkCheck{
				sink:   "purchases_5m",
				schema: "window_start TIMESTAMP, window_end TIMESTAMP, customer_id STRING, events BIGINT, total_amount DECIMAL(10,2)",
				duck: `WITH w AS (SELECT customer_id, amount, t - t % 300000000 AS ws FROM src)
SELECT ws, ws + 300000000, customer_id, count(*)::BIGINT, (CAST(sum(amount) AS DECIMAL(10,2)) * 100)::BIGINT
FROM w GROUP BY ws, customer_id HAVING ws + 300000000 <= $WM`,
				minRows: 100,
			}.check(t, c, file, in, db, 2*60_000)
		})
	}
}

// TestWordCount compares the word count example (complete mode, ORDER BY
// count DESC, word) with DuckDB, in order: the last batch's table is the
// whole count, sorted.
func TestWordCount(t *testing.T) {
	file := filepath.Join(queriesDir, "examples", "wordcount.sql")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRand(c.seed)
			in := arrange(t, rng, lineEvents(rng, size(20000), c.keys), 0, c.keyed, 1000, "lines")
			db := duckDB(t, in.file, `(SELECT unnest(string_split(content, chr(10))) AS value FROM read_text($FILE))`)
			sinkCheck{
				sink:   "word_counts",
				schema: "word STRING, count BIGINT",
				duck: `SELECT word, count(*)::BIGINT AS count
FROM (SELECT unnest(string_split(value, ' ')) AS word FROM src) WHERE word <> ''
GROUP BY word ORDER BY count DESC, word`,
				opts:    compareOpts{ordered: true},
				minRows: min(c.keys, 15),
			}.check(t, c, file, in, db, 0)
		})
	}
}
