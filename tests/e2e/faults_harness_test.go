package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// The fault harness (faults_test.go) is steered by two variables:
//
//	SENSORLAB_FAULTS=full       full-length run (default: the short CI run)
//	SENSORLAB_FAULTS_SEED=123   the seed of every random choice (default fixed)
//
// The same seed injects the same faults at the same points of the same
// streams (timing on a busy machine can still move a SIGKILL by a few
// records: what must hold is that no point is unsafe).
const (
	envFaults     = "SENSORLAB_FAULTS"
	envFaultsSeed = "SENSORLAB_FAULTS_SEED"
)

// faultPlan is how hard the harness pushes: the short plan fits CI, the full
// plan is the one whose figures docs/faults.md reports.
type faultPlan struct {
	Mode string
	Seed uint64

	Kills         int // SIGKILLs of the streamer in one run (at least 20)
	KillReadings  int // readings per producer run of the SIGKILL fault
	Terms         int // SIGTERMs during a batch
	Outage        time.Duration
	Outages       int // outages of each kind (Kafka, MinIO) in one run
	OutageRate    int // readings per second produced during an outage run
	OutageLead    time.Duration
	DamageRounds  int // rounds of the four checkpoint damages
	DamageRecords int
}

func faultsPlan(t *testing.T) faultPlan {
	t.Helper()
	p := faultPlan{Mode: "short", Seed: 20261122, Kills: 20, KillReadings: 20_000, Terms: 3,
		Outage: 30 * time.Second, Outages: 1, OutageRate: 400, OutageLead: 5 * time.Second,
		DamageRounds: 1, DamageRecords: 8_000}
	switch m := os.Getenv(envFaults); m {
	case "", "short":
	case "full":
		p.Mode, p.Kills, p.KillReadings, p.Terms = "full", 100, 100_000, 10
		p.Outages, p.OutageRate, p.OutageLead = 3, 1000, 10*time.Second
		p.DamageRounds, p.DamageRecords = 5, 40_000
	default:
		t.Fatalf("%s=%q: want short (default) or full", envFaults, m)
	}
	if v := os.Getenv(envFaultsSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not a number", envFaultsSeed, v)
		}
		p.Seed = s
	}
	return p
}

// rng returns the random source of one fault, derived from the plan's seed
// and the fault's name, so that adding a fault does not move the others.
func (p faultPlan) rng(fault string) *rand.Rand {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(fault); i++ {
		h = (h ^ uint64(fault[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(p.Seed, h))
}

// faultRow is one line of the harness report.
type faultRow struct {
	Fault      string
	Injected   int
	Produced   int64 // readings the producer counted as sent (and the topic holds)
	Expected   int   // closed windows in the reference
	Found      int   // window rows in the lake
	Lost       int   // reference windows missing from the lake or with other values
	Duplicated int   // window rows present more than once
	DeadLetter int   // records in the dead-letter topic
	Note       string
}

// faultReport collects the rows of one harness run.
type faultReport struct {
	plan faultPlan
	mu   sync.Mutex
	rows []faultRow
}

func (r *faultReport) add(row faultRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

// write prints the report to the test log and to $TMPDIR/sensorlab-faults-report.txt.
func (r *faultReport) write(t *testing.T, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "sensorlab fault harness: mode %s, seed %d, %s, %s\n\n", r.plan.Mode, r.plan.Seed,
		elapsed.Round(time.Second), time.Now().UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tinjected\treadings produced\trows expected\trows found\tlost\tduplicated\tdead letters\t")
	for _, row := range r.rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", row.Fault, row.Injected, row.Produced,
			row.Expected, row.Found, row.Lost, row.Duplicated, row.DeadLetter)
	}
	_ = tw.Flush()
	b.WriteString("\n")
	for _, row := range r.rows {
		if row.Note != "" {
			fmt.Fprintf(&b, "%s: %s\n", row.Fault, row.Note)
		}
	}
	path := filepath.Join(os.TempDir(), "sensorlab-faults-report.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("write the fault report: %v", err)
	}
	t.Logf("fault report (also in %s):\n%s", path, b.String())
}

// measure compares the lake with the reference over recs without failing,
// for the report; verifyRecords then fails on any difference.
func (p *pipeline) measure(ctx context.Context, recs []*kgo.Record) faultRow {
	p.t.Helper()
	valid, _ := reference(recs)
	want := closedWindows(valid, windowMs, delayMs)
	r := readStream(p.t, ctx, p.store, -1)
	got := r.Rows
	row := faultRow{Expected: len(want), Found: len(got), Duplicated: len(r.Dups)}
	for k, w := range want {
		if r, ok := got[k]; !ok || !sameWindow(r, k, w, windowMs) {
			row.Lost++
		}
	}
	return row
}

// finish runs the batcher, measures and records the fault's row, then
// verifies the lake, the batch table and the dead-letter topic exactly.
func (p *pipeline) finish(ctx context.Context, rep *faultReport, row faultRow, recs []*kgo.Record) {
	p.t.Helper()
	p.batch(ctx)
	m := p.measure(ctx, recs)
	row.Expected, row.Found, row.Lost, row.Duplicated = m.Expected, m.Found, m.Lost, m.Duplicated
	v := p.verifyRecords(ctx, recs)
	row.DeadLetter = v.Invalid
	rep.add(row)
	if row.Lost != 0 || row.Duplicated != 0 || row.Found != row.Expected {
		p.t.Fatalf("%s: %+v", row.Fault, row)
	}
}

// producer starts the producer against the pipeline's brokers.
func (p *pipeline) producer(args ...string) *proc {
	p.t.Helper()
	base := []string{"--brokers", p.brokerList(), "--rate", "0", "--http", "", "--progress", "1h"}
	return start(p.t, "producer", nil, append(base, args...)...)
}

// produced waits for a producer to exit 0 and returns the number of records
// its final summary counts as sent.
func produced(t testing.TB, ctx context.Context, pr *proc) int64 {
	t.Helper()
	pr.mustSucceed(t, ctx)
	return sentOf(t, pr)
}

// sentOf reads "sent" from the producer's final summary line.
func sentOf(t testing.TB, pr *proc) int64 {
	t.Helper()
	for _, line := range strings.Split(pr.Tail(), "\n") {
		if !strings.Contains(line, `"producer finished"`) {
			continue
		}
		var sum struct {
			Sent   *int64 `json:"sent"`
			Errors int64  `json:"errors"`
		}
		if err := json.Unmarshal([]byte(line), &sum); err != nil || sum.Sent == nil {
			t.Fatalf("producer summary %q: %v", line, err)
		}
		return *sum.Sent
	}
	t.Fatalf("no producer summary in its output:\n%s", pr.Tail())
	return 0
}

// checkSent fails unless the topic holds exactly the records the producer
// counted as sent: nothing it acknowledged was dropped, nothing duplicated.
func checkSent(t testing.TB, sent int64, recs []*kgo.Record) {
	t.Helper()
	if int64(len(recs)) != sent {
		t.Fatalf("the producer counted %d records as sent, the topic holds %d", sent, len(recs))
	}
}

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// awaitStatus polls the service's url until it answers with code (a refused
// connection counts as 0) and returns how long that took. It fails after
// within. Each probe may take 5s, compose's healthcheck timeout.
func awaitStatus(t testing.TB, ctx context.Context, svc, url string, code int, within time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	c := http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		got := 0
		if resp, err := c.Get(url); err == nil {
			got = resp.StatusCode
			_ = resp.Body.Close()
			last = resp.Status
		} else {
			last = err.Error()
		}
		if got == code {
			return time.Since(t0)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s did not answer %d within %v (last: %s)", svc, url, code, within, last)
		case <-tick.C:
		}
	}
}

// exited reports whether the process has exited, without waiting.
func (p *proc) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

// term sends SIGTERM (a graceful stop).
func (p *proc) term(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
}

var (
	devbrokerOnce sync.Once
	devbrokerPath string
	devbrokerErr  error
)

// devbrokerBinary builds (once per test run) tools/devbroker.
func devbrokerBinary(t testing.TB) string {
	t.Helper()
	devbrokerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sensorlab-e2e-devbroker-")
		if err != nil {
			devbrokerErr = err
			return
		}
		devbrokerPath = filepath.Join(dir, "devbroker")
		cmd := exec.Command("go", "build", "-o", devbrokerPath, "./cmd/devbroker")
		cmd.Dir = filepath.Join(repoRoot(t), "tools", "devbroker")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			devbrokerErr = fmt.Errorf("build devbroker: %v\n%s", err, out)
		}
	})
	if devbrokerErr != nil {
		t.Fatal(devbrokerErr)
	}
	return devbrokerPath
}

// devbroker is the Kafka stand-in run as a process, on a fixed address and
// data directory, so that it can be stopped and started again on its data.
type devbroker struct {
	t    testing.TB
	addr string
	dir  string
	p    *proc
}

func startDevbroker(t testing.TB, ctx context.Context) *devbroker {
	t.Helper()
	d := &devbroker{t: t, addr: freeAddr(t), dir: t.TempDir()}
	d.start(ctx)
	return d
}

func (d *devbroker) start(ctx context.Context) {
	d.t.Helper()
	d.p = startPath(d.t, devbrokerBinary(d.t), "devbroker", nil,
		"--listen", d.addr, "--data-dir", d.dir, "--partitions", "3")
	if !d.p.waitLine(ctx, 1, `"devbroker ready"`) {
		d.t.Fatalf("devbroker did not start on %s:\n%s", d.addr, d.p.Tail())
	}
}

// stop stops the broker gracefully (it flushes its data directory).
func (d *devbroker) stop(ctx context.Context) {
	d.t.Helper()
	d.p.term(d.t)
	d.p.mustSucceed(d.t, ctx)
}

// streamerHTTP starts a continuous streamer serving /readyz on a free port
// and returns it with its base URL.
func (p *pipeline) streamerHTTP(args ...string) (*proc, string) {
	p.t.Helper()
	addr := freeAddr(p.t)
	s := p.streamer(append([]string{"--trigger", "0", "--http", addr}, args...)...)
	return s, "http://" + addr
}

// newPipelineAt is a pipeline on brokers and the given lake.
func newPipelineAt(t *testing.T, brokers []string, lakeURL string, env []string, st lake.Store) *pipeline {
	return &pipeline{t: t, brokers: brokers, lakeURL: lakeURL, env: env, store: st}
}

// fileLake opens a new local-directory lake.
func fileLake(t *testing.T) (string, lake.Store) {
	t.Helper()
	u := "file://" + t.TempDir()
	st, err := lake.Open(context.Background(), u, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return u, st
}

// eventsOf reads every record of the events topic.
func (p *pipeline) eventsOf(ctx context.Context) []*kgo.Record {
	p.t.Helper()
	return topicRecords(p.t, ctx, p.brokers, contract.EventsTopic, false)
}
