package qsink

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newWriter starts the query's transactional writer as the driver does:
// the sinks' topics and the marker topic created, then Init.
func newWriter(t *testing.T, c *kfake.Cluster, qs ...*plan.Query) *kafkaout.Writer {
	t.Helper()
	w, err := kafkaout.New(c.ListenAddrs(), queryID, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := w.EnsureTopics(testCtx(t), 1, append(Topics(qs), kafkaout.MarkerTopic)...); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return w
}

// runBatch is the driver's round of one batch for one Kafka output.
func runBatch(t *testing.T, w *kafkaout.Writer, o Output, batchID int64, rows *types.Batch) Result {
	t.Helper()
	w.Begin(batchID)
	res, err := o.Write(testCtx(t), batchID, rows, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Commit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return res
}

// committed reads a one-partition topic as a read_committed consumer, up
// to its last stable offset.
func committed(t *testing.T, c *kfake.Cluster, topic string) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	var out []*kgo.Record
	for seen := int64(0); seen < end.Offset; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s up to %d: %v", topic, end.Offset, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end.Offset && !r.Attrs.IsControl() {
				out = append(out, r)
			}
			seen = max(seen, r.Offset+1)
		})
	}
	return out
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// The seed's alerts sink, compiled from queries/seed/streaming.sql: each
// row is one record keyed by sensor_id, its value the alert object of the
// contract (contract.Alert), its batch in the sensorlab.batch_id header;
// exactly once across a re-run.
func TestTheSeedAlertsAreTodaysAlerts(t *testing.T) {
	c := newCluster(t)
	q := seedQuery(t, "alerts")
	w := newWriter(t, c, q)
	o := open(t, q, Env{Kafka: w, QueryID: queryID})
	if got := o.Describe(); got != "KafkaSink[alertas_sensores]" {
		t.Errorf("Describe() = %q", got)
	}
	var alerts []contract.Alert
	for _, r := range windows(time.Date(2024, 11, 21, 23, 59, 40, 0, time.UTC), 3, 2) {
		alerts = append(alerts, contract.Alert{Type: "high_temp", SensorID: r.SensorID, TS: r.WinEnd.UnixMilli(),
			WinStart: r.WinStart.UnixMilli(), WinEnd: r.WinEnd.UnixMilli(), MaxTemp: r.MaxTemp, Threshold: 39.5})
	}
	b := types.NewBatch(q.Output, len(alerts))
	for _, a := range alerts {
		for i, f := range q.Output {
			switch f.Name {
			case "type":
				b.Cols[i].AppendString(a.Type)
			case "sensor_id":
				b.Cols[i].AppendString(a.SensorID)
			case "ts":
				b.Cols[i].AppendInt(a.TS)
			case "win_start":
				b.Cols[i].AppendInt(a.WinStart)
			case "win_end":
				b.Cols[i].AppendInt(a.WinEnd)
			case "max_temp":
				b.Cols[i].AppendFloat(a.MaxTemp)
			case "threshold":
				b.Cols[i].AppendFloat(a.Threshold)
			default:
				t.Fatalf("the seed alerts query outputs %s, which an alert does not have", f.Name)
			}
		}
	}
	b.N = len(alerts)
	if res := runBatch(t, w, o, 4, b); res.Rows != int64(len(alerts)) {
		t.Fatalf("result %+v, want %d records", res, len(alerts))
	}
	// A restarted streamer re-runs batch 4: nothing more reaches the topic.
	w2 := newWriter(t, c, q)
	runBatch(t, w2, open(t, q, Env{Kafka: w2, QueryID: queryID}), 4, b)

	recs := committed(t, c, "alertas_sensores")
	if len(recs) != len(alerts) {
		t.Fatalf("%d committed records, want %d (once each)", len(recs), len(alerts))
	}
	for i, r := range recs {
		alert, err := json.Marshal(alerts[i])
		if err != nil {
			t.Fatal(err)
		}
		var got, want map[string]any
		if err := json.Unmarshal(r.Value, &got); err != nil {
			t.Fatalf("record %d value %s is not JSON: %v", i, r.Value, err)
		}
		if err := json.Unmarshal(alert, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record %d value %s, the contract's alert %v", i, r.Value, want)
		}
		if string(r.Key) != alerts[i].SensorID {
			t.Errorf("record %d key %q, want the sensor %q", i, r.Key, alerts[i].SensorID)
		}
		if b, ok := header(r, HeaderBatchID); !ok || b != "4" {
			t.Errorf("record %d batch id header %q (%v), want 4", i, b, ok)
		}
	}
}

// Keys are the key column's text, CAST to STRING; a NULL key or no key
// option gives a record without a key. Values are to_json rows: null
// fields left out, timestamps as to_json formats them.
func TestKafkaKeysAndValues(t *testing.T) {
	c := newCluster(t)
	schema := types.Schema{
		{Name: "user_id", Type: types.TBigint, Nullable: true},
		{Name: "window_start", Type: types.TTimestamp, Nullable: true},
		{Name: "total", Type: types.DecimalOf(10, 2), Nullable: true},
		{Name: "note", Type: types.TString, Nullable: true},
	}
	keyed := query("fraud", "kafka", "update", schema, map[string]string{"topic": "fraud", "key": "user_id"})
	unkeyed := query("all", "kafka", "append", schema, map[string]string{"topic": "all"})
	w := newWriter(t, c, keyed, unkeyed)
	b := types.NewBatch(schema, 2)
	b.Cols[0].AppendInt(42)
	b.Cols[0].AppendNull()
	at := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC).UnixMicro()
	b.Cols[1].AppendInt(at)
	b.Cols[1].AppendInt(at + 1500)
	b.Cols[2].AppendInt(1234)
	b.Cols[2].AppendInt(-5)
	b.Cols[3].AppendString(`say "hi"`)
	b.Cols[3].AppendNull()
	b.N = 2
	w.Begin(0)
	for _, q := range []*plan.Query{keyed, unkeyed} {
		if res, err := open(t, q, Env{Kafka: w, QueryID: queryID}).Write(testCtx(t), 0, b, false); err != nil || res.Rows != 2 {
			t.Fatalf("%s: %+v, %v", q.Name, res, err)
		}
	}
	if _, _, err := w.Commit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	values := []string{
		`{"user_id":42,"window_start":"2024-11-21T10:00:00.000Z","total":12.34,"note":"say \"hi\""}`,
		`{"window_start":"2024-11-21T10:00:00.001Z","total":-0.05}`,
	}
	for topic, keys := range map[string][]*string{"fraud": {ptr("42"), nil}, "all": {nil, nil}} {
		recs := committed(t, c, topic)
		if len(recs) != 2 {
			t.Fatalf("%s: %d records, want 2", topic, len(recs))
		}
		for i, r := range recs {
			if !json.Valid(r.Value) || string(r.Value) != values[i] {
				t.Errorf("%s record %d value %s, want %s", topic, i, r.Value, values[i])
			}
			switch {
			case keys[i] == nil && r.Key != nil:
				t.Errorf("%s record %d key %q, want none", topic, i, r.Key)
			case keys[i] != nil && string(r.Key) != *keys[i]:
				t.Errorf("%s record %d key %q, want %q", topic, i, r.Key, *keys[i])
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestTopicsListsTheKafkaSinksTopics(t *testing.T) {
	var qs []*plan.Query
	for _, name := range []string{"stream", "console", "alerts"} {
		qs = append(qs, seedQuery(t, name))
	}
	qs = append(qs, query("again", "kafka", "append", nil, map[string]string{"topic": "alertas_sensores"}))
	if got := Topics(qs); !reflect.DeepEqual(got, []string{"alertas_sensores"}) {
		t.Fatalf("Topics = %v, want the alerts topic once", got)
	}
}
