// Package loadtest is the end-to-end throughput harness (cmd/loadtest): it
// starts a broker, fills it with N readings, and then, in turn and on the
// same broker, runs the ceiling (a bare franz-go consumer process reading the
// whole topic) and the streamer binary with --trigger available-now against a
// fresh lake and checkpoint of each kind asked for (-lake file, minio or
// both: a file:// directory, a bucket of a MinIO container), several times.
// It reports readings/s, batch durations (addBatch: decode, aggregate and
// the Delta commit), the Delta commits and checkpoints each run left, peak
// RSS and the streamer's ratio to the ceiling (the target is >= 80 %).
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/tools/bench/internal/benchlake"
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
	Streamer   string   // a built streamer binary; empty builds it
	Keep       bool     // keep the lakes of the runs
	Lakes      []string // benchlake.File and/or benchlake.MinIO, each run in turn
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
	fs.BoolVar(&c.Keep, "keep", false, "keep the runs' file lakes and the streamer's logs")
	lakes := fs.String("lake", benchlake.File, "the streamer's lake and checkpoint: file (a local directory), minio (a bucket of the lab's MinIO in a container), or file,minio (both, in turn, each run)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	var err error
	if c.Lakes, err = benchlake.ParseKinds(*lakes); err != nil {
		errs = append(errs, fmt.Errorf("-lake: %w", err))
	}
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
	Bare    kafkaload.Consumed
	BareRun harness.Run
	// Streamer is the streamer's run on each kind of lake.
	Streamer map[string]StreamerRun
}

// StreamerRun is one run of the streamer, on one lake.
type StreamerRun struct {
	harness.Run
	Batches  []time.Duration // "batch committed" duration_ms of each batch
	AddBatch []time.Duration // its durations_ms.addBatch: decode, aggregate, the Delta commit, Kafka outputs
	Input    int64           // readings the streamer's batches counted
	Output   int64           // window rows written
	Log      benchlake.Log   // the stream table's log after the run
	// Server is what the MinIO server did during the run (nil on a file lake).
	Server *benchlake.Server
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

	lakes := map[string]*benchlake.Lakes{}
	for _, kind := range cfg.Lakes {
		l, err := benchlake.Open(ctx, kind, work)
		if err != nil {
			return err
		}
		defer l.Close()
		lakes[kind] = l
		fmt.Fprintf(stdout, "lake %s: %s (lake and checkpoint)\n", kind, l)
	}

	var results []Result
	for i := range cfg.Runs {
		r := Result{Streamer: map[string]StreamerRun{}}
		// The ceiling: a bare consumer process on the same broker.
		r.BareRun, err = harness.Exec(ctx, self, []string{"consume", "-brokers", brokers[0], "-topic", topic,
			"-n", strconv.FormatInt(cfg.Readings, 10)}, nil)
		if err != nil {
			return fmt.Errorf("bare consumer: %w", err)
		}
		if err := json.Unmarshal(r.BareRun.Stdout, &r.Bare); err != nil {
			return fmt.Errorf("bare consumer output %q: %w", r.BareRun.Stdout, err)
		}
		// The streamer, available-now, on a fresh lake and checkpoint of
		// each kind; the kinds take turns going first.
		kinds := slices.Clone(cfg.Lakes)
		if i%2 == 1 {
			slices.Reverse(kinds)
		}
		for _, kind := range kinds {
			sr, err := runStreamer(ctx, cfg, streamer, brokers[0], lakes[kind], fmt.Sprintf("run-%d-%s", i, kind), perMs)
			if err != nil {
				return fmt.Errorf("streamer run %d on %s: %w", i+1, kind, err)
			}
			if cfg.Keep {
				_ = os.WriteFile(filepath.Join(work, fmt.Sprintf("streamer-%d-%s.log", i, kind)), sr.Stderr, 0o644)
			}
			r.Streamer[kind] = sr
		}
		results = append(results, r)
		fmt.Fprintf(stdout, "run %d: bare %.0f readings/s", i+1, harness.PerSec(cfg.Readings, r.BareRun.Wall))
		for _, kind := range cfg.Lakes {
			sr := r.Streamer[kind]
			fmt.Fprintf(stdout, ", streamer on %s %.0f readings/s (%d batches, %d Delta commits, %d checkpoints)", kind,
				harness.PerSec(cfg.Readings, sr.Wall), len(sr.Batches), sr.Log.Commits, sr.Log.Checkpoints)
		}
		fmt.Fprintln(stdout)
	}
	report(stdout, cfg, results)
	return nil
}

// runStreamer runs the streamer, available-now, on a fresh lake (and its
// default checkpoint, <lake>/_checkpoints/streamer) named name, and checks
// that its batches counted every reading.
func runStreamer(ctx context.Context, cfg Config, streamer, broker string, lakes *benchlake.Lakes, name string, perMs int) (StreamerRun, error) {
	var sr StreamerRun
	lk, err := lakes.New(ctx, name)
	if err != nil {
		return sr, err
	}
	args := []string{"--brokers", broker, "--topic", topic, "--lake", lk.URL,
		"--trigger", "available-now", "--starting-offsets", "earliest", "--http", "",
		"--max-offsets-per-trigger", strconv.FormatInt(cfg.MaxOffsets, 10)}
	srv0, onMinIO, err := lakes.Server(ctx)
	if err != nil {
		return sr, err
	}
	var mu sync.Mutex
	sr.Run, err = harness.ExecEnv(ctx, streamer, args, lk.Env, func(line []byte) {
		var l struct {
			Msg         string           `json:"msg"`
			InputRows   int64            `json:"input_rows"`
			OutputRows  int64            `json:"output_rows"`
			DurationMs  int64            `json:"duration_ms"`
			DurationsMs map[string]int64 `json:"durations_ms"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "batch committed" {
			mu.Lock()
			sr.Batches = append(sr.Batches, time.Duration(l.DurationMs)*time.Millisecond)
			sr.AddBatch = append(sr.AddBatch, time.Duration(l.DurationsMs["addBatch"])*time.Millisecond)
			sr.Input += l.InputRows
			sr.Output += l.OutputRows
			mu.Unlock()
		}
	})
	if err != nil {
		return sr, err
	}
	if onMinIO {
		srv1, _, err := lakes.Server(ctx)
		if err != nil {
			return sr, err
		}
		d := srv1.Since(srv0)
		sr.Server = &d
	}
	if sr.Input != cfg.Readings {
		return sr, fmt.Errorf("its batches counted %d input rows, the topic holds %d", sr.Input, cfg.Readings)
	}
	// The default 1m watermark and 10s windows close windows only when
	// the readings span more than 70 s of event time.
	if sr.Output == 0 && cfg.Readings/int64(perMs) > 70_000 {
		return sr, errors.New("it wrote no window rows")
	}
	if sr.Log, err = benchlake.TableLog(ctx, lk.Store, strings.TrimSuffix(contract.StreamPrefix, "/")); err != nil {
		return sr, err
	}
	if sr.Output > 0 && sr.Log.Commits == 0 {
		return sr, fmt.Errorf("it wrote %d window rows and the stream table has no commit", sr.Output)
	}
	if lk.Dir != "" && !cfg.Keep {
		_ = os.RemoveAll(lk.Dir)
	}
	return sr, nil
}

func report(w io.Writer, cfg Config, rs []Result) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	type col struct {
		wall, cpu, batches, ratio, rss, p50, pmax, add50, addMax, commits, checkpoints, requests, serverCPU []float64
	}
	var bare, bareCPU, rssB []float64
	cols := map[string]*col{}
	for _, kind := range cfg.Lakes {
		cols[kind] = &col{}
	}
	for _, r := range rs {
		b := harness.PerSec(cfg.Readings, r.BareRun.Wall)
		bare = append(bare, b)
		bareCPU = append(bareCPU, harness.PerSec(cfg.Readings, r.BareRun.CPU))
		rssB = append(rssB, float64(r.BareRun.PeakRSS)/(1<<20))
		for _, kind := range cfg.Lakes {
			sr, c := r.Streamer[kind], cols[kind]
			s := harness.PerSec(cfg.Readings, sr.Wall)
			c.wall, c.ratio = append(c.wall, s), append(c.ratio, s/b)
			var sum time.Duration
			var ds, adds []float64
			for j, d := range sr.Batches {
				sum += d
				ds, adds = append(ds, ms(d)), append(adds, ms(sr.AddBatch[j]))
			}
			c.batches = append(c.batches, harness.PerSec(cfg.Readings, sum))
			c.cpu = append(c.cpu, harness.PerSec(cfg.Readings, sr.CPU))
			c.rss = append(c.rss, float64(sr.PeakRSS)/(1<<20))
			c.p50, c.pmax = append(c.p50, harness.Median(ds)), append(c.pmax, harness.Quantile(ds, 1))
			c.add50, c.addMax = append(c.add50, harness.Median(adds)), append(c.addMax, harness.Quantile(adds, 1))
			c.commits, c.checkpoints = append(c.commits, float64(sr.Log.Commits)), append(c.checkpoints, float64(sr.Log.Checkpoints))
			if sr.Server != nil {
				var n int64
				for _, k := range sr.Server.Requests {
					n += k
				}
				c.requests, c.serverCPU = append(c.requests, float64(n)), append(c.serverCPU, ms(sr.Server.CPU))
			}
		}
	}
	fmt.Fprintf(w, "\nmedians of %d runs, %d readings, %d sensors, %d partitions, --max-offsets-per-trigger %d\n\n",
		len(rs), cfg.Readings, cfg.Sensors, cfg.Partitions, cfg.MaxOffsets)
	head, rule := "| figure | bare franz-go consumer (ceiling) |", "| --- | ---: |"
	for _, kind := range cfg.Lakes {
		head += " streamer, available-now, " + kind + " lake |"
		rule += " ---: |"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	row := func(name, bareCell string, cell func(c *col) string) {
		line := "| " + name + " | " + bareCell + " |"
		for _, kind := range cfg.Lakes {
			line += " " + cell(cols[kind]) + " |"
		}
		fmt.Fprintln(w, line)
	}
	f0 := func(x float64) string { return fmt.Sprintf("%.0f", x) }
	row("readings/s, process wall time", f0(harness.Median(bare)), func(c *col) string { return f0(harness.Median(c.wall)) })
	row("readings per CPU-second (user+sys)", f0(harness.Median(bareCPU)), func(c *col) string { return f0(harness.Median(c.cpu)) })
	row("readings/s, sum of batch durations", "", func(c *col) string { return f0(harness.Median(c.batches)) })
	row("batch duration p50 / max (ms)", "", func(c *col) string {
		return f0(harness.Median(c.p50)) + " / " + f0(harness.Median(c.pmax))
	})
	row("addBatch p50 / max (ms): decode, aggregate, Delta commit", "", func(c *col) string {
		return f0(harness.Median(c.add50)) + " / " + f0(harness.Median(c.addMax))
	})
	row("Delta commits / checkpoints of the stream table", "", func(c *col) string {
		return f0(harness.Median(c.commits)) + " / " + f0(harness.Median(c.checkpoints))
	})
	row("peak RSS (MiB, VmHWM at exit)", f0(harness.Median(rssB)), func(c *col) string { return f0(harness.Median(c.rss)) })
	row("S3 requests / MinIO's CPU time (ms) during the run", "", func(c *col) string {
		if len(c.requests) == 0 {
			return ""
		}
		return f0(harness.Median(c.requests)) + " / " + f0(harness.Median(c.serverCPU))
	})
	row("streamer / ceiling (wall), per run", "", func(c *col) string {
		var parts string
		for i, x := range c.ratio {
			if i > 0 {
				parts += ", "
			}
			parts += fmt.Sprintf("%.0f %%", 100*x)
		}
		return parts
	})
	fmt.Fprintln(w)
	for _, kind := range cfg.Lakes {
		fmt.Fprintf(w, "streamer on %s / ceiling (wall), median of the per-run ratios: %.0f %% (target >= 80 %%)\n",
			kind, 100*harness.Median(cols[kind].ratio))
	}
	var srv benchlake.Server
	for _, r := range rs {
		if sr := r.Streamer[benchlake.MinIO]; sr.Server != nil {
			srv.Add(*sr.Server)
		}
	}
	if srv.Requests != nil {
		fmt.Fprintf(w, "S3 requests per streamer run on minio (mean of %d): %s\n", len(rs), benchlake.FormatRequests(srv.Requests, len(rs)))
	}
	if len(cfg.Lakes) == 2 {
		a, b := cfg.Lakes[1], cfg.Lakes[0]
		var rel []float64
		for i := range rs {
			rel = append(rel, cols[a].wall[i]/cols[b].wall[i])
		}
		fmt.Fprintf(w, "streamer on %s / on %s (readings/s), median of the per-run ratios: %.0f %%\n", a, b, 100*harness.Median(rel))
	}
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
