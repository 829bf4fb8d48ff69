package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

const (
	windowMs = 10_000
	delayMs  = 60_000
	// origin of the test streams' event time: 2024-11-21T14:40:00Z.
	origin = "2024-11-21T14:40:00Z"
)

// pipeline is one broker and one lake, and the services run against them.
type pipeline struct {
	t       *testing.T
	brokers []string
	lakeURL string
	env     []string
	store   lake.Store
	// batchRuns counts the one-shot batcher runs (batch); intervalBatcher
	// is set when a batcher also ran on an interval, whose runs are not
	// counted.
	batchRuns       int
	intervalBatcher bool
}

func newPipeline(t *testing.T, onMinIO bool) *pipeline {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p := &pipeline{t: t, brokers: c.ListenAddrs()}
	if onMinIO {
		m := laketest.StartMinIO(t)
		m.CreateBucket(t, "lake")
		p.lakeURL = "s3://lake"
		s3 := m.S3Config()
		p.env = []string{"S3_ENDPOINT=" + s3.Endpoint, "S3_ACCESS_KEY=" + s3.AccessKey,
			"S3_SECRET_KEY=" + s3.SecretKey, "S3_USE_SSL=false"}
		p.store = m.Open(t, p.lakeURL)
	} else {
		dir := t.TempDir()
		p.lakeURL = "file://" + dir
		st, err := lake.Open(context.Background(), p.lakeURL, lake.S3Config{})
		if err != nil {
			t.Fatal(err)
		}
		p.store = st
	}
	return p
}

func (p *pipeline) brokerList() string {
	s := ""
	for i, b := range p.brokers {
		if i > 0 {
			s += ","
		}
		s += b
	}
	return s
}

func (p *pipeline) produce(ctx context.Context, args ...string) {
	p.t.Helper()
	base := []string{"--brokers", p.brokerList(), "--rate", "0", "--http", "", "--progress", "1h"}
	start(p.t, "producer", nil, append(base, args...)...).mustSucceed(p.t, ctx)
}

func (p *pipeline) streamer(args ...string) *proc {
	p.t.Helper()
	base := []string{"--brokers", p.brokerList(), "--lake", p.lakeURL, "--starting-offsets", "earliest",
		"--trigger", "available-now", "--http", ""}
	return start(p.t, "streamer", p.env, append(base, args...)...)
}

func (p *pipeline) batch(ctx context.Context) {
	p.t.Helper()
	start(p.t, "batcher", p.env, "--lake", p.lakeURL).mustSucceed(p.t, ctx)
	p.batchRuns++
}

// verify checks the whole lake against an independent computation over the
// readings in the topic: every window row, the batch table and the
// dead-letter topic.
func (p *pipeline) verify(ctx context.Context) verified {
	p.t.Helper()
	return p.verifyRecords(ctx, topicRecords(p.t, ctx, p.brokers, contract.EventsTopic, false))
}

// verified is what a passing verification found.
type verified struct {
	Valid, Invalid int // readings the reference accepted, records it rejected
	Windows        int // closed windows, in the reference and in the lake
	Accepted       int64
	DeadLetters    map[string]int // by reason
}

// verifyRecords checks the whole lake against an independent computation over
// recs (every record the streamer had to read, possibly from several
// incarnations of the topic): every window row of the stream table, the
// batch table and the dead-letter topic, read as a Delta reader reads them.
func (p *pipeline) verifyRecords(ctx context.Context, recs []*kgo.Record) verified {
	t := p.t
	t.Helper()
	valid, invalid := reference(recs)
	want := closedWindows(valid, windowMs, delayMs)
	checkWindows(t, streamRows(t, ctx, p.store), want, windowMs)

	var accepted int64
	for _, w := range want {
		accepted += w.n
	}
	runs := p.batchRuns
	if p.intervalBatcher {
		runs = -1
	}
	checkBatch(t, ctx, p.store, consolidate(want), accepted, runs)

	// Every invalid record is in the dead-letter topic with its reason,
	// exactly once for a read_committed consumer, crashes or not.
	dlq := map[string]string{}
	for _, r := range topicRecords(t, ctx, p.brokers, contract.DLQTopic, true) {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		src := h[contract.HeaderSourcePartition] + "@" + h[contract.HeaderSourceOffset]
		if _, dup := dlq[src]; dup {
			t.Fatalf("record %s is in the dead-letter topic twice", src)
		}
		dlq[src] = h[contract.HeaderReason]
	}
	byReason := map[string]int{}
	for _, r := range dlq {
		byReason[r]++
	}
	if fmt.Sprint(byReason) != fmt.Sprint(invalid) {
		t.Fatalf("dead letters by reason %v, reference %v", byReason, invalid)
	}
	alerts := checkAlerts(t, ctx, p.brokers, want)
	t.Logf("readings valid=%d invalid=%d; windows=%d; accepted in closed windows=%d; dead letters=%v; high_temp alerts=%d",
		len(valid), len(dlq), len(want), accepted, byReason, alerts)
	return verified{Valid: len(valid), Invalid: len(dlq), Windows: len(want), Accepted: accepted, DeadLetters: byReason}
}

// alertThreshold is the seed's alerts query's (HAVING max(temp) > 39.5D).
const alertThreshold = 39.5

// checkAlerts checks the alerts topic, as a read_committed consumer: exactly
// one high_temp alert per closed window whose max temperature exceeds the
// threshold, none for the others, crashes or not, and no other alert.
// It returns the number of high_temp alerts.
func checkAlerts(t testing.TB, ctx context.Context, brokers []string, closed map[winKey]winAgg) int {
	t.Helper()
	got := map[string]bool{}
	high := 0
	for _, r := range topicRecords(t, ctx, brokers, contract.AlertsTopic, true) {
		var a contract.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("alert %q: %v", r.Value, err)
		}
		key := fmt.Sprintf("%s %s %d", a.Type, a.SensorID, a.TS)
		if got[key] {
			t.Fatalf("alert %s is in the alerts topic twice", r.Value)
		}
		got[key] = true
		if a.Type != contract.AlertHighTemp {
			t.Fatalf("alert %s: type %q, the seed's alerts query writes only %s", r.Value, a.Type, contract.AlertHighTemp)
		}
		high++
		w, ok := closed[winKey{a.WinStart, a.SensorID}]
		if !ok || w.maxT <= alertThreshold || a.MaxTemp != w.maxT {
			t.Fatalf("alert %s: no closed window above %v matches it (reference %+v, found %v)", r.Value, alertThreshold, w, ok)
		}
	}
	for k, w := range closed {
		if w.maxT > alertThreshold && !got[fmt.Sprintf("%s %s %d", contract.AlertHighTemp, k.sensor, k.start+windowMs)] {
			t.Fatalf("no high_temp alert for window (%d, %s) with max_temp %v", k.start, k.sensor, w.maxT)
		}
	}
	return high
}

// TestSeedParity runs 50,000 seed readings (with duplicates, out-of-order
// readings within the watermark and invalid records) through producer →
// broker → streamer (available-now) → batcher, and compares the lake with an
// independent computation of the seed's formulas over the same readings.
// Its batches are small enough for more than 20 commits, so that the stream
// table is read from a checkpoint; then the table is maintained as a user
// would (maintainStream: optimize, time travel, vacuum, log cleanup) and
// 12,000 more readings go through.
func TestSeedParity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := newPipeline(t, false)
	const count, step = 50_000, 20 * time.Millisecond
	p.produce(ctx, "--count", strconv.Itoa(count), "--seed", "42", "--start-time", origin, "--step", step.String(),
		"--invalid-fraction", "0.01", "--duplicate-fraction", "0.01", "--late-fraction", "0.02", "--late-by", "20s")
	p.streamer("--max-offsets-per-trigger", "2000").mustSucceed(t, ctx)
	p.batch(ctx)
	p.verify(ctx)
	p.maintainStream(ctx, faultStream{count: 12_000, seed: 43, startMs: originMs + count*step.Milliseconds(), step: step, invalid: true})
}

// TestCrashSafety kills the streamer with SIGKILL at several points of a run
// (before its first commit, and at seeded delays after later commits, which
// land in planning, fetching, sink writes or the checkpoint), restarts it
// each time, and checks that the final lake equals the reference exactly: no
// window lost, none written twice, in the stream table's snapshot.
func TestCrashSafety(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newPipeline(t, true)
	p.produce(ctx, "--count", "30000", "--seed", "7", "--start-time", origin, "--step", "30ms",
		"--invalid-fraction", "0.01", "--late-fraction", "0.02", "--late-by", "20s")

	seed := uint64(20261121)
	if s, err := strconv.ParseUint(os.Getenv("SENSORLAB_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	kills := 0
	// Kill once right after start-up, then after later commits.
	for _, afterCommits := range []int{0, 3, 5, 8, 13} {
		s := p.streamer("--max-offsets-per-trigger", "350")
		if afterCommits == 0 {
			if !s.waitLine(ctx, 1, `"query started"`) {
				t.Fatalf("streamer did not start:\n%s", s.Tail())
			}
		} else if !s.waitLine(ctx, afterCommits, `"batch committed"`) {
			t.Fatalf("streamer ended before commit %d:\n%s", afterCommits, s.Tail())
		}
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		s.kill(t)
		kills++
	}
	p.streamer("--max-offsets-per-trigger", "350").mustSucceed(t, ctx)
	t.Logf("streamer killed %d times (seed %d)", kills, seed)
	p.batch(ctx)
	p.verify(ctx)
}
