// Package batchbench is the batch benchmark (cmd/batchbench): on a lake
// whose Delta table stream holds many small window files, one commit each,
// as the streamer leaves it, it times the batcher binary (which reads the
// table's snapshot: the checkpoint and the commits after it, then the live
// files, and commits its result to the Delta table batch/agg_desde_stream)
// and DuckDB (one thread, and its default of one per core) computing the
// same consolidation from the same local files, checks that they agree,
// then compacts the table with `batcher optimize` and times both again.
//
// DuckDB has no delta extension here: it reads the snapshot's live file
// list, read_parquet(['…', '…']), which the harness takes from the log
// (outside DuckDB's timing), so DuckDB is spared reading the log.
//
// With -lake minio the same table, object for object, is also uploaded to a
// bucket of the lab's MinIO (in a local container) and the batcher is timed
// on it too, in every run, reading the log and the files over S3 and
// committing there; DuckDB has no httpfs here and keeps reading the local
// copy. The file lake stays the like-for-like pair; the MinIO batcher is an
// extra column against the same DuckDB times. Each lake is optimized by its
// own `batcher optimize`.
package batchbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/tools/bench/internal/benchlake"
	"github.com/sensorlab/sensorlab/tools/bench/internal/duck"
	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/lakegen"
)

// Config is the benchmark's configuration (flags only: it is a dev tool).
type Config struct {
	Spec    lakegen.Spec
	Runs    int
	Batcher string // a built batcher binary; empty builds it
	Keep    bool   // keep the work directory (the optimized lake) for profiling
	Lake    string // benchlake.File, or benchlake.MinIO to time the batcher on MinIO too
}

func parse(args []string, stderr io.Writer) (Config, error) {
	c := Config{Spec: lakegen.Spec{Start: time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)}}
	fs := flag.NewFlagSet("batchbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.Spec.Files, "files", 3000, "window files (streamer batches) in the lake")
	fs.IntVar(&c.Spec.Sensors, "sensors", 20, "sensors per window")
	fs.IntVar(&c.Spec.WindowsPerFile, "windows-per-file", 1, "10 s windows per file")
	fs.IntVar(&c.Runs, "runs", 5, "runs of each reader (medians are reported)")
	fs.StringVar(&c.Batcher, "batcher", "", "batcher binary (default: go build it from the checkout)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the lake (optimized) and print its directory, to profile the batcher on it")
	fs.StringVar(&c.Lake, "lake", benchlake.File, "file: the batcher and DuckDB read a local lake; minio: the batcher is also timed on a copy of it in the lab's MinIO (a container)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if c.Spec.Files <= 1 || c.Spec.Sensors <= 0 || c.Spec.WindowsPerFile <= 0 || c.Runs <= 0 {
		errs = append(errs, errors.New("-files must be > 1; -sensors, -windows-per-file and -runs > 0"))
	}
	if c.Spec.Files*c.Spec.WindowsPerFile > 8640 {
		errs = append(errs, errors.New("-files x -windows-per-file must fit one day (8640 windows): one partition"))
	}
	if _, err := benchlake.ParseKind(c.Lake); err != nil {
		errs = append(errs, fmt.Errorf("-lake: %w", err))
	}
	return c, errors.Join(errs...)
}

// Main runs the benchmark and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "batchbench:", err)
		return 2
	}
	if err := run(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "batchbench:", err)
		return 1
	}
	return 0
}

// Times are one reading of the lake by each reader (medians over runs).
//
// Two pairs compare like with like: cold, a batcher process that runs once
// against DuckDB in a database opened for the query (Duck1Cold); warm, a
// long-running batcher (--interval) against a DuckDB database that has
// already run the query (Duck1, DuckAll).
type Times struct {
	// Batcher holds the batcher's times on each lake (by kind).
	Batcher   map[string]BatcherTimes
	Duck1     time.Duration // DuckDB, threads = 1, a warm database
	DuckAll   time.Duration // DuckDB, default threads, a warm database
	Duck1Cold time.Duration // DuckDB, threads = 1, open + query + close
}

// BatcherTimes are the batcher's times on one lake.
type BatcherTimes struct {
	Process time.Duration // process wall time
	CPU     time.Duration // process CPU time (user + system)
	Self    time.Duration // the batcher's own "consolidation done" duration
	Warm    time.Duration // a run of a long-running batcher (--interval), its own duration
	// ColdRatio is the median over runs of each run's batcher process wall
	// time over its DuckDB cold time (the two run back to back: a shared
	// host's drift cancels out of each pair).
	ColdRatio float64
	// Server is what the MinIO server did during the timed batcher
	// processes, summed over the runs (nil on a file lake).
	Server *benchlake.Server
}

// target is a lake the batcher is timed on.
type target struct {
	kind  string
	lk    benchlake.Lake
	lakes *benchlake.Lakes
}

func run(ctx context.Context, cfg Config, stdout io.Writer) error {
	fmt.Fprintf(stdout, "machine: %s\n", harness.DescribeMachine())
	work, err := os.MkdirTemp("", "sensorlab-batchbench-")
	if err != nil {
		return err
	}
	if cfg.Keep {
		fmt.Fprintf(stdout, "work directory (kept): %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	batcher := cfg.Batcher
	if batcher == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			return err
		}
		if batcher, err = harness.Build(ctx, root, "./services/batcher/cmd/batcher", work); err != nil {
			return err
		}
	}
	files, err := benchlake.Open(ctx, benchlake.File, work)
	if err != nil {
		return err
	}
	local, err := files.New(ctx, "lake")
	if err != nil {
		return err
	}
	targets := []target{{benchlake.File, local, files}}
	genStart := time.Now()
	rows, err := lakegen.Write(ctx, local.Store, cfg.Spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lake: Delta table stream, %d window files of %d rows (%d rows), one partition, one commit each (written in %v)\n",
		cfg.Spec.Files, cfg.Spec.Sensors*cfg.Spec.WindowsPerFile, rows, time.Since(genStart).Round(time.Millisecond))
	if cfg.Lake == benchlake.MinIO {
		ml, err := benchlake.Open(ctx, benchlake.MinIO, work)
		if err != nil {
			return err
		}
		defer ml.Close()
		remote, err := ml.New(ctx, "lake")
		if err != nil {
			return err
		}
		upStart := time.Now()
		n, err := benchlake.Copy(ctx, local.Store, remote.Store, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "the same lake on %s: %d objects uploaded in %v\n", ml, n, time.Since(upStart).Round(time.Millisecond))
		get, put, err := benchlake.RoundTrip(ctx, remote.Store, 50)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "MinIO round trip, 1 KiB, one request at a time (median of 50): GET %.1f ms, PUT %.1f ms\n",
			float64(get.Microseconds())/1000, float64(put.Microseconds())/1000)
		targets = append(targets, target{benchlake.MinIO, remote, ml})
		if err := snapshotCost(ctx, stdout, remote, ml); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "DuckDB has no delta extension here: it reads the snapshot's live files of the local lake, read_parquet([...]), listed from the Delta log outside its timing")
	d1, err := duck.Open(1)
	if err != nil {
		return err
	}
	defer d1.Close()
	dAll, err := duck.Open(0)
	if err != nil {
		return err
	}
	defer dAll.Close()
	if v, err := d1.Version(ctx); err == nil {
		fmt.Fprintf(stdout, "DuckDB %s\n", v)
	}

	before, err := measure(ctx, cfg, batcher, targets, d1, dAll, work)
	if err != nil {
		return fmt.Errorf("before optimize: %w", err)
	}
	for _, t := range targets {
		srv0, onMinIO, err := t.lakes.Server(ctx)
		if err != nil {
			return err
		}
		opt, err := harness.ExecEnv(ctx, batcher, []string{"optimize", "--lake", t.lk.URL, "--min-files", "2"}, t.lk.Env, nil)
		if err != nil {
			return fmt.Errorf("optimize on %s: %w", t.kind, err)
		}
		srv1, _, err := t.lakes.Server(ctx)
		if err != nil {
			return err
		}
		snap, err := delta.NewTable(t.lk.Store, lakegen.Table).Snapshot(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "batcher optimize on the %s lake: %d files into %d in %v (stream table version %d)\n",
			t.kind, cfg.Spec.Files, snap.NumFiles(), opt.Wall.Round(time.Millisecond), snap.Version())
		if onMinIO {
			d := srv1.Since(srv0)
			fmt.Fprintf(stdout, "  its S3 requests: %s; MinIO's CPU time: %v\n", benchlake.FormatRequests(d.Requests, 1), d.CPU)
			if err := snapshotCost(ctx, stdout, t.lk, t.lakes); err != nil {
				return err
			}
		}
	}
	after, err := measure(ctx, cfg, batcher, targets, d1, dAll, work)
	if err != nil {
		return fmt.Errorf("after optimize: %w", err)
	}
	report(stdout, cfg, targets, before, after)
	return nil
}

// snapshotCost reads the stream table's latest snapshot over S3 in the
// harness (lake/delta, as the batcher reads it) and prints the requests and
// time it took: the log's share of a batcher run on MinIO.
func snapshotCost(ctx context.Context, w io.Writer, lk benchlake.Lake, lakes *benchlake.Lakes) error {
	srv0, _, err := lakes.Server(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	snap, err := delta.NewTable(lk.Store, lakegen.Table).Snapshot(ctx)
	if err != nil {
		return err
	}
	took := time.Since(start)
	srv1, _, err := lakes.Server(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  a snapshot of the stream table (version %d, %d live files, %d tombstones) read over S3: %v, requests %s\n",
		snap.Version(), snap.NumFiles(), len(snap.Tombstones()), took.Round(time.Millisecond), benchlake.FormatRequests(srv1.Since(srv0).Requests, 1))
	return nil
}

func report(w io.Writer, cfg Config, targets []target, before, after Times) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds()) }
	fmt.Fprintf(w, "\nmedians of %d runs (ms)\n\n", cfg.Runs)
	fmt.Fprintln(w, "| reader | small files | optimized |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	on := func(kind string) string {
		if len(targets) == 1 {
			return ""
		}
		return ", " + kind + " lake"
	}
	for _, t := range targets {
		b, a := before.Batcher[t.kind], after.Batcher[t.kind]
		fmt.Fprintf(w, "| batcher process (wall)%s | %s | %s |\n", on(t.kind), ms(b.Process), ms(a.Process))
		fmt.Fprintf(w, "| batcher process CPU time (user+sys)%s | %s | %s |\n", on(t.kind), ms(b.CPU), ms(a.CPU))
		fmt.Fprintf(w, "| batcher, its own run duration%s | %s | %s |\n", on(t.kind), ms(b.Self), ms(a.Self))
		fmt.Fprintf(w, "| batcher --interval, a warm run%s | %s | %s |\n", on(t.kind), ms(b.Warm), ms(a.Warm))
	}
	fmt.Fprintf(w, "| DuckDB threads=1 | %s | %s |\n", ms(before.Duck1), ms(after.Duck1))
	fmt.Fprintf(w, "| DuckDB default threads | %s | %s |\n", ms(before.DuckAll), ms(after.DuckAll))
	fmt.Fprintf(w, "| DuckDB threads=1, cold (open, query, close) | %s | %s |\n", ms(before.Duck1Cold), ms(after.Duck1Cold))
	for _, t := range targets {
		b, a := before.Batcher[t.kind], after.Batcher[t.kind]
		fmt.Fprintf(w, "| batcher%s / DuckDB threads=1 | %s | %s |\n", on(t.kind), ratio(b.Process, before.Duck1), ratio(a.Process, after.Duck1))
		fmt.Fprintf(w, "| batcher%s / DuckDB default | %s | %s |\n", on(t.kind), ratio(b.Process, before.DuckAll), ratio(a.Process, after.DuckAll))
		fmt.Fprintf(w, "| cold: batcher process%s / DuckDB threads=1 cold | %s | %s |\n", on(t.kind), ratio(b.Process, before.Duck1Cold), ratio(a.Process, after.Duck1Cold))
		fmt.Fprintf(w, "| cold%s, median of the per-run pairs | %.2f | %.2f |\n", on(t.kind), b.ColdRatio, a.ColdRatio)
		fmt.Fprintf(w, "| warm: batcher --interval run%s / DuckDB threads=1 | %s | %s |\n", on(t.kind), ratio(b.Warm, before.Duck1), ratio(a.Warm, after.Duck1))
	}
	fmt.Fprintln(w)
	for _, t := range targets {
		if b, a := before.Batcher[t.kind].Server, after.Batcher[t.kind].Server; b != nil && a != nil {
			fmt.Fprintf(w, "per batcher process on the %s lake, small files: S3 requests %s, MinIO's CPU time %v\n", t.kind,
				benchlake.FormatRequests(b.Requests, cfg.Runs), b.CPU/time.Duration(cfg.Runs))
			fmt.Fprintf(w, "per batcher process on the %s lake, optimized: S3 requests %s, MinIO's CPU time %v\n", t.kind,
				benchlake.FormatRequests(a.Requests, cfg.Runs), a.CPU/time.Duration(cfg.Runs))
		}
	}
	for _, t := range targets {
		fmt.Fprintf(w, "target: batcher <= DuckDB (ratio <= 1). Optimize speeds the batcher on the %s lake up %.1fx, DuckDB (1 thread) %.1fx\n",
			t.kind, before.Batcher[t.kind].Process.Seconds()/after.Batcher[t.kind].Process.Seconds(), before.Duck1.Seconds()/after.Duck1.Seconds())
	}
}

func measure(ctx context.Context, cfg Config, batcher string, targets []target, d1, dAll *duck.DB, work string) (Times, error) {
	files, _, err := lakegen.LiveFiles(ctx, targets[0].lk.Store, targets[0].lk.Dir)
	if err != nil {
		return Times{}, err
	}
	type samples struct {
		proc, cpu, self, cold []float64
		server                *benchlake.Server
	}
	bt := make([]samples, len(targets))
	var x1, xa, xc []float64
	for range cfg.Runs {
		walls := make([]time.Duration, len(targets))
		for i, t := range targets {
			var self time.Duration
			srv0, onMinIO, err := t.lakes.Server(ctx)
			if err != nil {
				return Times{}, err
			}
			r, err := harness.ExecEnv(ctx, batcher, []string{"--lake", t.lk.URL}, t.lk.Env, func(line []byte) {
				if d, ok := runDuration(line); ok {
					self = d
				}
			})
			if err != nil {
				return Times{}, fmt.Errorf("batcher on the %s lake: %w", t.kind, err)
			}
			if onMinIO {
				srv1, _, err := t.lakes.Server(ctx)
				if err != nil {
					return Times{}, err
				}
				if bt[i].server == nil {
					bt[i].server = &benchlake.Server{}
				}
				bt[i].server.Add(srv1.Since(srv0))
			}
			walls[i] = r.Wall
			bt[i].proc, bt[i].self = append(bt[i].proc, float64(r.Wall)), append(bt[i].self, float64(self))
			bt[i].cpu = append(bt[i].cpu, float64(r.CPU))
		}
		tc, err := duck.ConsolidateCold(ctx, 1, files, filepath.Join(work, "duckcold.parquet"))
		if err != nil {
			return Times{}, err
		}
		t1, err := d1.Consolidate(ctx, files, filepath.Join(work, "duck1.parquet"))
		if err != nil {
			return Times{}, err
		}
		ta, err := dAll.Consolidate(ctx, files, filepath.Join(work, "duckall.parquet"))
		if err != nil {
			return Times{}, err
		}
		x1, xa, xc = append(x1, float64(t1)), append(xa, float64(ta)), append(xc, float64(tc))
		for i := range targets {
			bt[i].cold = append(bt[i].cold, float64(walls[i])/float64(tc))
		}
	}
	out := Times{Batcher: map[string]BatcherTimes{},
		Duck1: time.Duration(harness.Median(x1)), DuckAll: time.Duration(harness.Median(xa)),
		Duck1Cold: time.Duration(harness.Median(xc))}
	for i, t := range targets {
		warm, err := warmRuns(ctx, batcher, t.lk, cfg.Runs)
		if err != nil {
			return Times{}, fmt.Errorf("the %s lake: %w", t.kind, err)
		}
		if err := agree(ctx, t.lk.Store, d1, files); err != nil {
			return Times{}, fmt.Errorf("the %s lake: %w", t.kind, err)
		}
		out.Batcher[t.kind] = BatcherTimes{Process: time.Duration(harness.Median(bt[i].proc)), CPU: time.Duration(harness.Median(bt[i].cpu)),
			Self: time.Duration(harness.Median(bt[i].self)), Warm: time.Duration(harness.Median(warm)),
			ColdRatio: harness.Median(bt[i].cold), Server: bt[i].server}
	}
	return out, nil
}

// runDuration reads the duration of a batcher's "consolidation done" log line.
func runDuration(line []byte) (time.Duration, bool) {
	var l struct {
		Msg        string `json:"msg"`
		DurationUs int64  `json:"duration_us"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "consolidation done" {
		return 0, false
	}
	return time.Duration(l.DurationUs) * time.Microsecond, true
}

// warmRuns starts a long-running batcher (--interval) on the lake and returns
// the durations of its runs after the first (which pays the process's cold
// start), as it logs them; then stops it with SIGTERM. The stream table does
// not change meanwhile, so --skip-unchanged=false makes every run
// consolidate and commit (by default the batcher would skip them).
func warmRuns(ctx context.Context, batcher string, lk benchlake.Lake, runs int) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(runs+10)*10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, batcher, "--lake", lk.URL, "--interval", "250ms", "--http", "127.0.0.1:0", "--skip-unchanged=false")
	if len(lk.Env) > 0 {
		cmd.Env = append(os.Environ(), lk.Env...)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("batcher --interval: %w", err)
	}
	var out []float64
	seen := 0
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() && len(out) < runs {
		if d, ok := runDuration(sc.Bytes()); ok {
			if seen++; seen > 1 {
				out = append(out, float64(d))
			}
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_, _ = io.Copy(io.Discard, stderr)
	werr := cmd.Wait()
	if len(out) < runs {
		return nil, fmt.Errorf("batcher --interval: %d warm runs of %d logged (%v)", len(out), runs, werr)
	}
	return out, nil
}

// agree checks that the batcher's output, the live data file of the batch
// table's latest snapshot, equals DuckDB's consolidation of the same files:
// the comparison is only fair if both computed the same thing.
func agree(ctx context.Context, store lake.Store, d *duck.DB, files []string) error {
	want, err := d.ConsolidatedRows(ctx, files)
	if err != nil {
		return err
	}
	tbl := delta.NewTable(store, strings.TrimSuffix(contract.BatchDir, "/"))
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("the batch table: %w", err)
	}
	if snap.NumFiles() != 1 {
		return fmt.Errorf("the batch table has %d live files, want 1", snap.NumFiles())
	}
	key, err := tbl.DataKey(snap.Files()[0].Path)
	if err != nil {
		return err
	}
	data, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	got, err := parquet.Read[contract.BatchRow](bytesReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("read the batcher's output: %w", err)
	}
	return Agree(got, want)
}

// Agree reports whether two consolidations are equal (averages to 1e-9).
func Agree(got, want []contract.BatchRow) error {
	if len(got) != len(want) {
		return fmt.Errorf("the batcher wrote %d rows, DuckDB computed %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.SensorID != w.SensorID || g.TotalEventos != w.TotalEventos || g.OKTotal != w.OKTotal || g.Ventanas != w.Ventanas ||
			math.Abs(g.AvgTempGlobal-w.AvgTempGlobal) > 1e-9 || math.Abs(g.AvgHumGlobal-w.AvgHumGlobal) > 1e-9 {
			return fmt.Errorf("row %d: the batcher wrote %+v, DuckDB computed %+v", i, g, w)
		}
	}
	return nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
