// Package loadtest is the end-to-end throughput harness (cmd/loadtest): it
// starts a broker, fills it with N readings, and then, in turn and on the
// same broker, runs the ceiling (a bare franz-go consumer process reading the
// whole topic) and the streamer binary with --trigger available-now against a
// fresh file:// lake, several times. It reports readings/s, batch durations,
// peak RSS and the streamer's ratio to the ceiling (the target is >= 80 %).
package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/kafkaload"
	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

const topic = "eventos_sensores"

// Config is the harness's configuration (flags only: it is a dev tool).
type Config struct {
	Readings   int64
	Sensors    int
	Partitions int
	Runs       int
	MaxOffsets int64
	Streamer   string // a built streamer binary; empty builds it
	Keep       bool   // keep the lakes of the runs
}

func parse(args []string, stderr io.Writer) (Config, error) {
	c := Config{}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&c.Readings, "readings", 5_000_000, "readings to fill the topic with")
	fs.IntVar(&c.Sensors, "sensors", 20, "distinct sensors")
	fs.IntVar(&c.Partitions, "partitions", 3, "topic partitions")
	fs.IntVar(&c.Runs, "runs", 3, "runs of each consumer (medians are reported)")
	fs.Int64Var(&c.MaxOffsets, "max-offsets-per-trigger", 500_000, "the streamer's --max-offsets-per-trigger (0: one batch)")
	fs.StringVar(&c.Streamer, "streamer", "", "streamer binary (default: go build it from the checkout)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the runs' lakes and logs")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if c.Readings <= 0 {
		errs = append(errs, fmt.Errorf("-readings %d: must be > 0", c.Readings))
	}
	if c.Sensors <= 0 || c.Partitions <= 0 || c.Runs <= 0 {
		errs = append(errs, errors.New("-sensors, -partitions and -runs must be > 0"))
	}
	if c.MaxOffsets < 0 {
		errs = append(errs, fmt.Errorf("-max-offsets-per-trigger %d: must be >= 0", c.MaxOffsets))
	}
	return c, errors.Join(errs...)
}

// Main runs the harness, or with first argument "consume" the bare consumer
// process it measures. It returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "consume" {
		return consumeMain(ctx, args[1:], stdout, stderr)
	}
	cfg, err := parse(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	if err := run(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	return 0
}

// Result is one run of each side.
type Result struct {
	Bare     kafkaload.Consumed
	BareRun  harness.Run
	Streamer harness.Run
	Batches  []time.Duration // "batch committed" duration_ms of each batch
	Input    int64           // readings the streamer's batches counted
	Output   int64           // window rows written
}

func run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	m := harness.DescribeMachine()
	fmt.Fprintf(stdout, "machine: %s\n", m)
	work, err := os.MkdirTemp("", "sensorlab-loadtest-")
	if err != nil {
		return err
	}
	if cfg.Keep {
		fmt.Fprintf(stdout, "work dir (kept): %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	streamer := cfg.Streamer
	if streamer == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			return err
		}
		if streamer, err = harness.Build(ctx, root, "./services/streamer/cmd/streamer", work); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	cluster, err := kafkaload.StartBroker(topic, int32(cfg.Partitions))
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	// Event time ends about now, so that no reading is "in the future".
	perMs := 20
	t0 := time.Now().UnixMilli() - cfg.Readings/int64(perMs) - 1000
	start := time.Now()
	bytes, err := kafkaload.Fill(ctx, brokers, topic, readings.New(cfg.Sensors, t0, perMs, 1), cfg.Readings)
	if err != nil {
		return err
	}
	fill := time.Since(start)
	fmt.Fprintf(stdout, "filled %s with %d readings (%d sensors, %d partitions, %.1f MB of values) in %v: %.0f readings/s produced\n",
		topic, cfg.Readings, cfg.Sensors, cfg.Partitions, float64(bytes)/1e6, fill.Round(time.Millisecond), harness.PerSec(cfg.Readings, fill))

	var results []Result
	for i := range cfg.Runs {
		var r Result
		// The ceiling: a bare consumer process on the same broker.
		r.BareRun, err = harness.Exec(ctx, self, []string{"consume", "-brokers", brokers[0], "-topic", topic,
			"-n", strconv.FormatInt(cfg.Readings, 10)}, nil)
		if err != nil {
			return fmt.Errorf("bare consumer: %w", err)
		}
		if err := json.Unmarshal(r.BareRun.Stdout, &r.Bare); err != nil {
			return fmt.Errorf("bare consumer output %q: %w", r.BareRun.Stdout, err)
		}
		// The streamer, available-now, on a fresh lake and checkpoint.
		lakeDir := filepath.Join(work, fmt.Sprintf("lake-%d", i))
		if err := os.MkdirAll(lakeDir, 0o755); err != nil {
			return err
		}
		args := []string{"--brokers", brokers[0], "--topic", topic, "--lake", "file://" + lakeDir,
			"--trigger", "available-now", "--starting-offsets", "earliest", "--http", "",
			"--max-offsets-per-trigger", strconv.FormatInt(cfg.MaxOffsets, 10)}
		var mu sync.Mutex
		r.Streamer, err = harness.Exec(ctx, streamer, args, func(line []byte) {
			var l struct {
				Msg        string `json:"msg"`
				InputRows  int64  `json:"input_rows"`
				OutputRows int64  `json:"output_rows"`
				DurationMs int64  `json:"duration_ms"`
			}
			if json.Unmarshal(line, &l) == nil && l.Msg == "batch committed" {
				mu.Lock()
				r.Batches = append(r.Batches, time.Duration(l.DurationMs)*time.Millisecond)
				r.Input += l.InputRows
				r.Output += l.OutputRows
				mu.Unlock()
			}
		})
		if err != nil {
			return fmt.Errorf("streamer: %w", err)
		}
		if r.Input != cfg.Readings {
			return fmt.Errorf("streamer run %d: its batches counted %d input rows, the topic holds %d", i+1, r.Input, cfg.Readings)
		}
		// The default 1m watermark and 10s windows close windows only when
		// the readings span more than 70 s of event time.
		if r.Output == 0 && cfg.Readings/int64(perMs) > 70_000 {
			return fmt.Errorf("streamer run %d: wrote no window rows", i+1)
		}
		if cfg.Keep {
			_ = os.WriteFile(filepath.Join(work, fmt.Sprintf("streamer-%d.log", i)), r.Streamer.Stderr, 0o644)
		} else {
			_ = os.RemoveAll(lakeDir)
		}
		results = append(results, r)
		fmt.Fprintf(stdout, "run %d: bare %.0f readings/s, streamer %.0f readings/s (%d batches)\n", i+1,
			harness.PerSec(cfg.Readings, r.BareRun.Wall), harness.PerSec(cfg.Readings, r.Streamer.Wall), len(r.Batches))
	}
	report(stdout, cfg, results)
	return nil
}

func report(w io.Writer, cfg Config, rs []Result) {
	var bare, str, strBatches, strCPU, bareCPU, ratio, rssS, rssB, p50, pmax []float64
	for _, r := range rs {
		b := harness.PerSec(cfg.Readings, r.BareRun.Wall)
		s := harness.PerSec(cfg.Readings, r.Streamer.Wall)
		bare, str = append(bare, b), append(str, s)
		ratio = append(ratio, s/b)
		var sum time.Duration
		var ds []float64
		for _, d := range r.Batches {
			sum += d
			ds = append(ds, float64(d.Milliseconds()))
		}
		strBatches = append(strBatches, harness.PerSec(cfg.Readings, sum))
		strCPU = append(strCPU, harness.PerSec(cfg.Readings, r.Streamer.CPU))
		bareCPU = append(bareCPU, harness.PerSec(cfg.Readings, r.BareRun.CPU))
		rssS, rssB = append(rssS, float64(r.Streamer.PeakRSS)/(1<<20)), append(rssB, float64(r.BareRun.PeakRSS)/(1<<20))
		p50, pmax = append(p50, harness.Median(ds)), append(pmax, harness.Quantile(ds, 1))
	}
	fmt.Fprintf(w, "\nmedians of %d runs, %d readings, %d sensors, %d partitions, --max-offsets-per-trigger %d\n\n",
		len(rs), cfg.Readings, cfg.Sensors, cfg.Partitions, cfg.MaxOffsets)
	fmt.Fprintln(w, "| figure | bare franz-go consumer (ceiling) | streamer, available-now |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	fmt.Fprintf(w, "| readings/s, process wall time | %.0f | %.0f |\n", harness.Median(bare), harness.Median(str))
	fmt.Fprintf(w, "| readings per CPU-second (user+sys) | %.0f | %.0f |\n", harness.Median(bareCPU), harness.Median(strCPU))
	fmt.Fprintf(w, "| readings/s, sum of batch durations | | %.0f |\n", harness.Median(strBatches))
	fmt.Fprintf(w, "| batch duration p50 / max (ms) | | %.0f / %.0f |\n", harness.Median(p50), harness.Median(pmax))
	fmt.Fprintf(w, "| peak RSS (MiB, VmHWM at exit) | %.0f | %.0f |\n", harness.Median(rssB), harness.Median(rssS))
	fmt.Fprintf(w, "\nstreamer / ceiling (wall): %.0f %% (target >= 80 %%)\n", 100*harness.Median(ratio))
}

func consumeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "", "broker address")
	t := fs.String("topic", topic, "topic")
	n := fs.Int64("n", 0, "records to read")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	c, err := kafkaload.Consume(ctx, []string{*brokers}, *t, *n)
	if err != nil {
		fmt.Fprintln(stderr, "consume:", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(c); err != nil {
		return 1
	}
	return 0
}
