package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

// originMs is the event-time origin of the fault streams (2024-11-21T14:40:00Z).
const originMs = int64(1732200000000)

// faultStream is a producer run: a seeded stream of readings with
// duplicates, late readings (within the watermark) and invalid records.
type faultStream struct {
	count   int
	seed    uint64
	startMs int64
	step    time.Duration
	invalid bool
}

func (s faultStream) args() []string {
	a := []string{"--count", strconv.Itoa(s.count), "--seed", strconv.FormatUint(s.seed, 10),
		"--start-time", strconv.FormatInt(s.startMs, 10), "--step", s.step.String(),
		"--duplicate-fraction", "0.01", "--late-fraction", "0.02", "--late-by", "10s"}
	if s.invalid {
		a = append(a, "--invalid-fraction", "0.01")
	}
	return a
}

// next is the stream that continues this one in event time.
func (s faultStream) next(count int) faultStream {
	return faultStream{count: count, seed: s.seed + 1, startMs: s.startMs + int64(s.count)*s.step.Milliseconds(),
		step: s.step, invalid: s.invalid}
}

// TestFaults is the fault harness (docs/faults.md): each subtest injects one kind
// of fault into running services, lets them recover by themselves, and
// checks that the lake, the batch output and the dead-letter topic equal an
// independent reference exactly (nothing lost, nothing duplicated) and that
// the producer's count of sent readings equals what the topic holds. The
// report (one row per fault) is logged and written to
// $TMPDIR/sensorlab-faults-report.txt. SENSORLAB_FAULTS=full runs the
// full-length plan; see docs/faults.md.
func TestFaults(t *testing.T) {
	plan := faultsPlan(t)
	rep := &faultReport{plan: plan}
	t0 := time.Now()
	t.Cleanup(func() { rep.write(t, time.Since(t0)) })
	t.Logf("fault harness: mode %s, seed %d (%s=%d reproduces it)", plan.Mode, plan.Seed, envFaultsSeed, plan.Seed)

	t.Run("sigkill", func(t *testing.T) { faultSIGKILL(t, plan, rep) })
	t.Run("sigterm", func(t *testing.T) { faultSIGTERM(t, plan, rep) })
	t.Run("checkpoint-damage", func(t *testing.T) { faultCheckpointDamage(t, plan, rep) })
	t.Run("data-loss", func(t *testing.T) { faultDataLoss(t, plan, rep) })
	t.Run("bad-input", func(t *testing.T) { faultBadInput(t, plan, rep) })
	// The outages mostly wait: they run side by side.
	t.Run("kafka-outage", func(t *testing.T) { t.Parallel(); faultKafkaOutage(t, plan, rep) })
	t.Run("minio-outage", func(t *testing.T) { t.Parallel(); faultMinIOOutage(t, plan, rep) })
}

// newKfakePipeline is a pipeline on an in-process kfake broker and a local
// lake.
func newKfakePipeline(t *testing.T, opts ...kfake.Opt) *pipeline {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	u, st := fileLake(t)
	return newPipelineAt(t, c.ListenAddrs(), u, nil, st)
}

// killed sends SIGKILL unless the process already exited, and reports
// whether the signal is what ended it.
func killed(t *testing.T, ctx context.Context, s *proc) bool {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-s.done:
		s.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return true
			}
		}
		if err != nil {
			t.Fatalf("streamer failed: %v\n%s", err, s.Tail())
		}
		return false
	case <-ctx.Done():
		t.Fatalf("streamer survived SIGKILL")
	}
	return false
}

// faultSIGKILL kills the streamer with SIGKILL at seeded random delays after
// its start (start-up, recovery, planning, fetching, sink writes, Kafka
// transactions, checkpoint writes), at least plan.Kills times, on a MinIO
// lake; more input is produced whenever a run finishes before its kill.
func faultSIGKILL(t *testing.T, plan faultPlan, rep *faultReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	p := newPipeline(t, true)
	rng := plan.rng("sigkill")
	stream := faultStream{count: plan.KillReadings, seed: plan.Seed, startMs: originMs, step: 10 * time.Millisecond, invalid: true}
	var sent int64
	produce := func() {
		sent += produced(t, ctx, p.producer(stream.args()...))
		stream = stream.next(plan.KillReadings / 2)
	}
	produce()
	kills, finished := 0, 0
	for kills < plan.Kills {
		s := p.streamer("--max-offsets-per-trigger", "100")
		timer := time.NewTimer(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		select {
		case <-timer.C:
			if killed(t, ctx, s) {
				kills++
				continue
			}
		case err := <-s.done:
			s.done <- err
			timer.Stop()
		}
		s.mustSucceed(t, ctx)
		finished++
		produce() // the run ended before its kill: give the next one work
	}
	p.streamer("--max-offsets-per-trigger", "100").mustSucceed(t, ctx)
	recs := p.eventsOf(ctx)
	checkSent(t, sent, recs)
	p.finish(ctx, rep, faultRow{Fault: "SIGKILL streamer at a random point", Injected: kills, Produced: sent,
		Note: fmt.Sprintf("delays uniform in [0, 1.5s) after start, max 100 records a batch, MinIO lake; %d runs ended before their kill", finished)},
		recs)
}

// checkpointIDs returns the newest batch id of the offsets log and of the
// commit log (-1 when empty).
func checkpointIDs(t *testing.T, ctx context.Context, st lake.Store) (offsets, commits int64) {
	t.Helper()
	newest := func(dir string) int64 {
		objs, err := st.List(ctx, "_checkpoints/streamer/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		id := int64(-1)
		for _, o := range objs {
			base := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
			if n, err := strconv.ParseInt(strings.TrimSuffix(base, ".json"), 10, 64); err == nil && n > id {
				id = n
			}
		}
		return id
	}
	return newest("offsets/"), newest("commits/")
}

// faultSIGTERM stops the streamer with SIGTERM right after a commit, while
// the next batch is planned or running: it must finish that batch, commit it
// and exit 0, leaving no batch half done.
func faultSIGTERM(t *testing.T, plan faultPlan, rep *faultReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := newKfakePipeline(t)
	rng := plan.rng("sigterm")
	// Each SIGTERM takes up to 4 batches of 1000.
	stream := faultStream{count: 4000 * plan.Terms, seed: plan.Seed + 100, startMs: originMs, step: 20 * time.Millisecond, invalid: true}
	sent := produced(t, ctx, p.producer(stream.args()...))
	inBatch := 0
	for i := 0; i < plan.Terms; i++ {
		s := p.streamer("--max-offsets-per-trigger", "1000")
		if !s.waitLine(ctx, 1+rng.IntN(3), `"batch committed"`) {
			t.Fatalf("streamer ended before the commit awaited:\n%s", s.Tail())
		}
		s.term(t)
		s.mustSucceed(t, ctx)
		after := 0
		for line := range s.lines {
			if strings.Contains(line, `"batch committed"`) {
				after++
			}
		}
		if after > 0 {
			inBatch++
		}
		if !strings.Contains(s.Stderr(), "query stopped cleanly") {
			t.Fatalf("SIGTERM: no clean stop logged:\n%s", s.Tail())
		}
		if o, c := checkpointIDs(t, ctx, p.store); o != c {
			t.Fatalf("after SIGTERM the offsets log ends at batch %d but the commit log at %d: the batch in flight was abandoned", o, c)
		}
	}
	p.streamer("--max-offsets-per-trigger", "1000").mustSucceed(t, ctx)
	recs := p.eventsOf(ctx)
	checkSent(t, sent, recs)
	p.finish(ctx, rep, faultRow{Fault: "SIGTERM during a batch", Injected: plan.Terms, Produced: sent,
		Note: fmt.Sprintf("%d of %d SIGTERMs landed in a batch, which was finished and committed before exit 0", inBatch, plan.Terms)},
		recs)
}

// faultCheckpointDamage damages the newest checkpoint files between runs:
// a truncated or missing commit or state is recovered from the last good
// batch (its successor is re-run identically); a truncated or missing
// offsets entry is refused with an error naming the file and how to
// recover, after which restoring the file lets the query continue.
func faultCheckpointDamage(t *testing.T, plan faultPlan, rep *faultReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := newKfakePipeline(t)
	stream := faultStream{count: plan.DamageRecords, seed: plan.Seed + 200, startMs: originMs, step: 20 * time.Millisecond, invalid: true}
	sent := produced(t, ctx, p.producer(stream.args()...))
	const ck = "_checkpoints/streamer/"
	newest := func(dir string) (string, []byte) {
		objs, err := p.store.List(ctx, ck+dir)
		if err != nil || len(objs) == 0 {
			t.Fatalf("checkpoint %s: %d files, %v", dir, len(objs), err)
		}
		key := objs[len(objs)-1].Key
		b, err := p.store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return key, b
	}
	// run runs the streamer until n more commits and stops it with SIGTERM,
	// after checking that its log says what recovery decided.
	run := func(n int, want ...string) {
		t.Helper()
		s := p.streamer("--max-offsets-per-trigger", "200")
		for _, w := range want {
			if !s.waitLine(ctx, 1, w) {
				t.Fatalf("streamer did not log %s:\n%s", w, s.Tail())
			}
		}
		if !s.waitLine(ctx, n, `"batch committed"`) {
			t.Fatalf("streamer ended before %d commits:\n%s", n, s.Tail())
		}
		s.term(t)
		s.mustSucceed(t, ctx)
	}
	// refused runs the streamer on a damaged offsets log: it must exit 1
	// with an error that says which file is wrong and how to recover.
	refused := func(want string) {
		t.Helper()
		s := p.streamer("--max-offsets-per-trigger", "200")
		if code := s.wait(t, ctx); code != 1 {
			t.Fatalf("streamer on a damaged offsets log exited %d, want 1:\n%s", code, s.Tail())
		}
		out := s.Tail()
		for _, w := range []string{"checkpoint damaged", want, "restore the object from a backup"} {
			if !strings.Contains(out, w) {
				t.Fatalf("refusal does not say %q:\n%s", w, out)
			}
		}
	}
	injected := 0
	run(3)
	for round := 0; round < plan.DamageRounds; round++ {
		key, b := newest("commits/")
		if err := p.store.Put(ctx, key, b[:len(b)/2]); err != nil {
			t.Fatal(err)
		}
		injected++
		run(2, "falling back to an older batch", "re-running a batch planned before the restart")

		key, _ = newest("state/")
		if err := p.store.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		injected++
		run(2, "is missing: falling back to an older batch", "re-running a batch planned before the restart")

		key, _ = newest("commits/")
		if err := p.store.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		injected++
		run(2, "re-running a batch planned before the restart")

		key, b = newest("offsets/")
		if err := p.store.Put(ctx, key, b[:len(b)/2]); err != nil {
			t.Fatal(err)
		}
		injected++
		refused(key[len(ck):])
		if err := p.store.Put(ctx, key, b); err != nil { // the operator restores it from a backup
			t.Fatal(err)
		}
		run(1)

		key, b = newest("offsets/")
		if err := p.store.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		injected++
		refused("the offsets log lost its tail")
		if err := p.store.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
		run(1)
	}
	p.streamer("--max-offsets-per-trigger", "200").mustSucceed(t, ctx)
	recs := p.eventsOf(ctx)
	checkSent(t, sent, recs)
	p.finish(ctx, rep, faultRow{Fault: "checkpoint damage", Injected: injected, Produced: sent,
		Note: "newest commit truncated, newest state missing, newest commit missing: recovered from the last good batch; " +
			"newest offsets entry truncated or missing: refused (exit 1, names the file and the recovery), then restored"},
		recs)
}

// faultDataLoss deletes and recreates the events topic after the streamer
// processed it, so that its offsets are behind the checkpoint: the streamer
// must stop with a clear error by default, and with
// --fail-on-data-loss=false continue from the new topic's start, saying
// what it skipped.
func faultDataLoss(t *testing.T, plan faultPlan, rep *faultReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := newKfakePipeline(t)
	first := faultStream{count: 6000, seed: plan.Seed + 300, startMs: originMs, step: 20 * time.Millisecond, invalid: true}
	sent := produced(t, ctx, p.producer(first.args()...))
	p.streamer().mustSucceed(t, ctx)
	old := p.eventsOf(ctx)
	checkSent(t, sent, old)

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.DeleteTopic(ctx, contract.EventsTopic); err != nil || resp.Err != nil {
		t.Fatalf("delete topic: %v %v", err, resp.Err)
	}
	// The new topic holds a tenth of the old one: every partition ends
	// before the offsets in the checkpoint. Its readings have no invalid
	// record: dead letters are identified by partition and offset, which the
	// new topic reuses.
	second := first.next(600)
	second.invalid = false
	sent2 := produced(t, ctx, p.producer(second.args()...))
	recreated := p.eventsOf(ctx)
	checkSent(t, sent2, recreated)

	s := p.streamer()
	if code := s.wait(t, ctx); code != 1 {
		t.Fatalf("streamer on a recreated topic exited %d, want 1 (fail on data loss):\n%s", code, s.Tail())
	}
	for _, w := range []string{"data loss", "--fail-on-data-loss=false"} {
		if !strings.Contains(s.Stderr(), w) {
			t.Fatalf("the data-loss error does not say %q:\n%s", w, s.Tail())
		}
	}
	s = p.streamer("--fail-on-data-loss=false")
	s.mustSucceed(t, ctx)
	if !strings.Contains(s.Stderr(), "data loss: continuing") {
		t.Fatalf("--fail-on-data-loss=false did not report what it skipped:\n%s", s.Tail())
	}
	p.finish(ctx, rep, faultRow{Fault: "topic recreated behind the checkpoint", Injected: 1, Produced: sent + sent2,
		Note: "default: exit 1 naming the partitions and --fail-on-data-loss=false; with it: continues from the new topic's start and logs the reset"},
		append(old, recreated...))
}

// outage runs one outage: stop, check that each service's /readyz turns 503,
// keep the dependency away for plan.Outage, start it again and wait for
// every /readyz to turn 200. It returns a note with the times measured.
func outage(t *testing.T, ctx context.Context, plan faultPlan, stop, restart func(), ready map[string]string) string {
	t.Helper()
	stop()
	t0 := time.Now()
	var notes []string
	for name, url := range ready {
		awaitStatus(t, ctx, name, url+"/readyz", 503, time.Until(t0.Add(plan.Outage)))
		notes = append(notes, fmt.Sprintf("%s 503 after %.1fs", name, time.Since(t0).Seconds()))
	}
	select { // the fault itself: the dependency stays away this long
	case <-time.After(time.Until(t0.Add(plan.Outage))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	restart()
	t1 := time.Now()
	for name, url := range ready {
		awaitStatus(t, ctx, name, url+"/readyz", 200, 2*time.Minute)
		notes = append(notes, fmt.Sprintf("%s 200 %.1fs after restart", name, time.Since(t1).Seconds()))
	}
	return strings.Join(notes, ", ")
}

// outageStream is what the producer sends during an outage run: it runs
// before, during (buffering, then blocking) and after every outage. Its
// buffer (1000 records of 20ms) bounds how far partitions can drift apart in
// event time, well within the watermark, so no reading is late.
func outageStream(plan faultPlan, seed uint64) (faultStream, []string) {
	lead := int(plan.OutageLead.Seconds()) * plan.OutageRate
	s := faultStream{count: lead*(plan.Outages+1) + 1500*plan.Outages, seed: seed, startMs: originMs,
		step: 20 * time.Millisecond, invalid: true}
	return s, []string{"--rate", strconv.Itoa(plan.OutageRate), "--max-buffered-records", "1000"}
}

// faultKafkaOutage stops the broker (a devbroker process on a data
// directory) for plan.Outage while the producer and the streamer run, then
// starts it again on the same data.
func faultKafkaOutage(t *testing.T, plan faultPlan, rep *faultReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d := startDevbroker(t, ctx)
	u, st := fileLake(t)
	p := newPipelineAt(t, []string{d.addr}, u, nil, st)
	stream, extra := outageStream(plan, plan.Seed+400)
	prodAddr := freeAddr(t)
	pr := p.producer(append(append(stream.args(), extra...), "--http", prodAddr)...)
	s, surl := p.streamerHTTP()
	ready := map[string]string{"streamer": surl, "producer": "http://" + prodAddr}
	for name, url := range ready {
		awaitStatus(t, ctx, name, url+"/readyz", 200, time.Minute)
	}
	var notes []string
	for i := 0; i < plan.Outages; i++ {
		if !s.waitLine(ctx, 2, `"batch committed"`) {
			t.Fatalf("streamer is not committing:\n%s", s.Tail())
		}
		notes = append(notes, outage(t, ctx, plan, func() { d.stop(ctx) }, func() { d.start(ctx) }, ready))
		if pr.exited() && i < plan.Outages-1 {
			t.Fatalf("the producer finished before outage %d: produce more", i+2)
		}
	}
	sent := produced(t, ctx, pr)
	s.term(t)
	s.mustSucceed(t, ctx)
	p.streamer().mustSucceed(t, ctx) // what the watermark closes at the end
	recs := p.eventsOf(ctx)
	checkSent(t, sent, recs)
	p.finish(ctx, rep, faultRow{Fault: fmt.Sprintf("Kafka down %v", plan.Outage), Injected: plan.Outages, Produced: sent,
		Note: strings.Join(notes, "; ")}, recs)
}

// faultMinIOOutage stops MinIO for plan.Outage while the producer, the
// streamer and an interval batcher run, then starts it again on the same
// address and data.
func faultMinIOOutage(t *testing.T, plan faultPlan, rep *faultReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m := laketest.StartMinIO(t)
	m.CreateBucket(t, "lake")
	s3 := m.S3Config()
	env := []string{"S3_ENDPOINT=" + s3.Endpoint, "S3_ACCESS_KEY=" + s3.AccessKey, "S3_SECRET_KEY=" + s3.SecretKey, "S3_USE_SSL=false"}
	p := newPipelineAt(t, c.ListenAddrs(), "s3://lake", env, m.Open(t, "s3://lake"))

	stream, extra := outageStream(plan, plan.Seed+500)
	pr := p.producer(append(stream.args(), extra...)...)
	s, surl := p.streamerHTTP()
	baddr := freeAddr(t)
	b := start(t, "batcher", p.env, "--lake", p.lakeURL, "--interval", "2s", "--http", baddr)
	p.intervalBatcher = true
	ready := map[string]string{"streamer": surl, "batcher": "http://" + baddr}
	for name, url := range ready {
		awaitStatus(t, ctx, name, url+"/readyz", 200, time.Minute)
	}
	var notes []string
	for i := 0; i < plan.Outages; i++ {
		if !s.waitLine(ctx, 2, `"batch committed"`) {
			t.Fatalf("streamer is not committing:\n%s", s.Tail())
		}
		notes = append(notes, outage(t, ctx, plan, func() { m.Stop(t) }, func() { m.Restart(t) }, ready))
	}
	sent := produced(t, ctx, pr)
	s.term(t)
	s.mustSucceed(t, ctx)
	b.term(t)
	b.mustSucceed(t, ctx)
	p.streamer().mustSucceed(t, ctx)
	recs := p.eventsOf(ctx)
	checkSent(t, sent, recs)
	p.finish(ctx, rep, faultRow{Fault: fmt.Sprintf("MinIO down %v", plan.Outage), Injected: plan.Outages, Produced: sent,
		Note: strings.Join(notes, "; ")}, recs)
}
