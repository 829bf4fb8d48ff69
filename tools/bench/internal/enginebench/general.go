package enginebench

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/plan"
	qsql "github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/querygen"
)

// partitions is the number of Kafka partitions the records are spread
// over, 500 records at a time, as the streamer's pipeline benchmark does.
const partitions = 3

// general is a compiled query and the workload that feeds it.
type general struct {
	w *querygen.Workload
	q *plan.Query
}

// loadQuery compiles the query file name (a workload's name or a path to a
// .sql file) for streaming and picks its sink (the workload's default when
// sink is empty). A file of the user's own is fed by the workload whose
// topic its sink's source reads.
func loadQuery(root, name, sink string) (*general, error) {
	w, ok := querygen.Workloads[name]
	file := name
	if ok {
		file = filepath.Join(root, w.File)
	} else if !strings.HasSuffix(name, ".sql") {
		return nil, fmt.Errorf("-query %s: not a .sql file nor one of %s", name, strings.Join(querygen.Names(), ", "))
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-query: %w", err)
	}
	s, err := qsql.Parse(file, string(text))
	if err != nil {
		return nil, err
	}
	p, err := plan.Compile(s, plan.Streaming)
	if err != nil {
		return nil, err
	}
	if sink == "" && w != nil {
		sink = w.Sink
	}
	var names []string
	for _, q := range p.Queries {
		names = append(names, q.Name)
		if sink != "" && !strings.EqualFold(q.Name, sink) {
			continue
		}
		if q.Source.Kind != plan.Stream {
			return nil, fmt.Errorf("%s: sink %s reads a table, not a stream", file, q.Name)
		}
		topic := q.Source.Options["topic"]
		if w == nil {
			if w, ok = querygen.ByTopic(topic); !ok {
				return nil, fmt.Errorf("%s: sink %s reads topic %s: no generator writes it (the generators write %s)", file, q.Name, topic, topicList())
			}
		} else if w.Topic != topic {
			return nil, fmt.Errorf("%s: sink %s reads topic %s, the %s generator writes %s", file, q.Name, topic, w.Name, w.Topic)
		}
		return &general{w: w, q: q}, nil
	}
	return nil, fmt.Errorf("%s has no sink %q (it has %s)", file, sink, strings.Join(names, ", "))
}

func topicList() string {
	var t []string
	for _, n := range querygen.Names() {
		t = append(t, querygen.Workloads[n].Topic)
	}
	return strings.Join(t, ", ")
}

// readRecords reads a generated file back as Kafka records, one a line, in
// order: 500 records to a partition at a time, offsets per partition, the
// Kafka timestamp nowMs.
func readRecords(path, topic string, nowMs int64) ([]decode.Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	recs := make([]decode.Record, 0, bytes.Count(b, []byte{'\n'}))
	var offsets [partitions]int64
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		p := int32(len(recs) / 500 % partitions)
		recs = append(recs, decode.Record{Value: line[:len(line):len(line)], Topic: topic, Partition: p,
			Offset: offsets[p], TimestampMs: nowMs})
		offsets[p]++
	}
	return recs, nil
}

// engineRun is what one timed pass of the engine did.
type engineRun struct {
	wall, cpu time.Duration
	rows      int64 // the rows the sink holds in the end (see passRows)
	batches   int   // no-data batches included
	noData    int
	// peakHeap is the greatest heap (bytes of heap objects, live or
	// garbage not yet collected) seen after any batch, less the heap
	// before the pass (the input records); it follows the GC's pacing.
	// peakLive is the greatest live heap (as the last GC marked it) less
	// the live heap before the pass: the state and the buffers kept.
	peakHeap, peakLive uint64
	// stateRows and stateBytes are the aggregation's state at its
	// largest (agg.Stats: rows and its estimate of their heap bytes).
	stateRows, stateBytes int64
	mallocs               uint64
}

// The runtime metrics of the heap: all objects, and the live ones as the
// last GC marked them.
var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes"}

// runEngine runs the query over recs in micro-batches of batch records
// with a fresh executor, then the no-data batches it asks for. The timed
// part is the executor's creation and every Process call: decoding the
// records' values, the query's operators and the aggregation, as the
// streamer's pipeline benchmark times decoding and the engine. Reading the
// file into records is not timed.
//
// The sink's rows are counted as it would hold them: every batch's rows in
// append mode, the last batch's in complete mode; in update mode the rows
// of every batch (versions of a row are counted once per batch that
// changes it).
func runEngine(q *plan.Query, recs []decode.Record, batch int, nowMicros int64) (engineRun, error) {
	var r engineRun
	sample := make([]metrics.Sample, len(heapMetrics))
	for i, m := range heapMetrics {
		sample[i].Name = m
	}
	heap := func() (objects, live uint64) {
		metrics.Read(sample)
		for _, s := range sample {
			if s.Value.Kind() != metrics.KindUint64 {
				return 0, 0
			}
		}
		return sample[0].Value.Uint64(), sample[1].Value.Uint64()
	}
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	base, baseLive := heap()
	peak, peakLive := base, baseLive
	c0, t0 := processCPU(), time.Now()

	x, err := q.NewExecutor()
	if err != nil {
		return r, err
	}
	if q.Sink.Connector == "console" {
		// As the streamer runs a console's query: it prints the first
		// numRows rows (20) and its live page keeps the first 100, so
		// only those need ORDER BY's order; every row is still emitted.
		x.ReadsFirst(100)
	}
	take := func(out *plan.Output) {
		r.batches++
		switch n := int64(out.Rows.N); q.Sink.Mode {
		case "complete":
			r.rows = n
		default:
			r.rows += n
		}
		if out.Stats.NumRowsTotal > r.stateRows {
			r.stateRows, r.stateBytes = out.Stats.NumRowsTotal, out.Stats.MemoryUsedBytes
		}
		o, l := heap()
		peak, peakLive = max(peak, o), max(peakLive, l)
	}
	var rejected []plan.Rejected
	for lo := 0; lo < len(recs); lo += batch {
		out, err := x.Process(recs[lo:min(lo+batch, len(recs))], nowMicros)
		if err != nil {
			return r, fmt.Errorf("batch %d: %w", r.batches, err)
		}
		if len(out.Rejected) > 0 && len(rejected) < 5 {
			for _, rj := range out.Rejected {
				rj.Index += lo
				rejected = append(rejected, rj)
			}
		}
		take(out)
		if lo+batch >= len(recs) {
			for out.Stats.NeedsNoDataBatch {
				if r.noData == 3 {
					return r, fmt.Errorf("the engine still asks for a no-data batch after %d", r.noData)
				}
				if out, err = x.Process(nil, nowMicros); err != nil {
					return r, fmt.Errorf("no-data batch: %w", err)
				}
				r.noData++
				take(out)
			}
		}
	}
	r.wall, r.cpu = time.Since(t0), processCPU()-c0
	runtime.ReadMemStats(&ms1)
	runtime.KeepAlive(x)
	r.mallocs = ms1.Mallocs - ms0.Mallocs
	r.peakHeap, r.peakLive = peak-base, peakLive-baseLive
	if len(rejected) > 0 {
		rj := rejected[0]
		return r, fmt.Errorf("the engine rejected generated records (the benchmark would time less than the input), e.g. record %d %q: %s %s %s",
			rj.Index, recs[rj.Index].Value, rj.Reason, rj.Field, rj.Detail)
	}
	return r, nil
}

// duckRun is what DuckDB's computation of the query did.
type duckRun struct {
	wall, cpu time.Duration
	rows      int64
}

// runDuck computes the query in DuckDB (its database opened with one
// thread) from the file and stores its rows in a temporary table, so that
// every output column is computed (a count over the query alone would let
// DuckDB drop the aggregates nobody reads). The timed part is that one
// statement: reading the file, the query, storing the rows.
func runDuck(ctx context.Context, db *sql.DB, query string) (duckRun, error) {
	var r duckRun
	if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS bench_out"); err != nil {
		return r, fmt.Errorf("duckdb: %w", err)
	}
	runtime.GC()
	c0, t0 := processCPU(), time.Now()
	if _, err := db.ExecContext(ctx, "CREATE TEMP TABLE bench_out AS "+query); err != nil {
		return r, fmt.Errorf("duckdb: %w\n%s", err, query)
	}
	r.wall, r.cpu = time.Since(t0), processCPU()-c0
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM bench_out").Scan(&r.rows); err != nil {
		return r, fmt.Errorf("duckdb: %w", err)
	}
	return r, nil
}

// openDuck opens an in-memory DuckDB on one connection and one thread.
func openDuck() (*sql.DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET threads = 1"); err != nil {
		db.Close()
		return nil, fmt.Errorf("duckdb: set threads: %w", err)
	}
	return db, nil
}

// sameRows checks that the engine and DuckDB computed the same thing: the
// same number of rows, except in update mode, where the engine emits a
// row again each batch that changes it and DuckDB has each row once.
func sameRows(mode string, engine, duck int64) error {
	if mode == "update" {
		if engine < duck {
			return fmt.Errorf("the engine emitted %d rows in update mode, fewer than the %d distinct rows DuckDB computed", engine, duck)
		}
		return nil
	}
	if engine != duck {
		return fmt.Errorf("the engine's sink holds %d rows, DuckDB computed %d: the two do not compute the same thing", engine, duck)
	}
	return nil
}

// runGeneral is the benchmark of the general engine on one query.
func runGeneral(ctx context.Context, cfg Config, stdout io.Writer) error {
	fmt.Fprintf(stdout, "machine: %s\n", harness.DescribeMachine())
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	g, err := loadQuery(root, cfg.Query, cfg.Sink)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "sensorlab-enginebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	path := filepath.Join(work, g.w.Name+".input")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	info, err := g.w.Write(f, cfg.Readings, cfg.Keys, 1)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// current_timestamp() an hour past the data: nothing is in the future.
	nowMicros := info.MaxEventTime + 3_600_000_000
	if g.w.Text {
		nowMicros = time.Now().UnixMicro()
	}
	dq, ok := g.w.DuckSQL(g.q.Name, path, info)
	if !ok {
		return fmt.Errorf("no DuckDB query for sink %s of %s", g.q.Name, g.w.Name)
	}
	recs, err := readRecords(path, g.w.Topic, nowMicros/1000)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "query %s, sink %s (%s mode): %d records of %d keys, %.1f MB (%.0f bytes per record), micro-batches of %d\n",
		g.w.Name, g.q.Name, g.q.Sink.Mode, len(recs), cfg.Keys, float64(info.Bytes)/1e6, float64(info.Bytes)/float64(len(recs)), cfg.Batch)

	db, err := openDuck()
	if err != nil {
		return err
	}
	defer db.Close()

	var engWall, engCPU, duckWall, duckCPU, ratioCPU, ratioWall, heaps, lives, allocs []float64
	var last engineRun
	var duckRows int64
	n := int64(len(recs))
	for run := range cfg.Runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := runDuck(ctx, db, dq)
		if err != nil {
			return err
		}
		duckRows = d.rows
		if d.rows == 0 {
			return fmt.Errorf("DuckDB computed no rows for sink %s: the input closes no window (give more -readings)", g.q.Name)
		}
		stop := func() {}
		if cfg.CPUProfile != "" {
			stop, err = startProfile(cfg.CPUProfile, run)
			if err != nil {
				return err
			}
		}
		e, err := runEngine(g.q, recs, cfg.Batch, nowMicros)
		stop()
		if err != nil {
			return fmt.Errorf("query %s: %w", g.q.Name, err)
		}
		if err := sameRows(g.q.Sink.Mode, e.rows, d.rows); err != nil {
			return err
		}
		last = e
		engWall, engCPU = append(engWall, harness.PerSec(n, e.wall)), append(engCPU, harness.PerSec(n, e.cpu))
		duckWall, duckCPU = append(duckWall, harness.PerSec(n, d.wall)), append(duckCPU, harness.PerSec(n, d.cpu))
		ratioWall = append(ratioWall, engWall[run]/duckWall[run])
		ratioCPU = append(ratioCPU, engCPU[run]/duckCPU[run])
		heaps, lives = append(heaps, float64(e.peakHeap)), append(lives, float64(e.peakLive))
		allocs = append(allocs, float64(e.mallocs)/float64(n))
		fmt.Fprintf(stdout, "run %d: engine %.0f, DuckDB %.0f records/s (wall): %.2fx; per CPU-second %.0f, %.0f: %.2fx; %d rows\n",
			run+1, engWall[run], duckWall[run], ratioWall[run], engCPU[run], duckCPU[run], ratioCPU[run], e.rows)
	}

	fmt.Fprintf(stdout, "\nmedians of %d runs; %d rows from each (DuckDB %d); %d batches, %d without data\n\n",
		cfg.Runs, last.rows, duckRows, last.batches, last.noData)
	fmt.Fprintln(stdout, "| figure | general engine (decode + query) | DuckDB read_json + query, threads=1 | ratio |")
	fmt.Fprintln(stdout, "| --- | ---: | ---: | ---: |")
	fmt.Fprintf(stdout, "| records/s (wall) | %.0f | %.0f | %.2fx |\n", harness.Median(engWall), harness.Median(duckWall),
		harness.Median(engWall)/harness.Median(duckWall))
	fmt.Fprintf(stdout, "| records per CPU-second | %.0f | %.0f | %.2fx |\n", harness.Median(engCPU), harness.Median(duckCPU),
		harness.Median(engCPU)/harness.Median(duckCPU))
	fmt.Fprintf(stdout, "| peak heap above the input (live + not yet collected) | %.1f MiB | | |\n", harness.Median(heaps)/(1<<20))
	fmt.Fprintf(stdout, "| peak live heap above the input (at GCs) | %.1f MiB | | |\n", harness.Median(lives)/(1<<20))
	fmt.Fprintf(stdout, "| allocations per record | %.3f | | |\n", harness.Median(allocs))
	if last.stateRows > 0 {
		fmt.Fprintf(stdout, "| state rows at most (est. bytes per row) | %d (%.0f) | | |\n",
			last.stateRows, float64(last.stateBytes)/float64(last.stateRows))
	}
	fmt.Fprintf(stdout, "\nper-run ratio (each run's pair): wall median %.2fx, CPU median %.2fx, range %.2fx-%.2fx\n",
		harness.Median(ratioWall), harness.Median(ratioCPU), slices.Min(ratioCPU), slices.Max(ratioCPU))
	fmt.Fprintf(stdout, "\ntargets (issue 16): engine >= 2x DuckDB (threads=1) for every query; the seed query at 20 keys >= 3.5x\n")
	return nil
}

// startProfile starts a CPU profile of the engine's pass of run: the file
// as given for the first run, file.2, file.3, … for the next ones (go tool
// pprof takes several and adds them up).
func startProfile(file string, run int) (func(), error) {
	if run > 0 {
		file = fmt.Sprintf("%s.%d", file, run+1)
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
