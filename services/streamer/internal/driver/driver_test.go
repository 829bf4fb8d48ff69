package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/streamtest"
)

// origin is a fixed event-time origin: 2024-11-21T14:40:00Z.
const origin = int64(1732200000000)

func seedScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../../queries/seed/streaming.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// world is a Kafka cluster (3 partitions per topic) and a file:// lake.
type world struct {
	t       *testing.T
	brokers []string
	prod    *kgo.Client
	lakeURL string
	store   lake.Store
}

func newWorld(t *testing.T, topics ...string) *world {
	t.Helper()
	c, err := kfake.NewCluster(kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
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

// send produces values to topic, round-robin over its 3 partitions, so
// that two worlds given the same values hold the same partitions.
func (w *world) send(ctx context.Context, topic string, values ...[]byte) {
	w.t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Value: v, Partition: int32(i % 3)}
	}
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
}

// readings are n sensor readings from ts0, 100 ms apart (rng decides the
// sensor and the values), then the invalid values.
func readings(rng *rand.Rand, ts0 int64, n int, invalid ...string) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		ev := contract.Event{
			SensorID: fmt.Sprintf("S%03d", 1+rng.IntN(20)),
			TS:       ts0 + int64(i)*100,
			Temp:     contract.Round2(18 + rng.Float64()*22),
			Hum:      contract.Round2(35 + rng.Float64()*60),
			OK:       rng.Float64() < 0.95,
		}
		out = append(out, contract.AppendJSON(nil, ev))
	}
	for _, v := range invalid {
		out = append(out, []byte(v))
	}
	return out
}

func (w *world) config() config.Config {
	cfg := config.Default()
	cfg.Brokers = w.brokers
	cfg.Lake = w.lakeURL
	cfg.Checkpoint = w.lakeURL + "/_checkpoints/streamer"
	cfg.StartingOffsets = "earliest"
	cfg.Trigger = config.TriggerAvailableNow
	cfg.HTTPAddr = ""
	cfg.Query = "test.sql"
	return cfg
}

// run runs script to the end of the available input; crash, when set,
// stops the driver after a write step as a crash would.
func (w *world) run(ctx context.Context, cfg config.Config, script string, stdout io.Writer, crash func(string, int64) bool) error {
	w.t.Helper()
	prog, err := Compile("test.sql", script)
	if err != nil {
		w.t.Fatal(err)
	}
	lg := slog.New(slog.DiscardHandler)
	if os.Getenv("DRIVER_TEST_LOG") != "" {
		lg = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	d := New(cfg, prog, lg, stdout)
	d.crashAfter = crash
	return d.Run(ctx)
}

// The readers the tests share with the app's (streamtest).
var (
	streamRows = streamtest.StreamRows
	committed  = streamtest.Committed
	header     = streamtest.Header
)

// seedInput is the crash tests' input: readings over 3 minutes, late
// ones, and invalid records of several reasons.
func seedInput(ctx context.Context, w *world) {
	rng := rand.New(rand.NewPCG(3, 5))
	w.send(ctx, contract.EventsTopic, readings(rng, origin, 1200,
		`{"sensor_id":"S001"`, // malformed_json
		`{"sensor_id":"S002","ts":1732200000000,"temp":20,"hum":50}`,            // missing ok
		`{"sensor_id":"S003","ts":1732200000000,"temp":500,"hum":50,"ok":true}`, // out_of_range (CHECK)
		`{"sensor_id":"","ts":1732200000000,"temp":20,"hum":50,"ok":true}`,      // invalid_sensor_id (CHECK)
		`{"sensor_id":"S004","ts":1000,"temp":20,"hum":50,"ok":true}`,           // ts_out_of_range (CHECK)
	)...)
	w.send(ctx, contract.EventsTopic, readings(rng, origin+20_000, 200)...) // late by then
	w.send(ctx, contract.EventsTopic, readings(rng, origin+180_000, 600)...)
}

// The dead letters seedInput sends, by reason.
var seedDeadLetters = map[string]int{"malformed_json": 1, "missing_field": 1, "out_of_range": 1, "invalid_sensor_id": 1, "ts_out_of_range": 1}

// A crash after any write step of a batch (the outputs, the Kafka
// transaction, the state file, the commit) and a restart give the stream
// table of an uninterrupted run, the alerts once each for read_committed
// readers (one per written window above the threshold), and each dead
// letter once with its reason.
func TestACrashAtEachWriteStepLosesAndDuplicatesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	script := seedScript(t)

	ref := newWorld(t, contract.EventsTopic)
	seedInput(ctx, ref)
	cfg := ref.config()
	cfg.MaxOffsetsPerTrigger = 300
	if err := ref.run(ctx, cfg, script, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	want := streamRows(t, ctx, ref.store)
	if len(want) < 100 {
		t.Fatalf("the uninterrupted run wrote %d rows: the input should close hundreds of windows", len(want))
	}

	for _, step := range []string{stepOutputs, stepKafka, stepState, stepCommit} {
		for _, batch := range []int64{0, 3} {
			t.Run(fmt.Sprintf("%s of batch %d", step, batch), func(t *testing.T) {
				w := newWorld(t, contract.EventsTopic)
				seedInput(ctx, w)
				cfg := w.config()
				cfg.MaxOffsetsPerTrigger = 300
				var once sync.Once
				crashed := false
				err := w.run(ctx, cfg, script, io.Discard, func(s string, id int64) bool {
					if s == step && id == batch {
						once.Do(func() { crashed = true })
						return true
					}
					return false
				})
				if !crashed || !errors.Is(err, errCrash) {
					t.Fatalf("no crash at %s of batch %d (err %v)", step, batch, err)
				}
				if err := w.run(ctx, cfg, script, io.Discard, nil); err != nil {
					t.Fatalf("restart: %v", err)
				}
				got := streamRows(t, ctx, w.store)
				if len(got) != len(want) {
					t.Fatalf("%d rows after the crash and restart, %d without a crash", len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("row %d: %+v after the crash, %+v without", i, got[i], want[i])
					}
				}
				hot := 0
				for _, r := range want {
					if r.MaxTemp > 39.5 {
						hot++
					}
				}
				alerts := committed(t, ctx, w.brokers, contract.AlertsTopic)
				seen := map[string]bool{}
				for _, a := range alerts {
					if seen[string(a.Value)] {
						t.Errorf("alert %s committed twice", a.Value)
					}
					seen[string(a.Value)] = true
				}
				if len(alerts) != hot || hot == 0 {
					t.Errorf("%d alerts, want one per written window above 39.5: %d", len(alerts), hot)
				}
				reasons := map[string]int{}
				for _, r := range committed(t, ctx, w.brokers, contract.DLQTopic) {
					reasons[header(r, contract.HeaderReason)]++
				}
				if fmt.Sprint(reasons) != fmt.Sprint(seedDeadLetters) {
					t.Errorf("dead letters by reason %v, want %v", reasons, seedDeadLetters)
				}
			})
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func openCheckpoint(t *testing.T, ctx context.Context, w *world) *checkpoint.Checkpoint {
	t.Helper()
	st, err := lake.Open(ctx, w.lakeURL+"/_checkpoints/streamer", lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}
