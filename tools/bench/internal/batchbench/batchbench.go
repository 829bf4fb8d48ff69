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
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Spec.Files <= 1 || c.Spec.Sensors <= 0 || c.Spec.WindowsPerFile <= 0 || c.Runs <= 0 {
		return c, errors.New("-files must be > 1; -sensors, -windows-per-file and -runs > 0")
	}
	if c.Spec.Files*c.Spec.WindowsPerFile > 8640 {
		return c, errors.New("-files x -windows-per-file must fit one day (8640 windows): one partition")
	}
	return c, nil
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
	Batcher     time.Duration // process wall time
	BatcherSelf time.Duration // the batcher's own "consolidation done" duration
	BatcherWarm time.Duration // a run of a long-running batcher (--interval), its own duration
	Duck1       time.Duration // DuckDB, threads = 1, a warm database
	DuckAll     time.Duration // DuckDB, default threads, a warm database
	Duck1Cold   time.Duration // DuckDB, threads = 1, open + query + close
	// ColdRatio is the median over runs of each run's batcher process wall
	// time over its DuckDB cold time (the two run back to back: a shared
	// host's drift cancels out of each pair).
	ColdRatio float64
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
	lakeDir := filepath.Join(work, "lake")
	store, err := lake.Open(ctx, "file://"+lakeDir, lake.S3Config{})
	if err != nil {
		return err
	}
	genStart := time.Now()
	rows, err := lakegen.Write(ctx, store, cfg.Spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lake: Delta table stream, %d window files of %d rows (%d rows), one partition, one commit each (written in %v)\n",
		cfg.Spec.Files, cfg.Spec.Sensors*cfg.Spec.WindowsPerFile, rows, time.Since(genStart).Round(time.Millisecond))
	fmt.Fprintln(stdout, "DuckDB has no delta extension here: it reads the snapshot's live files, read_parquet([...]), listed from the Delta log outside its timing")
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

	before, err := measure(ctx, cfg, batcher, lakeDir, store, d1, dAll, work)
	if err != nil {
		return fmt.Errorf("before optimize: %w", err)
	}
	opt, err := harness.Exec(ctx, batcher, []string{"optimize", "--lake", "file://" + lakeDir, "--min-files", "2"}, nil)
	if err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	files, version, err := lakegen.LiveFiles(ctx, store, lakeDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "batcher optimize: %d files into %d in %v (stream table version %d)\n", cfg.Spec.Files, len(files), opt.Wall.Round(time.Millisecond), version)
	after, err := measure(ctx, cfg, batcher, lakeDir, store, d1, dAll, work)
	if err != nil {
		return fmt.Errorf("after optimize: %w", err)
	}

	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	fmt.Fprintf(stdout, "\nmedians of %d runs (ms)\n\n", cfg.Runs)
	fmt.Fprintln(stdout, "| reader | small files | optimized |")
	fmt.Fprintln(stdout, "| --- | ---: | ---: |")
	fmt.Fprintf(stdout, "| batcher process (wall) | %s | %s |\n", ms(before.Batcher), ms(after.Batcher))
	fmt.Fprintf(stdout, "| batcher, its own run duration | %s | %s |\n", ms(before.BatcherSelf), ms(after.BatcherSelf))
	fmt.Fprintf(stdout, "| batcher --interval, a warm run | %s | %s |\n", ms(before.BatcherWarm), ms(after.BatcherWarm))
	fmt.Fprintf(stdout, "| DuckDB threads=1 | %s | %s |\n", ms(before.Duck1), ms(after.Duck1))
	fmt.Fprintf(stdout, "| DuckDB default threads | %s | %s |\n", ms(before.DuckAll), ms(after.DuckAll))
	fmt.Fprintf(stdout, "| DuckDB threads=1, cold (open, query, close) | %s | %s |\n", ms(before.Duck1Cold), ms(after.Duck1Cold))
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds()) }
	fmt.Fprintf(stdout, "| batcher / DuckDB threads=1 | %s | %s |\n", ratio(before.Batcher, before.Duck1), ratio(after.Batcher, after.Duck1))
	fmt.Fprintf(stdout, "| batcher / DuckDB default | %s | %s |\n", ratio(before.Batcher, before.DuckAll), ratio(after.Batcher, after.DuckAll))
	fmt.Fprintf(stdout, "| cold: batcher process / DuckDB threads=1 cold | %s | %s |\n", ratio(before.Batcher, before.Duck1Cold), ratio(after.Batcher, after.Duck1Cold))
	fmt.Fprintf(stdout, "| cold, median of the per-run pairs | %.2f | %.2f |\n", before.ColdRatio, after.ColdRatio)
	fmt.Fprintf(stdout, "| warm: batcher --interval run / DuckDB threads=1 | %s | %s |\n", ratio(before.BatcherWarm, before.Duck1), ratio(after.BatcherWarm, after.Duck1))
	fmt.Fprintf(stdout, "\ntarget: batcher <= DuckDB (ratio <= 1). Optimize speeds the batcher up %.1fx, DuckDB (1 thread) %.1fx\n",
		before.Batcher.Seconds()/after.Batcher.Seconds(), before.Duck1.Seconds()/after.Duck1.Seconds())
	return nil
}

func measure(ctx context.Context, cfg Config, batcher, lakeDir string, store lake.Store, d1, dAll *duck.DB, work string) (Times, error) {
	files, _, err := lakegen.LiveFiles(ctx, store, lakeDir)
	if err != nil {
		return Times{}, err
	}
	var b, bs, x1, xa, xc, cold []float64
	for range cfg.Runs {
		var self time.Duration
		r, err := harness.Exec(ctx, batcher, []string{"--lake", "file://" + lakeDir}, func(line []byte) {
			if d, ok := runDuration(line); ok {
				self = d
			}
		})
		if err != nil {
			return Times{}, err
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
		b, bs = append(b, float64(r.Wall)), append(bs, float64(self))
		x1, xa, xc = append(x1, float64(t1)), append(xa, float64(ta)), append(xc, float64(tc))
		cold = append(cold, float64(r.Wall)/float64(tc))
	}
	warm, err := warmRuns(ctx, batcher, lakeDir, cfg.Runs)
	if err != nil {
		return Times{}, err
	}
	if err := agree(ctx, store, d1, files); err != nil {
		return Times{}, err
	}
	return Times{Batcher: time.Duration(harness.Median(b)), BatcherSelf: time.Duration(harness.Median(bs)),
		BatcherWarm: time.Duration(harness.Median(warm)),
		Duck1:       time.Duration(harness.Median(x1)), DuckAll: time.Duration(harness.Median(xa)),
		Duck1Cold: time.Duration(harness.Median(xc)), ColdRatio: harness.Median(cold)}, nil
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
func warmRuns(ctx context.Context, batcher, lakeDir string, runs int) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(runs+10)*10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, batcher, "--lake", "file://"+lakeDir, "--interval", "250ms", "--http", "127.0.0.1:0", "--skip-unchanged=false")
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
