package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/queries"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
)

// keyedSeed writes the seed lab's query file with its source declared
// keyed by sensor_id (as the producer keys it) and returns its path.
func keyedSeed(t *testing.T) string {
	t.Helper()
	b, err := fs.ReadFile(queries.FS, queries.SeedStreaming)
	if err != nil {
		t.Fatal(err)
	}
	const with = "late_topic = 'eventos_sensores.late')"
	text := strings.Replace(string(b), with, "late_topic = 'eventos_sensores.late', key = 'sensor_id')", 1)
	if text == string(b) {
		t.Fatalf("the seed query file no longer ends its source with %q", with)
	}
	path := filepath.Join(t.TempDir(), "keyed.sql")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// replicaConfig is the world's configuration for a replica of the keyed
// seed queries: group seed-replicas, continuous trigger.
func (w *world) replicaConfig(extra ...func(*config.Config)) config.Config {
	w.t.Helper()
	return w.config(append([]func(*config.Config){func(c *config.Config) {
		c.Query = keyedSeed(w.t)
		c.Group = "seed-replicas"
		c.Trigger = config.TriggerContinuous
	}}, extra...)...)
}

// startReplica runs a replica of cfg until its context is cancelled; the
// returned stop cancels it and waits for it to leave the group.
func (w *world) startReplica(cfg config.Config) (*replica, func()) {
	w.t.Helper()
	name, text, err := queryText(cfg.Query)
	if err != nil {
		w.t.Fatal(err)
	}
	prog, err := driver.Compile(name, text)
	if err != nil {
		w.t.Fatal(err)
	}
	rekey, err := driver.RepartitionKey(prog)
	if err != nil {
		w.t.Fatal(err)
	}
	r := newReplica(cfg, name, text, prog, rekey, quietLog(), discard{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.run(ctx); err != nil {
			w.t.Errorf("replica: %v", err)
		}
	}()
	return r, func() { cancel(); wg.Wait() }
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Replicas of one query share its partitions: with two, then one (the
// other stopped mid-stream), then two again (one added back), the stream
// table holds every closed window of every sensor once, as one streamer
// writes it, and each partition has its own checkpoint. Keyed: the source
// is declared keyed by sensor_id and the records are. Re-keyed: the seed's
// own file over records without a key, spread round robin (as the seed's
// generator and kcat without -K send them), some of them not readings, go
// through the repartition topic; each invalid record is dead-lettered
// once, naming its place in the source topic.
func TestReplicasShareThePartitionsAndWriteEachWindowOnce(t *testing.T) {
	t.Run("keyed", func(t *testing.T) { testReplicasShareThePartitions(t, false) })
	t.Run("re-keyed", func(t *testing.T) { testReplicasShareThePartitions(t, true) })
}

func testReplicasShareThePartitions(t *testing.T, unkeyed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t)
	cfg := w.replicaConfig()
	var invalid []string
	if unkeyed {
		cfg.Query = "" // the seed's own file
		// The closing readings below come from some origin partitions
		// only: the others, idle, must stop holding the watermark.
		cfg.GroupIdleTimeout = 5 * time.Second
		w.unkeyed = true
		invalid = []string{"{not json", `{"sensor_id": "S001"}`, `{"sensor_id": "", "ts": 1, "temp": 1, "hum": 1, "ok": true}`}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	ts := origin
	produce := func(n int) {
		w.produce(ctx, rng, ts, n, invalid...)
		ts += int64(n) * 100
	}
	owned := func(rs ...*replica) [][]int32 {
		out := make([][]int32, len(rs))
		for i, r := range rs {
			out[i], _ = r.owned()
		}
		return out
	}
	shared := func(rs ...*replica) func() bool {
		return func() bool {
			var all []int32
			for _, ps := range owned(rs...) {
				if len(ps) == 0 {
					return false
				}
				all = append(all, ps...)
			}
			slices.Sort(all)
			return slices.Equal(all, []int32{0, 1, 2})
		}
	}

	produce(1500)
	a, stopA := w.startReplica(cfg)
	b, stopB := w.startReplica(cfg)
	defer stopB()
	waitFor(t, ctx, shared(a, b))
	t.Logf("two replicas own %v", owned(a, b))
	produce(1500)
	waitFor(t, ctx, func() bool { return len(w.committedRows(ctx)) > 0 })

	stopA() // mid-stream: b takes a's partitions over
	waitFor(t, ctx, shared(b))
	produce(1500)
	c, stopC := w.startReplica(cfg)
	defer stopC()
	waitFor(t, ctx, shared(b, c))
	t.Logf("after a stopped and c joined: %v", owned(b, c))
	produce(1500)

	// A last reading of every sensor, five minutes on, moves every
	// partition's watermark past every window above.
	closing := ts + 5*60_000
	for i := 1; i <= 20; i++ {
		w.produceRecord(ctx, contract.Event{SensorID: fmt.Sprintf("S%03d", i), TS: closing, Temp: 20, Hum: 50, OK: true})
	}
	want := expected(w.sent, 10_000, 60_000)
	waitFor(t, ctx, func() bool { return len(w.committedRows(ctx)) >= len(want) })
	compareRows(t, w.committedRows(ctx), want)

	// Each partition's task commits its alerts in its own transactions:
	// read_committed, every hot window's alert is there once.
	var wantAlerts, gotAlerts []string
	for k, r := range want {
		if r.MaxTemp > 39.5 {
			wantAlerts = append(wantAlerts, fmt.Sprintf("%s@%d", k.sensor, k.start))
		}
	}
	waitFor(t, ctx, func() bool {
		gotAlerts = gotAlerts[:0]
		for _, r := range committedRecords(t, ctx, w.brokers, contract.AlertsTopic) {
			var a contract.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatalf("alert %s: %v", r.Value, err)
			}
			gotAlerts = append(gotAlerts, fmt.Sprintf("%s@%d", a.SensorID, a.WinStart))
		}
		return len(gotAlerts) >= len(wantAlerts)
	})
	slices.Sort(wantAlerts)
	slices.Sort(gotAlerts)
	if len(wantAlerts) == 0 || !slices.Equal(gotAlerts, wantAlerts) {
		t.Fatalf("alerts: got %d, want %d (%v, want %v)", len(gotAlerts), len(wantAlerts), gotAlerts, wantAlerts)
	}

	// The replica's status: each task's progress, rows and series, the
	// series labelled with the partition.
	h := newHandler(quietLog(), b)
	ps, _ := b.owned()
	metrics := string(get(t, h, "/metrics"))
	for _, p := range ps {
		if want := fmt.Sprintf(`sensorlab_streamer_batches_total{partition="%d"}`, p); !strings.Contains(metrics, want) {
			t.Errorf("/metrics of a replica owning %v has no %s", ps, want)
		}
	}
	if strings.Count(metrics, "# TYPE go_goroutines ") != 1 {
		t.Error("/metrics repeats the process's own series per partition")
	}
	// What Prometheus scrapes: a series that has a partition label of its
	// own (the consumer lag's) keeps that one only.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(metrics)); err != nil {
		t.Errorf("/metrics of a replica cannot be scraped: %v", err)
	}
	var reports []struct {
		Sources []struct{ StartOffset map[string]map[string]int64 }
	}
	if err := json.Unmarshal(get(t, h, "/progress"), &reports); err != nil || len(reports) == 0 {
		t.Fatalf("/progress: %d reports, %v", len(reports), err)
	}
	var rows []driver.QueryRows
	if err := json.Unmarshal(get(t, h, "/rows"), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("/rows: %v, %v", rows, err)
	}
	if string(get(t, h, "/readyz")) != "ready\n" {
		t.Error("/readyz: a replica whose tasks run is not ready")
	}
	// Its view of the whole query: every partition, those it runs marked,
	// each with its newest commit, whichever replica made it.
	var g GroupStatus
	if err := json.Unmarshal(get(t, h, "/group"), &g); err != nil {
		t.Fatalf("/group: %v", err)
	}
	var mine []int32
	for _, p := range g.Partitions {
		if p.Owned {
			mine = append(mine, p.Partition)
		}
		if p.BatchID < 0 || p.WatermarkMs <= 0 {
			t.Errorf("/group: partition %d has no commit known: %+v", p.Partition, p)
		}
	}
	if len(g.Partitions) != 3 || !slices.Equal(mine, ps) || g.WatermarkMs <= 0 || g.Group != "seed-replicas" {
		t.Errorf("/group: %+v; want 3 partitions, %v run here, a query watermark", g, ps)
	}
	if unkeyed != (g.Topic == "seed-replicas-sensors-repartition") || unkeyed != (g.RepartitionedRecords > 0) {
		t.Errorf("/group: topic %s, %d records re-keyed here", g.Topic, g.RepartitionedRecords)
	}
	metrics = string(get(t, h, "/metrics"))
	for p := range int32(3) {
		owner := "other"
		if slices.Contains(ps, p) {
			owner = "self"
		}
		series := fmt.Sprintf(`sensorlab_streamer_group_partition_last_batch{owner="%s",partition="%d"} `, owner, p)
		if !strings.Contains(metrics, series) {
			t.Errorf("/metrics has no %s", series)
		}
	}
	if unkeyed != strings.Contains(metrics, "sensorlab_streamer_repartitioned_records_total ") {
		t.Errorf("/metrics: repartitioned_records_total present %v, want %v", !unkeyed, unkeyed)
	}

	if unkeyed {
		// Every invalid record once in the dead-letter topic, with its
		// reason and its own topic, partition and offset, not the
		// repartition topic's.
		dead := committedRecords(t, ctx, w.brokers, contract.DLQTopic)
		if want := 4 * len(invalid); len(dead) != want {
			t.Errorf("%d dead letters, want %d (each invalid record once)", len(dead), want)
		}
		seen := map[string]bool{}
		for _, r := range dead {
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			at := h[contract.HeaderSourceTopic] + "/" + h[contract.HeaderSourcePartition] + "/" + h[contract.HeaderSourceOffset]
			if h[contract.HeaderSourceTopic] != contract.EventsTopic || seen[at] || h[contract.HeaderReason] == "" || r.Key != nil {
				t.Errorf("dead letter %q at %s (reason %q, key %q): want the source topic's own place, once, a reason and no key", r.Value, at, h[contract.HeaderReason], r.Key)
			}
			seen[at] = true
			for k := range h {
				if strings.HasPrefix(k, "sensorlab.origin.") {
					t.Errorf("dead letter %q keeps the repartition header %s", r.Value, k)
				}
			}
		}
		if got := b.stage.Records(); got == 0 {
			t.Error("replica b re-keyed no record")
		}
	}

	for p := range 3 {
		key := fmt.Sprintf("_checkpoints/streamer/partitions/%d/metadata.json", p)
		if _, err := w.store.Get(ctx, key); err != nil {
			t.Errorf("partition %d has no checkpoint of its own: %v", p, err)
		}
	}
	if _, err := w.store.Get(ctx, "_checkpoints/streamer/metadata.json"); err == nil {
		t.Error("replicas wrote a checkpoint for every partition at once: each partition's task keeps its own")
	}
}

// produceRecord sends one reading keyed by its sensor.
func (w *world) produceRecord(ctx context.Context, ev contract.Event) {
	w.t.Helper()
	w.sent = append(w.sent, ev)
	r := &kgo.Record{Topic: contract.EventsTopic, Key: []byte(ev.SensorID), Value: contract.AppendJSON(nil, ev)}
	if err := w.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
}

// With --group, the aggregating queries must share a group column the
// records can be re-keyed by: a file whose queries share none is refused
// at start with what to write.
func TestReplicasRefuseQueriesWithoutACommonKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := newWorld(t)
	b, err := fs.ReadFile(queries.FS, queries.SeedStreaming)
	if err != nil {
		t.Fatal(err)
	}
	// The alerts per window only, over every sensor.
	text := strings.Replace(string(b), "GROUP BY window(event_time, '10 seconds'), sensor_id\nHAVING", "GROUP BY window(event_time, '10 seconds')\nHAVING", 1)
	text = strings.Replace(text, "       sensor_id,\n       unix_millis(window.end)", "       unix_millis(window.end)", 1)
	text = strings.Replace(text, "mode = 'append', key = 'sensor_id') AS", "mode = 'append') AS", 1)
	path := filepath.Join(t.TempDir(), "windows.sql")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := w.config(func(c *config.Config) { c.Query = path; c.Group = "g"; c.Trigger = config.TriggerContinuous })
	var logs strings.Builder
	if code := Main(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, s := range []string{"re-keyed through a repartition topic", "stream, console, alerts share none", "without --group"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("the refusal %q does not say %q", logs.String(), s)
		}
	}
	if objs, _ := w.store.List(ctx, ""); len(objs) != 0 {
		t.Fatalf("the refused start wrote %d objects", len(objs))
	}
}

// An idle partition does not hold its windows open: once it has read
// nothing for the idle timeout, its watermark follows the active
// partitions' (read from their checkpoints, their tasks running in other
// replicas), and its windows close.
func TestAnIdlePartitionClosesItsWindowsByTheQueryWatermark(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t)
	cfg := w.replicaConfig(func(c *config.Config) { c.GroupIdleTimeout = time.Second })
	var rs []*replica
	for range 3 {
		r, stop := w.startReplica(cfg)
		defer stop()
		rs = append(rs, r)
	}
	waitFor(t, ctx, func() bool {
		for _, r := range rs {
			if ps, _ := r.owned(); len(ps) != 1 {
				return false
			}
		}
		return true
	})
	w.produce(ctx, rand.New(rand.NewPCG(9, 9)), origin, 1500)
	last := origin + 1500*100
	// Only S001's partition reads on: the other two are idle from here.
	w.produceRecord(ctx, contract.Event{SensorID: "S001", TS: last + 5*60_000, Temp: 20, Hum: 50, OK: true})
	want := expected(w.sent, 10_000, 60_000)
	waitFor(t, ctx, func() bool { return len(w.committedRows(ctx)) >= len(want) })
	compareRows(t, w.committedRows(ctx), want)
}

// The watermark an idle partition follows: the least of the partitions
// still reading (a partition behind on its backlog holds it back, so that
// its readings are not made late), the greatest when every partition is
// idle; never its own, nor one nobody committed.
func TestTheWatermarkAnIdlePartitionFollows(t *testing.T) {
	now := time.Now()
	r := &replica{cfg: config.Config{GroupIdleTimeout: 10 * time.Second}, wms: map[int32]partitionWatermark{}}
	if got := r.sharedWatermark(0); got != 0 {
		t.Fatalf("nothing committed: %d, want 0", got)
	}
	r.noteWatermark(0, 900, now)                   // the idle partition itself
	r.noteWatermark(1, 500, now.Add(-time.Minute)) // idle
	r.noteWatermark(2, 700, now)                   // active
	r.noteWatermark(3, 300, now.Add(-time.Second)) // active, behind
	if got := r.sharedWatermark(0); got != 300 {
		t.Fatalf("two active partitions at 700 and 300: %d, want 300", got)
	}
	r.noteWatermark(3, 800, time.Time{}) // a commit without input: its last input stays
	if got := r.sharedWatermark(0); got != 700 {
		t.Fatalf("active partitions at 700 and 800: %d, want 700", got)
	}
	r.wms[2] = partitionWatermark{wm: 700, active: now.Add(-time.Hour)}
	r.wms[3] = partitionWatermark{wm: 800, active: now.Add(-time.Hour)}
	if got := r.sharedWatermark(0); got != 800 {
		t.Fatalf("every partition idle: %d, want the greatest of the others, 800", got)
	}
}

// A replica started before its topic exists (the producer creates it)
// waits for it, then gets its partitions.
func TestAReplicaWaitsForItsTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := &world{t: t, brokers: c.ListenAddrs(), lakeURL: "file://" + t.TempDir()}
	cfg := w.replicaConfig()
	r, stop := w.startReplica(cfg)
	defer stop()
	time.Sleep(500 * time.Millisecond)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, contract.EventsTopic); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, func() bool { ps, _ := r.owned(); return slices.Equal(ps, []int32{0, 1}) })
}

// A checkpoint written without --group is refused by a replica, and one
// written by replicas by a streamer without --group: either would read the
// topic again from the start and write the table's windows a second time.
func TestReplicasAndASingleStreamerRefuseEachOthersCheckpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	refused := func(w *world, cfg config.Config, says ...string) {
		t.Helper()
		before, err := w.store.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var logs strings.Builder
		if code := Main(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard); code != 1 {
			t.Fatalf("exit code %d, want 1:\n%s", code, logs.String())
		}
		for _, s := range says {
			if !strings.Contains(logs.String(), s) {
				t.Errorf("the refusal %q does not say %q", logs.String(), s)
			}
		}
		if after, _ := w.store.List(ctx, ""); len(after) != len(before) {
			t.Fatalf("the refused start changed the lake: %d objects, then %d", len(before), len(after))
		}
	}

	w := newWorld(t)
	w.produce(ctx, rand.New(rand.NewPCG(3, 4)), 1_700_000_000_000, 2000)
	w.run(ctx, w.config(func(c *config.Config) { c.Query = keyedSeed(t) }))
	if len(w.committedRows(ctx)) == 0 {
		t.Fatal("the single streamer wrote no window")
	}
	refused(w, w.replicaConfig(), "was written by a streamer without --group", "offsets/", "run it without --group")

	w = newWorld(t)
	w.produce(ctx, rand.New(rand.NewPCG(3, 4)), 1_700_000_000_000, 2000)
	_, stop := w.startReplica(w.replicaConfig())
	for {
		if objs, _ := w.store.List(ctx, "_checkpoints/streamer/partitions/"); len(objs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the replica wrote no checkpoint")
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	refused(w, w.config(func(c *config.Config) { c.Query = keyedSeed(t) }), "was written by replicas of a consumer group", "partitions/", "run it with --group")
}
