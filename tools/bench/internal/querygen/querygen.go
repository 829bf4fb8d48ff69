// Package querygen generates benchmark input for the query files that ship
// in the repository (queries/seed/streaming.sql and queries/examples/*.sql)
// and holds, for each of their sinks, the same query in DuckDB's dialect,
// so that a benchmark can time the general engine (query/plan) and DuckDB
// on the very same file.
//
// Invariants of the generated input:
//   - it is seeded: the same workload, size, keys and seed give the same
//     bytes;
//   - records use exactly Keys distinct keys (sensor, customer, user,
//     device ids; for the word count, a vocabulary of Keys words) once there
//     are enough records: keys take turns (the fraud example's busy users
//     take every other turn, so it needs twice as many records as keys);
//   - event times increase with the record's position, with disorder of at
//     most half the source's watermark delay, so no record is ever late and
//     the engine's rows are exactly DuckDB's;
//   - every record is one the source's decoder and CHECK constraints take
//     (no dead letters), so both sides compute over the same rows.
//
// The generators are written for size (millions of records); the
// query-file tests (internal/querycheck) have their own, richer ones.
package querygen

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

// Workload is one query file's input and its DuckDB versions.
type Workload struct {
	// Name is the short name: seed, wordcount, customers, telemetry, fraud,
	// sessions.
	Name string
	// File is the query file, relative to the repository's root.
	File string
	// Topic is the Kafka topic the file's source reads.
	Topic string
	// Sink is the sink benchmarked unless another is asked for.
	Sink string
	// DelayMs is the source's watermark delay (0: no watermark).
	DelayMs int64
	// Text is true when the source reads text lines (one record a line,
	// not JSON).
	Text bool
	// From is DuckDB's table expression reading the file '$FILE' as the
	// source's rows.
	From string
	// Duck is, per sink, DuckDB's query over the table src (From) with
	// $WM the final watermark (micros): an append-mode query keeps the
	// windows whose end is at or before it.
	Duck map[string]string

	gen func(g *generator, i int, dst []byte) ([]byte, int64)
}

// Workloads lists every workload by name.
var Workloads = map[string]*Workload{}

// Names returns the workloads' names, sorted.
func Names() []string {
	var n []string
	for k := range Workloads {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// ByTopic returns the workload whose source reads topic.
func ByTopic(topic string) (*Workload, bool) {
	for _, w := range Workloads {
		if w.Topic == topic {
			return w, true
		}
	}
	return nil, false
}

// t0 is where generated event times start: 2025-12-03T10:15:00Z, ms.
const t0 = 1764756900000

// Info describes a generated file.
type Info struct {
	Records int
	Bytes   int64
	// MaxEventTime is the greatest event time, micros (0 for text).
	MaxEventTime int64
}

// FinalWatermark is the watermark after the last batch: the greatest event
// time less the delay (micros).
func (w *Workload) FinalWatermark(in Info) int64 { return in.MaxEventTime - w.DelayMs*1000 }

// DuckSQL returns DuckDB's query of sink over the file path, as one
// statement, or false when the workload has none for sink.
func (w *Workload) DuckSQL(sink, path string, in Info) (string, bool) {
	q, ok := w.Duck[sink]
	if !ok {
		return "", false
	}
	from := strings.ReplaceAll(w.From, "$FILE", "'"+strings.ReplaceAll(path, "'", "''")+"'")
	q = strings.ReplaceAll(q, "$WM", strconv.FormatInt(w.FinalWatermark(in), 10))
	// DuckDB allows one WITH per statement: src joins the query's own.
	if rest, ok := strings.CutPrefix(q, "WITH "); ok {
		return "WITH src AS (SELECT * FROM " + from + "), " + rest, true
	}
	return "WITH src AS (SELECT * FROM " + from + ") " + q, true
}

// generator is the state of one generation.
type generator struct {
	rng    *rand.Rand
	n      int
	keys   []string
	spanMs float64 // event times run from t0 over spanMs
	jitter int64   // disorder, ms: at most half the watermark delay
	words  []string
}

// key returns the key of record i: keys take turns.
func (g *generator) key(i int) string { return g.keys[i%len(g.keys)] }

// at returns record i's event time in ms: its place in the span, less a
// random lag within the disorder allowed.
func (g *generator) at(i int) int64 {
	t := t0 + int64(float64(i)*g.spanMs/float64(g.n))
	if g.jitter > 0 {
		t -= g.rng.Int64N(g.jitter)
	}
	return t
}

// Write generates n records with keys distinct keys into w, one per line.
func (w *Workload) Write(out io.Writer, n, keys int, seed uint64) (Info, error) {
	if n <= 0 || keys <= 0 {
		return Info{}, fmt.Errorf("querygen: %d records of %d keys", n, keys)
	}
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), n: n, jitter: w.DelayMs / 2}
	prefix := map[string]string{"seed": "S", "customers": "C", "telemetry": "D", "fraud": "U", "sessions": "U"}[w.Name]
	if w.Name == "wordcount" {
		g.words = vocabulary(keys)
	} else {
		g.keys = make([]string, keys)
		for i := range g.keys {
			g.keys[i] = keyName(prefix, i, keys)
		}
	}
	switch w.Name {
	case "seed":
		// 20 readings per ms, as the streamer's pipeline benchmark, over
		// at least 5 minutes, so that the 1-minute watermark closes
		// windows of even a small input.
		g.spanMs = max(float64(n)/20, 5*60*1000)
	case "sessions":
		g.spanMs = 4 * 3600 * 1000
	default:
		g.spanMs = 3600 * 1000
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	var info Info
	var line []byte
	for i := range n {
		var t int64
		line, t = w.gen(g, i, line[:0])
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return info, fmt.Errorf("querygen: write: %w", err)
		}
		info.Bytes += int64(len(line))
		info.MaxEventTime = max(info.MaxEventTime, t)
	}
	info.Records = n
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("querygen: write: %w", err)
	}
	return info, nil
}

// keyName names key i of n with a prefix, zero-padded as the examples'
// ids are (S007, C0042), wider for many keys.
func keyName(prefix string, i, n int) string {
	w := max(3, len(strconv.Itoa(n)))
	return fmt.Sprintf("%s%0*d", prefix, w, i+1)
}

// vocabulary returns n distinct words made of syllables, some not ASCII:
// word i spells i in base len(syllables).
func vocabulary(n int) []string {
	syll := []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zé", "ün", "ß", "日"}
	words := make([]string, n)
	for i := range words {
		var b strings.Builder
		for x := i; ; x = x/len(syll) - 1 {
			b.WriteString(syll[x%len(syll)])
			if x < len(syll) {
				break
			}
		}
		words[i] = b.String()
	}
	return words
}

func init() {
	seedDuck := func(having string, sel string) string {
		return `WITH w AS (SELECT sensor_id, temp, hum, ok, ts * 1000 - (ts * 1000) % 10000000 AS ws FROM src)
SELECT ` + sel + `
FROM w GROUP BY ws, sensor_id` + having
	}
	for _, w := range []*Workload{{
		Name: "seed", File: "queries/seed/streaming.sql", Topic: "eventos_sensores", Sink: "stream", DelayMs: 60_000,
		From: `read_json($FILE, format = 'newline_delimited',
	columns = {sensor_id: 'VARCHAR', ts: 'BIGINT', temp: 'DOUBLE', hum: 'DOUBLE', ok: 'BOOLEAN'})`,
		Duck: map[string]string{
			"stream": seedDuck(` HAVING ws + 10000000 <= $WM`, `ws, ws + 10000000, sensor_id, count(*)::BIGINT, avg(temp), avg(hum),
	sum(CASE WHEN ok THEN 1 ELSE 0 END)::BIGINT, min(temp), max(temp)`),
			"console": seedDuck(``, `ws, ws + 10000000, sensor_id, count(*)::BIGINT, avg(temp), avg(hum),
	sum(CASE WHEN ok THEN 1 ELSE 0 END)::BIGINT`),
			"alerts": seedDuck(` HAVING max(temp) > 39.5 AND ws + 10000000 <= $WM`,
				`'high_temp', sensor_id, (ws + 10000000) // 1000, ws // 1000, (ws + 10000000) // 1000, max(temp), 39.5::DOUBLE`),
		},
		gen: func(g *generator, i int, dst []byte) ([]byte, int64) {
			ev := contract.Event{SensorID: g.key(i), TS: g.at(i),
				Temp: contract.Round2(18 + 22*g.rng.Float64()), Hum: contract.Round2(35 + 60*g.rng.Float64()),
				OK: g.rng.Float64() < 0.95}
			return readings.AppendSeedJSON(dst, ev), ev.TS * 1000
		},
	}, {
		Name: "wordcount", File: "queries/examples/wordcount.sql", Topic: "lines", Sink: "word_counts", Text: true,
		// One line a row, as it is: no quoting, and a delimiter (the byte
		// 0x01) that never occurs.
		From: "read_csv($FILE, columns = {value: 'VARCHAR'}, header = false, auto_detect = false,\n" +
			"\tdelim = '\x01', quote = '', escape = '', strict_mode = false)",
		Duck: map[string]string{"word_counts": `SELECT word, count(*)::BIGINT AS count
FROM (SELECT unnest(string_split(value, ' ')) AS word FROM src) WHERE word <> ''
GROUP BY word ORDER BY count DESC, word`},
		// One to twelve words a line, frequent words far more frequent
		// (as in prose), separated by one space or now and then two.
		gen: func(g *generator, i int, dst []byte) ([]byte, int64) {
			k := 1 + g.rng.IntN(12)
			for j := range k {
				if j > 0 {
					dst = append(dst, ' ')
					if g.rng.IntN(15) == 0 {
						dst = append(dst, ' ')
					}
				}
				dst = append(dst, g.words[int(math.Pow(g.rng.Float64(), 2.5)*float64(len(g.words)))]...)
			}
			return dst, 0
		},
	}, {
		Name: "customers", File: "queries/examples/customers.sql", Topic: "purchases", Sink: "purchases_5m", DelayMs: 2 * 60_000,
		From: `(SELECT customer_id, amount, epoch_us(CAST(ts AS TIMESTAMPTZ)) AS t
	FROM read_json($FILE, format = 'newline_delimited',
		columns = {customer_id: 'VARCHAR', amount: 'DECIMAL(10,2)', ts: 'VARCHAR'}))`,
		Duck: map[string]string{"purchases_5m": `WITH w AS (SELECT customer_id, amount, t - t % 300000000 AS ws FROM src)
SELECT ws, ws + 300000000, customer_id, count(*)::BIGINT, CAST(sum(amount) AS DECIMAL(10,2))
FROM w GROUP BY ws, customer_id HAVING ws + 300000000 <= $WM`},
		// The amount a string with cents ("19.99", "12.5", "7") or now and
		// then a JSON number; the time an ISO-8601 string in UTC with
		// milliseconds, or with an offset.
		gen: func(g *generator, i int, dst []byte) ([]byte, int64) {
			ms := g.at(i)
			cents := 100 + g.rng.IntN(20000)
			amount := strings.TrimSuffix(strings.TrimSuffix(strconv.FormatFloat(float64(cents)/100, 'f', 2, 64), "0"), ".0")
			dst = append(dst, `{"customer_id": "`...)
			dst = append(dst, g.key(i)...)
			dst = append(dst, `", "amount": `...)
			if g.rng.IntN(5) > 0 {
				dst = strconv.AppendQuote(dst, amount)
			} else {
				dst = append(dst, amount...)
			}
			dst = append(dst, `, "ts": "`...)
			if g.rng.IntN(4) == 0 {
				dst = time.UnixMilli(ms).In(plusOne).AppendFormat(dst, "2006-01-02T15:04:05.000-07:00")
			} else {
				dst = time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
			}
			return append(dst, `"}`...), ms * 1000
		},
	}, {
		Name: "telemetry", File: "queries/examples/telemetry.sql", Topic: "telemetry", Sink: "device_temps", DelayMs: 60_000,
		From: `read_json($FILE, format = 'newline_delimited',
	columns = {device_id: 'VARCHAR', temperature: 'DOUBLE', event_time: 'BIGINT'})`,
		Duck: map[string]string{
			"device_temps": `WITH w AS (SELECT device_id, temperature, event_time * 1000 - (event_time * 1000) % 300000000 AS ws FROM src)
SELECT ws, ws + 300000000, device_id, avg(temperature), count(*)::BIGINT
FROM w GROUP BY ws, device_id HAVING ws + 300000000 <= $WM`,
			"device_alerts": `WITH w AS (SELECT device_id, temperature, event_time * 1000 - (event_time * 1000) % 300000000 AS ws FROM src)
SELECT device_id, ws, ws + 300000000, avg(temperature), 'high_temperature'
FROM w GROUP BY ws, device_id HAVING avg(temperature) > 75.0 AND ws + 300000000 <= $WM`,
		},
		// Each device runs near its own temperature (60 to 85 degrees),
		// with noise; three decimals.
		gen: func(g *generator, i int, dst []byte) ([]byte, int64) {
			ms := g.at(i)
			base := 60 + 25*float64(i%len(g.keys))/float64(len(g.keys))
			temp := math.Round((base+4*g.rng.NormFloat64())*1000) / 1000
			dst = append(dst, `{"device_id": "`...)
			dst = append(dst, g.key(i)...)
			dst = append(dst, `", "temperature": `...)
			dst = strconv.AppendFloat(dst, temp, 'f', 3, 64)
			dst = append(dst, `, "event_time": `...)
			dst = strconv.AppendInt(dst, ms, 10)
			return append(dst, '}'), ms * 1000
		},
	}, {
		Name: "fraud", File: "queries/examples/fraud.sql", Topic: "transactions", Sink: "suspicious_users", DelayMs: 30_000,
		From: `read_json($FILE, format = 'newline_delimited',
	columns = {user_id: 'VARCHAR', amount: 'DOUBLE', ts: 'BIGINT'})`,
		Duck: map[string]string{"suspicious_users": `WITH w AS (
	SELECT user_id, amount,
		unnest(generate_series(ts * 1000 - (ts * 1000) % 60000000 - 540000000, ts * 1000 - (ts * 1000) % 60000000, 60000000)) AS ws
	FROM src)
SELECT user_id, ws, ws + 600000000, count(*)::BIGINT, sum(amount)
FROM w GROUP BY user_id, ws HAVING count(*) > 5 AND ws + 600000000 <= $WM`},
		// Every other transaction is a busy user's (one of the first
		// thousand), the others go round all users: some users pass 5
		// transactions in 10 minutes whatever the number of users. Amounts
		// with cents, one in a hundred null.
		gen: func(g *generator, i int, dst []byte) ([]byte, int64) {
			ms := g.at(i)
			u := i / 2
			if i%2 == 1 {
				u = g.rng.IntN(min(len(g.keys), 1000))
			}
			dst = append(dst, `{"user_id": "`...)
			dst = append(dst, g.keys[u%len(g.keys)]...)
			dst = append(dst, `", "amount": `...)
			if g.rng.IntN(100) == 0 {
				dst = append(dst, "null"...)
			} else {
				dst = strconv.AppendFloat(dst, float64(50+g.rng.IntN(50000))/100, 'f', -1, 64)
			}
			dst = append(dst, `, "ts": `...)
			dst = strconv.AppendInt(dst, ms, 10)
			return append(dst, '}'), ms * 1000
		},
	}, {
		Name: "sessions", File: "queries/examples/sessions.sql", Topic: "clicks", Sink: "user_sessions", DelayMs: 5 * 60_000,
		From: `read_json($FILE, format = 'newline_delimited',
	columns = {user_id: 'VARCHAR', page: 'VARCHAR', ts: 'BIGINT'})`,
		// A session starts at a user's first click and at every click more
		// than 30 minutes after the previous one (Spark merges a click
		// into a session whose end, last click + gap, is at or after it).
		Duck: map[string]string{"user_sessions": `WITH r AS (SELECT user_id, page, ts * 1000 AS t FROM src),
g AS (SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY user_id ORDER BY t) <= 1800000000 THEN 0 ELSE 1 END AS brk FROM r),
s AS (SELECT *, sum(brk) OVER (PARTITION BY user_id ORDER BY t, brk DESC ROWS UNBOUNDED PRECEDING) AS sid FROM g)
SELECT user_id, min(t), max(t) + 1800000000, count(*)::BIGINT, approx_count_distinct(page)::BIGINT
FROM s GROUP BY user_id, sid HAVING max(t) + 1800000000 <= $WM`},
		// Users are active in alternate 50-minute periods (by the parity
		// of their number), so sessions end and new ones start; the page
		// is one of the site's or a product page, one in fifty null.
		gen: func(g *generator, i int, dst []byte) ([]byte, int64) {
			ms := g.at(i)
			u := i % len(g.keys)
			if (int((ms-t0)/(50*60_000))+u)%2 != 0 {
				u = (u + 1) % len(g.keys)
			}
			dst = append(dst, `{"user_id": "`...)
			dst = append(dst, g.keys[u]...)
			dst = append(dst, `", "page": `...)
			switch x := g.rng.IntN(100); {
			case x < 2:
				dst = append(dst, "null"...)
			case x < 60:
				dst = strconv.AppendQuote(dst, sitePages[g.rng.IntN(len(sitePages))])
			default:
				dst = append(dst, `"/product/`...)
				dst = strconv.AppendInt(dst, int64(1+int(math.Pow(g.rng.Float64(), 3)*3000)), 10)
				dst = append(dst, '"')
			}
			dst = append(dst, `, "ts": `...)
			dst = strconv.AppendInt(dst, ms, 10)
			return append(dst, '}'), ms * 1000
		},
	}} {
		Workloads[w.Name] = w
	}
}

// plusOne is a fixed +01:00 zone for ISO times with an offset.
var plusOne = time.FixedZone("", 3600)

// sitePages are the clicks example's site pages.
var sitePages = []string{"/", "/cart", "/checkout", "/search", "/login", "/account", "/help", "/offers",
	"/category/books", "/category/games", "/category/garden", "/category/music"}
