// Package latency is the update-mode latency harness (cmd/latency). It runs
// the streamer binary on the seed query file (queries/seed/streaming.sql:
// the Delta table stream, the console in update mode and the alerts topic),
// written into its work dir with the harness's topic, window, watermark and
// an alert threshold of 0 (every closed window alerts), with the continuous
// trigger, against an in-process broker; it produces readings at a steady
// rate with event time = wall-clock time, and measures two delays:
//
//   - produce → committed: from the Produce call of a reading to the commit
//     of the micro-batch that folded it in (its update row printed, its
//     Kafka outputs' transaction committed, state and commit log durable).
//     The batch of a reading is the first whose end offset passes the
//     reading's offset; its commit instant comes from /progress (the batch's
//     timestamp plus its duration up to the commit). This bounds the
//     produce → update-row delay from above.
//   - alert delay: an alert can only exist once the watermark has passed its
//     window's end, i.e. once readings stamped win_end + watermark delay
//     exist; since event time is produce time here, the delay is the alert's
//     arrival on the alerts topic (read_committed) minus (win_end + delay).
//
// The streamer's lake and checkpoint are a file:// directory (-lake file) or
// a bucket of the lab's MinIO in a container (-lake minio), as compose runs
// it. The harness also reports the batches' addBatch durations, split by
// whether the batch committed to the Delta table stream (closed windows to
// append) or not, and the commits and checkpoints the table's log holds.
// With -sensors 1000000 the readings go round a million sensors; a window
// then holds as many sensors as readings it receives (rate x window).
//
// The targets: p99 of the first < 500 ms at 10,000 readings/s.
package latency

import (
	"context"
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
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/tools/bench/internal/benchlake"
	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/kafkaload"
	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

const (
	// topic is the input topic: the seed's source topic is edited to it.
	topic = "latency.eventos_sensores"
	// alertsTopic is where the seed's alerts sink writes.
	alertsTopic = "alertas_sensores"
	// deltaSink is the seed's Delta sink, whose commits the report counts.
	deltaSink = "stream"
	// alertMaxTemp replaces the seed's alert threshold (39.5): every closed
	// window alerts, so alerts come as often as windows close.
	alertMaxTemp = 0.0
)

// Config is the harness's configuration (flags only: it is a dev tool).
type Config struct {
	Rate      int
	Duration  time.Duration
	Warmup    time.Duration
	Sensors   int
	Window    time.Duration
	Watermark time.Duration
	Streamer  string
	Lake      string // benchlake.File or benchlake.MinIO
	Keep      bool   // keep the work dir: the query file, the streamer's log, a file lake
}

func parse(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.Rate, "rate", 10_000, "readings per second")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "measured time")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "time produced before measuring")
	fs.IntVar(&c.Sensors, "sensors", 20, "distinct sensors")
	fs.DurationVar(&c.Window, "window", 2*time.Second, "the seed query's window length (short, so alerts come often)")
	fs.DurationVar(&c.Watermark, "watermark", time.Second, "the seed query's watermark delay")
	fs.StringVar(&c.Streamer, "streamer", "", "streamer binary (default: go build it from the checkout)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the work dir (the query file, the streamer's log, a file lake)")
	fs.StringVar(&c.Lake, "lake", benchlake.File, "the streamer's lake and checkpoint: file (a local directory) or minio (a bucket of the lab's MinIO in a container)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if _, err := benchlake.ParseKind(c.Lake); err != nil {
		return c, fmt.Errorf("-lake: %w", err)
	}
	if c.Rate <= 0 || c.Duration <= 0 || c.Sensors <= 0 || c.Window <= 0 || c.Watermark < 0 || c.Warmup < 0 {
		return c, errors.New("-rate, -duration, -sensors and -window must be > 0; -watermark and -warmup >= 0")
	}
	if c.Window%time.Millisecond != 0 || c.Watermark%time.Millisecond != 0 {
		return c, errors.New("-window and -watermark must be whole milliseconds")
	}
	return c, nil
}

// Main runs the harness and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "latency:", err)
		return 2
	}
	if err := run(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "latency:", err)
		return 1
	}
	return 0
}

// sent is one produced reading.
type sentRec struct {
	partition int32
	offset    int64
	at        time.Time
}

// longPause is a pause between batches long enough to show in the latency
// target (about half of it); the report says which batches follow one.
const longPause = 250 * time.Millisecond

// batch is one committed micro-batch, from /progress.
type batch struct {
	id        int64
	end       map[int32]int64
	started   time.Time // planning began (the progress timestamp minus planning and the offsets-log write)
	committed time.Time
	addBatch  time.Duration // decode, aggregate, the Delta commit, Kafka outputs
	output    int64         // window rows appended: > 0 means a Delta commit
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func run(ctx context.Context, cfg Config, stdout io.Writer) error {
	fmt.Fprintf(stdout, "machine: %s\n", harness.DescribeMachine())
	work, err := os.MkdirTemp("", "sensorlab-latency-")
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
	qf, err := seedQuery(work, cfg)
	if err != nil {
		return err
	}
	cluster, err := kafkaload.StartBroker(topic, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	lakes, err := benchlake.Open(ctx, cfg.Lake, work)
	if err != nil {
		return err
	}
	defer lakes.Close()
	lk, err := lakes.New(ctx, "lake")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lake: %s (lake and checkpoint)\n", lakes)

	srv0, onMinIO, err := lakes.Server(ctx)
	if err != nil {
		return err
	}
	sctx, stopStreamer := context.WithCancel(ctx)
	defer stopStreamer()
	cmd := exec.CommandContext(sctx, streamer, "--brokers", brokers[0], "--query", qf.Path, "--lake", lk.URL,
		"--trigger", "0", "--starting-offsets", "earliest", "--http", httpAddr, "--log-level", "warn")
	if len(lk.Env) > 0 {
		cmd.Env = append(os.Environ(), lk.Env...)
	}
	cmd.Stdout = io.Discard // the console: its rows are what the commit instant bounds
	logs, err := os.Create(filepath.Join(work, "streamer.log"))
	if err != nil {
		return err
	}
	cmd.Stderr = logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start streamer: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitReady(ctx, "http://"+httpAddr+"/readyz", exited); err != nil {
		return err
	}

	// Alerts, as a read_committed consumer sees them.
	type alertSeen struct {
		alert contract.Alert
		at    time.Time
	}
	var (
		amu    sync.Mutex
		alerts []alertSeen
	)
	acl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(alertsTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer acl.Close()
	actx, stopAlerts := context.WithCancel(ctx)
	defer stopAlerts()
	go func() {
		for actx.Err() == nil {
			fs := acl.PollFetches(actx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				var a contract.Alert
				if json.Unmarshal(r.Value, &a) == nil && a.Type == contract.AlertHighTemp {
					amu.Lock()
					alerts = append(alerts, alertSeen{a, now})
					amu.Unlock()
				}
			})
		}
	}()

	// Progress, polled: the streamer keeps the last 100 reports, one per
	// query per batch: the seed's three queries make that 33 batches, more
	// than come in a poll interval.
	var (
		pmu     sync.Mutex
		batches = map[int64]batch{}
	)
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			pollProgress("http://"+httpAddr+"/progress", &pmu, batches)
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
		}
	}()

	// Produce at a steady rate, event time = now.
	pcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer pcl.Close()
	var (
		smu  sync.Mutex
		sent []sentRec
	)
	g := readings.New(cfg.Sensors, 0, 1, 1)
	// Readings go out in small groups (5 ms worth at the rate), each stamped
	// when produced: a steady rate without a Wait per record.
	group := max(1, cfg.Rate/200)
	lim := rate.NewLimiter(rate.Limit(cfg.Rate), group)
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	var produced int64
	for time.Now().Before(end) {
		if err := lim.WaitN(ctx, group); err != nil {
			return err
		}
		for range group {
			ev := g.Next()
			now := time.Now()
			ev.TS = now.UnixMilli()
			v := readings.AppendSeedJSON(nil, ev)
			measured := now.After(measureFrom)
			pcl.Produce(ctx, &kgo.Record{Key: []byte(ev.SensorID), Value: v}, func(r *kgo.Record, err error) {
				if err == nil && measured {
					smu.Lock()
					sent = append(sent, sentRec{r.Partition, r.Offset, now})
					smu.Unlock()
				}
			})
			produced++
		}
	}
	if err := pcl.Flush(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	// Let the streamer commit what was produced and close the last windows.
	settle := cfg.Window + cfg.Watermark + 2*time.Second
	select {
	case <-time.After(settle):
	case err := <-exited:
		return fmt.Errorf("streamer exited: %v", err)
	}
	stopPoll()
	<-pollDone
	pollProgress("http://"+httpAddr+"/progress", &pmu, batches)
	stopAlerts()
	stopStreamer()
	<-exited
	srv1, _, err := lakes.Server(ctx)
	if err != nil {
		return err
	}

	// produce -> committed
	bs := make([]batch, 0, len(batches))
	var lastBatch int64
	for id, b := range batches {
		bs = append(bs, b)
		lastBatch = max(lastBatch, id)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].committed.Before(bs[j].committed) })
	// A batch that follows a long pause (see below) holds the readings that
	// arrived during it; the second figure leaves those batches out, to show
	// what the pauses cost.
	afterPause := func(b batch) bool {
		prev, ok := batches[b.id-1]
		return ok && b.started.Sub(prev.committed) > longPause
	}
	var commitMs, commitNoPauseMs []float64
	missing := 0
	for _, s := range sent {
		i := sort.Search(len(bs), func(i int) bool { return bs[i].end[s.partition] > s.offset })
		if i == len(bs) {
			missing++
			continue
		}
		d := float64(bs[i].committed.Sub(s.at).Microseconds()) / 1000
		commitMs = append(commitMs, d)
		if !afterPause(bs[i]) {
			commitNoPauseMs = append(commitNoPauseMs, d)
		}
	}
	// alert delay
	var alertMs []float64
	wm := cfg.Watermark.Milliseconds()
	for _, a := range alerts {
		closable := time.UnixMilli(a.alert.WinEnd + wm)
		if closable.Before(measureFrom) {
			continue
		}
		alertMs = append(alertMs, float64(a.at.Sub(closable).Microseconds())/1000)
	}
	if len(commitMs) == 0 {
		return fmt.Errorf("no measured reading was matched to a committed batch (%d missing, %d batches seen)", missing, len(bs))
	}
	// addBatch of the batches that appended to the Delta table and of those
	// that did not: the difference is about the commit's cost.
	var addCommit, addNone []float64
	for _, b := range bs {
		d := float64(b.addBatch.Microseconds()) / 1000
		if b.output > 0 {
			addCommit = append(addCommit, d)
		} else {
			addNone = append(addNone, d)
		}
	}
	// The pause between a batch's commit and the next batch's planning:
	// the loop's work outside batches (progress, checkpoint-history purges).
	// Readings that arrive during a pause wait for it.
	var pauseMs []float64
	type pause struct {
		after int64
		d     time.Duration
	}
	var pauses []pause
	for _, b := range bs {
		if next, ok := batches[b.id+1]; ok {
			d := next.started.Sub(b.committed)
			pauseMs = append(pauseMs, float64(d.Microseconds())/1000)
			pauses = append(pauses, pause{b.id, d})
		}
	}
	sort.Slice(pauses, func(i, j int) bool { return pauses[i].d > pauses[j].d })
	lg, err := benchlake.TableLog(ctx, lk.Store, qf.Sink(deltaSink).Sink.Options["path"])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "produced %d readings in %v (%.0f/s); measured %d over %v after %v of warm-up; %d batches seen; %d readings not matched to a batch\n",
		produced, elapsed.Round(time.Millisecond), harness.PerSec(produced, elapsed), len(sent), cfg.Duration, cfg.Warmup, len(bs), missing)
	fmt.Fprintf(stdout, "streamer: --query %s --trigger 0 (queries/seed/streaming.sql with topic %s, window %v, watermark %v, alert threshold %v; %d sensors)\n\n",
		qf.Path, topic, cfg.Window, cfg.Watermark, alertMaxTemp, cfg.Sensors)
	fmt.Fprintln(stdout, "| delay or duration (ms) | samples | p50 | p99 | max |")
	fmt.Fprintln(stdout, "| --- | ---: | ---: | ---: | ---: |")
	row := func(name string, xs []float64) {
		fmt.Fprintf(stdout, "| %s | %d | %.0f | %.0f | %.0f |\n", name, len(xs), harness.Quantile(xs, 0.5), harness.Quantile(xs, 0.99), harness.Quantile(xs, 1))
	}
	row("produce → batch committed (update row out)", commitMs)
	row(fmt.Sprintf("same, without the batches after a pause > %v", longPause), commitNoPauseMs)
	row("alert on the topic after its window could close", alertMs)
	row("addBatch of a batch with a Delta commit", addCommit)
	row("addBatch of a batch without one", addNone)
	row("pause between a batch's commit and the next one's planning", pauseMs)
	var longest []string
	for _, p := range pauses[:min(5, len(pauses))] {
		longest = append(longest, fmt.Sprintf("%v after batch %d", p.d.Round(time.Millisecond), p.after))
	}
	fmt.Fprintf(stdout, "\nlongest pauses: %s\n", strings.Join(longest, ", "))
	fmt.Fprintf(stdout, "stream table: %d Delta commits (version %d), %d checkpoints, over %d batches\n", lg.Commits, lg.Version, lg.Checkpoints, lastBatch+1)
	if onMinIO {
		d := srv1.Since(srv0)
		fmt.Fprintf(stdout, "S3 requests per batch (the streamer's whole run): %s; MinIO's CPU time %v over the run\n",
			benchlake.FormatRequests(d.Requests, int(lastBatch+1)), d.CPU)
	}
	fmt.Fprintf(stdout, "\ntarget: produce → update p99 < 500 ms at 10,000 readings/s: p99 = %.0f ms\n", harness.Quantile(commitMs, 0.99))
	return nil
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("streamer exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("streamer not ready after a minute")
}

// seedQuery writes the seed query file into dir with the harness's topic,
// window, watermark and alert threshold, and checks what the edited file
// says.
func seedQuery(dir string, cfg Config) (harness.QueryFile, error) {
	window := fmt.Sprintf("window(event_time, '%d milliseconds')", cfg.Window.Milliseconds())
	threshold := strconv.FormatFloat(alertMaxTemp, 'f', -1, 64)
	if !strings.ContainsAny(threshold, ".e") {
		threshold += ".0"
	}
	qf, err := harness.WriteQuery(dir, "seed/streaming.sql",
		harness.Edit{Old: "topic = '" + contract.EventsTopic + "'", New: "topic = '" + topic + "'", N: 1},
		harness.Edit{Old: "event_time - INTERVAL '1' MINUTE", New: fmt.Sprintf("event_time - INTERVAL '%d milliseconds'", cfg.Watermark.Milliseconds()), N: 1},
		harness.Edit{Old: "window(event_time, '10 seconds')", New: window, N: 3},
		harness.Edit{Old: "39.5D", New: threshold + "D", N: 2})
	if err != nil {
		return qf, err
	}
	if t, err := qf.SourceTopic(); err != nil || t != topic {
		return qf, fmt.Errorf("the edited seed query reads %q (%v), want %s", t, err, topic)
	}
	src := qf.Program.Sources[0]
	if src.Watermark == nil || src.Watermark.Delay != cfg.Watermark.Microseconds() {
		return qf, fmt.Errorf("the edited seed query's watermark is %+v, want a delay of %v", src.Watermark, cfg.Watermark)
	}
	for _, name := range []string{deltaSink, "console", "alerts"} {
		if qf.Sink(name) == nil {
			return qf, fmt.Errorf("the seed query has no sink %s", name)
		}
	}
	if s := qf.Sink("alerts").Sink; s.Options["topic"] != alertsTopic {
		return qf, fmt.Errorf("the seed's alerts go to %s, the harness reads %s", s.Options["topic"], alertsTopic)
	}
	return qf, nil
}

// pollProgress adds the batches /progress reports to batches. Its reports
// come one per query per batch: they share the batch's offsets and
// durations; the rows appended are those of the Delta sink's query.
func pollProgress(url string, mu *sync.Mutex, batches map[int64]batch) {
	resp, err := http.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var ps []struct {
		Name       string           `json:"name"`
		BatchID    int64            `json:"batchId"`
		Timestamp  string           `json:"timestamp"`
		DurationMs map[string]int64 `json:"durationMs"`
		Sources    []struct {
			EndOffset map[string]map[string]int64 `json:"endOffset"`
		} `json:"sources"`
		Sink struct {
			NumOutputRows int64 `json:"numOutputRows"`
		} `json:"sink"`
	}
	if json.NewDecoder(resp.Body).Decode(&ps) != nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range ps {
		t0, err := time.Parse("2006-01-02T15:04:05.000Z", p.Timestamp)
		if err != nil || len(p.Sources) == 0 {
			continue
		}
		d := p.DurationMs
		// The timestamp is the batch's start after planning; the trigger's
		// duration also counts planning and the offsets-log write.
		committed := t0.Add(time.Duration(d["triggerExecution"]-d["latestOffset"]-d["walCommit"]) * time.Millisecond)
		end := map[int32]int64{}
		for part, off := range p.Sources[0].EndOffset[topic] {
			n, err := strconv.Atoi(part)
			if err == nil {
				end[int32(n)] = off
			}
		}
		started := t0.Add(-time.Duration(d["latestOffset"]+d["walCommit"]) * time.Millisecond)
		b, seen := batches[p.BatchID]
		if !seen {
			b = batch{id: p.BatchID, end: end, started: started, committed: committed,
				addBatch: time.Duration(d["addBatch"]) * time.Millisecond}
		}
		if p.Name == deltaSink {
			b.output = p.Sink.NumOutputRows
		}
		batches[p.BatchID] = b
	}
}
