package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
	"github.com/sensorlab/sensorlab/services/streamer/internal/streamtest"
)

// origin is a fixed event-time origin: 2024-11-21T14:40:00Z.
const origin = int64(1732200000000)

type world struct {
	t       *testing.T
	brokers []string
	prod    *kgo.Client
	lakeURL string
	store   lake.Store
	sent    []contract.Event
	// unkeyed: produce sends readings without a key, round robin over the
	// partitions (as the seed's generator and kcat without -K do).
	unkeyed bool
	rr      int32
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c, err := kfake.NewCluster(kfake.SeedTopics(3, contract.EventsTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// Keyed records go where Kafka's default partitioner puts their key;
	// unkeyed ones where roundRobin says.
	keyed := kgo.StickyKeyPartitioner(nil)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		byKey := keyed.ForTopic(topic)
		return func(r *kgo.Record, n int) int {
			if r.Key == nil {
				return int(r.Partition) % n
			}
			return byKey.Partition(r, n)
		}
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	dir := t.TempDir()
	st, err := lake.Open(context.Background(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, brokers: c.ListenAddrs(), prod: prod, lakeURL: "file://" + dir, store: st}
}

// produce sends n readings with event times from ts0, 100 ms apart, plus the
// given raw (invalid) values, keyed by sensor as the producer does.
func (w *world) produce(ctx context.Context, rng *rand.Rand, ts0 int64, n int, invalid ...string) {
	w.t.Helper()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		ev := contract.Event{
			SensorID: fmt.Sprintf("S%03d", 1+rng.IntN(20)),
			TS:       ts0 + int64(i)*100,
			Temp:     contract.Round2(18 + rng.Float64()*22),
			Hum:      contract.Round2(35 + rng.Float64()*60),
			OK:       rng.Float64() < 0.95,
		}
		w.sent = append(w.sent, ev)
		r := &kgo.Record{Topic: contract.EventsTopic, Key: []byte(ev.SensorID), Value: contract.AppendJSON(nil, ev)}
		if w.unkeyed {
			r = w.roundRobin(r.Value)
		}
		recs = append(recs, r)
	}
	for _, v := range invalid {
		recs = append(recs, w.roundRobin([]byte(v)))
	}
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
}

// roundRobin is an unkeyed record of value, in the partition after the
// last one's.
func (w *world) roundRobin(value []byte) *kgo.Record {
	w.rr++
	return &kgo.Record{Topic: contract.EventsTopic, Partition: w.rr % 3, Value: value}
}

// config is the streamer's configuration for the world: the seed lab's
// query file (the default), available-now from the earliest offsets.
func (w *world) config(extra ...func(*config.Config)) config.Config {
	cfg := config.Default()
	cfg.Brokers = w.brokers
	cfg.Lake = w.lakeURL
	cfg.Checkpoint = w.lakeURL + "/_checkpoints/streamer"
	cfg.StartingOffsets = "earliest"
	cfg.Trigger = config.TriggerAvailableNow
	cfg.HTTPAddr = ""
	for _, f := range extra {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

// run runs the streamer as the command does (Main) and fails unless it
// exits 0.
func (w *world) run(ctx context.Context, cfg config.Config) {
	w.t.Helper()
	var logs strings.Builder
	if code := Main(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard); code != 0 {
		w.t.Fatalf("streamer exited %d:\n%s", code, logs.String())
	}
}

// newDriver is the driver RunQueryFile runs for cfg, for tests that look
// inside it (its stores wrapped, its status served) or start two.
func newDriver(t *testing.T, cfg config.Config, log *slog.Logger) *driver.Driver {
	t.Helper()
	name, text, err := queryText(cfg.Query)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := driver.Compile(name, text)
	if err != nil {
		t.Fatal(err)
	}
	return driver.New(cfg, prog, log, io.Discard)
}

// committedRows reads the stream table's rows as a Delta reader does: the
// live files of its latest snapshot (none before the table exists).
func (w *world) committedRows(ctx context.Context) []contract.WindowRow {
	w.t.Helper()
	return tableRows(w.t, ctx, w.store)
}

// tableRows reads the seed's stream table as a Delta reader does.
var tableRows = streamtest.StreamRows

type wkey struct {
	start  int64
	sensor string
}

// expected computes the seed's stream rows independently: a plain map over
// every reading into 10 s windows per sensor, keeping the windows the final
// watermark (max event time - 1 min) closed.
func expected(evs []contract.Event, windowMs, delayMs int64) map[wkey]contract.WindowRow {
	type acc struct {
		n, ok              int64
		sumT, sumH, mn, mx float64
	}
	accs := map[wkey]*acc{}
	var maxTS int64
	for _, e := range evs {
		maxTS = max(maxTS, e.TS)
		k := wkey{e.TS - e.TS%windowMs, e.SensorID}
		a := accs[k]
		if a == nil {
			a = &acc{mn: e.Temp, mx: e.Temp}
			accs[k] = a
		}
		a.n++
		a.sumT += e.Temp
		a.sumH += e.Hum
		a.mn, a.mx = min(a.mn, e.Temp), max(a.mx, e.Temp)
		if e.OK {
			a.ok++
		}
	}
	wm := maxTS - delayMs
	out := map[wkey]contract.WindowRow{}
	for k, a := range accs {
		if k.start+windowMs > wm {
			continue
		}
		out[k] = contract.WindowRow{
			WinStart: time.UnixMilli(k.start).UTC(), WinEnd: time.UnixMilli(k.start + windowMs).UTC(),
			SensorID: k.sensor, Eventos: a.n, AvgTemp: a.sumT / float64(a.n), AvgHum: a.sumH / float64(a.n),
			OKCount: a.ok, MinTemp: a.mn, MaxTemp: a.mx,
		}
	}
	return out
}

func compareRows(t *testing.T, got []contract.WindowRow, want map[wkey]contract.WindowRow) {
	t.Helper()
	seen := map[wkey]bool{}
	for _, r := range got {
		k := wkey{r.WinStart.UnixMilli(), r.SensorID}
		if seen[k] {
			t.Fatalf("window %v written twice", k)
		}
		seen[k] = true
		w, ok := want[k]
		if !ok {
			t.Fatalf("unexpected window %+v", r)
		}
		if r.Eventos != w.Eventos || r.OKCount != w.OKCount || !r.WinEnd.Equal(w.WinEnd) ||
			!near(r.AvgTemp, w.AvgTemp) || !near(r.AvgHum, w.AvgHum) || r.MinTemp != w.MinTemp || r.MaxTemp != w.MaxTemp {
			t.Fatalf("window %v: got %+v, want %+v", k, r, w)
		}
	}
	t.Logf("%d windows compared", len(seen))
	if len(seen) != len(want) {
		t.Fatalf("got %d windows, want %d", len(seen), len(want))
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func TestAvailableNowWritesEachClosedWindowOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(1, 2))
	w.produce(ctx, rng, origin, 3000, `{"sensor_id":"S001"`, ``, `{"sensor_id":"S001","ts":"x","temp":1,"hum":1,"ok":true}`)

	w.run(ctx, w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = 700 }))
	compareRows(t, w.committedRows(ctx), expected(w.sent, 10_000, 60_000))

	// The dead-letter topic holds the three invalid records, with reasons.
	cons, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.ConsumeTopics(contract.DLQTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var reasons []string
	for len(reasons) < 3 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("dead letters: got %v before the deadline", reasons)
		}
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == contract.HeaderReason {
					reasons = append(reasons, string(h.Value))
				}
			}
		})
	}
	slices.Sort(reasons)
	if want := []string{"empty_value", "malformed_json", "wrong_type"}; !slices.Equal(reasons, want) {
		t.Fatalf("dead-letter reasons %v, want %v", reasons, want)
	}

	// A second run continues from the checkpoint: the new readings close
	// more windows, and none is written twice.
	w.produce(ctx, rng, origin+300_000, 2000)
	w.run(ctx, w.config())
	compareRows(t, w.committedRows(ctx), expected(w.sent, 10_000, 60_000))
}

// The same readings cut into different batches give byte-identical files'
// rows: the output does not depend on batch boundaries.
func TestOutputDoesNotDependOnBatchBoundaries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var results [][]contract.WindowRow
	for _, cap := range []int64{0, 97, 1000} {
		w := newWorld(t)
		w.produce(ctx, rand.New(rand.NewPCG(3, 4)), origin, 2500)
		w.run(ctx, w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = cap }))
		rows := w.committedRows(ctx)
		slices.SortFunc(rows, func(a, b contract.WindowRow) int {
			if c := a.WinStart.Compare(b.WinStart); c != 0 {
				return c
			}
			return bytes.Compare([]byte(a.SensorID), []byte(b.SensorID))
		})
		results = append(results, rows)
	}
	for i := 1; i < len(results); i++ {
		if !slices.Equal(results[0], results[i]) {
			t.Fatalf("run %d differs from run 0 (%d vs %d rows)", i, len(results[i]), len(results[0]))
		}
	}
	if len(results[0]) == 0 {
		t.Fatal("no windows were written")
	}
}

// Continuous and interval triggers cut the stream into other batches than
// available-now does, at times that depend on the machine; the append output
// is the same rows all the same.
func TestOutputDoesNotDependOnTriggers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sorted := func(rows []contract.WindowRow) []contract.WindowRow {
		slices.SortFunc(rows, func(a, b contract.WindowRow) int {
			if c := a.WinStart.Compare(b.WinStart); c != 0 {
				return c
			}
			return bytes.Compare([]byte(a.SensorID), []byte(b.SensorID))
		})
		return rows
	}
	ref := newWorld(t)
	ref.produce(ctx, rand.New(rand.NewPCG(8, 9)), origin, 2500)
	ref.run(ctx, ref.config())
	want := sorted(ref.committedRows(ctx))
	if len(want) == 0 {
		t.Fatal("no windows were written")
	}

	for _, trig := range []struct {
		kind     string
		interval time.Duration
	}{{config.TriggerContinuous, 0}, {config.TriggerInterval, 37 * time.Millisecond}, {config.TriggerInterval, 200 * time.Millisecond}} {
		t.Run(fmt.Sprintf("%s-%v", trig.kind, trig.interval), func(t *testing.T) {
			w := newWorld(t)
			w.produce(ctx, rand.New(rand.NewPCG(8, 9)), origin, 2500)
			cfg := w.config(func(c *config.Config) {
				c.Trigger, c.TriggerInterval, c.MaxOffsetsPerTrigger = trig.kind, trig.interval, 300
			})
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			done := make(chan error, 1)
			go func() { done <- RunQueryFile(runCtx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard) }()
			var got []contract.WindowRow
			for {
				got = sorted(w.committedRows(ctx))
				if len(got) >= len(want) || ctx.Err() != nil {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("streamer stopped early: %v", err)
				case <-time.After(50 * time.Millisecond):
				}
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("streamer: %v", err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%d rows differ from available-now's %d", len(got), len(want))
			}
		})
	}
}

// retainBatches is how many batches of checkpoint history the streamer
// keeps (Spark's spark.sql.streaming.minBatchesToRetain).
const retainBatches = 100

// TestCheckpointHistoryIsPurgedOffTheBatchLoop runs more than two purge
// intervals of batches: the checkpoint keeps about retainBatches batches of
// history (the purge, which runs in the background, really deletes), the
// lake holds every closed window once, and a second run recovers from the
// purged checkpoint.
func TestCheckpointHistoryIsPurgedOffTheBatchLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(5, 6))
	w.produce(ctx, rng, origin, 2500)
	w.run(ctx, w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = 10 }))
	compareRows(t, w.committedRows(ctx), expected(w.sent, 10_000, 60_000))

	ck, err := lake.Open(ctx, w.lakeURL+"/_checkpoints/streamer", lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{checkpoint.CommitsDir, checkpoint.StateDir, checkpoint.OffsetsDir} {
		objs, err := ck.List(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		// 250 batches ran; purges at batches 100 and 200 keep the newest
		// 100 at that time, so 100 + the 50 after the last purge remain.
		if len(objs) < retainBatches || len(objs) > retainBatches+60 {
			t.Fatalf("%s holds %d batches after 250, want the history purged to about %d", dir, len(objs), retainBatches+50)
		}
	}

	w.produce(ctx, rng, origin+300_000, 500)
	w.run(ctx, w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = 50 }))
	compareRows(t, w.committedRows(ctx), expected(w.sent, 10_000, 60_000))
}
