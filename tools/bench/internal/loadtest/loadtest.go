// Package loadtest is the end-to-end throughput harness (cmd/loadtest): it
// starts a broker, fills it with N records of a query file's generated
// input (package querygen: the seed query's sensor readings by default, or
// an example's), and then, in turn and on the same broker, runs the ceiling
// (a bare franz-go consumer process reading the whole topic) and the
// streamer binary running that query file (--query, as the harness wrote it
// into its work dir) with --trigger available-now against a fresh lake and
// checkpoint of each kind asked for (-lake file, minio or both: a file://
// directory, a bucket of a MinIO container), several times. It reports
// records/s, batch durations and their phases (getBatch: waiting for
// records; addBatch: decode, run the queries, write their outputs;
// commitOffsets: the checkpoint's state and commit entries), the Delta commits and checkpoints each run left in the
// benchmarked sink's table, peak RSS and the streamer's ratio to the
// ceiling (the targets: >= 80 % at 20 keys, >= 50 % at 1,000,000).
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

	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/tools/bench/internal/benchlake"
	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/kafkaload"
	"github.com/sensorlab/sensorlab/tools/bench/internal/querygen"
)

// topicPrefix names the harness's input topic: the query file's source
// topic is edited to topicPrefix + its topic, so the run reads only what the
// harness produced.
const topicPrefix = "loadtest."

// Config is the harness's configuration (flags only: it is a dev tool).
type Config struct {
	Query      string // a querygen workload: seed or an example
	Readings   int64
	Sensors    int // distinct keys of the workload
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
	fs.StringVar(&c.Query, "query", "seed", "query file the streamer runs, with its generated input: "+strings.Join(querygen.Names(), ", ")+
		" (seed: queries/seed/streaming.sql; the others: queries/examples/<name>.sql)")
	fs.Int64Var(&c.Readings, "readings", 5_000_000, "records to fill the topic with")
	fs.IntVar(&c.Sensors, "sensors", 20, "distinct keys: the seed's sensors, or the example's customers, devices, users or words")
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
	if _, ok := querygen.Workloads[c.Query]; !ok {
		errs = append(errs, fmt.Errorf("-query %q: want one of %s", c.Query, strings.Join(querygen.Names(), ", ")))
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
	Batches []time.Duration // "batch committed" duration_ms of each batch
	// Phases are each batch's durations_ms by phase (getBatch, addBatch,
	// commitOffsets, …); nil when the log has no durations_ms.
	Phases  map[string][]time.Duration
	Input   int64          // records the streamer's batches counted
	Invalid int64          // of those, dead-lettered
	Output  int64          // rows the measured sink wrote
	Log     *benchlake.Log // the measured sink's Delta table after the run; nil for another sink
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
	w := querygen.Workloads[cfg.Query]
	topic := topicPrefix + w.Topic
	qf, err := harness.WriteQuery(work, strings.TrimPrefix(w.File, "queries/"),
		harness.Edit{Old: "topic = '" + w.Topic + "'", New: "topic = '" + topic + "'", N: 1})
	if err != nil {
		return err
	}
	if t, err := qf.SourceTopic(); err != nil || t != topic {
		return fmt.Errorf("query file %s reads %q (%v), want the harness's topic %s", qf.Path, t, err, topic)
	}
	sink := qf.Sink(w.Sink)
	if sink == nil {
		return fmt.Errorf("query file %s has no sink %s", qf.Path, w.Sink)
	}

	cluster, err := kafkaload.StartBroker(topic, int32(cfg.Partitions))
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	start := time.Now()
	pr, pw := io.Pipe()
	go func() {
		_, err := w.Write(pw, int(cfg.Readings), cfg.Sensors, 1)
		pw.CloseWithError(err)
	}()
	n, bytes, err := kafkaload.FillLines(ctx, brokers, topic, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the generator if the fill failed
	if err != nil {
		return err
	}
	if n != cfg.Readings {
		return fmt.Errorf("filled %d records, want %d", n, cfg.Readings)
	}
	fill := time.Since(start)
	fmt.Fprintf(stdout, "filled %s with %d records of the %s query's input (%d keys, %d partitions, %.1f MB of values) in %v: %.0f records/s produced\n",
		topic, cfg.Readings, w.Name, cfg.Sensors, cfg.Partitions, float64(bytes)/1e6, fill.Round(time.Millisecond), harness.PerSec(cfg.Readings, fill))
	fmt.Fprintf(stdout, "streamer: --query %s (%s, its source topic set to %s); measured sink: %s (%s, %s mode)\n",
		qf.Path, w.File, topic, sink.Name, sink.Sink.Connector, sink.Sink.Mode)

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
			sr, err := runStreamer(ctx, cfg, streamer, brokers[0], qf, sink, lakes[kind], fmt.Sprintf("run-%d-%s", i, kind))
			if err != nil {
				return fmt.Errorf("streamer run %d on %s: %w", i+1, kind, err)
			}
			if cfg.Keep {
				_ = os.WriteFile(filepath.Join(work, fmt.Sprintf("streamer-%d-%s.log", i, kind)), sr.Stderr, 0o644)
			}
			r.Streamer[kind] = sr
		}
		results = append(results, r)
		fmt.Fprintf(stdout, "run %d: bare %.0f records/s", i+1, harness.PerSec(cfg.Readings, r.BareRun.Wall))
		for _, kind := range cfg.Lakes {
			sr := r.Streamer[kind]
			fmt.Fprintf(stdout, ", streamer on %s %.0f records/s (%d batches, %d rows out of %s", kind,
				harness.PerSec(cfg.Readings, sr.Wall), len(sr.Batches), sr.Output, sink.Name)
			if sr.Log != nil {
				fmt.Fprintf(stdout, ", %d Delta commits, %d checkpoints", sr.Log.Commits, sr.Log.Checkpoints)
			}
			fmt.Fprint(stdout, ")")
		}
		fmt.Fprintln(stdout)
	}
	report(stdout, cfg, sink, results)
	return nil
}

// runStreamer runs the streamer on the query file qf, available-now, on a
// fresh lake (and its default checkpoint, <lake>/_checkpoints/streamer)
// named name, and checks that its batches counted every record, none
// dead-lettered, and that the measured sink wrote rows (and, for a Delta
// sink, committed them).
func runStreamer(ctx context.Context, cfg Config, streamer, broker string, qf harness.QueryFile, sink *plan.Query, lakes *benchlake.Lakes, name string) (StreamerRun, error) {
	var sr StreamerRun
	lk, err := lakes.New(ctx, name)
	if err != nil {
		return sr, err
	}
	args := []string{"--brokers", broker, "--query", qf.Path, "--lake", lk.URL,
		"--trigger", "available-now", "--starting-offsets", "earliest", "--http", "",
		"--max-offsets-per-trigger", strconv.FormatInt(cfg.MaxOffsets, 10)}
	srv0, onMinIO, err := lakes.Server(ctx)
	if err != nil {
		return sr, err
	}
	var (
		mu      sync.Mutex
		bad     []string
		noPhase bool
	)
	sr.Run, err = harness.ExecEnv(ctx, streamer, args, lk.Env, func(line []byte) {
		b, ok, err := parseBatch(line, sink.Name)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = append(bad, err.Error())
			return
		}
		sr.Batches = append(sr.Batches, b.duration)
		if b.phases == nil {
			noPhase = true
		}
		for k, d := range b.phases {
			if sr.Phases == nil {
				sr.Phases = map[string][]time.Duration{}
			}
			sr.Phases[k] = append(sr.Phases[k], d)
		}
		sr.Input += b.input
		sr.Invalid += b.invalid
		sr.Output += b.output
	})
	if err != nil {
		return sr, err
	}
	if len(bad) > 0 {
		return sr, fmt.Errorf("its \"batch committed\" lines do not say what the harness reads: %s", strings.Join(bad, "; "))
	}
	if noPhase {
		sr.Phases = nil
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
	if sr.Invalid > 0 {
		return sr, fmt.Errorf("it dead-lettered %d of the generated records, which the source should all take", sr.Invalid)
	}
	if sr.Output == 0 {
		return sr, fmt.Errorf("its sink %s wrote no rows: more -readings close more windows", sink.Name)
	}
	if sink.Sink.Connector == "delta" {
		lg, err := benchlake.TableLog(ctx, lk.Store, sink.Sink.Options["path"])
		if err != nil {
			return sr, err
		}
		if lg.Commits == 0 {
			return sr, fmt.Errorf("its sink %s wrote %d rows and its Delta table has no commit", sink.Name, sr.Output)
		}
		sr.Log = &lg
	}
	if lk.Dir != "" && !cfg.Keep {
		_ = os.RemoveAll(lk.Dir)
	}
	return sr, nil
}

// committed is what the harness reads from a "batch committed" line.
type committed struct {
	input, invalid, output int64 // output: the measured sink's rows
	duration               time.Duration
	phases                 map[string]time.Duration // durations_ms; nil when the line has none
}

// parseBatch reads a "batch committed" log line (ok is false for any other
// line). The measured sink's rows come from output_rows_by_query, or from
// output_rows when that is the per-query object.
func parseBatch(line []byte, sink string) (b committed, ok bool, err error) {
	var l struct {
		InputRows   *int64             `json:"input_rows"`
		Invalid     int64              `json:"invalid_rows"`
		OutputRows  json.RawMessage    `json:"output_rows"`
		ByQuery     map[string]int64   `json:"output_rows_by_query"`
		DurationMs  *int64             `json:"duration_ms"`
		DurationsMs map[string]float64 `json:"durations_ms"`
	}
	var m struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal(line, &m) != nil || m.Msg != "batch committed" {
		return b, false, nil
	}
	if err := json.Unmarshal(line, &l); err != nil {
		return b, true, fmt.Errorf("%w: %s", err, line)
	}
	if l.ByQuery == nil {
		_ = json.Unmarshal(l.OutputRows, &l.ByQuery) // nil unless an object
	}
	out, hasOut := l.ByQuery[sink]
	if l.InputRows == nil || l.DurationMs == nil || !hasOut {
		return b, true, fmt.Errorf("a line without input_rows, duration_ms or the rows of sink %s in output_rows_by_query or output_rows: %s", sink, line)
	}
	b = committed{input: *l.InputRows, invalid: l.Invalid, output: out,
		duration: time.Duration(*l.DurationMs) * time.Millisecond}
	for k, d := range l.DurationsMs {
		if b.phases == nil {
			b.phases = map[string]time.Duration{}
		}
		b.phases[k] = time.Duration(d * float64(time.Millisecond))
	}
	return b, true, nil
}

func report(w io.Writer, cfg Config, sink *plan.Query, rs []Result) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	type col struct {
		wall, cpu, batches, ratio, rss, p50, pmax, commits, checkpoints, requests, serverCPU []float64
		// phase50 and phaseMax are, per phase of durations_ms, each run's
		// p50 and max.
		phase50, phaseMax map[string][]float64
	}
	var bare, bareCPU, rssB []float64
	cols := map[string]*col{}
	for _, kind := range cfg.Lakes {
		cols[kind] = &col{phase50: map[string][]float64{}, phaseMax: map[string][]float64{}}
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
			var ds []float64
			for _, d := range sr.Batches {
				sum += d
				ds = append(ds, ms(d))
			}
			for k, p := range sr.Phases {
				var xs []float64
				for _, d := range p {
					xs = append(xs, ms(d))
				}
				c.phase50[k], c.phaseMax[k] = append(c.phase50[k], harness.Median(xs)), append(c.phaseMax[k], harness.Quantile(xs, 1))
			}
			c.batches = append(c.batches, harness.PerSec(cfg.Readings, sum))
			c.cpu = append(c.cpu, harness.PerSec(cfg.Readings, sr.CPU))
			c.rss = append(c.rss, float64(sr.PeakRSS)/(1<<20))
			c.p50, c.pmax = append(c.p50, harness.Median(ds)), append(c.pmax, harness.Quantile(ds, 1))
			if sr.Log != nil {
				c.commits, c.checkpoints = append(c.commits, float64(sr.Log.Commits)), append(c.checkpoints, float64(sr.Log.Checkpoints))
			}
			if sr.Server != nil {
				var n int64
				for _, k := range sr.Server.Requests {
					n += k
				}
				c.requests, c.serverCPU = append(c.requests, float64(n)), append(c.serverCPU, ms(sr.Server.CPU))
			}
		}
	}
	fmt.Fprintf(w, "\nmedians of %d runs, query %s, %d records, %d keys, %d partitions, --max-offsets-per-trigger %d\n\n",
		len(rs), cfg.Query, cfg.Readings, cfg.Sensors, cfg.Partitions, cfg.MaxOffsets)
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
	row("records/s, process wall time", f0(harness.Median(bare)), func(c *col) string { return f0(harness.Median(c.wall)) })
	row("records per CPU-second (user+sys)", f0(harness.Median(bareCPU)), func(c *col) string { return f0(harness.Median(c.cpu)) })
	row("records/s, sum of batch durations", "", func(c *col) string { return f0(harness.Median(c.batches)) })
	row("batch duration p50 / max (ms)", "", func(c *col) string {
		return f0(harness.Median(c.p50)) + " / " + f0(harness.Median(c.pmax))
	})
	for _, ph := range []struct{ name, what string }{
		{"getBatch", "waiting for records"},
		{"addBatch", "decode, run the queries, write the outputs"},
		{"commitOffsets", "the checkpoint's state and commit entries"},
	} {
		row(ph.name+" p50 / max (ms): "+ph.what, "", func(c *col) string {
			if len(c.phase50[ph.name]) == 0 {
				return "n/a (no durations_ms in the log)"
			}
			return f0(harness.Median(c.phase50[ph.name])) + " / " + f0(harness.Median(c.phaseMax[ph.name]))
		})
	}
	row("Delta commits / checkpoints of the "+sink.Name+" table", "", func(c *col) string {
		if len(c.commits) == 0 {
			return "n/a (" + sink.Sink.Connector + " sink)"
		}
		return f0(harness.Median(c.commits)) + " / " + f0(harness.Median(c.checkpoints))
	})
	row("peak RSS (MiB, VmHWM sampled every 20 ms)", f0(harness.Median(rssB)), func(c *col) string { return f0(harness.Median(c.rss)) })
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
		fmt.Fprintf(w, "streamer on %s / ceiling (wall), median of the per-run ratios: %.0f %% (targets: >= 80 %% at 20 keys, >= 50 %% at 1,000,000)\n",
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
		fmt.Fprintf(w, "streamer on %s / on %s (records/s), median of the per-run ratios: %.0f %%\n", a, b, 100*harness.Median(rel))
	}
}

func consumeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "", "broker address")
	t := fs.String("topic", "", "topic")
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
