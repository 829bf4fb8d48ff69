package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// replicaLogs keeps every log line of the replicas with when it came.
type replicaLogs struct {
	mu    sync.Mutex
	lines []replicaLine
}

type replicaLine struct {
	at      time.Time
	replica string
	line    string
}

func (l *replicaLogs) watch(name string, p *proc) {
	go func() {
		for line := range p.lines {
			l.mu.Lock()
			l.lines = append(l.lines, replicaLine{time.Now(), name, line})
			l.mu.Unlock()
		}
	}()
}

// find returns the first line after since, of one of replicas (any if
// none named), that contains every sub.
func (l *replicaLogs) find(since time.Time, replicas []string, subs ...string) (replicaLine, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range l.lines {
		if ln.at.Before(since) || (len(replicas) > 0 && !slices.Contains(replicas, ln.replica)) {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(ln.line, s)
		}
		if ok {
			return ln, true
		}
	}
	return replicaLine{}, false
}

// owned is what a replica last logged it owns.
func (l *replicaLogs) owned(replica string) []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.lines) - 1; i >= 0; i-- {
		ln := l.lines[i]
		if ln.replica != replica || !strings.Contains(ln.line, `"owned":`) {
			continue
		}
		var v struct{ Owned []int32 }
		if json.Unmarshal([]byte(ln.line), &v) == nil {
			return v.Owned
		}
	}
	return nil
}

func (l *replicaLogs) await(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not before the deadline", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestReplicasFailOverWithoutLossOrDuplicates runs the seed lab's own
// query file on three streamer replicas of one consumer group — processes,
// then containers of the streamer image — while the producer sends readings
// without a key (as the seed lab's generator does), which the replicas
// re-key by sensor through the query's repartition topic, and then: kills one (SIGKILL, docker kill), stops another (SIGTERM,
// docker stop), starts one again, and freezes one (SIGSTOP, docker pause)
// past the group's session timeout before resuming it. The stream table,
// the batch table, the dead-letter topic and the alerts (read_committed)
// must equal the reference exactly, no commit of a partition's earlier
// owner may follow a later owner's fence in the table's log, and the time
// from the kill to the killed replica's partition committing batches again
// is measured.
func TestReplicasFailOverWithoutLossOrDuplicates(t *testing.T) {
	t.Run("processes", func(t *testing.T) { replicasFailOver(t, false) })
	t.Run("containers", func(t *testing.T) { replicasFailOver(t, true) })
}

// replica is one streamer replica, a process or a container.
type replica struct {
	*proc
	container string // the container's name; "" for a process
}

func (r replica) signal(t *testing.T, sig syscall.Signal, docker ...string) {
	t.Helper()
	if r.container == "" {
		if err := r.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		return
	}
	if b, err := exec.Command("docker", append(docker, r.container)...).CombinedOutput(); err != nil {
		t.Fatalf("docker %v %s: %v: %s", docker, r.container, err, b)
	}
}

func (r replica) kill(t *testing.T) {
	t.Helper()
	if r.container == "" {
		r.proc.kill(t)
		return
	}
	r.signal(t, syscall.SIGKILL, "kill")
	r.wait(t, context.Background())
}

// stop asks for a graceful stop (SIGTERM; docker stop, which sends it) and
// returns at once.
func (r replica) stop(t *testing.T) {
	t.Helper()
	if r.container == "" {
		r.term(t)
		return
	}
	go func() { _ = exec.Command("docker", "stop", "-t", "30", r.container).Run() }()
}

func (r replica) freeze(t *testing.T) { t.Helper(); r.signal(t, syscall.SIGSTOP, "pause") }
func (r replica) thaw(t *testing.T)   { t.Helper(); r.signal(t, syscall.SIGCONT, "unpause") }

// streamerImage is the streamer's image the e2e setup prepared.
func streamerImage(t *testing.T) string {
	t.Helper()
	file := "compose.yaml"
	if setup.offline {
		file = "compose.offline.yaml"
	}
	c, err := loadCompose(repoRoot(t), file)
	if err != nil {
		t.Fatal(err)
	}
	return c.Services["streamer"].Image
}

func replicasFailOver(t *testing.T, containers bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := newPipeline(t, false)
	var image, lakeDir string
	if containers {
		requireDocker(t)
		image = streamerImage(t)
		// The containers write the lake as the image's user, at the same
		// path as the test reads it.
		lakeDir = strings.TrimPrefix(p.lakeURL, "file://")
		if err := os.Chmod(lakeDir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	stream := faultStream{count: 30_000, seed: 71, startMs: originMs, step: 20 * time.Millisecond}
	pr := p.producer(append(stream.args(), "--rate", "1000", "--key-by-sensor=false")...)
	waitTopic(t, ctx, p.brokers, contract.EventsTopic)

	logs := &replicaLogs{}
	run := 0
	startReplica := func(name string) replica {
		base := []string{"--brokers", p.brokerList(), "--lake", p.lakeURL, "--starting-offsets", "earliest",
			"--http", "", "--trigger", "0", "--group", "sensorlab-replicas",
			"--group-session-timeout", "6s", "--group-idle-timeout", "10s", "--shutdown-timeout", "5s"}
		if !containers {
			s := start(t, "streamer", p.env, base...)
			logs.watch(name, s)
			return replica{proc: s}
		}
		run++
		cname := fmt.Sprintf("sensorlab-e2e-%d-%s-%d", os.Getpid(), name, run)
		args := append([]string{"run", "--rm", "--name", cname, "--network", "host",
			"-v", lakeDir + ":" + lakeDir, image}, base...)
		s := startPath(t, dockerCLI(t), "streamer container "+name, nil, args...)
		t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", cname).Run() })
		logs.watch(name, s)
		return replica{proc: s, container: cname}
	}
	committing := func(since time.Time, name string) func() bool {
		return func() bool { _, ok := logs.find(since, []string{name}, `"batch committed"`); return ok }
	}
	t0 := time.Now()
	r1, r2, r3 := startReplica("r1"), startReplica("r2"), startReplica("r3")
	for _, n := range []string{"r1", "r2", "r3"} {
		logs.await(t, ctx, n+" commits a batch", committing(t0, n))
	}
	logs.await(t, ctx, "the three replicas share the three partitions", func() bool {
		return len(logs.owned("r1")) == 1 && len(logs.owned("r2")) == 1 && len(logs.owned("r3")) == 1
	})

	// SIGKILL r1: the group gives its partition to another replica after
	// the session timeout; its task resumes from the partition's checkpoint.
	lost := logs.owned("r1")
	killed := time.Now()
	r1.kill(t)
	var resumed time.Duration
	logs.await(t, ctx, fmt.Sprintf("partition %v committing again after r1's kill", lost), func() bool {
		ln, ok := logs.find(killed, []string{"r2", "r3"}, `"batch committed"`, fmt.Sprintf(`"partition":%d`, lost[0]))
		resumed = ln.at.Sub(killed)
		return ok
	})
	t.Logf("kill of r1 (partition %v): its partition committed a batch again %v later (session timeout 6s)", lost, resumed.Round(time.Millisecond))

	// SIGTERM r2: it finishes its batches, leaves the group, exits 0.
	r2.stop(t)
	r2.mustSucceed(t, ctx)
	since := time.Now()
	r4 := startReplica("r4")
	logs.await(t, ctx, "r4 commits a batch", committing(since, "r4"))

	// Freeze r3 past the session timeout, then resume it: a zombie.
	r3.freeze(t)
	frozen := time.Now()
	logs.await(t, ctx, "r4 takes every partition while r3 is frozen", func() bool {
		return len(logs.owned("r4")) == 3
	})
	tookOver := time.Since(frozen)
	time.Sleep(time.Until(frozen.Add(9 * time.Second)))
	r3.thaw(t)
	t.Logf("r3 frozen for %v; r4 owned every partition %v after the freeze", time.Since(frozen).Round(time.Millisecond), tookOver.Round(time.Millisecond))

	sent := produced(t, ctx, pr)
	// A last reading of every sensor, five minutes on, moves every
	// partition's watermark past every window the stream made (once the
	// source partitions that sent none of them have been idle for 10 s).
	recs := p.eventsOf(ctx)
	var maxTS int64
	keys := map[string]bool{}
	for _, r := range recs {
		if ev, err := contract.DecodeEvent(r.Value, time.Now().UnixMilli()); err == nil {
			maxTS = max(maxTS, ev.TS)
			keys[ev.SensorID] = true
		}
	}
	var closing []*kgo.Record
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		ev := contract.Event{SensorID: id, TS: maxTS + 5*60_000, Temp: 20, Hum: 50, OK: true}
		closing = append(closing, &kgo.Record{Topic: contract.EventsTopic, Key: []byte(id), Value: contract.AppendJSON(nil, ev)})
	}
	produceRecords(t, ctx, p.brokers, closing)
	recs = p.eventsOf(ctx)
	checkSent(t, sent+int64(len(closing)), recs)
	valid, _ := reference(recs)
	want := closedWindows(valid, windowMs, delayMs)
	logs.await(t, ctx, fmt.Sprintf("the stream table holds the %d closed windows", len(want)), func() bool {
		return len(streamRows(t, ctx, p.store)) >= len(want)
	})

	for _, s := range []replica{r3, r4} {
		s.stop(t)
	}
	for name, s := range map[string]replica{"r3 (resumed after its freeze)": r3, "r4": r4} {
		if code := s.wait(t, ctx); code != 0 {
			t.Fatalf("%s exited %d:\n%s", name, code, s.Tail())
		}
	}
	// No zombie commit entered the stream table: each partition's txn
	// version (owner epoch << 32 + batch + 1) never goes back in the log,
	// as it would if an owner's commit landed after a later owner's fence.
	checkNoZombieCommit(t, ctx, p.store)
	checkRepartitionedOnce(t, ctx, p.brokers, recs)
	p.batch(ctx)
	v := p.verifyRecords(ctx, recs)
	t.Logf("three replicas, one killed, one stopped, one added, one frozen: %d windows, %d readings, none lost or duplicated", v.Windows, v.Valid)
}

// waitTopic waits until the topic exists.
func waitTopic(t *testing.T, ctx context.Context, brokers []string, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		tds, err := adm.ListTopics(ctx, topic)
		if err == nil && tds.Has(topic) && tds[topic].Err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s never appeared", topic)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// produceRecords sends recs and waits for their acknowledgement.
func produceRecords(t *testing.T, ctx context.Context, brokers []string, recs []*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// checkNoZombieCommit reads the stream table's log, commit by commit, and
// fails if a txn version of an appId is below one an earlier commit holds:
// a commit of a partition's earlier owner after its later owner's fence.
func checkNoZombieCommit(t *testing.T, ctx context.Context, st lake.Store) {
	t.Helper()
	objs, err := st.List(ctx, "stream/_delta_log/")
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]int64{}
	fences := 0
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		b, err := st.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		adds := 0
		var txns []struct {
			AppID   string `json:"appId"`
			Version int64  `json:"version"`
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var a struct {
				Txn *struct {
					AppID   string `json:"appId"`
					Version int64  `json:"version"`
				} `json:"txn"`
				Add *struct{} `json:"add"`
			}
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			if a.Add != nil {
				adds++
			}
			if a.Txn != nil {
				txns = append(txns, *a.Txn)
			}
		}
		for _, x := range txns {
			if prev, ok := last[x.AppID]; ok && x.Version < prev {
				t.Fatalf("%s: appId %s at txn version %#x (owner epoch %d) after %#x (epoch %d): an earlier owner committed after a later one's fence",
					o.Key, x.AppID, x.Version, x.Version>>32, prev, prev>>32)
			}
			last[x.AppID] = x.Version
			if adds == 0 {
				fences++
			}
		}
	}
	t.Logf("stream table log: %d partitions' txns, %d owner fences, no commit of an earlier owner after a fence", len(last), fences)
}

// checkRepartitionedOnce reads the query's repartition topic as a
// read_committed consumer: every record of the events topic is there once
// (by the source position its origin headers give), keyed by its sensor,
// whatever replica was killed, stopped or frozen while re-keying it; a
// zombie's transaction left nothing there.
func checkRepartitionedOnce(t *testing.T, ctx context.Context, brokers []string, source []*kgo.Record) {
	t.Helper()
	const topic = "sensorlab-replicas-sensors-repartition"
	seen := map[string]*kgo.Record{}
	for _, r := range topicRecords(t, ctx, brokers, topic, true) {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		at := h[contract.HeaderOriginPartition] + "/" + h[contract.HeaderOriginOffset]
		if seen[at] != nil {
			t.Fatalf("%s: the record at %s of %s is there twice", topic, at, contract.EventsTopic)
		}
		seen[at] = r
	}
	for _, r := range source {
		at := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
		got, ok := seen[at]
		if !ok {
			t.Fatalf("%s: the record at %s of %s is missing", topic, at, contract.EventsTopic)
		}
		if ev, err := contract.DecodeEvent(r.Value, time.Now().UnixMilli()); err == nil && string(got.Key) != ev.SensorID {
			t.Fatalf("%s: the record at %s is keyed %q, want its sensor %s", topic, at, got.Key, ev.SensorID)
		}
		delete(seen, at)
	}
	if len(seen) != 0 {
		t.Fatalf("%s holds %d records that are not in %s", topic, len(seen), contract.EventsTopic)
	}
	t.Logf("%s: each of the %d records once, keyed by sensor", topic, len(source))
}
