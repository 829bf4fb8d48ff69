// Package soak is the long-run memory harness (cmd/soak) of the target "RSS
// flat over a one-hour soak at the lab's default rate". It runs the lab as
// compose does, on one machine: an in-process Kafka broker (franz-go's kfake),
// the producer binary at RATE=5 with real-time event time and compose's
// two-minute backfill, the streamer binary running the seed lab's query file
// as compose does (continuous trigger; the stream table, the console in
// update mode into its log, high_temp alerts, the late topic) on a
// file:// lake, and the batcher every 30 s on the same lake. Every -interval
// it samples VmRSS and VmHWM of the three processes from /proc/<pid>/status
// and the streamer's newest /progress entry (batch id, state rows). At the
// end it writes the samples as CSV, prints RSS at 5 minutes, at the end, its
// maximum and the least-squares slope over the run's second half, and fails
// when the streamer's slope exceeds -bound (a fraction of its second-half
// mean per hour): a harness verdict, not a unit test.
package soak

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/kafkaload"
)

// Config is the harness's configuration (flags only: it is a dev tool).
type Config struct {
	Duration time.Duration
	Interval time.Duration
	Rate     float64
	Bound    float64 // streamer RSS slope over the second half, per hour, as a fraction of its mean
	CSV      string
	Keep     bool
	BinDir   string // prebuilt producer, streamer and batcher; empty = go build them
}

func parse(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.Duration, "duration", time.Hour, "how long the lab runs")
	fs.DurationVar(&c.Interval, "interval", 10*time.Second, "sampling interval")
	fs.Float64Var(&c.Rate, "rate", 5, "the producer's --rate (the lab's default is 5 readings/s)")
	fs.Float64Var(&c.Bound, "bound", 0.10, "fail when the streamer's RSS grows faster than this fraction of its mean per hour over the second half")
	fs.StringVar(&c.CSV, "csv", "", "CSV of the samples (default $TMPDIR/sensorlab-soak-<time>.csv)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the work directory (lake, checkpoint, service logs)")
	fs.StringVar(&c.BinDir, "bin", "", "directory holding prebuilt producer, streamer and batcher binaries (default: go build them)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if c.Duration <= 0 || c.Interval <= 0 {
		errs = append(errs, errors.New("-duration and -interval must be > 0"))
	}
	if c.Interval > c.Duration/4 {
		errs = append(errs, errors.New("-interval must be at most a quarter of -duration (the second half needs samples)"))
	}
	if c.Rate <= 0 {
		errs = append(errs, errors.New("-rate must be > 0"))
	}
	if c.Bound <= 0 {
		errs = append(errs, errors.New("-bound must be > 0"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if c.CSV == "" {
		c.CSV = filepath.Join(os.TempDir(), "sensorlab-soak-"+time.Now().UTC().Format("20060102T150405Z")+".csv")
	}
	return c, errors.Join(errs...)
}

// Main runs the harness and returns the exit code: 0 when the streamer's RSS
// stayed within the bound, 1 when it did not or the run failed, 2 for bad flags.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 2
	}
	if err := run(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	return 0
}

// proc is one service process of the lab.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan error
}

func start(name, bin string, args []string, work string) (*proc, error) {
	logPath := filepath.Join(work, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait(); f.Close() }()
	return p, nil
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 30 s).
func (p *proc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("%s did not stop within 30s of SIGTERM", p.name)
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// sample is one row of the CSV.
type sample struct {
	t                          time.Duration
	streamer, producer, batchr Mem
	harness                    Mem
	batchID, stateRows, input  int64
	load1                      string
}

func run(ctx context.Context, cfg Config, stdout io.Writer) error {
	machine := harness.DescribeMachine()
	fmt.Fprintf(stdout, "machine: %s\n", machine)
	work, err := os.MkdirTemp("", "sensorlab-soak-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if cfg.Keep {
		fmt.Fprintf(stdout, "work dir (kept): %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	bins := map[string]string{}
	for _, name := range []string{"producer", "streamer", "batcher"} {
		if cfg.BinDir != "" {
			bins[name] = filepath.Join(cfg.BinDir, name)
			continue
		}
		root, err := harness.RepoRoot()
		if err != nil {
			return err
		}
		if bins[name], err = harness.Build(ctx, root, "./services/"+name+"/cmd/"+name, work); err != nil {
			return err
		}
	}

	cluster, err := kafkaload.StartBroker(contract.EventsTopic, contract.EventsPartitions)
	if err != nil {
		return err
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	lakeDir := filepath.Join(work, "lake")
	if err := os.MkdirAll(lakeDir, 0o755); err != nil {
		return fmt.Errorf("lake dir: %w", err)
	}
	lakeURL := "file://" + lakeDir
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return err
		}
	}
	prodAddr, strAddr, batAddr := addrs[0], addrs[1], addrs[2]

	// As compose runs them (compose.yaml), minus MinIO.
	streamer, err := start("streamer", bins["streamer"], []string{"--brokers", broker, "--lake", lakeURL,
		"--trigger", "0", "--starting-offsets", "earliest", "--http", strAddr}, work)
	if err != nil {
		return err
	}
	procs := []*proc{streamer}
	defer func() {
		for _, p := range procs {
			_ = p.stop()
		}
	}()
	if err := waitReady(ctx, "http://"+strAddr+"/readyz", streamer); err != nil {
		return err
	}
	producer, err := start("producer", bins["producer"], []string{"--brokers", broker,
		"--rate", strconv.FormatFloat(cfg.Rate, 'f', -1, 64), "--backfill", "2m", "--http", prodAddr}, work)
	if err != nil {
		return err
	}
	procs = append(procs, producer)
	batcher, err := start("batcher", bins["batcher"], []string{"--lake", lakeURL, "--interval", "30s", "--http", batAddr}, work)
	if err != nil {
		return err
	}
	procs = append(procs, batcher)
	for _, w := range []struct {
		url string
		p   *proc
	}{{"http://" + prodAddr + "/readyz", producer}, {"http://" + batAddr + "/readyz", batcher}} {
		if err := waitReady(ctx, w.url, w.p); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "lab up: producer --rate %g --backfill 2m; streamer --trigger 0 (the seed's query file); batcher --interval 30s; file:// lake; sampling every %v for %v\n",
		cfg.Rate, cfg.Interval, cfg.Duration)

	begin := time.Now()
	var samples []sample
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		s := sample{t: time.Since(begin)}
		var errs []error
		for _, x := range []struct {
			p   *proc
			dst *Mem
		}{{streamer, &s.streamer}, {producer, &s.producer}, {batcher, &s.batchr}} {
			m, err := readMem(x.p.cmd.Process.Pid)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", x.p.name, err))
			}
			*x.dst = m
		}
		s.harness, _ = readMem(os.Getpid())
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("at %v: %w", s.t.Round(time.Second), err)
		}
		s.batchID, s.stateRows, s.input = newestProgress("http://" + strAddr + "/progress")
		s.load1 = harness.DescribeMachine().Load1
		samples = append(samples, s)
		fmt.Fprintf(stdout, "%6.0fs RSS MiB streamer %.1f producer %.1f batcher %.1f | batch %d, state rows %d, load %s\n",
			s.t.Seconds(), mib(s.streamer.RSS), mib(s.producer.RSS), mib(s.batchr.RSS), s.batchID, s.stateRows, s.load1)
		if s.t >= cfg.Duration {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted after %v: %w", s.t.Round(time.Second), ctx.Err())
		case err := <-streamer.exited:
			return fmt.Errorf("streamer exited (%v):\n%s", err, streamer.logTail())
		case err := <-producer.exited:
			return fmt.Errorf("producer exited (%v):\n%s", err, producer.logTail())
		case err := <-batcher.exited:
			return fmt.Errorf("batcher exited (%v):\n%s", err, batcher.logTail())
		case <-tick.C:
		}
	}
	if err := writeCSV(cfg.CSV, samples); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "samples: %s\n", cfg.CSV)
	return report(cfg, samples, stdout)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func readMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("read status: %w", err)
	}
	return ParseStatus(b)
}

// newestProgress returns the newest /progress entry's batch id, state rows
// (all operators) and input rows; -1s when the streamer has none yet or
// does not answer.
func newestProgress(url string) (batchID, stateRows, input int64) {
	batchID, stateRows, input = -1, -1, -1
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var ps []struct {
		BatchID        int64 `json:"batchId"`
		NumInputRows   int64 `json:"numInputRows"`
		StateOperators []struct {
			NumRowsTotal int64 `json:"numRowsTotal"`
		} `json:"stateOperators"`
	}
	if json.NewDecoder(resp.Body).Decode(&ps) != nil {
		return
	}
	for _, p := range ps {
		if p.BatchID < batchID {
			continue
		}
		batchID, input, stateRows = p.BatchID, p.NumInputRows, 0
		for _, o := range p.StateOperators {
			stateRows += o.NumRowsTotal
		}
	}
	return
}

func waitReady(ctx context.Context, url string, p *proc) error {
	c := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, err, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after 2 minutes:\n%s", p.name, p.logTail())
}

func writeCSV(path string, samples []sample) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"elapsed_s", "streamer_rss_kib", "streamer_hwm_kib", "producer_rss_kib", "producer_hwm_kib",
		"batcher_rss_kib", "batcher_hwm_kib", "harness_rss_kib", "batch_id", "state_rows", "batch_input_rows", "load1"})
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, s := range samples {
		_ = w.Write([]string{strconv.FormatFloat(s.t.Seconds(), 'f', 1, 64), i(s.streamer.RSS), i(s.streamer.HWM),
			i(s.producer.RSS), i(s.producer.HWM), i(s.batchr.RSS), i(s.batchr.HWM), i(s.harness.RSS),
			i(s.batchID), i(s.stateRows), i(s.input), s.load1})
	}
	w.Flush()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	return nil
}

func report(cfg Config, samples []sample, stdout io.Writer) error {
	total := samples[len(samples)-1].t
	series := func(get func(sample) int64) []Point {
		ps := make([]Point, len(samples))
		for i, s := range samples {
			ps[i] = Point{s.t, float64(get(s))}
		}
		return ps
	}
	rows := []struct {
		name string
		rss  []Point
		hwm  int64
	}{
		{"streamer", series(func(s sample) int64 { return s.streamer.RSS }), samples[len(samples)-1].streamer.HWM},
		{"producer", series(func(s sample) int64 { return s.producer.RSS }), samples[len(samples)-1].producer.HWM},
		{"batcher", series(func(s sample) int64 { return s.batchr.RSS }), samples[len(samples)-1].batchr.HWM},
	}
	fmt.Fprintf(stdout, "\n%d samples over %v\n\n", len(samples), total.Round(time.Second))
	fmt.Fprintln(stdout, "| process | RSS at 5 min (MiB) | RSS at end (MiB) | max RSS sampled (MiB) | VmHWM at end (MiB) | slope over 2nd half (KiB/h) | slope / mean per hour |")
	fmt.Fprintln(stdout, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	var streamerSum Summary
	for i, r := range rows {
		s := Summarize(r.rss, total)
		if i == 0 {
			streamerSum = s
		}
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.1f | %.1f | %+.0f | %+.1f %% |\n", r.name, s.At5Min/1024, s.End/1024, s.Max/1024,
			mib(r.hwm), s.SlopeHalf, 100*s.SlopeRatio())
	}
	var minRows, maxRows int64 = -1, -1
	firstBatch, lastBatch := int64(-1), int64(-1)
	for _, s := range samples {
		if s.stateRows >= 0 {
			if minRows < 0 || s.stateRows < minRows {
				minRows = s.stateRows
			}
			maxRows = max(maxRows, s.stateRows)
		}
		if s.t >= total/2 && s.batchID >= 0 && firstBatch < 0 {
			firstBatch = s.batchID
		}
		lastBatch = max(lastBatch, s.batchID)
	}
	fmt.Fprintf(stdout, "\nstreamer state rows: min %d, max %d; batches: last id %d (%d in the second half)\n",
		minRows, maxRows, lastBatch, lastBatch-firstBatch)
	if firstBatch < 0 || lastBatch <= firstBatch {
		return errors.New("verdict: the streamer committed no batch in the second half: its memory says nothing")
	}
	if !streamerSum.SlopeValid {
		return errors.New("verdict: too few samples in the second half for a slope")
	}
	fmt.Fprintf(stdout, "bound: streamer RSS slope over the second half <= %.0f %% of its mean per hour; measured %+.1f %%\n",
		100*cfg.Bound, 100*streamerSum.SlopeRatio())
	if streamerSum.SlopeRatio() > cfg.Bound {
		return fmt.Errorf("verdict: NOT flat: the streamer's RSS grew %+.0f KiB/h over the second half (%.1f %% of its mean %.1f MiB; bound %.0f %%)",
			streamerSum.SlopeHalf, 100*streamerSum.SlopeRatio(), streamerSum.MeanHalf/1024, 100*cfg.Bound)
	}
	fmt.Fprintln(stdout, "verdict: flat")
	return nil
}
