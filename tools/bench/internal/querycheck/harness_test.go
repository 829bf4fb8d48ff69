package querycheck

import (
	"cmp"
	"database/sql"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/plan"
	qsql "github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// queriesDir is the repository's queries/ folder, from this package.
const queriesDir = "../../../../queries"

// partitions is the number of Kafka partitions the input is spread over.
const partitions = 3

// event is one generated record.
type event struct {
	value []byte
	key   string // what a keyed producer would partition by
	t     int64  // event time, micros since the epoch
	// arrival orders the records as the broker receives them.
	arrival int64
	// reject is the reason the engine must reject the record with ("" for
	// a good record); t is then only where it arrives, and the record
	// holds another time or none.
	reject string
	// engineOnly keeps the record out of DuckDB's file: it is not JSON
	// of the source's shape (the decoder rejects it).
	engineOnly bool
}

// input is the records of one run, as the engine and DuckDB read them.
type input struct {
	events  []event           // in arrival order
	batches [][]decode.Record // micro-batches, in order
	index   [][]int           // the index in events of each record of batches
	maxT    int64             // the greatest event time of a good record, micros
	file    string            // the values, one per line, for DuckDB
	// now is current_timestamp() of the run (micros): by default an hour
	// after the greatest event time.
	now int64
}

// arrange orders evs as they reach the broker and cuts micro-batches:
// each record arrives up to 0.9·delayMs after its event time, so that no
// record is older than the watermark of the batch that reads it (the
// watermark is at most the greatest event time read before, minus delayMs).
// Its arrival is its offset's Kafka timestamp.
// keyed spreads records over the partitions by key (Kafka's default for
// keyed records), otherwise at random. A micro-batch takes the next ~batch
// records in arrival order, per partition (as a Kafka fetch returns them),
// in runs of at most 100 records of one partition after another.
func arrange(t testing.TB, rng *rand.Rand, evs []event, delayMs int64, keyed bool, batch int, topic string) *input {
	t.Helper()
	for i := range evs {
		evs[i].arrival = evs[i].t
		if delayMs > 0 {
			evs[i].arrival += rng.Int64N(delayMs * 900)
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.arrival, b.arrival) })
	in := &input{events: evs}
	recs := make([]decode.Record, len(evs))
	var offsets [partitions]int64
	for i, e := range evs {
		var p int32
		if keyed {
			h := fnv.New32a()
			h.Write([]byte(e.key))
			p = int32(h.Sum32() % partitions)
		} else {
			p = rng.Int32N(partitions)
		}
		recs[i] = decode.Record{Value: e.value, Topic: topic, Partition: p, Offset: offsets[p], TimestampMs: e.arrival / 1000}
		offsets[p]++
		if e.reject == "" {
			in.maxT = max(in.maxT, e.t)
		}
	}
	in.now = in.maxT + 3_600_000_000
	for lo := 0; lo < len(recs); {
		n := batch*4/5 + rng.IntN(batch*2/5+1)
		hi := min(len(recs), lo+n)
		var per [partitions][]int
		for i := lo; i < hi; i++ {
			per[recs[i].Partition] = append(per[recs[i].Partition], i)
		}
		b := make([]decode.Record, 0, hi-lo)
		idx := make([]int, 0, hi-lo)
		for len(b) < hi-lo {
			for p := range per {
				k := min(len(per[p]), 1+rng.IntN(100))
				for _, i := range per[p][:k] {
					b = append(b, recs[i])
					idx = append(idx, i)
				}
				per[p] = per[p][k:]
			}
		}
		in.batches = append(in.batches, b)
		in.index = append(in.index, idx)
		lo = hi
	}
	var sb strings.Builder
	for _, e := range evs {
		if e.engineOnly {
			continue
		}
		sb.Write(e.value)
		sb.WriteByte('\n')
	}
	in.file = filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(in.file, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

// compile parses and compiles a query file for streaming and returns the
// query of the sink named sink.
func compile(t testing.TB, file, sink string) *plan.Query {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := qsql.Parse(file, string(text))
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	p, err := plan.Compile(s, plan.Streaming)
	if err != nil {
		t.Fatalf("compile %s: %v", file, err)
	}
	for _, q := range p.Queries {
		if q.Name == sink {
			return q
		}
	}
	t.Fatalf("%s has no sink %s", file, sink)
	return nil
}

// run is what the engine produced over an input.
type run struct {
	q        *plan.Query
	rows     [][]any // the sink's rows in the end (see runEngine)
	rejected []rejection
	// watermark is NextWatermark after the last batch (micros); late is the
	// rows the aggregation dropped as late over the whole run.
	watermark  int64
	late       int64
	batches    int // batches run, no-data batches included
	noData     int
	inputTaken int // records that passed decoding and the CHECK constraints
}

// rejection is a rejected record: its index in in.events and the reason.
type rejection struct {
	event  int
	reason string
}

// runEngine runs q over in's micro-batches with current_timestamp() at
// nowMicros, and after the last one the no-data batches the aggregation
// asks for (Spark runs one when no data is waiting and the watermark
// closes windows); with noDataBetween, also after every batch that asks for
// one, as a driver that finds the broker idle between fetches would. It
// returns the sink's rows in the end: the union of every batch's rows in
// append mode, the last batch's rows in complete mode, the last version of
// each key (the columns keyCols of the output) in update mode.
func runEngine(t testing.TB, q *plan.Query, in *input, nowMicros int64, keyCols []int, noDataBetween bool) *run {
	t.Helper()
	x, err := q.NewExecutor()
	if err != nil {
		t.Fatal(err)
	}
	r := &run{q: q}
	latest := map[string][]any{}
	var order []string
	take := func(out *plan.Output) {
		r.batches++
		r.late += out.Stats.NumRowsDroppedByWatermark
		r.watermark = out.Stats.NextWatermark
		r.inputTaken += out.NumInput
		rows := batchRows(out.Rows)
		switch q.Sink.Mode {
		case "append":
			r.rows = append(r.rows, rows...)
		case "complete":
			r.rows = rows
		case "update":
			for _, row := range rows {
				k := fmt.Sprint(pick(row, keyCols)...)
				if _, ok := latest[k]; !ok {
					order = append(order, k)
				}
				latest[k] = row
			}
		default:
			t.Fatalf("query %s: output mode %q", q.Name, q.Sink.Mode)
		}
	}
	for i, b := range in.batches {
		out, err := x.Process(b, nowMicros)
		if err != nil {
			t.Fatalf("query %s: batch %d: %v", q.Name, r.batches, err)
		}
		for _, rj := range out.Rejected {
			r.rejected = append(r.rejected, rejection{event: in.index[i][rj.Index], reason: rj.Reason})
		}
		take(out)
		if !noDataBetween && i < len(in.batches)-1 {
			continue
		}
		for n := 0; out.Stats.NeedsNoDataBatch; n++ {
			if n == 3 {
				t.Fatalf("query %s: the engine still asks for a no-data batch after %d", q.Name, n)
			}
			if out, err = x.Process(nil, nowMicros); err != nil {
				t.Fatalf("query %s: no-data batch: %v", q.Name, err)
			}
			r.noData++
			take(out)
		}
	}
	if q.Sink.Mode == "update" {
		for _, k := range order {
			r.rows = append(r.rows, latest[k])
		}
	}
	return r
}

func pick(row []any, cols []int) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = row[c]
	}
	return out
}

// batchRows converts a batch to rows of Go values: string, bool, int64
// (BIGINT, INT, DECIMAL unscaled, TIMESTAMP micros), float64, or nil.
// Strings are copied: a decoder may reuse its buffers.
func batchRows(b *types.Batch) [][]any {
	rows := make([][]any, b.N)
	for i := range rows {
		row := make([]any, len(b.Cols))
		for c, v := range b.Cols {
			if v.IsNull(i) {
				continue
			}
			switch k := v.Type.Kind; {
			case k == types.String:
				row[c] = strings.Clone(v.Str[i])
			case k == types.Boolean:
				row[c] = v.Bool[i]
			case k == types.Double:
				row[c] = v.F64[i]
			case v.Type.UsesI64():
				row[c] = v.I64[i]
			}
		}
		rows[i] = row
	}
	return rows
}

// duckDB opens an in-memory DuckDB on one thread, with the input file as
// the table src read by from (a DuckDB table function over '$FILE').
func duckDB(t testing.TB, file, from string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	from = strings.ReplaceAll(from, "$FILE", "'"+strings.ReplaceAll(file, "'", "''")+"'")
	for _, q := range []string{"SET threads = 1", "CREATE TABLE src AS SELECT * FROM " + from} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("duckdb: %s: %v", q, err)
		}
	}
	return db
}

// duckRows runs query and returns its rows as batchRows does (DuckDB's
// BIGINT, DOUBLE, VARCHAR and BOOLEAN; HUGEINT that fits in int64).
func duckRows(t testing.TB, db *sql.DB, query string) [][]any {
	t.Helper()
	rs, err := db.Query(query)
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, query)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	for rs.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range row {
			switch x := v.(type) {
			case int32:
				row[i] = int64(x)
			case int16:
				row[i] = int64(x)
			case int8:
				row[i] = int64(x)
			case *big.Int:
				if !x.IsInt64() {
					t.Fatalf("duckdb: column %s: %s does not fit in BIGINT", cols[i], x)
				}
				row[i] = x.Int64()
			}
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// relTol is how far apart a DOUBLE of the engine and DuckDB's may be,
// relative to the larger: both add the same values in another order (the
// engine per partition, then the partitions in order; DuckDB in its own),
// so sums and averages may differ in the last bits.
const relTol = 1e-9

// compareOpts says how the columns of a query compare beyond their types.
type compareOpts struct {
	// ordered compares the rows in order (the query has ORDER BY).
	ordered bool
}

// compareRows fails t with a readable diff unless the engine's rows and
// DuckDB's are the same multiset (or list, when ordered), each value
// compared by the type of its column in schema.
func compareRows(t testing.TB, schema types.Schema, engine, duck [][]any, o compareOpts) {
	t.Helper()
	loose := make([]bool, len(schema)) // compared within a tolerance
	for i, f := range schema {
		loose[i] = f.Type.Kind == types.Double
	}
	for _, rows := range [][][]any{engine, duck} {
		for _, r := range rows {
			if len(r) != len(schema) {
				t.Fatalf("a row has %d columns, the query's output %d (%s): %v", len(r), len(schema), schema, r)
			}
		}
	}
	exactKey := func(r []any) string {
		var b strings.Builder
		for i, v := range r {
			if !loose[i] {
				fmt.Fprintf(&b, "%T:%v\x1f", v, v)
			}
		}
		return b.String()
	}
	same := func(e, d []any) bool {
		for i := range e {
			if !sameValue(e[i], d[i]) {
				return false
			}
		}
		return true
	}
	var missing, extra [][]any // DuckDB's rows the engine lacks; the engine's DuckDB lacks
	var differ [][2][]any
	if o.ordered {
		for i := 0; i < max(len(engine), len(duck)); i++ {
			switch {
			case i >= len(engine):
				missing = append(missing, duck[i])
			case i >= len(duck):
				extra = append(extra, engine[i])
			case !same(engine[i], duck[i]):
				differ = append(differ, [2][]any{engine[i], duck[i]})
			}
		}
	} else {
		byKey := map[string][][]any{}
		for _, r := range duck {
			k := exactKey(r)
			byKey[k] = append(byKey[k], r)
		}
		for _, e := range engine {
			k := exactKey(e)
			cands := byKey[k]
			if len(cands) == 0 {
				extra = append(extra, e)
				continue
			}
			j := slices.IndexFunc(cands, func(d []any) bool { return same(e, d) })
			if j < 0 {
				differ = append(differ, [2][]any{e, cands[0]})
				j = 0
			}
			byKey[k] = slices.Delete(cands, j, j+1)
		}
		keys := make([]string, 0, len(byKey))
		for k, rs := range byKey {
			if len(rs) > 0 {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			missing = append(missing, byKey[k]...)
		}
	}
	if len(missing)+len(extra)+len(differ) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the engine's rows differ from DuckDB's: engine %d rows, DuckDB %d; %d differ, %d only in DuckDB, %d only in the engine\ncolumns: %s\n",
		len(engine), len(duck), len(differ), len(missing), len(extra), schema)
	const show = 5
	for i, d := range differ[:min(show, len(differ))] {
		fmt.Fprintf(&b, "differs #%d:\n  engine: %s\n  duckdb: %s\n", i+1, formatRow(schema, d[0]), formatRow(schema, d[1]))
	}
	for _, r := range missing[:min(show, len(missing))] {
		fmt.Fprintf(&b, "only in DuckDB: %s\n", formatRow(schema, r))
	}
	for _, r := range extra[:min(show, len(extra))] {
		fmt.Fprintf(&b, "only in the engine: %s\n", formatRow(schema, r))
	}
	t.Error(b.String())
}

// sameValue compares an engine value with DuckDB's.
func sameValue(e, d any) bool {
	if e == nil || d == nil {
		return e == nil && d == nil
	}
	if ef, ok := e.(float64); ok {
		df, ok := d.(float64)
		if !ok {
			return false
		}
		if ef == df || math.IsNaN(ef) && math.IsNaN(df) {
			return true
		}
		return math.Abs(ef-df) <= relTol*max(math.Abs(ef), math.Abs(df))
	}
	return e == d
}

// formatRow renders a row with its column names, timestamps as UTC times
// and decimals with their scale.
func formatRow(schema types.Schema, r []any) string {
	parts := make([]string, len(r))
	for i, v := range r {
		s := fmt.Sprintf("%v", v)
		switch x := v.(type) {
		case nil:
			s = "NULL"
		case string:
			s = strconv.Quote(x)
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		case int64:
			switch f := schema[i].Type; f.Kind {
			case types.Timestamp:
				s = time.UnixMicro(x).UTC().Format("2006-01-02T15:04:05.000000Z")
			case types.Decimal:
				s = decimalText(x, int(f.Scale))
			}
		}
		parts[i] = schema[i].Name + "=" + s
	}
	return strings.Join(parts, ", ")
}

func decimalText(unscaled int64, scale int) string {
	neg := unscaled < 0
	u := strconv.FormatUint(uint64(max(unscaled, -unscaled)), 10)
	if scale == 0 {
		return map[bool]string{true: "-", false: ""}[neg] + u
	}
	if len(u) <= scale {
		u = strings.Repeat("0", scale-len(u)+1) + u
	}
	s := u[:len(u)-scale] + "." + u[len(u)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

// checkRun asserts what every windowed run must show for the comparison to
// be exact: no late row, and the final watermark at the greatest event
// time less the delay.
func checkRun(t testing.TB, r *run, in *input, delayMs int64) {
	t.Helper()
	if r.late != 0 {
		t.Errorf("query %s: %d rows dropped as late; the input has none", r.q.Name, r.late)
	}
	if want := in.maxT - delayMs*1000; r.watermark != want {
		t.Errorf("query %s: final watermark %s, want %s (the greatest event time %s less %d ms)", r.q.Name,
			time.UnixMicro(r.watermark).UTC(), time.UnixMicro(want).UTC(), time.UnixMicro(in.maxT).UTC(), delayMs)
	}
}

// atLeast fails t unless DuckDB's reference has at least n rows, so that a
// comparison is never between two empty results.
func atLeast(t testing.TB, what string, rows [][]any, n int) {
	t.Helper()
	if len(rows) < n {
		t.Fatalf("%s: DuckDB has %d rows, the input was meant to give at least %d", what, len(rows), n)
	}
}

// size picks the number of records: n, or n/8 with -short.
func size(n int) int {
	if testing.Short() {
		return n / 8
	}
	return n
}

// checkRejected asserts that the engine rejected exactly the records
// generated to be rejected, each with its reason.
func checkRejected(t testing.TB, r *run, in *input) {
	t.Helper()
	got := map[int]string{}
	for _, rj := range r.rejected {
		if prev, dup := got[rj.event]; dup {
			t.Errorf("query %s: record %s rejected twice (%s, %s)", r.q.Name, in.events[rj.event].value, prev, rj.reason)
		}
		got[rj.event] = rj.reason
	}
	bad := 0
	for i, e := range in.events {
		if g := got[i]; g != e.reject {
			if bad++; bad <= 5 {
				switch {
				case e.reject == "":
					t.Errorf("query %s: good record %q rejected as %s", r.q.Name, e.value, g)
				case g == "":
					t.Errorf("query %s: record %q taken, want it rejected as %s", r.q.Name, e.value, e.reject)
				default:
					t.Errorf("query %s: record %q rejected as %s, want %s", r.q.Name, e.value, g, e.reject)
				}
			}
		}
	}
	if bad > 5 {
		t.Errorf("query %s: %d records in all rejected or taken wrongly", r.q.Name, bad)
	}
	if taken := len(in.events) - len(got); r.inputTaken != taken {
		t.Errorf("query %s: %d records taken into the query, want %d", r.q.Name, r.inputTaken, taken)
	}
}
