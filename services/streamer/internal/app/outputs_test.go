package app

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
)

// committedRecords reads a topic as a read_committed consumer, up to its
// last stable offset.
func committedRecords(t *testing.T, ctx context.Context, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: not read to its end: %v", topic, pending)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := pending[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset == end-1 {
				delete(pending, r.Partition)
			}
		})
	}
	return out
}

// High-temperature alerts are raised once per closed window above the
// threshold, and a reading dropped as late goes to the late topic.
func TestAlertsAndLateTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(5, 6))
	w.produce(ctx, rng, origin, 3000)
	withOutputs := func(c *config.Config) {
		c.LateTopic = contract.LateTopic
		c.AlertMaxTemp = 39
	}
	w.run(ctx, w.config(withOutputs))

	// A reading stamped at the origin is now far behind the watermark.
	late := contract.Event{SensorID: "S003", TS: origin + 1, Temp: 20, Hum: 50, OK: true}
	if err := w.prod.ProduceSync(ctx, &kgo.Record{Topic: contract.EventsTopic, Key: []byte("S003"),
		Value: contract.AppendJSON(nil, late)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w.produce(ctx, rng, origin+300_000, 1000)
	w.run(ctx, w.config(withOutputs))

	// Expected alerts, from the independent window computation.
	var want []string
	for k, r := range expected(w.sent, 10_000, 60_000) {
		if r.MaxTemp > 39 {
			want = append(want, k.sensor+"@"+r.WinStart.UTC().Format(time.RFC3339))
		}
	}
	var got []string
	for _, r := range committedRecords(t, ctx, w.brokers, contract.AlertsTopic) {
		var a contract.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("alert %s: %v", r.Value, err)
		}
		if a.Type != contract.AlertHighTemp || a.MaxTemp <= 39 || a.Threshold != 39 || string(r.Key) != a.SensorID {
			t.Fatalf("unexpected alert %s", r.Value)
		}
		got = append(got, a.SensorID+"@"+time.UnixMilli(a.WinStart).UTC().Format(time.RFC3339))
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("alerts: got %d %v, want %d %v", len(got), got, len(want), want)
	}

	lates := committedRecords(t, ctx, w.brokers, contract.LateTopic)
	if len(lates) != 1 {
		t.Fatalf("late topic holds %d records, want 1", len(lates))
	}
	if ev, err := contract.DecodeEvent(lates[0].Value, time.Now().UnixMilli()); err != nil || ev != late {
		t.Fatalf("late topic holds %s (%v), want %+v", lates[0].Value, err, late)
	}
}

// A sensor that falls silent for longer than --silence-timeout of event time
// raises sensor_silent once, and sensor_recovered at its next reading.
func TestSilenceAlerts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t)
	var recs []*kgo.Record
	send := func(sensor string, ts int64) {
		ev := contract.Event{SensorID: sensor, TS: ts, Temp: 20, Hum: 50, OK: true}
		recs = append(recs, &kgo.Record{Topic: contract.EventsTopic, Partition: 0, Key: []byte(sensor),
			Value: contract.AppendJSON(nil, ev)})
	}
	// S001 reads every second for 5 minutes; S002 stops after 50 s and comes
	// back at 200 s. Both go to one partition, in event-time order, so that
	// the batches' watermark passes 79.5 s before S002 comes back (readings
	// spread over partitions advance unevenly, and a sensor's readings can
	// then arrive behind the watermark: late, not recovered).
	for s := int64(0); s < 300; s++ {
		send("S001", origin+s*1000)
		if s < 50 || s >= 200 {
			send("S002", origin+s*1000+500)
		}
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w.run(ctx, w.config(func(c *config.Config) {
		c.SilenceTimeout = 30 * time.Second
		c.AlertMaxTemp = 100 // no high_temp alerts in this test
		c.MaxOffsetsPerTrigger = 50
	}))
	var got []string
	for _, r := range committedRecords(t, ctx, w.brokers, contract.AlertsTopic) {
		var a contract.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a.Type+" "+a.SensorID+" "+strconv.FormatInt(a.TS-origin, 10)+" last="+strconv.FormatInt(a.LastSeen-origin, 10))
	}
	want := []string{
		"sensor_silent S002 79500 last=49500",     // last reading at 49.5 s + 30 s timeout
		"sensor_recovered S002 200500 last=49500", // its next reading
	}
	if !slices.Equal(got, want) {
		t.Fatalf("alerts %q, want %q", got, want)
	}
}

// The windows topic honours its output mode (Spark's Kafka sink takes all
// three): append sends each closed window once; update sends the rows each
// batch changed, so the last value per window is its final aggregate; and
// complete sends the whole result table every batch, closed or open.
func TestWindowsTopicModes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, mode := range []string{"append", "update", "complete"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			w.produce(ctx, rand.New(rand.NewPCG(11, 12)), origin, 2000)
			w.run(ctx, w.config(func(c *config.Config) {
				c.WindowsTopic, c.WindowsTopicMode, c.MaxOffsetsPerTrigger = "ventanas", mode, 400
			}))
			closed := expected(w.sent, 10_000, 60_000)
			all := expected(w.sent, 10_000, -1<<40) // no watermark: every window, open ones too
			type rec struct {
				batch int64
				row   contract.WindowRow
			}
			var recs []rec
			for _, r := range committedRecords(t, ctx, w.brokers, "ventanas") {
				var row contract.WindowRow
				if err := json.Unmarshal(r.Value, &row); err != nil {
					t.Fatal(err)
				}
				b, _ := strconv.ParseInt(string(r.Headers[0].Value), 10, 64)
				recs = append(recs, rec{b, row})
			}
			last := map[wkey]contract.WindowRow{}
			lastBatch := int64(-1)
			for _, r := range recs {
				k := wkey{r.row.WinStart.UnixMilli(), r.row.SensorID}
				if _, dup := last[k]; dup && mode == "append" {
					t.Fatalf("append sent window %v twice", k)
				}
				last[k] = r.row
				lastBatch = max(lastBatch, r.batch)
			}
			want := all
			switch mode {
			case "append":
				want = closed
			case "complete": // the last batch alone holds the whole table
				n := 0
				for _, r := range recs {
					if r.batch == lastBatch {
						n++
					}
				}
				if n != len(all) {
					t.Fatalf("complete: last batch sent %d rows, the table has %d", n, len(all))
				}
			}
			got := make([]contract.WindowRow, 0, len(last))
			for _, r := range last {
				got = append(got, r)
			}
			compareRows(t, got, want)
		})
	}
}
