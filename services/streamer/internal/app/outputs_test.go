package app

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
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
